"""The conditional PointNet VAE (issue 18): condition vector, table draws, old configurations."""

import numpy as np
import pytest
import torch

from kamcore.errors import ConfigError
from kamcore.nn.pointnet import sample_hits
from kamcore.nn.vae import N_CONDITION, PointNetVAE, VAEConfig
from synthetic import random_cloud


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def make_cvae(rows=16, dtype=torch.float32, **kw):
    torch.manual_seed(0)
    model = PointNetVAE(VAEConfig.from_preset("tiny", n_pmts=40, condition=True, condition_rows=rows, **kw))
    pts, trig, xyz = random_cloud(6, 40, dtype=dtype)
    model = model.to(dtype)
    model.scaler.fit(pts, trig, xyz)
    g = torch.Generator().manual_seed(1)
    cond = torch.cat([torch.randn(50, 3, generator=g) * 100, 2.5 + 0.2 * torch.randn(50, 1, generator=g)], 1)
    model.fit_condition(cond, torch.Generator().manual_seed(0))
    return model.eval(), pts, trig, cond


def test_old_configurations_are_unconditioned():
    old = VAEConfig.from_preset("tiny").to_dict()
    for k in ("condition", "condition_encoder", "condition_rows", "condition_vertex_scale_cm", "condition_skip"):
        old.pop(k)
    model = PointNetVAE(VAEConfig(**old))
    assert not model.conditional and model.decoder.hidden.layers[0].in_features == 4
    assert not any(k.startswith(("condition", "energy_")) for k in model.state_dict())
    with pytest.raises(ConfigError, match="not conditional"):
        model.sample_raw(2, vertex_cm=[0.0, 0.0, 100.0])


def test_decoder_and_encoder_read_the_condition():
    model, pts, trig, cond = make_cvae()
    assert model.decoder.hidden.layers[0].in_features == 4 + N_CONDITION
    assert model.condition_table.shape == (16, N_CONDITION) and model.condition_table.dtype == torch.float32
    # every stored row is a training row; the energy is standardised on the training set
    assert all(bool((cond == r).all(1).any()) for r in model.condition_table)
    c = model.scale_condition(cond)
    torch.testing.assert_close(c[:, :3], cond[:, :3] / model.config.condition_vertex_scale_cm)
    assert abs(float(c[:, 3].mean())) < 1e-5 and abs(float(c[:, 3].std()) - 1) < 1e-5
    with pytest.raises(ConfigError, match="needs the condition"):
        model.loss(pts, trig)
    model.train()
    terms = model.loss(pts, trig, condition=cond[:6])
    terms["loss"].backward()
    assert all(torch.isfinite(v) for v in terms.values())
    # the condition changes what the encoder and the decoder give
    model.eval()
    a = model(pts, trig, generator=torch.Generator().manual_seed(0), condition=cond[:6])
    moved = cond[:6].clone()
    moved[:, 2] += 300.0
    b = model(pts, trig, generator=torch.Generator().manual_seed(0), condition=moved)
    assert not torch.allclose(a["mu"], b["mu"]) and not torch.allclose(a["raw"], b["raw"])


def test_unconditioned_draws_come_from_the_table_and_are_seeded():
    model, *_ = make_cvae()
    rows = model.draw_condition(500, torch.Generator().manual_seed(3))
    assert rows.shape == (500, 4)
    assert all(bool((model.condition_table == r).all(1).any()) for r in rows[:50])
    assert len(torch.unique(rows, dim=0)) == 16          # all K rows, uniformly
    torch.testing.assert_close(rows, model.draw_condition(500, torch.Generator().manual_seed(3)))
    fixed = model.draw_condition(5, torch.Generator().manual_seed(3), vertex_cm=[1.0, 2.0, 3.0], energy_mev=2.0)
    assert torch.equal(fixed, torch.tensor([[1.0, 2.0, 3.0, 2.0]]).expand(5, 4))
    only_e = model.draw_condition(5, torch.Generator().manual_seed(3), energy_mev=2.0)
    torch.testing.assert_close(only_e[:, :3], rows[:5, :3])
    # the fast path decodes [z, c] of the same draws as the dense path
    a = model.sample_hits(20, torch.Generator().manual_seed(4))
    b = model.sample_hits(20, torch.Generator().manual_seed(4))
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    c = model.sample_hits(20, torch.Generator().manual_seed(4), vertex_cm=[0.0, 0.0, 400.0])
    assert not np.array_equal(a.counts, c.counts) or not np.array_equal(a.t_ns, c.t_ns)


def test_unconditioned_model_draws_z_as_before():
    """An unconditioned VAE samples exactly as before issue 18: z ~ N(0, I) first, then the trigger draws."""
    torch.manual_seed(0)
    model = PointNetVAE(VAEConfig.from_preset("tiny", n_pmts=40))
    pts, trig, xyz = random_cloud(6, 40)
    model.scaler.fit(pts, trig, xyz)
    model.eval()
    g = torch.Generator().manual_seed(5)
    z = torch.randn(30, 4, generator=g)
    old = sample_hits(model.decoder, model.scaler, None, z, g)
    new = model.sample_hits(30, torch.Generator().manual_seed(5))
    assert all(np.array_equal(x, y) for x, y in zip(old, new))


def test_condition_errors():
    model = PointNetVAE(VAEConfig.from_preset("tiny", n_pmts=40, condition=True, condition_rows=4))
    with pytest.raises(ConfigError, match="no condition table"):
        model.draw_condition(2)
    with pytest.raises(ConfigError, match=r"conditions must be \(N, 4\)"):
        model.fit_condition(torch.zeros(3, 3))
    bad = torch.zeros(3, 4)
    bad[1, 0] = float("nan")
    with pytest.raises(ConfigError, match="1 rows with NaN"):
        model.fit_condition(bad)
    model.fit_condition(torch.ones(2, 4))                 # fewer rows than K: drawn with replacement
    assert bool((model.condition_table == 1).all()) and float(model.energy_std_mev) > 0


def test_skip_path_reaches_the_logits_and_the_fast_path_matches_the_dense_one():
    model, *_ = make_cvae()
    assert model.decoder.skip == N_CONDITION and bool((model.decoder.skip_weight == 0).all())
    with torch.no_grad():
        model.decoder.skip_weight.normal_(0.0, 1.0, generator=torch.Generator().manual_seed(2))
    x = model.prior_inputs(8, torch.Generator().manual_seed(0))
    plain = model.decoder.out(model.decoder.features(x)).view(8, 40, 3)
    out = model.decoder(x)
    torch.testing.assert_close(out[..., 0], plain[..., 0] + x[:, -N_CONDITION:] @ model.decoder.skip_weight)
    torch.testing.assert_close(out[..., 1:], plain[..., 1:])
    # sample_hits (split output + skip) triggers the PMTs the dense decoder's probabilities give
    hits = model.sample_hits(3000, torch.Generator().manual_seed(1), vertex_cm=[0.0, 0.0, 120.0])
    rate = np.bincount(hits.pmt.astype(np.int64), minlength=40) / 3000
    dense = torch.sigmoid(model.sample_raw(3000, torch.Generator().manual_seed(1), vertex_cm=[0.0, 0.0, 120.0],
                                           calibrated=False)[..., 0]).mean(0).numpy()
    assert np.abs(rate - dense).max() < 0.04, (rate, dense)
    no_skip = PointNetVAE(VAEConfig.from_preset("tiny", n_pmts=40, condition=True, condition_skip=False))
    assert no_skip.decoder.skip == 0 and not hasattr(no_skip.decoder, "skip_weight")

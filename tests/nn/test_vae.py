"""Chamfer distance, KL term and the PointNet VAE on a tiny configuration."""

import pytest
import torch

from kamcore.errors import ConfigError
from kamcore.nn.vae import VAE_PRESETS, PointNetVAE, VAEConfig, chamfer_distance, kl_divergence, triggered_points
from synthetic import random_cloud


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def brute_chamfer(a, b, ma, mb):
    out = []
    for i in range(len(a)):
        A, B = a[i][ma[i]], b[i][mb[i]]
        if len(A) == 0 or len(B) == 0:
            out.append(0.0)
            continue
        d = [[float(((x - y) ** 2).sum()) for y in B] for x in A]
        out.append(sum(min(r) for r in d) / len(A) + sum(min(c) for c in zip(*d)) / len(B))
    return torch.tensor(out, dtype=torch.float64)


def test_chamfer_known_value():
    a = torch.tensor([[[0.0, 0.0], [2.0, 0.0]]])
    b = torch.tensor([[[0.0, 1.0]]])
    # a -> b: (1 + 5) / 2;  b -> a: 1
    torch.testing.assert_close(chamfer_distance(a, b), torch.tensor([4.0]))
    torch.testing.assert_close(chamfer_distance(a, b, squared=False), torch.tensor([(1 + 5 ** 0.5) / 2 + 1]))


def test_chamfer_identical_sets_and_symmetry():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(3, 50, 5, generator=g, dtype=torch.float64)
    b = torch.randn(3, 40, 5, generator=g, dtype=torch.float64)
    ma = torch.rand(3, 50, generator=g) < 0.6
    mb = torch.rand(3, 40, generator=g) < 0.6
    torch.testing.assert_close(chamfer_distance(a, a, ma, ma), torch.zeros(3, dtype=torch.float64), atol=1e-10,
                               rtol=0)
    torch.testing.assert_close(chamfer_distance(a, b, ma, mb), chamfer_distance(b, a, mb, ma))
    # the same set in another order
    perm = torch.randperm(50)
    torch.testing.assert_close(chamfer_distance(a, a[:, perm], ma, ma[:, perm]),
                               torch.zeros(3, dtype=torch.float64), atol=1e-10, rtol=0)


def test_chamfer_matches_brute_force_and_ignores_masked_points():
    g = torch.Generator().manual_seed(1)
    a = torch.randn(4, 30, 5, generator=g, dtype=torch.float64)
    b = torch.randn(4, 25, 5, generator=g, dtype=torch.float64)
    ma = torch.rand(4, 30, generator=g) < 0.5
    mb = torch.rand(4, 25, generator=g) < 0.5
    mb[3] = False  # an event with an empty second set contributes zero
    got = chamfer_distance(a, b, ma, mb)
    torch.testing.assert_close(got, brute_chamfer(a, b, ma, mb))
    assert got[3] == 0
    a2 = torch.where(ma[..., None], a, torch.full_like(a, 1e3))  # move masked points far away
    torch.testing.assert_close(chamfer_distance(a2, b, ma, mb), got)


def test_chamfer_gradient_and_shape_check():
    a = torch.randn(2, 6, 3, requires_grad=True)
    chamfer_distance(a, torch.randn(2, 4, 3)).sum().backward()
    assert torch.isfinite(a.grad).all() and a.grad.abs().sum() > 0
    with pytest.raises(ConfigError, match="chamfer_distance expects"):
        chamfer_distance(torch.zeros(2, 3, 4), torch.zeros(2, 3, 5))


def test_kl_divergence():
    mu, logvar = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 1.0]])
    # 1/2 (mu^2 + e^lv - 1 - lv) summed over the latent dims
    expected = 0.5 * (1 + 0) + 0.5 * (torch.e - 1 - 1)
    torch.testing.assert_close(kl_divergence(mu, logvar), torch.tensor([expected]))


def make_vae(p=40, dtype=torch.float32, **kw):
    torch.manual_seed(0)
    model = PointNetVAE(VAEConfig.from_preset("tiny", n_pmts=p, **kw)).to(dtype)
    pts, trig, xyz = random_cloud(b=6, p=p, dtype=dtype)
    model.scaler.fit(pts, trig, xyz)
    return model, pts, trig


def test_presets_and_config_round_trip():
    assert {"default", "tiny"} <= set(VAE_PRESETS)
    cfg = VAEConfig.from_preset("tiny", beta=0.5)
    again = VAEConfig(**cfg.to_dict())
    assert again.to_dict() == cfg.to_dict() and again.beta == 0.5
    with pytest.raises(ConfigError, match="unknown VAE preset 'huge'"):
        VAEConfig.from_preset("huge")


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_forward_shapes_and_loss_terms(dtype):
    model, pts, trig = make_vae(dtype=dtype)
    out = model(pts, trig)
    assert out["raw"].shape == (6, 40, 3) and out["mu"].shape == (6, 4) and out["z"].shape == (6, 4)
    assert out["raw"].dtype == dtype and out["feature_transform"].shape == (6, 8, 8)
    terms = model.loss(pts, trig)
    assert set(terms) == {"loss", "chamfer", "bce", "kl", "ortho"}
    assert all(v.dim() == 0 and torch.isfinite(v) and v.dtype == dtype for v in terms.values())
    c = model.config
    total = terms["chamfer"] + c.bce_weight * terms["bce"] + c.beta * terms["kl"] + c.ortho_weight * terms["ortho"]
    torch.testing.assert_close(terms["loss"], total)
    terms["loss"].backward()
    assert all(p.grad is not None for p in model.decoder.parameters())


def test_reparameterisation_is_seeded():
    model, pts, trig = make_vae()
    a = model(pts, trig, generator=torch.Generator().manual_seed(3))["z"]
    b = model(pts, trig, generator=torch.Generator().manual_seed(3))["z"]
    torch.testing.assert_close(a, b)


def test_a_few_steps_reduce_the_loss():
    model, pts, trig = make_vae()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    gen = torch.Generator().manual_seed(0)
    losses = []
    for _ in range(15):
        loss = model.loss(pts, trig, generator=gen)["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < losses[0]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_sample_shapes_seed_and_bernoulli(dtype):
    model, pts, trig = make_vae(dtype=dtype)
    p1, t1 = model.sample(5, generator=torch.Generator().manual_seed(1))
    p2, t2 = model.sample(5, generator=torch.Generator().manual_seed(1))
    assert p1.shape == (5, 40, 5) and t1.shape == (5, 40) and t1.dtype == torch.bool and p1.dtype == dtype
    assert torch.equal(p1, p2) and torch.equal(t1, t2)
    assert (p1[~t1] == 0).all() and (p1[t1][:, 4] > 0).all()
    torch.testing.assert_close(p1[t1][:, :3], model.scaler.pmt_xyz_cm.expand(5, -1, -1)[t1])
    with torch.no_grad():  # certain triggers: logits far from zero
        bias = model.decoder.out.bias.view(40, 3)
        model.decoder.out.weight.zero_()
        bias[:20, 0], bias[20:, 0] = 50.0, -50.0
    _, t = model.sample(3, generator=torch.Generator().manual_seed(0))
    assert t[:, :20].all() and not t[:, 20:].any()


def test_encoder_invariant_to_pmt_order_in_eval():
    """The PointNet encoder sees a set: permuting the points does not change mu."""
    model, pts, trig = make_vae(dtype=torch.float64)
    model.eval()
    f = model.scaler.transform(pts, trig)
    perm = torch.randperm(40)
    torch.testing.assert_close(model.encode(f)[0], model.encode(f[:, perm])[0])


def test_triggered_points_keeps_the_set_and_one_origin_row():
    f = torch.zeros(2, 6, 3)
    f[0, [1, 4], :] = torch.tensor([[1.0, 2.0, 1.0], [3.0, 4.0, 1.0]])
    f[1, 2, :] = torch.tensor([5.0, 6.0, 1.0])
    out = triggered_points(f)
    assert out.shape == (2, 3, 3)  # two triggered rows at most, plus the origin
    torch.testing.assert_close(out[0], torch.tensor([[1.0, 2.0, 1.0], [3.0, 4.0, 1.0], [0.0, 0.0, 0.0]]))
    torch.testing.assert_close(out[1], torch.tensor([[5.0, 6.0, 1.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]))
    full = torch.ones(1, 4, 3)  # every PMT triggered: nothing to add
    assert torch.equal(triggered_points(full), full)


@pytest.mark.parametrize("norm", ["batch", "layer"])
def test_triggered_encoding_equals_the_full_encoding_in_eval(norm):
    """All untriggered PMTs are the one origin point, so the max pool sees the same set."""
    model, pts, trig = make_vae(dtype=torch.float64, norm=norm)
    model.eval()
    f = model.scaler.transform(pts, trig)
    mu = model.encode(f)[0]
    model.config.encode_triggered = False
    torch.testing.assert_close(model.encode(f)[0], mu)


def test_low_rank_decoder():
    model = PointNetVAE(VAEConfig.from_preset("tiny", n_pmts=40, decoder_rank=3))
    assert tuple(model.decoder.low.weight.shape) == (3, 16) and tuple(model.decoder.out.weight.shape) == (120, 3)
    assert model.decode(torch.zeros(2, 4)).shape == (2, 40, 3)
    assert VAEConfig.from_preset("fast").decoder_rank == 64
    with pytest.raises(ValueError):
        VAEConfig(decoder_rank=-1)

"""PointNet encoder, transform networks, orthogonality regulariser, the point-cloud scaler and the fast sampling."""

import numpy as np
import pytest
import torch

from kamcore.errors import ConfigError
from kamcore.nn.pointnet import (N_FEATURES, TRIGGER_LEVELS, PMTDecoder, PointCloudScaler, PointNetEncoder,
                                 TransformNet, TriggerDraws, orthogonality_loss)
from synthetic import random_cloud


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def tiny_encoder(norm="batch", **kw):
    return PointNetEncoder(N_FEATURES, (8, 16), transform_widths=(8, 12), transform_fc_widths=(8,), norm=norm, **kw)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("norm", ["batch", "layer", "none"])
def test_encoder_shapes_dtype(norm, dtype):
    torch.manual_seed(0)
    enc = tiny_encoder(norm).to(dtype)
    out = enc(torch.randn(4, 30, N_FEATURES, dtype=dtype))
    assert out.feature.shape == (4, 16) and out.feature.dtype == dtype
    assert out.input_transform.shape == (4, 3, 3) and out.feature_transform.shape == (4, 8, 8)
    out = tiny_encoder(norm, input_transform=False, feature_transform=False).to(dtype)(
        torch.randn(2, 30, N_FEATURES, dtype=dtype))
    assert out.input_transform is None and out.feature_transform is None and out.feature.shape == (2, 16)


@pytest.mark.parametrize("norm", ["batch", "layer", "none"])
@pytest.mark.parametrize("train", [False, True])
def test_encoder_is_permutation_invariant(norm, train):
    torch.manual_seed(1)
    enc = tiny_encoder(norm).double().train(train)
    x = torch.randn(3, 25, N_FEATURES, dtype=torch.float64)
    perm = torch.randperm(25)
    torch.testing.assert_close(enc(x).feature, enc(x[:, perm]).feature)


def test_transform_net_starts_at_identity():
    torch.manual_seed(2)
    tn = TransformNet(5, 4, (8,), (8,)).eval()
    a = tn(torch.randn(2, 11, 4))
    torch.testing.assert_close(a, torch.eye(5).expand(2, 5, 5))


def test_orthogonality_loss():
    q, _ = torch.linalg.qr(torch.randn(4, 6, 6, dtype=torch.float64))
    assert float(orthogonality_loss(q)) == pytest.approx(0.0, abs=1e-12)
    assert float(orthogonality_loss(2 * torch.eye(3))) == 27.0
    # mean over the batch of ||I - A A^T||_F^2: 0 for I and 27 for 2I
    assert float(orthogonality_loss(torch.stack([torch.eye(3), 2 * torch.eye(3)]))) == 13.5
    a = torch.randn(2, 4, 4, requires_grad=True)
    orthogonality_loss(a).backward()
    assert a.grad is not None and torch.isfinite(a.grad).all()
    with pytest.raises(ConfigError, match=r"\(B, k, k\)"):
        orthogonality_loss(torch.zeros(2, 3, 4))


def test_encoder_rejects_wrong_feature_count():
    with pytest.raises(ConfigError, match=r"expects \(B, P, 6\) points, got \(2, 5, 5\)"):
        tiny_encoder()(torch.zeros(2, 5, 5))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_scaler_round_trip_and_double_sphere(dtype):
    pts, trig, xyz = random_cloud(dtype=dtype)
    sc = PointCloudScaler(40).to(dtype).fit(pts, trig, xyz)
    assert bool(sc.fitted) and sc.pmt_xyz_cm.dtype == dtype
    f = sc.transform(pts, trig)
    assert f.shape == (3, 40, 6) and f.dtype == dtype
    assert (f[~trig] == 0).all() and (f[trig][:, 5] == 1).all()
    hits = f[trig]
    torch.testing.assert_close(hits[:, 3].mean(), torch.zeros((), dtype=dtype), atol=1e-5, rtol=0)
    torch.testing.assert_close(hits[:, 3].std(), torch.ones((), dtype=dtype), atol=1e-5, rtol=0)
    assert hits[:, :3].norm(dim=1).max() <= 1 + 1e-6
    back, btrig = sc.inverse_transform(f)
    assert (btrig == trig).all()
    torch.testing.assert_close(back, pts, rtol=1e-5, atol=1e-3)


def test_scaler_output_points_use_pmt_positions():
    pts, trig, xyz = random_cloud()
    sc = PointCloudScaler(40).fit(pts, trig, xyz)
    raw = torch.stack([torch.zeros(3, 40), sc.scale_t(pts[..., 3]), sc.scale_q(pts[..., 4].clamp_min(0.3))], -1)
    out = sc.output_points(raw, trig)
    torch.testing.assert_close(out[trig], pts[trig], rtol=1e-5, atol=1e-3)
    assert (out[~trig] == 0).all()
    soft = sc.output_features(raw, torch.full((3, 40), 0.5))
    torch.testing.assert_close(soft[..., 5], torch.full((3, 40), 0.5))


def test_scaler_checks_shapes():
    sc = PointCloudScaler(10)
    with pytest.raises(ConfigError, match=r"expected points \(B, 10, 5\)"):
        sc.transform(torch.zeros(2, 9, 5), torch.zeros(2, 9, dtype=torch.bool))


def test_decoder_output_bias_matches_trigger_rate():
    dec = PMTDecoder(3, [8], 5)
    rate = torch.tensor([0.1, 0.5, 0.9, 0.0, 1.0])
    dec.init_output_bias(rate)
    with torch.no_grad():
        dec.out.weight.zero_()
        raw = dec(torch.randn(2, 3))
    assert raw.shape == (2, 5, 3)
    torch.testing.assert_close(torch.sigmoid(raw[0, :, 0]), rate.clamp(1e-3, 1 - 1e-3))
    assert (raw[..., 1:] == 0).all()


def test_output_calibration_maps_quantiles_and_is_monotone():
    from kamcore.nn.pointnet import OutputCalibration

    g = torch.Generator().manual_seed(0)
    gen = torch.randn(5000, generator=g, dtype=torch.float64) * 0.5          # too narrow
    data = torch.randn(5000, generator=g, dtype=torch.float64) * 2.0 + 1.0
    cal = OutputCalibration(64).to(torch.float64)
    x = torch.linspace(-3, 3, 101, dtype=torch.float64)
    assert torch.equal(cal.t(x), x)  # not fitted: identity
    cal.fit(gen, data, gen, gen)
    mapped = cal.t(gen)
    assert abs(float(mapped.std()) - 2.0) < 0.1 and abs(float(mapped.mean()) - 1.0) < 0.1
    assert (torch.diff(cal.t(x)) >= 0).all()
    torch.testing.assert_close(cal.q(gen), gen, atol=0.02, rtol=0)  # q fitted on itself: ~identity
    assert float(cal.t(torch.tensor([100.0], dtype=torch.float64))) == pytest.approx(float(data.max()))
    raw = torch.stack([torch.zeros(7), torch.ones(7), torch.ones(7)], -1).double()
    out = cal(raw)
    assert torch.equal(out[..., 0], raw[..., 0]) and torch.equal(out[..., 1], cal.t(raw[..., 1]))
    with pytest.raises(ConfigError, match=">= 2 knots"):
        OutputCalibration(1)


@pytest.mark.parametrize("pool", ["max_mean", "max_hitmean"])
def test_pooled_features_count_and_hit_mean(pool):
    torch.manual_seed(0)
    enc = PointNetEncoder(N_FEATURES, (8, 16), transform_widths=(8,), transform_fc_widths=(8,), norm="layer",
                          pool=pool).eval()
    assert enc.out_features == 32
    pts, trig, xyz = random_cloud(b=2, p=40, dtype=torch.float64)
    f = PointCloudScaler(40).fit(pts, trig, xyz).transform(pts, trig).float()
    g = enc(f).feature
    assert g.shape == (2, 32) and torch.isfinite(g).all()
    padded = torch.cat([f, torch.zeros(2, 25, N_FEATURES)], 1)  # more untriggered (origin) rows
    same = torch.allclose(enc(padded).feature, g, atol=1e-6)
    assert same == (pool == "max_hitmean")  # the mean over hits ignores them, the mean over rows does not
    with pytest.raises(ConfigError, match="pool must be one of"):
        PointNetEncoder(N_FEATURES, (8, 16), pool="sum")


# ------------------------------------------------------------------ fast sampling (sample_hits)
def _decoder_setup(dtype, rank=3, n_pmts=40, knots=16, seed=0):
    """A random PMTDecoder, a fitted scaler and a fitted calibration (or None when ``knots`` is 0)."""
    from kamcore.nn.pointnet import OutputCalibration

    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    dec = PMTDecoder(4, [16], n_pmts, rank=rank).to(dtype)
    with torch.no_grad():
        dec.out.bias.view(n_pmts, 3)[:, 0] -= 1.0                 # ~ a quarter of the PMTs triggered
    sc = PointCloudScaler(n_pmts).to(dtype)
    sc.pmt_xyz_cm.copy_(torch.randn(n_pmts, 3, generator=g, dtype=torch.float64) * 500)
    sc.t_mean_ns.fill_(3.0), sc.t_std_ns.fill_(2.5), sc.logq_mean.fill_(0.2), sc.logq_std.fill_(0.6)
    sc.fitted.fill_(True)
    cal = None
    if knots:
        raw = torch.randn(3000, generator=g, dtype=torch.float64)
        cal = OutputCalibration(knots).to(dtype).fit(raw * 0.5, raw * 2 + 0.3, raw * 0.7, raw.exp())
    return dec, sc, cal


@torch.no_grad()
def _dense_hits(dec, sc, cal, z, u):
    """The dense reference: decode every PMT, calibrate every PMT, Bernoulli draw u < p, keep the triggered."""
    raw = dec(z)                                                   # (n, P, 3)
    trigger = u < torch.sigmoid(raw[..., 0])
    if cal is not None:
        raw = cal(raw)
    pts = sc.output_points(raw, trigger)                           # (n, P, 5)
    return trigger.sum(1), trigger.nonzero()[:, 1], pts[trigger][:, 3], pts[trigger][:, 4]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("rank", [0, 3])
def test_split_output_regroups_the_output_layer(dtype, rank):
    dec, _, _ = _decoder_setup(dtype, rank=rank)
    z = torch.randn(5, 4, dtype=dtype)
    raw = dec(z)
    w_logit, b_logit, w_t, b_t, w_q, b_q = dec.split_output()
    f = dec.features(z)
    with torch.no_grad():                                          # sampling: fused Linear + ReLU in place
        torch.testing.assert_close(dec.features(z), f.detach())
    assert dec._plain_hidden() and not PMTDecoder(4, [16], 40, norm="layer")._plain_hidden()
    torch.testing.assert_close(f @ w_logit + b_logit, raw[..., 0])
    torch.testing.assert_close(f @ w_t + b_t, raw[..., 1])
    torch.testing.assert_close(f @ w_q + b_q, raw[..., 2])
    assert dec.split_output()[0] is w_logit                        # cached
    with torch.no_grad():                                          # an optimizer step: rebuilt
        dec.out.weight.mul_(2.0)
    torch.testing.assert_close(dec.split_output()[0], 2 * w_logit)
    other = PMTDecoder(4, [16], 40, rank=rank).to(dtype)
    dec.load_state_dict(other.state_dict())
    for mine, theirs in zip(dec.split_output(), other.split_output()):
        torch.testing.assert_close(mine, theirs)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_output_calibration_tables_follow_the_exact_map(dtype):
    from kamcore.nn.pointnet.calibration import _interp

    _, _, cal = _decoder_setup(dtype)
    x = torch.linspace(-4, 4, 2001, dtype=dtype)
    for name, fn in (("t", cal.t), ("q", cal.q)):
        xp, fp = getattr(cal, f"{name}_from").double(), getattr(cal, f"{name}_to").double()
        exact = _interp(x.double(), xp, fp)
        assert float((fn(x).double() - exact).abs().max()) < 1e-3 * float(fp[-1] - fp[0])
        assert fn(x.view(1, -1, 1)).shape == (1, 2001, 1)
    assert (torch.diff(cal.t(x)) >= 0).all() and (torch.diff(cal.q(x)) >= 0).all()
    # beyond the ends: exactly the end values
    assert float(cal.t(x[:1] - 100)) == float(cal.t_to[0]) and float(cal.q(x[-1:] + 100)) == float(cal.q_to[-1])
    # an affine map (the scaler's inverse) and exp of log q folded into the tables (what sample_hits reads)
    t, q = cal._eval("t", x, 2.0, 1.0), cal._eval("q", x.flip(0), 0.5, -3.0, exp=True)
    torch.testing.assert_close(t, 2.0 * cal.t(x) + 1.0, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(q, (0.5 * cal.q(x.flip(0)) - 3.0).exp(), atol=1e-5, rtol=1e-5)
    # load_state_dict rebuilds the tables
    other = type(cal)(cal.knots).to(dtype).fit(x * 3, x, x, x)
    cal.load_state_dict(other.state_dict())
    torch.testing.assert_close(cal.t(x), other.t(x))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("knots", [0, 16])
@pytest.mark.parametrize("rank", [0, 3])
def test_sample_hits_matches_dense_decoding(dtype, knots, rank):
    """The fast path gives the events of the dense reference for the same latents and uniforms."""
    from kamcore.nn.pointnet import sample_hits

    dec, sc, cal = _decoder_setup(dtype, rank=rank, knots=knots)
    g = torch.Generator().manual_seed(3)
    z = torch.randn(11, 4, generator=g, dtype=dtype)
    state = g.get_state()
    k = TriggerDraws(g, "cpu").levels(11, 40)                      # the draws sample_hits makes next
    u = torch.from_numpy((k + 0.5) / TRIGGER_LEVELS).to(dtype)
    counts, pmt, t_ns, q_pe = _dense_hits(dec, sc, cal, z, u)
    for chunk in (2, 3, 11, 256):                                   # chunking does not change the events
        hits = sample_hits(dec, sc, cal, z, g.set_state(state), chunk=chunk)
        np.testing.assert_array_equal(hits.counts, counts.numpy())
        np.testing.assert_array_equal(hits.pmt, pmt.numpy())
        assert hits.pmt.dtype == np.int16 and hits.t_ns.dtype == hits.q_pe.dtype == np.float32
        # the fast path computes table positions in one product (rounded differently): the calibrated
        # value may come from the neighbouring one of the 65537 table points
        np.testing.assert_allclose(hits.t_ns, t_ns.float().numpy(), rtol=1e-5, atol=5e-3)
        np.testing.assert_allclose(hits.q_pe, q_pe.float().numpy(), rtol=5e-4)
    assert counts.sum() > 20
    empty = sample_hits(dec, sc, cal, z[:0], g)
    assert len(empty.counts) == len(empty.pmt) == 0


def test_trigger_draws_are_16_bit_uniforms_in_any_chunking():
    g = torch.Generator().manual_seed(5)
    k = TriggerDraws(g, "cpu").levels(3000, 7)                     # P = 7: 2 words per event, one level unused
    assert k.shape == (3000, 7) and k.dtype == np.uint16
    again = TriggerDraws(g.manual_seed(5), "cpu")
    np.testing.assert_array_equal(np.concatenate([again.levels(1000, 7), again.levels(2000, 7)]), k)
    assert abs(k.mean() - 32767.5) < 5 * 18918 / np.sqrt(k.size)   # uniform on 0..65535: sd 18918
    counts = np.bincount(k.reshape(-1) >> 12, minlength=16)        # 16 equal bins
    assert ((counts - k.size / 16) ** 2 / (k.size / 16)).sum() < 45  # chi2, 15 dof
    # the draw: k + 1/2 < 2^16 p; p = 0 never, p = 1 always, p = 2^-16 (level 0 only) half of level 0
    bits = TriggerDraws(g.manual_seed(6), "cpu")(torch.tensor([[0.0, 1.0, 0.5]]).repeat(20000, 1))
    assert not bits[:, 0].any() and bits[:, 1].all() and abs(bits[:, 2].mean() - 0.5) < 0.015
    assert not TriggerDraws(g, "cpu")(torch.full((20000, 1), 0.4 / TRIGGER_LEVELS)).any()


def test_sample_hits_trigger_rates_are_bernoulli():
    """Per-PMT trigger frequencies over 4000 events agree with sigmoid(logit) (binomial pulls)."""
    from kamcore.nn.pointnet import sample_hits

    n_pmts, n = 60, 4000
    dec, sc, _ = _decoder_setup(torch.float32, n_pmts=n_pmts, knots=0)
    rate = torch.linspace(0.002, 0.998, n_pmts)
    dec.init_output_bias(rate)
    with torch.no_grad():
        dec.out.weight.zero_()                                     # logits independent of z
    g = torch.Generator().manual_seed(7)
    hits = sample_hits(dec, sc, None, torch.randn(n, 4, generator=g), g)
    freq = np.bincount(hits.pmt, minlength=n_pmts) / n
    p = rate.clamp(1e-3, 1 - 1e-3).double().numpy()
    pulls = (freq - p) / np.sqrt(p * (1 - p) / n)
    assert np.abs(pulls).max() < 4.5 and abs(pulls.mean()) < 4.5 / np.sqrt(n_pmts)
    assert 0.5 < float((pulls ** 2).mean()) < 1.6                    # chi2 / ndf


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_sample_hits_cuda_matches_cpu():
    from kamcore.nn.pointnet import sample_hits

    dec, sc, cal = _decoder_setup(torch.float32, n_pmts=40)
    dec.init_output_bias(torch.linspace(0.05, 0.95, 40))
    z = torch.randn(4000, 4, generator=torch.Generator().manual_seed(3))
    # the same code on both devices (each with its own random stream): the same trigger rates
    cpu = sample_hits(dec, sc, cal, z, torch.Generator().manual_seed(1))
    gpu = sample_hits(dec.to("cuda"), sc.to("cuda"), cal.to("cuda"), z.to("cuda"),
                      torch.Generator("cuda").manual_seed(1))
    rate_cpu, rate_gpu = (np.bincount(h.pmt, minlength=40) / 4000 for h in (cpu, gpu))
    p = np.clip((rate_cpu + rate_gpu) / 2, 1e-3, 1 - 1e-3)
    assert np.abs((rate_cpu - rate_gpu) / np.sqrt(2 * p * (1 - p) / 4000)).max() < 4.5
    assert gpu.t_ns.dtype == np.float32 and len(gpu.t_ns) == len(gpu.pmt) == gpu.counts.sum()

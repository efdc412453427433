"""PointNet encoder, transform networks, orthogonality regulariser and the point-cloud scaler."""

import pytest
import torch

from kamcore.errors import ConfigError
from kamcore.nn.pointnet import (N_FEATURES, PMTDecoder, PointCloudScaler, PointNetEncoder, TransformNet,
                                 orthogonality_loss)
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

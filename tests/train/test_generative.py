"""Generator training loops, checkpoints and generated Events on a tiny configuration (P = 1879)."""

import json

import numpy as np
import pytest
import torch

from kamcore.errors import ConfigError
from kamcore.geometry import fibonacci_pmt_table
from kamcore.io import read_events, write_events
from kamcore.metrics.generative import compare_events
from kamcore.nn.pointnet import TRIGGER_LEVELS, TriggerDraws
from kamcore.nn.vae import PointNetVAE, VAEConfig
from kamcore.nn.wgan import GANConfig, PointCloudWGAN
from kamcore.preprocess.pointcloud import point_clouds
from kamcore.sim import simulate
from kamcore.train import load_model, save_model
from kamcore.models import generate_events
from kamcore.train.generative import (GenTrainConfig, calibrate_generator, event_conditions, fit_gan, fit_vae,
                                      iou_validator, prepare_generator)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def mc(pmts):
    return simulate("Xe136_0vbb", 24, seed=5, pmts=pmts)


@pytest.fixture(scope="module")
def clouds(mc, pmts):
    return point_clouds(mc, pmts)


@pytest.fixture(scope="module")
def trained_vae(clouds, pmts):
    torch.manual_seed(0)
    model = PointNetVAE(VAEConfig.from_preset("tiny"))
    cfg = GenTrainConfig(epochs=4, batch_size=6, lr=3e-3, seed=0, device="cpu")
    history = fit_vae(model, *clouds, cfg, pmts=pmts)
    return model, history


@pytest.fixture(scope="module")
def trained_gan(clouds, pmts):
    torch.manual_seed(0)
    model = PointCloudWGAN(GANConfig.from_preset("tiny"))
    cfg = GenTrainConfig(epochs=2, batch_size=4, n_critic=2, seed=0, device="cpu")
    history = fit_gan(model, *clouds, cfg, pmts=pmts)
    return model, history


def test_fit_vae_history_and_scaler(trained_vae, clouds):
    model, history = trained_vae
    epochs = history["epochs"]
    assert len(epochs) == 4 and [e["epoch"] for e in epochs] == [1, 2, 3, 4]
    assert all(np.isfinite(e[k]) for e in epochs for k in ("loss", "chamfer", "bce", "kl", "ortho"))
    assert epochs[-1]["loss"] < epochs[0]["loss"]
    points, trigger = clouds
    sc = model.scaler
    assert bool(sc.fitted) and not model.training
    hits = points[trigger]
    assert float(sc.t_mean_ns) == pytest.approx(hits[:, 3].mean(), abs=1e-3)
    assert float(sc.radius_cm) == pytest.approx(900.0, rel=1e-3)


def test_progress_callback_and_fine_tuning_keeps_the_scaler(trained_vae, clouds, pmts):
    model, _ = trained_vae
    before = {k: v.clone() for k, v in model.scaler.state_dict().items()}
    calls = []
    points, trigger = clouds
    fit_vae(model, points[:6] * np.float32(1), trigger[:6], GenTrainConfig(epochs=1, batch_size=3, device="cpu"),
            progress=calls.append)
    assert [c["step"] for c in calls] == [1, 2] and all(np.isfinite(c["loss"]) for c in calls)
    for k, v in model.scaler.state_dict().items():
        assert torch.equal(v, before[k])


def test_fit_gan_history(trained_gan):
    model, history = trained_gan
    epochs = history["epochs"]
    assert len(epochs) == 2
    # 24 events / 4 per batch = 6 critic steps per epoch, a generator step every 2nd
    assert [e["generator_steps"] for e in epochs] == [3, 3]
    assert all(np.isfinite(e[k]) for e in epochs for k in ("critic_loss", "wasserstein", "gp", "generator_loss"))
    assert bool(model.scaler.fitted)


@pytest.mark.parametrize("which", ["vae", "gan"])
def test_generate_events_is_an_ordinary_run(which, trained_vae, trained_gan, pmts, tmp_path):
    model = (trained_vae if which == "vae" else trained_gan)[0]
    ev = generate_events(model, 7, seed=3, pmts=pmts, batch_size=3)
    assert len(ev) == 7 and set(ev.source) == {f"generated:{which}"}
    assert np.isnan(ev.vertex_cm).all() and np.isnan(ev.energy_mev).all() and not ev.has_truth
    assert ev.n_hits > 0 and ev.pmt.dtype == np.int16 and (ev.q_pe > 0).all()
    ev.validate(len(pmts))
    for i in range(7):  # one hit per triggered PMT
        assert len(np.unique(ev.hits(i)[0])) == len(ev.hits(i)[0])
    assert ev.attrs["time_reference"] == "proper" and ev.attrs["generator"] == which
    assert ev.attrs["pmt_table_digest"] == pmts.digest and ev.attrs["generator_seed"] == 3
    path = write_events(ev, tmp_path / f"{which}.parquet")
    back = read_events(path)
    assert back.equals(ev) and back.attrs["time_reference"] == "proper"
    again = generate_events(model, 7, seed=3, pmts=pmts, batch_size=3)
    assert again.equals(ev)
    assert not generate_events(model, 7, seed=4, pmts=pmts, batch_size=3).equals(ev)
    named = generate_events(model, 2, seed=0, pmts=pmts, source_name="generated:vae-fewshot")
    assert set(named.source) == {"generated:vae-fewshot"}
    assert len(generate_events(model, 0, pmts=pmts)) == 0


@pytest.mark.parametrize("which", ["vae", "gan"])
def test_checkpoint_round_trip_gives_identical_samples(which, trained_vae, trained_gan, tmp_path, pmts):
    model = (trained_vae if which == "vae" else trained_gan)[0]
    w, meta = save_model(tmp_path / which, model, which, training={"events": 24})
    doc = json.loads(meta.read_text())
    assert doc["model"] == which and doc["config"] == model.config.to_dict()
    loaded, _ = load_model(tmp_path / which)
    assert type(loaded) is type(model) and bool(loaded.scaler.fitted)
    a = generate_events(model, 5, seed=9, pmts=pmts)
    b = generate_events(loaded, 5, seed=9, pmts=pmts)
    assert a.equals(b)
    pa, ta = model.sample(3, generator=torch.Generator().manual_seed(1))
    pb, tb = loaded.sample(3, generator=torch.Generator().manual_seed(1))
    assert torch.equal(pa, pb) and torch.equal(ta, tb)


def test_generated_events_can_be_compared(trained_vae, mc, pmts):
    gen = generate_events(trained_vae[0], 24, seed=0, pmts=pmts)
    res = compare_events(mc, gen, pmts, classifier=False)
    assert all(0.0 <= res[q]["iou"] <= 1.0 and res[q]["wd"] >= 0 for q in ("time", "charge", "nhit", "total_charge"))


def test_errors(clouds, pmts, trained_vae):
    points, trigger = clouds
    other = fibonacci_pmt_table(radius_cm=850.0)
    with pytest.raises(ConfigError, match="away from their PMT"):
        prepare_generator(PointNetVAE(VAEConfig.from_preset("tiny")), points, trigger, other)
    with pytest.raises(ConfigError, match=r"expected points \(N, 1879, 5\)"):
        fit_vae(PointNetVAE(VAEConfig.from_preset("tiny")), points[:, :10], trigger[:, :10])
    with pytest.raises(ConfigError, match="no fitted point-cloud scaler"):
        generate_events(PointNetVAE(VAEConfig.from_preset("tiny")), 2, pmts=pmts)
    with pytest.raises(ConfigError, match="the PMT table has 1879 PMTs, the model generates 40"):
        generate_events(PointNetVAE(VAEConfig.from_preset("tiny", n_pmts=40)), 2, pmts=pmts)
    with pytest.raises(ConfigError, match="non-negative integer"):
        generate_events(trained_vae[0], -1, pmts=pmts)


def test_validation_keeps_the_best_epoch(clouds, pmts, mc):
    torch.manual_seed(0)
    model = PointNetVAE(VAEConfig.from_preset("tiny"))
    scores = iter([0.2, 0.9, 0.1])
    states = []

    def validate(m):
        assert not m.training
        states.append({k: v.clone() for k, v in m.state_dict().items()})
        return {"score": next(scores), "extra": 1.0}

    cfg = GenTrainConfig(epochs=3, batch_size=8, seed=0, device="cpu", lr_schedule="cosine")
    history = fit_vae(model, *clouds, cfg, pmts=pmts, validate=validate)
    assert history["best_epoch"] == 2 and history["best_score"] == 0.9
    assert [e["val"]["score"] for e in history["epochs"]] == [0.2, 0.9, 0.1]
    for k, v in model.state_dict().items():  # the weights of epoch 2 are back
        assert torch.equal(v, states[1][k])
    assert not model.training


def test_cosine_schedule_ends_at_zero(clouds, pmts):
    torch.manual_seed(0)
    model = PointNetVAE(VAEConfig.from_preset("tiny"))
    cfg = GenTrainConfig(epochs=2, batch_size=12, seed=0, device="cpu", lr_schedule="cosine")
    seen = []
    orig = torch.optim.Adam.step

    def spy(self, *a, **kw):
        seen.append(self.param_groups[0]["lr"])
        return orig(self, *a, **kw)

    torch.optim.Adam.step = spy
    try:
        fit_vae(model, *clouds, cfg, pmts=pmts)
    finally:
        torch.optim.Adam.step = orig
    # 24 events / 12 = 2 steps per epoch, 4 in all: lr at the steps 0, 1, 2, 3 of 4
    np.testing.assert_allclose(seen, [1e-3 * 0.5 * (1 + np.cos(np.pi * s / 4)) for s in range(4)], rtol=1e-6)


def test_iou_validator_scores_a_generator(trained_vae, mc, pmts):
    res = iou_validator(mc, 30, pmts, seed=1)(trained_vae[0])
    keys = {f"iou_{q}" for q in ("time", "charge", "nhit", "total_charge")}
    assert keys <= set(res) and 0 < res["score"] < 1
    assert res["score"] == pytest.approx(np.mean([res[k] for k in keys]))


@pytest.mark.parametrize("which", ["vae", "gan"])
def test_calibration_matches_the_training_quantiles(which, trained_vae, trained_gan, clouds, pmts, tmp_path):
    model = (trained_vae if which == "vae" else trained_gan)[0]
    assert model.calibration is None
    points, trigger = clouds
    cal = calibrate_generator(model, points, trigger, knots=32, n_generate=200, seed=0)
    assert cal is not model and cal.config.calibration_knots == 32 and bool(cal.calibration.fitted)
    for k, v in model.state_dict().items():  # the weights are carried over
        assert torch.equal(cal.state_dict()[k], v)
    ev = generate_events(cal, 200, seed=1, pmts=pmts)
    real_t = points[trigger][:, 3]
    np.testing.assert_allclose(np.percentile(ev.t_ns, [10, 50, 90]), np.percentile(real_t, [10, 50, 90]), atol=1.5)
    save_model(tmp_path / "c", cal, which)
    back = load_model(tmp_path / "c")[0]
    assert back.calibration is not None and generate_events(back, 5, seed=2, pmts=pmts).equals(
        generate_events(cal, 5, seed=2, pmts=pmts))
    raw = cal.sample_raw(3, torch.Generator().manual_seed(0), calibrated=False)
    torch.testing.assert_close(raw, model.sample_raw(3, torch.Generator().manual_seed(0)))


def _dense_generate(model, n, seed, batch_size):
    """Reference of generate_events: per batch z, then the trigger uniforms; every PMT decoded and calibrated."""
    gen = torch.Generator().manual_seed(seed)
    counts, pmt, t_ns, q_pe = [], [], [], []
    model.eval()
    with torch.no_grad():
        for a in range(0, n, batch_size):
            b = min(batch_size, n - a)
            raw = model.sample_raw(b, gen)                                         # (b, P, 3), calibrated
            k = TriggerDraws(gen, "cpu").levels(b, model.scaler.n_pmts)       # the 16-bit trigger draws
            trigger = torch.from_numpy((k + 0.5) / TRIGGER_LEVELS).to(raw.dtype) < torch.sigmoid(raw[..., 0])
            pts = model.scaler.output_points(raw, trigger)
            counts.append(trigger.sum(1).numpy())
            pmt.append(trigger.nonzero()[:, 1].numpy())
            t_ns.append(pts[trigger][:, 3].numpy())
            q_pe.append(pts[trigger][:, 4].numpy())
    return [np.concatenate(x) for x in (counts, pmt, t_ns, q_pe)]


@pytest.mark.parametrize("which", ["vae", "gan"])
def test_generate_events_equals_dense_sampling(which, trained_vae, trained_gan, clouds, pmts):
    """The fast path (split output layer, t and q of the hits only, table calibration) gives the events of
    the dense path for the same seed: same trigger bits, t and q to float rounding."""
    model = (trained_vae if which == "vae" else trained_gan)[0]
    for m in (model, calibrate_generator(model, *clouds, knots=32, n_generate=100, seed=0)):
        ev = generate_events(m, 25, seed=4, pmts=pmts, batch_size=10)
        counts, pmt, t_ns, q_pe = _dense_generate(m, 25, 4, 10)
        np.testing.assert_array_equal(np.diff(ev.offsets), counts)
        np.testing.assert_array_equal(ev.pmt, pmt)
        # within one spacing of the calibration tables (the fast path rounds table positions differently)
        np.testing.assert_allclose(ev.t_ns, t_ns, rtol=1e-5, atol=5e-3)
        np.testing.assert_allclose(ev.q_pe, q_pe, rtol=5e-4)
        assert ev.n_hits > 100


def test_shipped_vae_fast_path_has_the_distribution_of_model_sample(pmts):
    """Shipped VAE: NHIT, hit time and charge of generate_events against model.sample (torch.bernoulli on the
    dense output) on independent draws agree within their statistical errors."""
    from kamcore.cli.generators import resolve_checkpoint

    model = load_model(resolve_checkpoint("vae_xe136"))[0].eval()
    n = 3000
    ev = generate_events(model, n, seed=11, pmts=pmts)
    points, trigger = model.sample(n, torch.Generator().manual_seed(12))
    nhit_fast, nhit_ref = np.diff(ev.offsets), trigger.sum(1).numpy()
    hits = points[trigger].numpy()
    err = np.hypot(nhit_fast.std(), nhit_ref.std()) / np.sqrt(n)
    assert abs(nhit_fast.mean() - nhit_ref.mean()) < 4 * err
    assert nhit_fast.std() == pytest.approx(nhit_ref.std(), rel=0.08)
    for fast, ref in ((ev.t_ns, hits[:, 3]), (np.log(ev.q_pe), np.log(hits[:, 4]))):
        np.testing.assert_allclose(np.percentile(fast, [5, 25, 50, 75, 95]), np.percentile(ref, [5, 25, 50, 75, 95]),
                                   atol=0.03 * ref.std())
    # per-PMT trigger rates: squared differences against their binomial variance, chi2 / ndf ~ 1 +- 0.03
    rate_fast = np.bincount(ev.pmt, minlength=len(pmts)) / n
    rate_ref = trigger.double().mean(0).numpy()
    p = np.clip((rate_fast + rate_ref) / 2, 1 / n, 1 - 1 / n)
    assert 0.85 < np.mean((rate_fast - rate_ref) ** 2 / (2 * p * (1 - p) / n)) < 1.15


# ------------------------------------------------------------------ conditional VAE (issue 18)
@pytest.fixture(scope="module")
def small_pmts():
    """200 PMTs: the conditional tests train on synthetic clouds in seconds."""
    return fibonacci_pmt_table(n=200, n_20in=50)


def _dipole_clouds(pmts, n=256, seed=0):
    """Synthetic clouds whose trigger pattern follows the vertex: PMTs on the vertex's side of z = 0
    trigger with probability 0.6, the others 0.1; vertices at z = +-200 cm, energies 2-3 MeV."""
    rng = np.random.default_rng(seed)
    side = np.where(rng.random(n) < 0.5, 1.0, -1.0)
    cond = np.zeros((n, 4), np.float32)
    cond[:, 2] = 200.0 * side
    cond[:, 3] = rng.uniform(2.0, 3.0, n)
    z_pmt = pmts.xyz_cm[:, 2]
    prob = np.where(np.sign(z_pmt)[None, :] == side[:, None], 0.6, 0.1)
    trigger = rng.random(prob.shape) < prob
    points = np.zeros(trigger.shape + (5,), np.float32)
    points[..., :3] = pmts.xyz_cm[None]
    points[..., 3] = rng.normal(0.0, 3.0, trigger.shape)
    points[..., 4] = rng.gamma(4.0, 0.3, trigger.shape) + 0.3
    points *= trigger[..., None]
    return points, trigger, cond


def _centroid_z(events, pmts):
    q, z = events.q_pe.astype(np.float64), pmts.xyz_cm[events.pmt.astype(np.int64), 2]
    ev = events.event_index()
    return np.bincount(ev, q * z, len(events)) / np.bincount(ev, q, len(events))


@pytest.fixture(scope="module")
def trained_cvae(small_pmts):
    points, trigger, cond = _dipole_clouds(small_pmts)
    torch.manual_seed(0)
    model = PointNetVAE(VAEConfig.from_preset("tiny", n_pmts=200, condition=True, condition_rows=32,
                                              bce_weight=20.0))
    cfg = GenTrainConfig(epochs=10, batch_size=32, lr=3e-2, seed=0, device="cpu")
    history = fit_vae(model, points, trigger, cfg, pmts=small_pmts, condition=cond)
    return model, history, cond


def test_conditioning_moves_the_charge_centroid(trained_cvae, small_pmts):
    pmts = small_pmts
    model, history, cond = trained_cvae
    assert history["epochs"][-1]["bce"] < history["epochs"][0]["bce"]
    up = generate_events(model, 200, seed=1, pmts=pmts, condition={"vertex_cm": [0.0, 0.0, 200.0]})
    down = generate_events(model, 200, seed=1, pmts=pmts, condition={"vertex_cm": [0.0, 0.0, -200.0]})
    zu, zd = _centroid_z(up, pmts), _centroid_z(down, pmts)
    # the training pattern puts the charge centroid near +-R (0.6 - 0.1) / (2 x 0.7) = +-0.36 R
    assert zu.mean() > 100.0 and zd.mean() < -100.0, (zu.mean(), zd.mean())
    # unconditioned draws mix both sides as the training set does
    free = _centroid_z(generate_events(model, 400, seed=2, pmts=pmts), pmts)
    assert 0.25 < (free > 0).mean() < 0.75
    assert generate_events(model, 50, seed=3, pmts=pmts).equals(generate_events(model, 50, seed=3, pmts=pmts))


def test_conditional_checkpoint_round_trip_and_calibration(trained_cvae, small_pmts, tmp_path):
    pmts = small_pmts
    model, _, cond = trained_cvae
    save_model(tmp_path / "cvae", model, "vae")
    loaded, _ = load_model(tmp_path / "cvae")
    assert loaded.conditional and torch.equal(loaded.condition_table, model.condition_table)
    a = generate_events(model, 30, seed=4, pmts=pmts, condition={"energy_mev": 2.5})
    assert a.equals(generate_events(loaded, 30, seed=4, pmts=pmts, condition={"energy_mev": 2.5}))
    points, trigger, _ = _dipole_clouds(pmts, n=16, seed=1)
    cal = calibrate_generator(loaded, points, trigger, knots=8, n_generate=50)
    assert cal.conditional and bool(cal.calibration.fitted) and len(generate_events(cal, 5, pmts=pmts)) == 5


def test_conditional_vae_needs_finite_conditions(pmts):
    points, trigger, cond = _dipole_clouds(pmts, n=8)
    model = PointNetVAE(VAEConfig.from_preset("tiny", condition=True, condition_rows=4))
    with pytest.raises(ConfigError, match="needs condition"):
        prepare_generator(model, points, trigger, pmts)
    with pytest.raises(ConfigError, match=r"expected condition \(8, 4\)"):
        prepare_generator(model, points, trigger, pmts, condition=cond[:3])
    mc = simulate("Xe136_0vbb", 3, seed=1, pmts=pmts)       # the library's simulate fits no vertex
    with pytest.raises(ConfigError, match="mc.parquet: 3 of 3 events have no reconstructed vertex"):
        event_conditions(mc, name="mc.parquet")


def test_checkpoint_without_condition_settings_loads_as_before(pmts):
    """The shipped vae_xe136 was written before issue 18 (no condition keys in its config): it loads
    unconditioned, and its fast path still draws z first (test_vae_condition checks the draw order)."""
    from kamcore.cli.generators import resolve_checkpoint

    path = resolve_checkpoint("vae_xe136")
    doc = json.loads(path.parent.joinpath(path.name + ".json").read_text())
    if "condition" in doc["config"]:
        pytest.skip("the shipped VAE is a conditional one")
    model = load_model(path)[0].eval()
    assert not model.conditional and model.decoder.skip == 0
    a = generate_events(model, 20, seed=6, pmts=pmts)
    assert a.equals(generate_events(model, 20, seed=6, pmts=pmts)) and a.n_hits > 20 * 100

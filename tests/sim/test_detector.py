import numpy as np
import pytest

from kamcore.geometry import acceptance
from kamcore.sim import SimConfig, simulate_at
from kamcore.sim.detector import C_LS_CM_PER_NS, detect, expected_pe
from kamcore.sim.streams import BLOCK_SIZE, BlockStreams
from kamcore.sim.transport import Deposits

QUIET = dict(spe_sigma=0.0, threshold_pe=0.0, dark_rate_hz=0.0, readout_window_ns=2000.0)


def hits_at_centre(n=128, seed=0, **config):
    return simulate_at("Xe136_0vbb", n, seed=seed, config=SimConfig(**config)).hits_per_event.mean()


@pytest.mark.parametrize("name, values", [("qe", (0.12, 0.23, 0.35)), ("coverage_17in", (0.10, 0.22, 0.40)),
                                          ("coverage_20in", (0.0, 0.12, 0.30))])
def test_pressure_parameters_raise_the_number_of_hit_pmts(name, values):
    hits = [hits_at_centre(**{name: v}) for v in values]
    assert hits[0] < hits[1] < hits[2]


def test_hit_columns_are_well_formed(pmts):
    config = SimConfig()
    ev = simulate_at("Bi214", 128, seed=2, position_cm=(100.0, -50.0, 30.0), config=config)
    ev.validate(len(pmts))
    for i in range(0, 128, 17):
        pmt, t, q = ev.hits(i)
        assert np.all(np.diff(pmt) > 0)  # one hit per PMT, ordered by PMT id
        assert (t >= 0).all() and (t < config.readout_window_ns).all()
        assert (q >= config.threshold_pe).all()


def test_mean_photoelectrons_follow_the_light_model(pmts):
    config = SimConfig(**QUIET)
    ev = simulate_at("Xe136_0vbb", 512, seed=4, config=config)
    q = np.add.reduceat(ev.q_pe, ev.offsets[:-1])  # spe_sigma = 0: charges count p.e.
    assert np.allclose(ev.q_pe, np.round(ev.q_pe))
    mu = expected_pe(np.zeros((1, 3)), np.array([2.45783]), pmts, config).sum()
    assert q.mean() == pytest.approx(mu, abs=4 * np.sqrt(mu / len(q)))
    area = pmts.photocathode_area_cm2(0.22, 0.12)
    f = acceptance(np.zeros((1, 3)), pmts, area, config.attenuation_cm).sum()
    assert mu == pytest.approx(2.45783 * config.light_yield_per_mev * 0.23 * f)


def test_dark_noise_alone(pmts):
    config = SimConfig(light_yield_per_mev=0.0, dark_rate_hz=50_000.0)
    ev = simulate_at("Xe136_0vbb", 256, seed=1, config=config)
    lam = len(pmts) * 50_000.0 * config.readout_window_ns * 1e-9
    assert ev.hits_per_event.mean() == pytest.approx(lam, rel=0.05)
    assert ev.t_ns.mean() == pytest.approx(config.readout_window_ns / 2, rel=0.05)


def test_threshold_drops_small_hits():
    low = simulate_at("Xe136_0vbb", 128, seed=1, config=SimConfig(threshold_pe=0.0))
    high = simulate_at("Xe136_0vbb", 128, seed=1, config=SimConfig(threshold_pe=1.2))
    assert high.q_pe.min() >= 1.2 and low.q_pe.min() < 0.3
    assert high.hits_per_event.mean() < 0.5 * low.hits_per_event.mean()


def test_hit_time_is_first_photoelectron_and_follows_the_time_of_flight(pmts):
    # no scintillation delay, no TTS: a hit's raw time is offset + TOF from the deposit exactly
    config = SimConfig(rise_ns=0.0, decay_fast_ns=0.01, decay_slow_ns=0.01, tts_17in_ns=0.0, tts_20in_ns=0.0,
                       **QUIET)
    pos = np.array([0.0, 0.0, 150.0])
    ev = simulate_at("Xe136_0vbb", 64, seed=0, position_cm=pos, config=config)
    tof = np.linalg.norm(pmts.xyz_cm[ev.pmt] - pos, axis=1) / C_LS_CM_PER_NS
    dt = ev.t_ns - config.trigger_offset_ns - tof
    assert np.abs(dt).max() < 0.3 and np.median(dt) < 0.02


def test_photoelectrons_are_attributed_to_the_nearer_deposit(pmts):
    # two 1 MeV deposits 100 cm apart; on the PMTs near +x the share of light from
    # the +x deposit must follow the exact acceptance ratio (first-order attribution)
    config = SimConfig(rise_ns=0.0, decay_fast_ns=0.01, decay_slow_ns=0.01, tts_17in_ns=0.0, tts_20in_ns=0.0,
                       light_yield_per_mev=2000.0, **QUIET)
    n_blocks = 8
    n = n_blocks * BLOCK_SIZE
    a, b = np.array([50.0, 0.0, 0.0]), np.array([-50.0, 0.0, 0.0])
    dep = Deposits(event=np.repeat(np.arange(n), 2), xyz_cm=np.tile([a, b], (n, 1)), t_ns=np.zeros(2 * n),
                   e_mev=np.ones(2 * n), escaped_mev=np.zeros(n))
    hits = detect(dep, np.arange(n), BlockStreams(0, 0, n_blocks), config, pmts)
    near = pmts.unit[:, 0] > 0.8
    sel = near[hits.pmt]
    t = hits.t_ns[sel] - config.trigger_offset_ns
    da = np.linalg.norm(pmts.xyz_cm[hits.pmt[sel]] - a, axis=1) / C_LS_CM_PER_NS
    db = np.linalg.norm(pmts.xyz_cm[hits.pmt[sel]] - b, axis=1) / C_LS_CM_PER_NS
    from_a = np.abs(t - da) < np.abs(t - db)
    # exact expectation: single-p.e. hits dominate; the first p.e. wins for the rest
    area = pmts.photocathode_area_cm2(config.coverage_17in, config.coverage_20in)
    fa, fb = acceptance(np.stack([a, b]), pmts, area, config.attenuation_cm)[:, near] * 2000.0 * 0.23
    p_first_a = 1 - np.exp(-fa)  # any p.e. from a arrives first (a is nearer to these PMTs)
    expected = (p_first_a.sum()) / (1 - np.exp(-(fa + fb))).sum()
    assert from_a.mean() == pytest.approx(expected, abs=0.02)
    assert from_a.mean() > 0.55  # and clearly more than the 50% of an energy-only split


def _two_deposit_events(n, sep_cm=300.0):
    """``n`` decays, each with 1 MeV at (+sep, 0, 0) and 1 MeV at (-sep, 0, 0), at t = 0."""
    ev = np.repeat(np.arange(n), 2)
    xyz = np.tile([[sep_cm, 0.0, 0.0], [-sep_cm, 0.0, 0.0]], (n, 1))
    return Deposits(event=ev, xyz_cm=xyz, t_ns=np.zeros(2 * n), e_mev=np.ones(2 * n), escaped_mev=np.zeros(n))


@pytest.mark.parametrize("light_model", ["deposits", "centroid"])
def test_light_comes_from_every_deposit(pmts, light_model):
    """Photo-electrons per PMT follow sum_d E_d Y qe f_p(r_d) (the thinning is exact); the point-source
    model puts them where a source at the centroid would, which this comparison tells apart."""
    config = SimConfig(light_model=light_model, **QUIET)
    n = 4 * BLOCK_SIZE
    hits = detect(_two_deposit_events(n), np.arange(n), BlockStreams(11, 0, 4), config, pmts)
    pe = np.bincount(hits.pmt.astype(np.int64), hits.q_pe, minlength=len(pmts))  # spe_sigma = 0: q counts p.e.
    exact = n * expected_pe(np.array([[300.0, 0, 0], [-300.0, 0, 0]]), np.ones(2), pmts, config).sum(0)
    point = n * expected_pe(np.zeros((1, 3)), np.array([2.0]), pmts, config)[0]
    bins = np.digitize(pmts.unit[:, 0], np.linspace(-1, 1, 11)[1:-1])  # 10 slices along the deposits' axis
    obs = np.bincount(bins, pe, minlength=10)
    chi2 = {name: float((((obs - np.bincount(bins, mu, minlength=10)) ** 2) / np.bincount(bins, mu, minlength=10)
                         ).sum()) for name, mu in (("exact", exact), ("point", point))}
    # 10 bins: chi2 above 35 has probability < 1e-4 for the right model
    if light_model == "deposits":
        assert chi2["exact"] < 35 < chi2["point"], chi2
    else:
        assert chi2["point"] < 35 < chi2["exact"], chi2


def test_thinning_bound_holds(pmts):
    from kamcore.geometry import acceptance as acc
    from kamcore.sim.detector import thinning_bound

    rng = np.random.default_rng(3)
    c = rng.normal(size=(200, 3)) * 150
    r = c + rng.normal(size=(200, 3)) * 120
    r *= np.minimum(1.0, 640 / np.linalg.norm(r, axis=1))[:, None]
    area = pmts.photocathode_area_cm2(0.22, 0.12)
    ratio = acc(r, pmts, area, 1200.0) / acc(c, pmts, area, 1200.0)
    m = thinning_bound(r, c, float(pmts.r_cm.min()), 1200.0)
    assert (ratio.max(1) <= m * (1 + 1e-12)).all()
    assert np.median(ratio.max(1) / m) > 0.3  # and it is not absurdly loose

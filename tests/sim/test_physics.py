"""The physics the KamNet classifier exploits, and the light-yield tuning (DESIGN 2-3)."""

import numpy as np
import pytest

from kamcore.sim import SimConfig, simulate, simulate_at

TARGET_NHIT = 350.0  # KamNet paper: ~2.5 MeV in XeLS gives ~350 non-zero cells
SINGLE = ["Xe136_0vbb", "Xe136_2vbb", "Solar_nu"]
MULTI = ["Bi214", "C10", "Xe136_2vbb_0+1", "Xe136_2vbb_2+1", "Xe136_2vbb_2+2"]


@pytest.fixture(scope="module")
def centre_0vbb():
    return simulate_at("Xe136_0vbb", 1000, seed=0)


def test_nhit_at_the_centre_is_tuned_to_350(centre_0vbb, nhit, pmts):
    nh = nhit(centre_0vbb, pmts)
    assert nh.mean() == pytest.approx(TARGET_NHIT, rel=0.20)
    assert nh.mean() == pytest.approx(TARGET_NHIT, rel=0.05)  # the tuning itself (config.py docstring)


def test_nhit_helper_agrees_with_preprocessing(centre_0vbb, nhit, pmts):
    pre = pytest.importorskip("kamcore.preprocess")
    try:
        maps = pre.sparse_hitmaps(centre_0vbb[:200], pmts, pre.HitMapConfig(vertex="truth"))
    except (AttributeError, TypeError, ValueError) as exc:  # preprocessing API still moving
        pytest.skip(f"kamcore.preprocess not usable here: {exc}")
    assert np.array_equal(maps.nhit, nhit(centre_0vbb[:200], pmts))


def test_deposit_spread_separates_single_from_multi_vertex():
    spread = {s: np.nanmean(simulate(s, 200, seed=1).deposit_spread_cm()) for s in SINGLE + MULTI}
    for s in SINGLE:
        assert spread[s] == 0.0, s
    for s in MULTI:
        assert spread[s] > 10.0, s  # of order the gamma mean free path


def _width(events, proper_times, pmts):
    """Per-event 90% - 10% quantile of the proper hit times, ns."""
    tau = proper_times(events, pmts)
    out = np.empty(len(events))
    for i in range(len(events)):
        seg = tau[events.offsets[i]:events.offsets[i + 1]]
        out[i] = np.subtract(*np.quantile(seg, [0.9, 0.1]))
    return out


def test_bi214_and_c10_hit_time_profiles_are_wider_than_0vbb(proper_times, pmts):
    kw = dict(energy_window_mev=(2.0, 3.0), max_radius_cm=157.0)
    w = {s: _width(simulate(s, 400, seed=7, **kw), proper_times, pmts) for s in ("Xe136_0vbb", "Bi214", "C10")}
    for s in ("Bi214", "C10"):
        diff = w[s].mean() - w["Xe136_0vbb"].mean()
        err = np.hypot(w[s].std(), w["Xe136_0vbb"].std()) / np.sqrt(400)
        assert diff > 3 * err, (s, diff, err)


def test_c10_delay_comes_from_positronium_and_the_718_kev_level(proper_times, pmts):
    kw = dict(seed=8, energy_window_mev=(2.0, 3.0), max_radius_cm=157.0)
    with_ops = _width(simulate("C10", 400, **kw), proper_times, pmts).mean()
    no_ops = _width(simulate("C10", 400, config=SimConfig(ops_fraction=0.0), **kw), proper_times, pmts).mean()
    assert with_ops > no_ops + 0.3


def test_energy_scale_is_linear():
    config = SimConfig(spe_sigma=0.0, threshold_pe=0.0, dark_rate_hz=0.0)
    q = {}
    for s in ("Xe136_0vbb", "Xe136_2vbb_2+1"):
        ev = simulate_at(s, 256, seed=2, config=config)
        q[s] = np.add.reduceat(ev.q_pe, ev.offsets[:-1]) / ev.energy_mev
    assert q["Xe136_0vbb"].mean() == pytest.approx(q["Xe136_2vbb_2+1"].mean(), rel=0.03)

"""Detector health (kamcore.monitor.health): the hot / dead PMT rule on seeded small simulations, fault
injection through the simulated feed, KS compatibility, trends; the health a closed run stores."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from kamcore.errors import ConfigError
from kamcore.monitor import MonitorConfig, SimulatedFeed
from kamcore.monitor.health import (HealthConfig, RunHealth, energy_peak_mev, inject_pmt_faults, ks_pvalue,
                                    occupancy_counts, parse_pmt_list, run_health, run_trends)


@pytest.fixture(scope="module")
def runs():
    """Three seeded simulated runs of ~300 selected events (the feed's run selection)."""
    from kamcore.runs import RunSimConfig, simulate_run

    cfg = RunSimConfig(events_per_run=300.0)
    return [simulate_run(r, seed=r, config=cfg)[0] for r in (1, 2, 3)]


def test_a_clean_run_has_no_hot_or_dead_pmt(runs):
    for ev in runs:
        h = run_health(ev)
        assert h.status == "ok" and h.dead == [] and h.hot == [], (h.dead, h.hot)
        assert h.counts.shape == (1879,) and h.counts.sum() == occupancy_counts(ev).sum()
        assert 0.05 < np.median(h.occupancy) < 0.5  # hits per PMT per event of 2-3 MeV events
        assert np.abs(h.z).max() < 5.0


def test_an_injected_dead_and_hot_pmt_are_found_and_nothing_else(runs):
    rng = np.random.default_rng(5)
    for ev, (dead, hot) in zip(runs, [([17], [1500]), ([3, 900], [44]), ([1878], [0, 1234])]):
        bad = inject_pmt_faults(ev, dead=dead, hot=hot, hot_rate=0.3, rng=rng)
        h = run_health(bad)
        assert h.dead == dead and h.hot == hot, (h.dead, h.hot)
        assert (h.counts[dead] == 0).all()
        assert len(bad) == len(ev) and bad.n_hits > 0


def test_injection_keeps_the_other_hits_and_validates(runs):
    ev = runs[0]
    bad = inject_pmt_faults(ev, dead=[5], hot=[6], hot_rate=1.0, rng=np.random.default_rng(0))
    bad.validate(1879)
    keep = ev.pmt != 5
    assert bad.n_hits == keep.sum() + (occupancy_counts(bad)[6] - occupancy_counts(ev)[6])
    assert occupancy_counts(bad)[6] == len(ev)  # rate 1: a hit in every event
    assert inject_pmt_faults(ev) is ev
    with pytest.raises(ConfigError, match="probability"):
        inject_pmt_faults(ev, hot=[1], hot_rate=2.0)


def test_a_short_run_is_not_judged():
    from kamcore.runs import RunSimConfig, simulate_run

    ev, _ = simulate_run(9, seed=9, config=RunSimConfig(events_per_run=20.0))
    h = run_health(inject_pmt_faults(ev, dead=[10]))
    assert h.status == "too_few_events" and h.dead == [] and h.hot == []


def test_against_a_reference_run(runs):
    ref = run_health(inject_pmt_faults(runs[0], dead=[17])).to_dict()  # a PMT already dead in the reference
    h = run_health(inject_pmt_faults(runs[1], dead=[17, 600]), reference=ref)
    assert h.reference == "run 1" and h.dead == [600] and h.hot == []
    back = RunHealth.from_dict(h.to_dict())
    assert back.dead == h.dead and (back.counts == h.counts).all()


def test_the_simulated_feed_injects_its_faulty_pmts():
    cfg = MonitorConfig(rate_hz=1e5, run_length=300, batch_events=300, seed=2, realtime=False,
                        convection_probability=0.0, dead_pmts="12, 700", hot_pmts="1400", hot_rate=0.4)
    batches = SimulatedFeed(cfg).batches(threading.Event())
    b = next(batches)
    batches.close()
    assert b.closes_run and b.truth["dead_pmts"] == [12, 700] and b.truth["hot_pmts"] == [1400]
    h = run_health(b.events)
    assert h.dead == [12, 700] and h.hot == [1400]
    with pytest.raises(ConfigError, match="out of range"):
        MonitorConfig(dead_pmts="1879").validate()
    with pytest.raises(ConfigError, match="both"):
        MonitorConfig(dead_pmts="4", hot_pmts="4").validate()
    with pytest.raises(ConfigError, match="separated by commas"):
        parse_pmt_list("a,b")


def test_ks_compatibility_number():
    rng = np.random.default_rng(1)
    a, b = rng.normal(0, 1, 400), rng.normal(0, 1, 400)
    assert ks_pvalue(a, b) > 0.01
    assert ks_pvalue(a, rng.normal(0.5, 1, 400)) < 1e-6
    assert np.isnan(ks_pvalue(a, []))
    from scipy.stats import ks_2samp

    assert ks_pvalue(a, b) == pytest.approx(ks_2samp(a, b).pvalue)


def test_energy_peak_and_trends():
    assert energy_peak_mev(np.full(10, 2.5)) == pytest.approx(2.525)
    assert np.isnan(energy_peak_mev([]))
    runs = [{"run": 1, "status": "ok", "start_ns": 10**18, "stop_ns": 10**18 + 10**11, "livetime_s": 100.0,
             "n_events": 200, "fit": {"status": "ok", "bkg_fraction": 0.3, "bkg_fraction_err": 0.05}},
            {"run": 2, "status": "bad_file", "start_ns": None, "stop_ns": None},
            {"run": 3, "status": "ok", "start_ns": 2 * 10**18, "stop_ns": 2 * 10**18 + 10**11, "livetime_s": 50.0,
             "n_events": 100, "fit": None}]
    t = run_trends(runs, {1: {"mean_nhit": 310.0, "energy_peak_mev": 2.4}})
    assert t["run"] == [1, 3] and t["rate_hz"] == [2.0, 2.0] and t["mean_nhit"][0] == 310.0
    assert np.isnan(t["mean_nhit"][1]) and np.isnan(t["bkg_fraction"][1]) and t["start_ms"][0] == 1e12


def test_health_config_bounds():
    with pytest.raises(ValueError):
        HealthConfig(z_dead=0.1)

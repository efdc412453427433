"""Run times in the catalog are what a DAQ records: a history replayed into the past and the real-time feed
after it give runs that start before they stop, lie in the past, do not overlap, hold their events, and
whose fits used that live time (issue 19, part 3)."""

from __future__ import annotations

import time

import numpy as np
import pytest

from kamcore.catalog import Catalog, run_time_problems


def test_run_time_problems_finds_each_kind():
    s = 10**9
    now = 100 * s
    good = [{"run": 1, "start_ns": 0, "stop_ns": 10 * s, "livetime_s": 10.0},
            {"run": 2, "start_ns": 12 * s, "stop_ns": 20 * s, "livetime_s": 8.0}]
    assert run_time_problems(good, now_ns=now) == []
    bad = good + [{"run": 3, "start_ns": 19 * s, "stop_ns": 200 * s, "livetime_s": 43200.0},
                  {"run": 4, "start_ns": None, "stop_ns": None, "livetime_s": None}]
    problems = run_time_problems(bad, now_ns=now)
    assert any("run 3 stops 100.0 s in the future" in p for p in problems)
    assert any("run 3 starts 1.0 s before run 2 stops" in p for p in problems)
    assert any("run 3: live time 43200 s" in p for p in problems)
    assert any("run 4 has no start" in p for p in problems)


@pytest.mark.timeout(600)
def test_history_and_live_runs_are_consistent_in_the_catalog(tmp_path):
    import torch

    from dashboard.config import DashboardConfig
    from kamcore.fit import Templates
    from kamcore.monitor import LiveStore, MonitorConfig, Producer, SimulatedFeed
    from kamcore.runs import run_info
    from kamcore.io import open_events

    torch.set_num_threads(1)
    cfg = DashboardConfig(model="cnn_cpu")
    templates = Templates.load(cfg.templates_path())
    cat = Catalog(f"sqlite:///{tmp_path / 'cat.sqlite'}")
    rate, length, gap = 20.0, 12, 0.5
    common = dict(rate_hz=rate, run_length=length, gap_s=gap, batch_events=6, convection_probability=0.0)
    span = int(3 * (length / rate + gap) * 1e9)
    t_hist = time.time_ns()
    with LiveStore(tmp_path / "live", max_events=500, writable=True) as store:
        hist = SimulatedFeed(MonitorConfig(realtime=False, start_ns=t_hist - span, seed=1, **common))
        prod = Producer(hist, store, cat, cfg.model_path(), templates, runs_dir=tmp_path / "runs")
        assert prod.run(max_runs=3).runs == [1, 2, 3]
        t_live = time.time_ns()
        live = SimulatedFeed(MonitorConfig(first_run=4, seed=2, **common))
        prod = Producer(live, store, cat, cfg.model_path(), templates, runs_dir=tmp_path / "runs")
        assert prod.run(max_runs=2).runs == [4, 5]
    now = time.time_ns()
    runs = cat.list_runs()
    assert [r["run"] for r in runs] == [1, 2, 3, 4, 5]
    assert run_time_problems(runs, now_ns=now) == []
    for r in runs:
        assert r["livetime_s"] == pytest.approx(length / rate)  # T_run = run_length / rate_hz, not 12 h
        assert (r["stop_ns"] - r["start_ns"]) / 1e9 == pytest.approx(length / rate, abs=1e-6)
        ev = open_events(r["path"])
        info = run_info(ev)
        assert (info["start_ns"], info["stop_ns"]) == (r["start_ns"], r["stop_ns"])
        assert (ev.timestamp_ns >= r["start_ns"]).all() and (ev.timestamp_ns < r["stop_ns"]).all()
        # the fit scaled its constraints by this live time at the feed's own rates
        fit = r["fit"]
        rate_h = fit["config"]["constraints"]["Xe136_2vbb"][0]
        assert rate_h == pytest.approx(rate * 3600 * 0.55)
        assert r["n_events"] > 0
    hist_runs, live_runs = runs[:3], runs[3:]
    assert all(r["stop_ns"] <= t_hist for r in hist_runs)  # the history lies in the past
    assert all(r["start_ns"] >= t_live - 10**9 for r in live_runs)  # the live feed starts now ...
    assert all(r["stop_ns"] <= now for r in live_runs)  # ... and closes a run only once it stopped
    gaps = np.diff([r["start_ns"] for r in runs[3:]]) / 1e9
    assert gaps == pytest.approx([length / rate + gap])

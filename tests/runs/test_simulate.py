"""Run simulation: files, truth, selection on the reconstructed vertex, convection periods, determinism."""

import json

import numpy as np
import pytest

from kamcore.errors import ConfigError
from kamcore.io import open_events
from kamcore.runs import (RunSimConfig, find_run_files, parse_convection, run_info, simulate_run, simulate_runs,
                          truth_background_fraction)


@pytest.fixture(scope="module")
def seq(tmp_path_factory):
    import torch

    torch.set_num_threads(1)
    d = tmp_path_factory.mktemp("runs")
    cfg = RunSimConfig(events_per_run=16, first_run=10)
    truth = simulate_runs(3, d, seed=4, config=cfg, convection=[parse_convection("11:1:3")], command="test")
    return d, cfg, truth


def test_one_file_per_run_and_truth(seq):
    d, cfg, truth = seq
    files = find_run_files(d)
    assert [f.name for f in files] == ["run_000010.parquet", "run_000011.parquet", "run_000012.parquet"]
    on_disk = json.loads((d / "truth.json").read_text())
    assert on_disk == json.loads(json.dumps(truth))
    assert [r["strength"] for r in truth["runs"]] == [1.0, 3.0, 1.0]
    assert truth["convection"] == [{"start_run": 11, "length": 1, "strength": 3.0, "runs": [11]}]
    r11 = truth["runs"][1]
    assert r11["expected"]["Bi214_film"] == pytest.approx(16 * 0.15 * 3)
    assert r11["expected"]["C10"] == pytest.approx(16 * 0.10)
    assert truth_background_fraction(truth["runs"][0], ["Bi214", "Bi214_film", "C10"]) == pytest.approx(0.40)


def test_run_contents_follow_the_selection(seq):
    d, cfg, truth = seq
    for t in truth["runs"]:
        ev = open_events(d / t["file"])
        info = run_info(ev)
        assert info == {"run": t["run"], "start_ns": t["start_ns"], "stop_ns": t["stop_ns"], "livetime_s": 86400.0}
        assert len(ev) == sum(t["counts"].values())
        assert (ev.run == t["run"]).all() and (ev.event_id == np.arange(len(ev))).all()
        assert (np.diff(ev.timestamp_ns) >= 0).all()
        assert (ev.timestamp_ns >= t["start_ns"]).all() and (ev.timestamp_ns < t["stop_ns"]).all()
        # selection on the reconstructed vertex and the visible energy; film events leak inward
        assert (np.linalg.norm(ev.vertex_cm, axis=1) < 157.0).all()
        assert ((ev.energy_mev >= 2.0) & (ev.energy_mev < 3.0)).all()
        names, counts = np.unique(ev.source.astype(str), return_counts=True)
        assert dict(zip(names, counts.tolist())) == {k: v for k, v in t["counts"].items() if v}
        film = ev.source == "Bi214_film"
        np.testing.assert_allclose(np.linalg.norm(ev.true_vertex_cm[film], axis=1), 190.0, rtol=1e-4)
        assert ev.has_truth
    assert truth["runs"][1]["start_ns"] - truth["runs"][0]["stop_ns"] == int(600e9)


def test_run_files_carry_the_vertex_method_so_no_consumer_fits_again(seq, monkeypatch):
    """The run file says which method made ``vertex_cm``: scoring and the live store reuse it (the runs once
    lost the stamp, and the embedded producer fitted every vertex three times)."""
    from kamcore.geometry import default_pmt_table
    from kamcore.preprocess import HitMapConfig, proper_times, timing, vertex_method

    d, cfg, truth = seq
    ev = open_events(d / truth["runs"][0]["file"])
    assert ev.attrs["vertex_method"] == vertex_method(HitMapConfig(vertex=cfg.vertex))
    monkeypatch.setattr(timing, "reconstruct_vertices", lambda *a, **k: pytest.fail("fitted the vertex again"))
    tau, _ = proper_times(ev, default_pmt_table(), HitMapConfig())
    assert len(tau) == ev.n_hits


def test_a_run_depends_only_on_seed_and_number(seq):
    d, cfg, truth = seq
    ev, t = simulate_run(12, seed=4, config=cfg)
    assert ev.equals(open_events(d / "run_000012.parquet")) and t == truth["runs"][2]


def test_bad_convection_and_config_are_config_errors():
    with pytest.raises(ConfigError, match="START:LENGTH:STRENGTH"):
        parse_convection("3:2")
    with pytest.raises(ConfigError, match="LENGTH >= 1"):
        parse_convection("3:0:2")
    with pytest.raises(ConfigError, match="overlap"):
        simulate_runs(2, "/nonexistent-never-written", seed=0,
                      convection=[parse_convection("1:2:2"), parse_convection("2:1:3")])
    with pytest.raises(ConfigError, match="unknown source"):
        RunSimConfig(composition={"Xe137": 1.0}).validate()

"""The kamcore command line: happy paths and one-line errors with exit status 2."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from kamcore.cli import main
from kamcore.io import read_events, write_events

from synthetic import random_events


def run(argv, capsys):
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def sim_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("cli") / "c10.parquet"
    assert main(["simulate", "--source", "C10", "--events", "40", "--seed", "3", "--run", "12",
                 "--out", str(path), "--no-progress"]) == 0
    return path


def test_help_lists_every_command(capsys):
    code, out, _ = run([], capsys)
    assert code == 0
    for name in ("sources", "simulate", "info", "hitmaps"):
        assert name in out


def test_sources_lists_design_table(capsys):
    code, out, _ = run(["sources"], capsys)
    assert code == 0
    for name in ("Xe136_0vbb", "Xe136_2vbb", "Bi214", "Bi214_film", "C10", "Solar_nu"):
        assert name in out


def test_simulate_is_reproducible(sim_file, tmp_path, capsys):
    again = tmp_path / "again.parquet"
    code, out, _ = run(["simulate", "--source", "C10", "--events", "40", "--seed", "3", "--run", "12",
                        "--out", str(again), "--no-progress"], capsys)
    assert code == 0 and "40 C10 events" in out
    a, b = read_events(sim_file), read_events(again)
    assert a.equals(b) and set(a.run) == {12}


def test_simulate_pressure_options_change_light(tmp_path, capsys):
    lo, hi = tmp_path / "lo.parquet", tmp_path / "hi.parquet"
    common = ["simulate", "--source", "Xe136_0vbb", "--events", "30", "--seed", "1", "--no-progress"]
    assert main([*common, "--qe", "0.15", "--coverage", "0.15", "--out", str(lo)]) == 0
    assert main([*common, "--qe", "0.30", "--coverage", "0.30", "--out", str(hi)]) == 0
    assert read_events(hi).hits_per_event.mean() > 1.3 * read_events(lo).hits_per_event.mean()


def test_info_json_is_one_object(sim_file, capsys):
    code, out, _ = run(["info", str(sim_file), "--json"], capsys)
    assert code == 0 and len(out.strip().splitlines()) == 1
    info = json.loads(out)
    assert info["events"] == 40 and info["sources"] == {"C10": 40} and info["runs"] == [12]
    assert info["nhit"]["mean"] > 50 and info["has_truth"]
    code, out, _ = run(["info", str(sim_file)], capsys)
    assert code == 0 and "Nhit" in out and "C10 (40)" in out


def test_hitmaps_npz(sim_file, tmp_path, capsys):
    out_npz = tmp_path / "maps.npz"
    code, _, _ = run(["hitmaps", str(sim_file), "--out", str(out_npz)], capsys)
    assert code == 0
    with np.load(out_npz) as z:
        assert z["maps"].shape == (40, 28, 38, 38) and z["maps"].dtype == np.float32
        np.testing.assert_array_equal(z["nhit"], np.count_nonzero(z["maps"].reshape(40, -1), axis=1))
    assert not list(tmp_path.glob("*.tmp"))


def _bad_files(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("hello\n")
    good = random_events(6, seed=4)
    trunc = tmp_path / "trunc.parquet"
    write_events(good, trunc)
    data = trunc.read_bytes()
    trunc.write_bytes(data[: len(data) // 2])
    out_of_range = tmp_path / "badpmt.parquet"
    bad = random_events(6, seed=4)
    bad.pmt[3] = 1879
    write_events(bad, out_of_range)
    nan_t = tmp_path / "nan.parquet"
    bad = random_events(6, seed=4)
    bad.t_ns[5] = np.nan
    write_events(bad, nan_t)
    wrong = tmp_path / "wrong.parquet"
    import pyarrow as pa
    import pyarrow.parquet as pq
    pq.write_table(pa.table({"a": [1, 2, 3]}), wrong)
    return {
        "missing": (tmp_path / "missing.parquet", "missing.parquet"),
        "not parquet/root": (text, "notes.txt"),
        "truncated": (trunc, "trunc.parquet"),
        "pmt out of range": (out_of_range, "PMT id 1879 out of range"),
        "nan times": (nan_t, "non-finite t_ns"),
        "wrong schema": (wrong, "wrong.parquet"),
    }


@pytest.mark.parametrize("case", ["missing", "not parquet/root", "truncated", "pmt out of range",
                                  "nan times", "wrong schema"])
@pytest.mark.parametrize("cmd", ["info", "hitmaps"])
def test_bad_input_one_line_exit_2(case, cmd, tmp_path, capsys):
    path, needle = _bad_files(tmp_path)[case]
    argv = [cmd, str(path)] + (["--out", str(tmp_path / "o.npz")] if cmd == "hitmaps" else [])
    code, out, err = run(argv, capsys)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert needle in lines[0] and path.name in lines[0]
    assert "Traceback" not in err and not (tmp_path / "o.npz").exists()


@pytest.mark.parametrize("vertex, column", [("file", "vertex_cm"), ("truth", "true_vertex_cm")])
def test_hitmaps_refuses_a_non_finite_vertex(vertex, column, tmp_path, capsys):
    ev = random_events(6, seed=4)
    getattr(ev, column)[2] = [np.inf, 0.0, 0.0]
    getattr(ev, column)[4] = np.nan  # unknown
    path = tmp_path / "vtx.parquet"
    write_events(ev, path)
    out = tmp_path / "o.npz"
    code, _, err = run(["hitmaps", str(path), "--out", str(out), "--vertex", vertex], capsys)
    assert code == 2 and not out.exists() and "Warning" not in err
    assert err.strip() == (f"kamcore: error: {path}: --vertex {vertex} needs a finite {column} (cm), but 2 of 6 "
                           "events have none (event_id 102: [inf, 0.0, 0.0]); use --vertex fit or centroid")
    code, _, err = run(["hitmaps", str(path), "--out", str(out), "--vertex", "centroid"], capsys)
    assert code == 0 and err == ""
    with np.load(out) as z:
        assert np.isfinite(z["maps"]).all() and z["nhit"][2] > 0
        has_hits = ev.hits_per_event > 0  # an event without hits has no vertex (NaN)
        assert z["vertex_cm"].shape == (6, 3) and np.isfinite(z["vertex_cm"][has_hits]).all()


@pytest.mark.parametrize("argv, needle", [
    (["simulate", "--source", "C10", "--events", str(10**12), "--seed", "1", "--out", "x.parquet"],
     "1000000000000 C10 events (--events) need 56856.2 TiB at 61 kiB each, more than the"),
    (["simulate", "--source", "Nope", "--events", "5", "--seed", "1", "--out", "x.parquet"], "Nope"),
    (["simulate", "--source", "C10", "--events", "5", "--seed", "1", "--qe", "7", "--out", "x.parquet"], "qe"),
    (["simulate", "--source", "C10", "--events", "5"], "required"),
    (["frobnicate"], "invalid choice"),
])
def test_bad_arguments_one_line_exit_2(argv, needle, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, _, err = run(argv, capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1 and needle in err, err
    assert not (tmp_path / "x.parquet").exists()


def test_simulate_events_limit_scales_with_memory(tmp_path, capsys, monkeypatch):
    """The bound is N x sim_bytes_per_event(PMTs) <= physical memory, checked before anything is simulated."""
    from kamcore.cli import events_cmds, params

    per_event = events_cmds.sim_bytes_per_event(1879)
    assert per_event == 3 * (10 * 1879 + 2048)
    monkeypatch.setattr(params, "memory_bytes", lambda: 100 * per_event)
    argv = ["simulate", "--source", "C10", "--seed", "1", "--out", str(tmp_path / "x.parquet"), "--no-progress"]
    with monkeypatch.context() as m:
        m.setattr("kamcore.sim.simulate", lambda *a, **k: pytest.fail("simulated before the check"))
        code, _, err = run(argv + ["--events", "101"], capsys)
    assert code == 2 and "at most 100 fit; simulate them as several runs (--run, --seed)" in err
    code, out, _ = run(argv + ["--events", "100"], capsys)
    assert code == 0 and "100 C10 events" in out


def test_console_script_end_to_end(sim_file):
    """The installed entry point behaves like main(): exit 2 and one stderr line on bad input."""
    res = subprocess.run([sys.executable, "-m", "kamcore", "info", str(sim_file) + ".nope"],
                         capture_output=True, text=True)
    assert res.returncode == 2 and len(res.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("argv, code", [(["sources"], 0), (["info", "/nonexistent/run.parquet"], 2)])
def test_entry_point_reexecutes_with_allocator_tuning(argv, code):
    """The console script re-executes itself with GLIBC_TUNABLES set; output and exit status survive."""
    script = ("import os, sys; sys.argv = ['kamcore', *sys.argv[1:]]; "
              "from kamcore.cli.entry import entry; entry()")
    env = {k: v for k, v in __import__("os").environ.items() if k not in ("GLIBC_TUNABLES", "KAMCORE_NO_MALLOC_TUNING")}
    res = subprocess.run([sys.executable, "-c", script, *argv], capture_output=True, text=True, env=env)
    assert res.returncode == code
    if code == 0:
        assert "Xe136_0vbb" in res.stdout
    else:
        assert len(res.stderr.strip().splitlines()) == 1 and "run.parquet" in res.stderr


def test_every_command_has_working_help(capsys):
    from kamcore.cli.main import COMMANDS, build_parser

    build_parser()
    for name in COMMANDS:
        with pytest.raises(SystemExit) as info:
            main([name, "--help"])
        assert info.value.code == 0
        assert "usage: kamcore " + name in capsys.readouterr().out

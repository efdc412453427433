"""kamcore runs simulate / templates / score / fit / report / note end to end on a tiny untrained CNN (CPU, seconds)."""

import json
import shutil
import sys

import pytest

from kamcore.cli import main
from kamcore.io import read_scores


@pytest.fixture(scope="module")
def setup(copy_tiny_cnn, tmp_path_factory):
    d = tmp_path_factory.mktemp("runs_cli")
    copy_tiny_cnn(d)
    # 24 events per 5184 s: the rate the templates assume (400 per day), so the fits' constraints hold
    assert main(["runs", "simulate", "--runs", "3", "--events-per-run", "24", "--run-duration-s", "5184", "--seed", "3",
                 "--out", str(d / "runs"), "--convection", "2:1:3", "--no-progress"]) == 0
    assert main(["runs", "templates", "--model", str(d / "m"), "--out", str(d / "t.json"), "--events", "40",
                 "--bins", "8"]) == 0
    return d


def test_simulate_writes_runs_and_truth(setup):
    truth = json.loads((setup / "runs" / "truth.json").read_text())
    assert [r["strength"] for r in truth["runs"]] == [1.0, 3.0, 1.0]
    assert truth["command"].startswith("kamcore runs simulate --runs 3")


def test_fit_scores_fits_flags_and_reports(setup, capsys):
    cat = setup / "cat.sqlite"
    argv = ["runs", "fit", str(setup / "runs"), "--model", str(setup / "m"), "--templates", str(setup / "t.json"),
            "--catalog", str(cat), "--min-events", "5"]
    code = main(argv)
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "3 run(s) fitted (3 scored), 0 bad file(s)" in out
    assert err == ""  # the runs are at the rates the templates assume: no RateWarning
    sc = read_scores(setup / "runs" / "run_000001.scores.parquet")
    assert sc["meta"]["model_digest"] and sc["meta"]["run_info"]["run"] == 1
    # second pass reuses the score files and updates the same rows
    assert main(argv) == 0
    assert "3 run(s) fitted (0 scored)" in capsys.readouterr().out
    assert main(["runs", "report", "--catalog", str(cat), "--json"]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert [r["run"] for r in rep["runs"]] == [1, 2, 3]
    for r in rep["runs"]:
        assert r["fit"]["template_digest"] and r["fit"]["command"].startswith("kamcore runs fit")
        assert r["fit"]["config"]["method"] == "da" and r["n_events"] == r["fit"]["n_events"]
    hist = [h for r in rep["runs"] for h in [r["fit"]]]
    assert len(hist) == 3
    assert main(["runs", "report", "--catalog", str(cat)]) == 0
    text = capsys.readouterr().out
    assert text.startswith(f"catalog sqlite:///{cat}: 3 run(s)")


def test_corrupt_run_file_is_reported_and_skipped(setup, tmp_path, capsys):
    import shutil

    d = tmp_path / "runs"
    shutil.copytree(setup / "runs", d)  # score files included: run 2's no longer matches its run file
    raw = (d / "run_000002.parquet").read_bytes()
    (d / "run_000002.parquet").write_bytes(raw[:100] + b"garbage" + raw[-50:])  # corrupt, footer in place
    cat = tmp_path / "c.sqlite"
    code = main(["runs", "fit", str(d), "--model", str(setup / "m"), "--templates", str(setup / "t.json"),
                 "--catalog", str(cat), "--min-events", "5"])
    out, err = capsys.readouterr()
    assert code == 0
    assert "2 run(s) fitted" in out and "1 bad file(s) skipped, 0 incomplete" in out
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "run_000002.parquet" in lines[0] and "run skipped" in lines[0]
    assert main(["runs", "report", "--catalog", str(cat), "--json"]) == 0
    runs = {r["run"]: r for r in json.loads(capsys.readouterr().out)["runs"]}
    assert runs[2]["status"] == "bad_file" and runs[2]["fit"] is None and "run_000002" in runs[2]["error"]
    assert runs[1]["fit"] is not None and runs[3]["fit"] is not None


def test_half_written_run_file_is_incomplete_and_fitted_once_complete(setup, tmp_path, capsys):
    d = tmp_path / "runs"
    shutil.copytree(setup / "runs", d)
    full = (d / "run_000002.parquet").read_bytes()
    (d / "run_000002.parquet").write_bytes(full[: len(full) // 2])  # the DAQ is still writing it: no footer
    cat = tmp_path / "c.sqlite"
    argv = ["runs", "fit", str(d), "--model", str(setup / "m"), "--templates", str(setup / "t.json"),
            "--catalog", str(cat), "--min-events", "5"]
    assert main(argv) == 0
    out, err = capsys.readouterr()
    assert "2 run(s) fitted" in out and "0 bad file(s) skipped, 1 incomplete" in out
    assert err.strip() == (f"kamcore: warning: {d / 'run_000002.parquet'}: incomplete, no Parquet footer yet "
                           f"({len(full) // 2} bytes; still being written?); not fitted, run 'kamcore runs fit' "
                           "again once it is complete")
    assert main(["runs", "report", "--catalog", str(cat), "--json"]) == 0
    runs = {r["run"]: r for r in json.loads(capsys.readouterr().out)["runs"]}
    assert runs[2]["status"] == "incomplete" and runs[2]["fit"] is None and "no Parquet footer" in runs[2]["error"]
    # the DAQ finishes the file: the next invocation fits it
    (d / "run_000002.parquet").write_bytes(full)
    assert main(argv) == 0
    out, err = capsys.readouterr()
    assert "3 run(s) fitted (" in out and "0 bad file(s) skipped, 0 incomplete" in out and err == ""
    assert main(["runs", "report", "--catalog", str(cat), "--json"]) == 0
    runs = {r["run"]: r for r in json.loads(capsys.readouterr().out)["runs"]}
    assert runs[2]["status"] == "ok" and runs[2]["error"] is None and runs[2]["fit"] is not None


def test_report_names_a_one_run_period_run_n(tmp_path, capsys):
    import numpy as np

    from kamcore.catalog import Catalog
    from kamcore.fit import FlagConfig, FlagResult, Period

    cat = tmp_path / "p.sqlite"
    periods = [Period("consecutive", 2, 2, 1, None, None, 0.3, 4.0), Period("cusum", 1, 3, 3, None, None, 0.2, 3.0)]
    Catalog(cat).store_flags(FlagResult(np.zeros(0), np.zeros(0), 0.1, 0.01, "median", [], periods),
                             model_digest="m", template_digest="t", config=FlagConfig())
    assert main(["runs", "report", "--catalog", str(cat)]) == 0
    lines = [x for x in capsys.readouterr().out.splitlines() if x.startswith("period #")]
    assert sorted(x.split(", f = ")[0] for x in lines) == ["period #1 consecutive: run 2 (1 run)",
                                                           "period #2 cusum: runs 1-3 (3 runs)"]


def test_notes_marks_and_one_line_errors(setup, tmp_path, capsys):
    cat = str(tmp_path / "n.sqlite")
    assert main(["runs", "note", "--catalog", cat, "--author", "shifter", "--run", "2", "convection?"]) == 0
    assert main(["runs", "resolve", "--catalog", cat, "1", "--by", "coordinator"]) == 0
    assert main(["runs", "mark-good", "--catalog", cat, "1", "3"]) == 0
    assert main(["runs", "report", "--catalog", cat, "--json"]) == 0
    out = capsys.readouterr().out.strip().splitlines()[-1]
    rep = json.loads(out)
    assert rep["notes"] == [] and [(r["run"], r["good"]) for r in rep["runs"]] == [(1, True), (3, True)]
    # templates of another model
    other = tmp_path / "other.json"
    t = json.loads((setup / "t.json").read_text())
    t["model"]["digest"] = "ffffffffffffffff"
    other.write_text(json.dumps(t))
    code = main(["runs", "fit", str(setup / "runs"), "--model", str(setup / "m"), "--templates", str(other),
                 "--catalog", cat])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and "templates were made with model" in err
    code = main(["runs", "simulate", "--runs", "2", "--seed", "1", "--out", str(tmp_path / "x"),
                 "--convection", "1:1"])
    err = capsys.readouterr().err
    assert code == 2 and "START:LENGTH:STRENGTH" in err
    code = main(["runs", "resolve", "--catalog", cat, "42", "--by", "x"])
    assert code == 2 and "no note with id 42" in capsys.readouterr().err


def _runs_without_scores(setup, dest):
    shutil.copytree(setup / "runs", dest, ignore=shutil.ignore_patterns("*.scores.parquet"))
    return dest


def test_score_on_a_scheduler_then_fit_reuses_the_score_files(setup, tmp_path, capsys):
    from distributed import LocalCluster

    d = _runs_without_scores(setup, tmp_path / "runs")
    # an in-process cluster (starts in a second); tests/runs/test_batch.py runs a local cluster of processes
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None) as cluster:
        code = main(["runs", "score", str(d), "--model", str(setup / "m"), "--scheduler", cluster.scheduler_address,
                     "--no-progress"])
    out, err = capsys.readouterr()
    assert code == 0, err
    line, = out.strip().splitlines()
    assert line.startswith(f"{d}: 3 run(s) scored, 0 up to date, 0 bad file(s) skipped; ")
    assert f"on scheduler {cluster.scheduler_address} (1 worker(s))" in line and "model m@" in line
    # fit without --model: the score files are all it needs
    code = main(["runs", "fit", str(d), "--templates", str(setup / "t.json"), "--catalog",
                 str(tmp_path / "c.sqlite"), "--min-events", "5"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "3 run(s) fitted (0 scored), 0 bad file(s)" in out
    # serial: nothing to do
    assert main(["runs", "score", str(d), "--model", str(setup / "m"), "--workers", "0", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "0 run(s) scored, 3 up to date, 0 bad file(s) skipped; 0 events" in out and "serial (1 torch thread)" in out


def test_score_skips_a_corrupt_run_file_with_one_warning(setup, tmp_path, capsys):
    d = _runs_without_scores(setup, tmp_path / "runs")
    raw = (d / "run_000002.parquet").read_bytes()
    (d / "run_000002.parquet").write_bytes(raw[: len(raw) // 2])
    code = main(["runs", "score", str(d), "--model", str(setup / "m"), "--workers", "0", "--no-progress"])
    out, err = capsys.readouterr()
    assert code == 0
    assert "2 run(s) scored, 0 up to date, 1 bad file(s) skipped" in out
    line, = err.strip().splitlines()
    assert line.startswith("kamcore: warning: ") and "run_000002.parquet" in line and "run skipped" in line
    # nothing scorable: one line, exit 2
    for f in d.glob("run_00000[13].parquet"):
        f.write_bytes(b"PAR1 truncated")
    code = main(["runs", "score", str(d), "--model", str(setup / "m"), "--workers", "0", "--rescore",
                 "--no-progress"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 4 and err[-1].startswith("kamcore: error: ")
    assert "no run could be scored (3 bad file(s))" in err[-1]


def test_score_one_line_errors(setup, tmp_path, capsys, monkeypatch):
    def run(*extra):
        code = main(["runs", "score", str(setup / "runs"), "--model", str(setup / "m"), "--no-progress", *extra])
        out, err = capsys.readouterr()
        assert code == 2 and out == "" and len(err.strip().splitlines()) == 1, err
        return err

    assert "cannot connect" in run("--scheduler", "tcp://127.0.0.1:1", "--connect-timeout", "0.5")
    assert "give one of the two" in run("--scheduler", "tcp://127.0.0.1:1", "--workers", "2")
    monkeypatch.setitem(sys.modules, "distributed", None)  # as if Dask were not installed
    err = run("--workers", "2")
    assert "needs Dask: pip install 'dask[distributed]>=2024.1'" in err and "--workers 0" in err
    empty = tmp_path / "empty"
    empty.mkdir()
    code = main(["runs", "score", str(empty), "--model", str(setup / "m"), "--workers", "0"])
    assert code == 2 and "no run files" in capsys.readouterr().err


def test_templates_and_fit_take_a_shipped_model_name(setup, tmp_path, capsys, monkeypatch):
    """``--model cnn_cpu`` is the shipped checkpoint (kamcore.models.load_model), from any directory."""
    from kamcore.models import load_model

    monkeypatch.chdir(tmp_path)  # no cnn_cpu file here: only the shipped one can match
    out = tmp_path / "t_cnn_cpu.json"
    code = main(["runs", "templates", "--model", "cnn_cpu", "--out", str(out), "--events", "20",
                 "--components", "Bi214", "--bins", "4"])
    text = capsys.readouterr().out
    assert code == 0 and "model cnn_cpu@" in text
    doc = json.loads(out.read_text())
    assert doc["model"] == load_model("cnn_cpu").identity and sum(doc["counts"]["Bi214"]) > 0
    # the tiny model's templates refuse the shipped model: the one-line check of Templates.check_model
    code = main(["runs", "fit", str(setup / "runs"), "--model", "cnn_cpu", "--templates", str(setup / "t.json"),
                 "--catalog", str(tmp_path / "c.sqlite")])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert f"{setup / 't.json'}: templates were made with model m@" in err and "come from cnn_cpu@" in err


def test_fit_warns_once_per_run_at_another_rate_than_its_constraints(setup, tmp_path, capsys):
    """Constraints at 10x the runs' rates: one 'kamcore: warning: run N: ...' line per run, the fit goes on."""
    ten = [f"{c}:{10 * r}:{rel}" for c, (r, rel) in {"Xe136_2vbb": (9.1667, 0.05), "Solar_nu": (0.8333, 0.1),
                                                      "C10": (1.6667, 0.2)}.items()]
    code = main(["runs", "fit", str(setup / "runs"), "--model", str(setup / "m"), "--templates", str(setup / "t.json"),
                 "--catalog", str(tmp_path / "c.sqlite"), "--min-events", "5", "--constraint", *ten])
    out, err = capsys.readouterr()
    assert code == 0 and "3 run(s) fitted" in out, err
    lines = err.strip().splitlines()
    assert len(lines) == 3 and all(x.startswith("kamcore: warning: run ") for x in lines), err
    assert all("in 5184 s" in x and "constraints assume 240.0" in x for x in lines), err

"""A producer on a simulated feed with a dead and a hot PMT stores each run's health; the e-log entry
(`kamcore runs report --format md`) carries fit, flags, health, marks, the reference's KS numbers,
acknowledgements and notes, with PNG plots next to it."""

from __future__ import annotations

import pytest

from kamcore.cli import main


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    import torch

    from kamcore import load_templates
    from kamcore._assets import asset_path
    from kamcore.catalog import Catalog
    from kamcore.monitor import LiveStore, MonitorConfig, Producer, SimulatedFeed

    torch.set_num_threads(1)
    tmp = tmp_path_factory.mktemp("elog")
    url = f"sqlite:///{tmp / 'cat.sqlite'}"
    templates = load_templates(asset_path("templates_cnn_cpu.json"))
    feed = SimulatedFeed(MonitorConfig(rate_hz=1e5, run_length=300, batch_events=300, seed=4, realtime=False,
                                       convection_probability=0.0, dead_pmts="33", hot_pmts="1200", hot_rate=0.4))
    cat = Catalog(url)
    with LiveStore(tmp / "live", max_events=1000, writable=True) as store:
        Producer(feed, store, cat, asset_path("cnn_cpu"), templates, runs_dir=tmp / "runs").run(max_runs=2)
    return tmp, url, cat


def test_closing_a_run_stores_its_health(world):
    _, _, cat = world
    runs = [r["run"] for r in cat.list_runs()]
    assert len(runs) == 2
    for r in runs:
        h = cat.run_health(r)
        assert h["status"] == "ok" and h["dead"] == [33] and h["hot"] == [1200], (h["dead"], h["hot"])
        assert len(h["counts"]) == 1879 and h["mean_nhit"] > 50


def test_compatibility_with_the_reference_run(world):
    from kamcore.monitor import compare_runs

    _, _, cat = world
    a, b = cat.list_runs()
    c = compare_runs(b, a)
    for k in ("score", "nhit", "energy"):
        assert 0.0 <= c[k]["pvalue"] <= 1.0 and c[k]["n"] == b["n_events"] and c[k]["n_ref"] == a["n_events"]
    assert "error" not in c
    assert c["score"]["pvalue"] > 1e-4  # two runs of the same detector state


def test_runs_report_format_md(world, tmp_path, capsys):
    _, url, cat = world
    first, last = [r["run"] for r in cat.list_runs()]
    cat.mark_run(last, "bad", by="alice", reason="hot PMT 1200")
    cat.set_reference_run(first, by="bob", reason="first run of the night")
    cat.add_note("PMT 1200 noisy, reported to the PMT expert", author="alice", run=last)
    aid, _ = cat.raise_alarm(f"test:{last}", kind="flag", text=f"run {last} flagged (test)", run=last)
    cat.ack_alarms([aid], by="carol", text="looked at the occupancy map")
    assert main(["runs", "report", "--catalog", url, "--format", "md", "--run", str(last)]) == 0
    md = capsys.readouterr().out
    for text in (f"# Run {last}: e-log entry", "## Fit", "background fraction", "## Flags", "## Detector health",
                 "dead PMTs: 33", "hot PMTs: 1200", "bad (by alice", "hot PMT 1200", f"Reference run {first}",
                 "| score |", "| nhit |", "| energy |", "acknowledged by carol", "looked at the occupancy map",
                 "PMT 1200 noisy", "cnn_cpu"):
        assert text in md, text
    assert "![" not in md  # printed: no plots
    out = tmp_path / "run.md"
    assert main(["runs", "report", "--catalog", url, "--format", "md", "--run", str(last), "--out", str(out),
                 "--templates", "assets/templates_cnn_cpu.json"]) == 0
    text = out.read_text()
    assert "![Score histogram](run_scores.png)" in text and "![PMT occupancy](run_occupancy.png)" in text
    for name in ("run_scores.png", "run_occupancy.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(tmp_path.glob(".*.tmp"))


def test_runs_report_md_bad_input(world, capsys):
    _, url, _ = world
    assert main(["runs", "report", "--catalog", url, "--format", "md", "--run", "999"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no run 999" in err[0]
    assert main(["runs", "report", "--catalog", url, "--run", "1"]) == 2
    assert "go with --format md" in capsys.readouterr().err


def test_embedded_plots(world):
    from kamcore.monitor import run_elog

    _, _, cat = world
    e = run_elog(cat, cat.list_runs()[0]["run"], plots="embed")
    assert "data:image/png;base64," in e.markdown and e.plots == {}

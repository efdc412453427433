"""The producer on the simulated feed (seconds, fast rate, short runs) and on a directory feed."""

import shutil

import numpy as np
import pytest

from kamcore.catalog import Catalog
from kamcore.fit import Templates
from kamcore.monitor import DirectoryFeed, LiveStore, MonitorConfig, Producer, SimulatedFeed, make_feed
from kamcore.runs import load_run_scores, run_file_name


def test_simulated_feed_fills_store_and_closes_runs(model_and_templates, tmp_path):
    model, tpath = model_and_templates
    t = Templates.load(tpath)
    cfg = MonitorConfig(rate_hz=200.0, run_length=12, store_events=15, batch_events=5, seed=1,
                        convection_probability=0.5)
    cat = Catalog(tmp_path / "c.sqlite")
    with LiveStore(tmp_path / "live", max_events=cfg.store_events, writable=True) as store:
        prod = Producer(SimulatedFeed(cfg), store, cat, model, t, runs_dir=tmp_path / "runs",
                        fit_config=t.fit_config(min_events=3))
        stats = prod.run(max_runs=2, duration_s=60)
    assert stats.runs_closed == 2 and stats.stopped_by == "max_runs" and stats.runs == [1, 2]
    live = LiveStore(tmp_path / "live")
    got = live.latest(100)
    assert 0 < len(got) <= 15 + 5 and live.seq == stats.events
    assert ((got.score >= 0) & (got.score <= 1)).all() and got.events.n_hits > 0
    assert set(got.events.run.tolist()) <= {1, 2, 3}
    runs = {r["run"]: r for r in cat.list_runs()}
    assert set(runs) == {1, 2}
    for r in (1, 2):
        assert runs[r]["status"] == "ok" and runs[r]["fit"] is not None
        assert runs[r]["fit"]["template_digest"] == t.digest
        sc = load_run_scores(tmp_path / "runs" / run_file_name(r), t.model["digest"])
        assert sc is not None and len(sc["score"]) == runs[r]["n_events"]


def test_duration_stops_the_producer(model_and_templates, tmp_path):
    model, tpath = model_and_templates
    t = Templates.load(tpath)
    cfg = MonitorConfig(rate_hz=5.0, run_length=30, batch_events=2)
    with LiveStore(tmp_path / "live", writable=True) as store:
        stats = Producer(SimulatedFeed(cfg), store, Catalog("sqlite://"), model, t).run(duration_s=1.0)
    assert stats.stopped_by == "duration" and stats.runs_closed == 0 and stats.seconds < 30


@pytest.fixture(scope="module")
def run_dir(model_and_templates, tmp_path_factory):
    from kamcore.cli import main

    d = tmp_path_factory.mktemp("daq")
    assert main(["runs", "simulate", "--runs", "4", "--events-per-run", "15", "--seed", "4", "--out", str(d),
                 "--no-progress"]) == 0
    return d


def _produce(model, t, feed_dir, cat, store):
    cfg = MonitorConfig(feed=str(feed_dir), settle_s=0.0, poll_interval_s=0.0)
    with LiveStore(store, writable=True) as s:
        feed = make_feed(cfg, cat, once=True)
        assert isinstance(feed, DirectoryFeed)
        return Producer(feed, s, cat, model, t, fit_config=t.fit_config(min_events=3)).run(duration_s=60)


def test_directory_feed_bad_and_half_written_files_and_restart_does_not_redo(model_and_templates, run_dir,
                                                                            tmp_path):
    model, tpath = model_and_templates
    t = Templates.load(tpath)
    d = tmp_path / "daq"
    d.mkdir()
    for name in ("run_000001.parquet", "run_000003.parquet"):
        shutil.copy(run_dir / name, d / name)
    raw = (run_dir / "run_000002.parquet").read_bytes()
    (d / "run_000002.parquet").write_bytes(raw[: len(raw) // 2])  # half-written by the DAQ: no footer yet
    (d / "run_000005.parquet").write_bytes(b"not a parquet file\n")  # bad
    (d / ".run_000004.parquet.tmp").write_bytes(b"partial")  # a DAQ's temporary file: ignored
    cat = Catalog(tmp_path / "c.sqlite")
    stats = _produce(model, t, d, cat, tmp_path / "live")
    assert (stats.runs_closed, stats.bad_files, stats.incomplete_files, stats.runs) == (2, 1, 1, [1, 3])
    runs = {r["run"]: r for r in cat.list_runs()}
    assert runs[2]["status"] == "incomplete" and runs[2]["fit"] is None
    assert "run_000002.parquet: incomplete, no Parquet footer yet" in runs[2]["error"]
    assert runs[5]["status"] == "bad_file" and "run_000005" in runs[5]["error"] and "\n" not in runs[5]["error"]
    assert runs[1]["fit"] is not None and runs[3]["fit"] is not None
    assert (d / "run_000001.scores.parquet").exists()
    seq = LiveStore(tmp_path / "live").seq
    # restart: nothing is redone, the store is not refilled; the incomplete file is looked at again
    again = _produce(model, t, d, cat, tmp_path / "live")
    assert (again.runs_closed, again.bad_files, again.incomplete_files, again.events) == (0, 0, 1, 0)
    assert LiveStore(tmp_path / "live").seq == seq
    # the DAQ finishes run 2 and writes run 4: only those are picked up, once each
    shutil.copy(run_dir / "run_000002.parquet", d / "run_000002.parquet")
    shutil.copy(run_dir / "run_000004.parquet", d / "run_000004.parquet")
    third = _produce(model, t, d, cat, tmp_path / "live")
    assert third.runs_closed == 2 and sorted(third.runs) == [2, 4] and third.bad_files == 0
    runs = {r["run"]: r for r in cat.list_runs()}
    assert runs[2]["status"] == "ok" and runs[2]["error"] is None and sorted(runs) == [1, 2, 3, 4, 5]
    assert all(len(cat.fit_history(r)) == 1 for r in (1, 2, 3, 4)) and cat.fit_history(5) == []
    assert LiveStore(tmp_path / "live").seq == seq + third.events


def test_sigterm_stops_cleanly(model_and_templates, tmp_path):
    import os
    import signal
    import threading

    model, tpath = model_and_templates
    t = Templates.load(tpath)
    cfg = MonitorConfig(rate_hz=5.0, run_length=400, batch_events=1)
    timer = threading.Timer(1.0, os.kill, args=(os.getpid(), signal.SIGTERM))
    before = signal.getsignal(signal.SIGTERM)
    with LiveStore(tmp_path / "live", writable=True) as store:
        timer.start()
        stats = Producer(SimulatedFeed(cfg), store, Catalog("sqlite://"), model, t).run(handle_signals=True)
    assert stats.stopped_by == "SIGTERM" and signal.getsignal(signal.SIGTERM) is before


def test_cli_monitor_closes_a_run_and_restart_continues(model_and_templates, tmp_path, capsys):
    from kamcore.cli import main

    model, tpath = model_and_templates
    argv = ["monitor", "--rate", "500", "--run-length", "8", "--model", str(model), "--templates", str(tpath),
            "--catalog", str(tmp_path / "c.sqlite"), "--store", str(tmp_path / "live"), "--max-runs", "1",
            "--duration", "60", "--min-events", "3", "--batch-events", "4"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "1 run(s) closed [1]" in out and "stopped by max_runs" in out
    assert main(argv) == 0
    assert "1 run(s) closed [2]" in capsys.readouterr().out  # a restart continues after the stored runs
    assert [r["run"] for r in Catalog(tmp_path / "c.sqlite").list_runs()] == [1, 2]
    assert (tmp_path / "live.runs" / run_file_name(2)).exists()
    code = main(argv + ["--max-runs", "0"])
    assert code == 2 and "--max-runs must be >= 1" in capsys.readouterr().err


def test_temporary_files_of_killed_writers_are_removed(tmp_path):
    import os
    import subprocess
    import sys

    from kamcore.monitor.producer import remove_stale_temp_files

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True).stdout.strip()
    names = {"score": f".run_000001.scores.parquet.{dead}.0123abcd.tmp",  # the producer's, writer gone
             "daq": f".run_000002.parquet.{dead}.0123abcd.tmp",  # a DAQ's run file, not the producer's
             "alive": f".run_000003.scores.parquet.{os.getpid()}.0123abcd.tmp",  # being written
             "other": ".run_000004.parquet.tmp"}  # not an atomic_output name
    for n in names.values():
        (tmp_path / n).write_bytes(b"x")
    assert remove_stale_temp_files(tmp_path, only=r"run_.*\.scores\.parquet") == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(v for k, v in names.items() if k != "score")
    assert remove_stale_temp_files(tmp_path) == 1 and not (tmp_path / names["daq"]).exists()
    assert remove_stale_temp_files(tmp_path / "missing") == 0


def test_run_leaves_no_thread_and_no_reference_behind(model_and_templates, run_dir, tmp_path):
    """:meth:`Producer.run` joins its threads (the ``duration_s`` timer, the simulated feed's prefetch) before it
    returns, so the caller drops the last reference to the producer.  A timer thread still ending when ``kamcore
    monitor`` returned freed the model's tensors during interpreter finalisation, and the command aborted
    ('terminate called without an active exception', SIGABRT) in about one exit of 20.

    With a 10 s GIL switch interval another thread runs only when this one blocks, so a thread that ``run``
    did not join is still there when it returns: deterministic, not a race.
    """
    import sys
    import threading
    import weakref

    model, tpath = model_and_templates
    t = Templates.load(tpath)
    d = tmp_path / "daq"
    d.mkdir()
    shutil.copy(run_dir / "run_000001.parquet", d)
    feeds = {"directory": DirectoryFeed(d, MonitorConfig(feed=str(d), settle_s=0.0, poll_interval_s=0.01)),
             "sim": SimulatedFeed(MonitorConfig(rate_hz=500.0, run_length=8, batch_events=4))}
    before = set(threading.enumerate())
    interval = sys.getswitchinterval()
    for name, feed in feeds.items():
        with LiveStore(tmp_path / name, writable=True) as store:
            prod = Producer(feed, store, Catalog("sqlite://"), model, t, runs_dir=tmp_path / (name + ".runs"),
                            fit_config=t.fit_config(min_events=3))
            sys.setswitchinterval(10.0)
            try:
                stats = prod.run(max_runs=1, duration_s=60)
                left = set(threading.enumerate()) - before
            finally:
                sys.setswitchinterval(interval)
        assert stats.stopped_by == "max_runs" and stats.runs_closed == 1, name
        assert left == set(), f"{name} feed: threads left running"
        ref = weakref.ref(prod)
        del prod
        assert ref() is None, f"{name} feed: something still holds the producer (and its model)"


@pytest.fixture(scope="module")
def tiny_kamnet(tmp_path_factory):
    """A tiny untrained KamNet (4 slices of 8 x 8) with its hit-map contract recorded: a companion model."""
    import torch

    from kamcore.nn.kamnet import KamNet, KamNetConfig
    from kamcore.preprocess import HitMapConfig
    from kamcore.train import save_model

    torch.manual_seed(3)
    d = tmp_path_factory.mktemp("companion")
    save_model(d / "kamnet_tiny", KamNet(KamNetConfig.from_preset("tiny")), "kamnet", preset="tiny",
               hitmap_config=HitMapConfig(n_time_bins=4, bandwidth=4, bin_width_ns=10.5, vertex="fit").to_dict())
    return d / "kamnet_tiny"


def test_companion_models_score_every_event_into_the_store(model_and_templates, tiny_kamnet, tmp_path):
    """A companion (here a tiny KamNet beside the CNN the fits use) scores every stored event; its score
    and attention are read back per event, equal to scoring the stored events again."""
    from kamcore.errors import ConfigError
    from kamcore.models import load_model

    model, tpath = model_and_templates
    t = Templates.load(tpath)
    cfg = MonitorConfig(rate_hz=200.0, run_length=10, store_events=40, batch_events=4, seed=2)
    with LiveStore(tmp_path / "live", max_events=cfg.store_events, writable=True) as store:
        prod = Producer(SimulatedFeed(cfg), store, Catalog("sqlite://"), model, t, runs_dir=tmp_path / "runs",
                        fit_config=t.fit_config(min_events=3), companions=[tiny_kamnet])
        prod.run(max_runs=1, duration_s=60)
        with pytest.raises(ConfigError, match="companion models must differ"):
            Producer(SimulatedFeed(cfg), store, Catalog("sqlite://"), model, t, companions=[model])
    got = LiveStore(tmp_path / "live").latest(100)
    assert len(got) >= 4 and set(got.companions) == {"kamnet_tiny"}
    c_score, c_att = got.companions["kamnet_tiny"]
    assert c_score.shape == (len(got),) and c_att.shape == (len(got), 4)
    np.testing.assert_allclose(c_att.sum(1), 1.0, rtol=1e-5)
    again_score, again_att = load_model(tiny_kamnet).predict(got.events)
    np.testing.assert_allclose(c_score, again_score, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(c_att, again_att, rtol=1e-4, atol=1e-6)
    assert got.attention is None  # the fits' CNN has none; the companion's is its own
    one = got.take(np.array([1]))
    assert one.companions["kamnet_tiny"][0].tolist() == [c_score[1]]


def test_cli_monitor_companion_option(model_and_templates, tiny_kamnet, tmp_path, capsys):
    from kamcore.cli import main

    model, tpath = model_and_templates
    argv = ["monitor", "--rate", "500", "--run-length", "8", "--model", str(model), "--templates", str(tpath),
            "--catalog", str(tmp_path / "c.sqlite"), "--store", str(tmp_path / "live"), "--max-runs", "1",
            "--duration", "60", "--min-events", "3", "--batch-events", "4", "--companion", str(tiny_kamnet)]
    assert main(argv) == 0
    got = LiveStore(tmp_path / "live").latest(100)
    assert len(got) and got.companions["kamnet_tiny"][1].shape == (len(got), 4)
    capsys.readouterr()
    code = main(argv[:-1] + [str(tmp_path / "missing")])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and "missing" in err

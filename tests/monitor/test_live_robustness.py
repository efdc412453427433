"""Live robustness: bad and half-written run files dropped into the watched directory while the producer and a
dashboard run; the catalog and the Runs view report them, the producer goes on; a restart resumes.

The producer follows the directory in a thread (``settle_s`` 0.3 s, ``incomplete_s`` 2 s so the test is short);
the dashboard is a :class:`dashboard.backend.Backend` (external producer) with a Runs view on the same
catalog, refreshed as a session would.  On SQLite, and on PostgreSQL when a server is given.
"""

from __future__ import annotations

import shutil
import threading
import time

import pytest

from kamcore.catalog import Catalog
from kamcore.fit import Templates
from kamcore.monitor import LiveStore, MonitorConfig, Producer, make_feed
from kamcore.runs import run_file_name

pytest.importorskip("panel")


@pytest.fixture(scope="module")
def runs(simulated_run_files):
    return simulated_run_files(runs=6, events_per_run=10, seed=6)


def _wait(what, timeout_s: float = 30.0):
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout_s:
        got = what()
        if got:
            return time.monotonic() - t0
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what.__doc__ or what}")


def _status(cat: Catalog) -> dict:
    return {r["run"]: (r["status"], r["error"], r["fit"] is not None) for r in cat.list_runs()}


@pytest.mark.parametrize("database", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_bad_and_half_written_files_while_monitor_and_dashboard_run(database, model_and_templates, runs, tmp_path,
                                                                    request):
    from dashboard.backend import Backend
    from dashboard.config import DashboardConfig
    from dashboard.selection import Selection
    from dashboard.views import RunsView

    model, tpath = model_and_templates
    t = Templates.load(tpath)
    daq, db, store = tmp_path / "daq", tmp_path / "catalog.sqlite", tmp_path / "live"
    daq.mkdir()
    url = f"sqlite:///{db}" if database == "sqlite" else request.getfixturevalue("postgres_url")
    cfg = MonitorConfig(feed=str(daq), settle_s=0.3, poll_interval_s=0.05, incomplete_s=2.0)
    cat = Catalog(url)

    def start():
        s = LiveStore(store, writable=True)
        prod = Producer(make_feed(cfg, cat), s, cat, model, t, fit_config=t.fit_config(min_events=3))
        out = {}
        th = threading.Thread(target=lambda: out.setdefault("stats", prod.run(duration_s=120)), daemon=True)
        th.start()
        return prod, th, s, out

    prod, th, s, out = start()
    board = Backend(DashboardConfig(model=str(model), templates=str(tpath), catalog=url,
                                    store=str(store), producer="external", poll_s=0.05), start=False)
    view = RunsView(backend=board, selection=Selection())

    def shown() -> dict:
        board._cache.clear()
        view.refresh()
        tab = view._table.value
        return {} if tab is None else {int(r["run"]): (r["state"], r["file problem"]) for _, r in tab.iterrows()}

    def name(r):
        return daq / run_file_name(r)

    raw = {r: (runs / run_file_name(r)).read_bytes() for r in range(1, 7)}
    latency = {}
    # a good run, then a file that is not Parquet at all: bad at once, the producer goes on
    shutil.copy(runs / run_file_name(1), name(1))
    _wait(lambda: _status(cat).get(1, ("",))[0] == "ok")
    t0 = time.monotonic()
    name(2).write_bytes(b"garbage from a broken DAQ\n")
    _wait(lambda: _status(cat).get(2, ("",))[0] == "bad_file")
    latency["bad"] = time.monotonic() - t0
    assert "run_000002.parquet" in _status(cat)[2][1]
    assert shown()[2][0] == "bad file" and "run_000002.parquet" in shown()[2][1]
    # run 3 is written in place in three steps: incomplete, incomplete, then whole and closed
    with open(name(3), "wb") as f:
        f.write(raw[3][: len(raw[3]) // 3])
        f.flush()
        t0 = time.monotonic()
        _wait(lambda: _status(cat).get(3, ("",))[0] == "incomplete")
        latency["incomplete"] = time.monotonic() - t0
        first = _status(cat)[3][1]
        assert "incomplete, no Parquet footer yet" in first and f"({len(raw[3]) // 3} bytes" in first
        assert shown()[3] == ("incomplete", first)
        f.write(raw[3][len(raw[3]) // 3: 2 * len(raw[3]) // 3])
        f.flush()
        _wait(lambda: f"({2 * len(raw[3]) // 3} bytes" in (_status(cat)[3][1] or ""))  # read again: still short
        f.write(raw[3][2 * len(raw[3]) // 3:])
    _wait(lambda: _status(cat)[3] == ("ok", None, True))
    assert shown()[3][0] not in ("incomplete", "bad file") and shown()[3][1] == ""
    # run 4's writer dies half way: incomplete, then bad after incomplete_s unchanged
    name(4).write_bytes(raw[4][: len(raw[4]) // 2])
    _wait(lambda: _status(cat).get(4, ("",))[0] == "incomplete")
    _wait(lambda: _status(cat)[4][0] == "bad_file")
    assert "no Parquet footer, unchanged for 2 s" in _status(cat)[4][1] and shown()[4][0] == "bad file"
    # and the next good run is closed as usual
    shutil.copy(runs / run_file_name(5), name(5))
    _wait(lambda: _status(cat).get(5, ("",))[0] == "ok")
    prod.stop()
    th.join(30)
    first_stats = out["stats"]
    assert first_stats.runs == [1, 3, 5] and first_stats.bad_files == 2
    s.close()
    seq = LiveStore(store).seq
    # restart: nothing redone or lost; a half-written run 6 is reported, then completed and closed
    name(6).write_bytes(raw[6][:100])
    prod, th, s, out = start()
    _wait(lambda: _status(cat).get(6, ("",))[0] == "incomplete")
    name(6).write_bytes(raw[6])
    _wait(lambda: _status(cat)[6][0] == "ok")
    prod.stop()
    th.join(30)
    s.close()
    assert out["stats"].runs == [6] and out["stats"].bad_files == 0
    st = _status(cat)
    assert {r: v[0] for r, v in st.items()} == {1: "ok", 2: "bad_file", 3: "ok", 4: "bad_file", 5: "ok", 6: "ok"}
    assert all(len(cat.fit_history(r)) == 1 for r in (1, 3, 5, 6))
    assert LiveStore(store).seq == seq + out["stats"].events
    assert {r: v[0] for r, v in shown().items()}[6] != "incomplete"
    print(f"\n{database}: bad file in the catalog {latency['bad']:.2f} s after it was dropped, incomplete file "
          f"{latency['incomplete']:.2f} s after its last write (settle_s 0.3, poll 0.05 s)")

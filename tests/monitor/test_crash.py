"""Crash safety: ``kamcore monitor`` killed with SIGKILL again and again, the catalog checked with SQL.

A DAQ (this test) drops finished run files into a directory; a ``kamcore monitor
--feed DIR`` process is started (by ``tests/monitor/forkserver.py``, which runs
the command's own code in a forked, pre-imported interpreter) and killed with
SIGKILL, ``ITERATIONS`` times in a row on the same catalog, store and directory.
The kill comes after a random delay, or the moment the catalog's SQLite journal
appears (inside a write transaction), or the moment a temporary file of a score
file or live-store chunk appears (inside an atomic file write).  After every kill
the SQLite file is checked with plain SQL: integrity, no duplicate run or fit, no
run stored ``ok`` without its fit, no fit or flag without its parent, and every
run committed before is still there.  At the end a fresh ``python -m kamcore
monitor`` finishes the directory: every run file is in the catalog once with one
fit, has an up-to-date score file, and no temporary file is left.
"""

from __future__ import annotations

import dataclasses
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from kamcore.fit import Templates
from kamcore.io import open_events, write_events
from kamcore.monitor import LiveStore
from kamcore.runs import load_run_scores, run_file_name, run_info

ITERATIONS = 20
RUNS_PER_ITERATION = 1
KILL_MODES = ("random", "catalog", "file")
_ENV = {**os.environ, "OMP_NUM_THREADS": "1", "KAMCORE_NO_MALLOC_TUNING": "1"}


class ForkServer:
    """Client of tests/monitor/forkserver.py."""

    def __init__(self):
        self.p = subprocess.Popen([sys.executable, str(Path(__file__).with_name("forkserver.py"))],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=_ENV)
        assert "ready" in self._read()

    def _read(self) -> dict:
        line = self.p.stdout.readline()
        if not line:
            raise RuntimeError(f"fork server ended (status {self.p.poll()})")
        return json.loads(line)

    def _ask(self, **req) -> dict:
        self.p.stdin.write(json.dumps(req) + "\n")
        self.p.stdin.flush()
        return self._read()

    def start(self, argv: list[str], log: Path) -> int:
        return self._ask(op="start", argv=argv, log=str(log))["pid"]

    def wait(self, pid: int) -> dict:
        return self._ask(op="wait", pid=pid)

    def close(self) -> None:
        self.p.stdin.close()
        self.p.wait(timeout=30)


def _daq_runs(base_dir: Path, first: int, n: int, dest: Path) -> list[int]:
    """Write runs ``first .. first+n-1`` into ``dest`` (atomically, as a DAQ closing a run), made from the
    base runs by renumbering them and shifting their times."""
    base = sorted(base_dir.glob("run_*.parquet"))
    out = []
    for r in range(first, first + n):
        ev = open_events(base[r % len(base)])
        info = run_info(ev)
        shift = (r - info["run"]) * 10**12
        new = {**info, "run": r, "start_ns": info["start_ns"] + shift, "stop_ns": info["stop_ns"] + shift}
        ev = dataclasses.replace(ev, run=np.full(len(ev), r, np.int32), timestamp_ns=ev.timestamp_ns + shift,
                                 attrs={**ev.attrs, "run_info": new})
        write_events(ev, dest / run_file_name(r))
        out.append(r)
    return out


def _temp_files(*dirs: Path) -> list[str]:
    return [e.name for d in dirs if d.is_dir() for e in os.scandir(d) if e.name.endswith(".tmp")]


def _kill_when(pid: int, mode: str, rng: random.Random, journal: Path, dirs: tuple[Path, ...],
               most: int = 4, patience_s: float = 4.0) -> None:
    """SIGKILL ``pid`` after a random delay, or when the catalog journal / a temporary file appears for the
    k-th time (k = 1..most at random, so that some runs are closed between kills), at most ``patience_s``
    after the start (a directory feed may run out of runs to close; the simulated feed writes until its
    duration ends but takes seconds to start on a loaded machine, where 4 s once let every kill land
    before its first write)."""
    k = rng.randint(1, most)
    t_end = time.monotonic() + (rng.uniform(0.2, 2.0) if mode == "random" else patience_s)
    seen: set[str] = set()
    present = False
    while time.monotonic() < t_end:
        if mode == "catalog":
            now = journal.exists()
            if now and not present:
                k -= 1
            present = now
        elif mode == "file":
            new = set(_temp_files(*dirs)) - seen
            k -= len(new)
            seen |= new
        if k <= 0:
            break
        time.sleep(0.0002 if mode != "random" else 0.01)
    os.kill(pid, signal.SIGKILL)


def _check_rows(q) -> dict:
    """The SQL checks on any database (``q(sql)`` returns rows); returns {run: n_events} of the runs stored ok."""
    assert q("SELECT run_number FROM runs GROUP BY run_number HAVING count(*) > 1") == []
    assert q("SELECT run_id FROM fits GROUP BY run_id, model_digest, template_digest HAVING count(*) > 1") == []
    # no partial close: a run stored ok has its fit, with the run's event count
    assert q("SELECT r.run_number FROM runs r LEFT JOIN fits f ON f.run_id = r.id "
             "WHERE r.status = 'ok' AND f.id IS NULL") == []
    assert q("SELECT r.run_number FROM runs r JOIN fits f ON f.run_id = r.id "
             "WHERE r.n_events IS NULL OR f.n_events != r.n_events OR f.result_json = '' "
             "OR r.start_ns IS NULL OR r.path IS NULL") == []
    assert q("SELECT id FROM fits WHERE run_id NOT IN (SELECT id FROM runs)") == []
    assert q("SELECT id FROM flags WHERE fit_id NOT IN (SELECT id FROM fits)") == []
    assert q("SELECT run_number FROM runs WHERE status != 'ok'") == []  # the DAQ writes only good files
    return dict(q("SELECT run_number, n_events FROM runs WHERE status = 'ok'"))


def _check(db: Path) -> dict:
    """SQL checks of a SQLite catalog left by a killed writer (see :func:`_check_rows`)."""
    con = sqlite3.connect(db, timeout=30)  # rolls a hot journal back, as the next writer would
    try:
        q = lambda sql: con.execute(sql).fetchall()  # noqa: E731
        assert q("PRAGMA integrity_check") == [("ok",)]
        assert q("PRAGMA foreign_key_check") == []
        return _check_rows(q)
    finally:
        con.close()


@pytest.fixture(scope="module")
def server():
    fs = ForkServer()
    yield fs
    fs.close()


@pytest.fixture(scope="module")
def base_runs(simulated_run_files):
    return simulated_run_files(runs=3, events_per_run=12, seed=8)


def test_kill9_during_catalog_and_file_writes(model_and_templates, base_runs, server, tmp_path):
    model, tpath = model_and_templates
    daq, store, db = tmp_path / "daq", tmp_path / "live", tmp_path / "catalog.sqlite"
    daq.mkdir()
    journal = db.with_name(db.name + "-journal")
    argv = ["monitor", "--feed", str(daq), "--model", str(model), "--templates", str(tpath), "--catalog", str(db),
            "--store", str(store), "--settle-s", "0", "--poll-interval-s", "0.05", "--min-events", "3",
            "--duration", "30"]
    rng = random.Random(8)
    t0 = time.monotonic()
    written: list[int] = []
    committed: dict[int, int] = {}
    hits = {"catalog transaction": 0, "file write": 0, "finished between kills": 0}
    for i in range(ITERATIONS):
        written += _daq_runs(base_runs, len(written) + 1, RUNS_PER_ITERATION, daq)
        before = set(committed)
        pid = server.start(argv, tmp_path / "monitor.log")
        _kill_when(pid, KILL_MODES[i % len(KILL_MODES)], rng, journal, (daq, store))
        assert server.wait(pid) == {"signal": signal.SIGKILL}, (tmp_path / "monitor.log").read_text()[-2000:]
        hits["catalog transaction"] += journal.exists() and journal.stat().st_size > 0
        hits["file write"] += bool(_temp_files(daq, store))
        committed = _check(db)
        assert before <= set(committed), f"iteration {i}: runs {sorted(before - set(committed))} lost"
        assert set(committed) <= set(written)
        hits["finished between kills"] += len(set(committed) - before)
        LiveStore(store).latest(5)  # the live store's index stays readable
    kill_s = time.monotonic() - t0
    # the last restart, through the real command line, finishes the directory
    written += _daq_runs(base_runs, len(written) + 1, 1, daq)
    left = len(set(written) - set(committed))
    res = subprocess.run([sys.executable, "-m", "kamcore", *argv[:-2], "--duration", "120", "--max-runs", str(left)],
                         capture_output=True, text=True, env=_ENV, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    assert f"{left} run(s) closed" in res.stdout and "0 bad file(s)" in res.stdout
    final = _check(db)
    assert sorted(final) == written
    digest = Templates.load(tpath).model["digest"]
    for r in written:
        sc = load_run_scores(daq / run_file_name(r), digest)
        assert sc is not None and len(sc["score"]) == final[r]
    assert _temp_files(daq, store) == []
    con = sqlite3.connect(db)
    assert con.execute("SELECT count(*) FROM fits").fetchone() == (len(written),)
    con.close()
    print(f"\n{ITERATIONS} kill -9 in {kill_s:.1f} s: {hits}; the last restart closed {left} run(s) in "
          f"{time.monotonic() - t0 - kill_s:.1f} s; {len(written)} runs, all closed once")
    # the kills must have landed inside writes, not only between them
    assert hits["catalog transaction"] >= 1 and hits["file write"] >= 1


SIM_ITERATIONS = 5


def test_kill9_during_run_file_writes_of_the_simulated_feed(model_and_templates, server, tmp_path):
    """The simulated feed writes the run files itself: kill it while it writes them (or at random), then let a
    restart close two runs: numbering continues, every run file in place is in the catalog."""
    model, tpath = model_and_templates
    runs_dir, db = tmp_path / "live.runs", tmp_path / "catalog.sqlite"
    argv = ["monitor", "--rate", "2000", "--run-length", "6", "--batch-events", "6", "--gap-s", "0", "--model", str(model),
            "--templates", str(tpath), "--catalog", str(db), "--store", str(tmp_path / "live"), "--min-events", "3",
            "--duration", "30"]
    rng = random.Random(9)
    hits = 0
    committed: dict[int, int] = {}
    for i in range(SIM_ITERATIONS):
        pid = server.start(argv, tmp_path / "monitor.log")
        _kill_when(pid, ("file", "file", "random")[i % 3], rng, db.with_name(db.name + "-journal"), (runs_dir,),
                   most=3, patience_s=25.0)
        assert server.wait(pid) == {"signal": signal.SIGKILL}, (tmp_path / "monitor.log").read_text()[-2000:]
        hits += bool(_temp_files(runs_dir))  # a run file or its score file
        before = set(committed)
        committed = _check(db)
        assert before <= set(committed)
        assert sorted(committed) == list(range(1, len(committed) + 1))  # numbering continues, no gap
        files = sorted(int(p.name[4:10]) for p in runs_dir.glob("run_*[0-9].parquet")) if runs_dir.is_dir() else []
        assert set(committed) <= set(files) and len(set(files) - set(committed)) <= 1  # the run being closed
        for r in files:
            open_events(runs_dir / run_file_name(r))  # every run file in place is whole
    # a restart that is not killed closes the next two runs, numbered after the stored ones
    pid = server.start(argv[:-2] + ["--max-runs", "2", "--duration", "120"], tmp_path / "monitor.log")
    assert server.wait(pid) == {"code": 0}, (tmp_path / "monitor.log").read_text()[-2000:]
    final = _check(db)
    assert sorted(final) == list(range(1, len(committed) + 3))
    assert sorted(int(p.name[4:10]) for p in runs_dir.glob("run_*[0-9].parquet")) == sorted(final)
    assert _temp_files(runs_dir) == []
    print(f"\n{SIM_ITERATIONS} kill -9 of the simulated feed: {hits} inside a run-file or score-file write, "
          f"{len(committed)} run(s) closed between kills, 2 after")
    assert hits >= 1, "no kill landed inside a run-file or score-file write"


PG_ITERATIONS = 8


@pytest.mark.postgres
def test_kill9_on_postgres(postgres_url, model_and_templates, base_runs, server, tmp_path):
    """The same on a PostgreSQL catalog: the server aborts the transaction of a killed client."""
    import psycopg

    model, tpath = model_and_templates
    daq, store = tmp_path / "daq", tmp_path / "live"
    daq.mkdir()
    argv = ["monitor", "--feed", str(daq), "--model", str(model), "--templates", str(tpath), "--catalog",
            postgres_url, "--store", str(store), "--settle-s", "0", "--poll-interval-s", "0.05", "--min-events", "3",
            "--duration", "30"]
    rng = random.Random(10)
    written: list[int] = []
    committed: dict[int, int] = {}
    conninfo = postgres_url.replace("postgresql+psycopg://", "postgresql://")

    def check() -> dict:
        with psycopg.connect(conninfo) as con:
            try:
                return _check_rows(lambda sql: [tuple(r) for r in con.execute(sql).fetchall()])
            except psycopg.errors.UndefinedTable:
                return {}  # killed before it created the tables
    for i in range(PG_ITERATIONS):
        written += _daq_runs(base_runs, len(written) + 1, 1, daq)
        before = set(committed)
        pid = server.start(argv, tmp_path / "monitor.log")
        _kill_when(pid, ("random", "file")[i % 2], rng, tmp_path / "none", (daq, store))
        assert server.wait(pid) == {"signal": signal.SIGKILL}, (tmp_path / "monitor.log").read_text()[-2000:]
        committed = check()
        assert before <= set(committed) <= set(written)
    left = len(set(written) - set(committed))
    if left:  # every run may be closed already, when each kill came after the monitor's last commit
        pid = server.start(argv[:-2] + ["--max-runs", str(left), "--duration", "120"], tmp_path / "monitor.log")
        assert server.wait(pid) == {"code": 0}, (tmp_path / "monitor.log").read_text()[-2000:]
    assert sorted(check()) == written
    with psycopg.connect(conninfo) as con:
        assert con.execute("SELECT count(*) FROM fits").fetchone() == (len(written),)
    print(f"\n{PG_ITERATIONS} kill -9 on PostgreSQL: {len(committed)} of {len(written)} runs closed between kills")


# ``kamcore monitor`` killed with SIGKILL by itself the moment it starts closing a run: after the run's
# events went to the live store and its score file was written, before the catalog transaction.
_KILLED_WHILE_CLOSING = """
import os, signal, sys
import kamcore.monitor.producer as producer
producer.close_run = lambda *a, **k: os.kill(os.getpid(), signal.SIGKILL)
from kamcore.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_kill9_while_closing_a_run_stores_its_events_once(model_and_templates, base_runs, tmp_path, capsys):
    """The restart closes the run again; the live store then holds each (run, event_id) once."""
    from kamcore.catalog import Catalog
    from kamcore.cli import main

    model, tpath = model_and_templates
    daq, store, db = tmp_path / "daq", tmp_path / "live", tmp_path / "catalog.sqlite"
    daq.mkdir()
    _daq_runs(base_runs, 1, 2, daq)
    argv = ["monitor", "--feed", str(daq), "--model", str(model), "--templates", str(tpath), "--catalog", str(db),
            "--store", str(store), "--settle-s", "0", "--poll-interval-s", "0.05", "--min-events", "3",
            "--max-runs", "2", "--duration", "120"]
    res = subprocess.run([sys.executable, "-c", _KILLED_WHILE_CLOSING, *argv], capture_output=True, text=True,
                         env=_ENV, timeout=300)
    assert res.returncode == -signal.SIGKILL, res.stderr[-2000:]
    assert _check(db) == {}
    killed = LiveStore(store).latest(1000)
    assert killed.events.run.tolist() == [1] * len(killed) and len(killed) > 0  # run 1 stored, not closed
    assert main(argv) == 0
    assert "2 run(s) closed [1, 2]" in capsys.readouterr().out
    closed = {r["run"]: r["n_events"] for r in Catalog(db).list_runs()}
    held = LiveStore(store).latest(1000)
    keys = list(zip(held.events.run.tolist(), held.events.event_id.tolist()))
    assert len(keys) == len(set(keys)), "an event is twice in the live store"
    assert {r: sum(k[0] == r for k in keys) for r in closed} == closed == {1: len(killed), 2: closed[2]}

"""One ``kamcore monitor`` and two dashboard processes sharing a catalog on a real PostgreSQL server.

The three processes open the same new database at the same moment (the tables are created once), the
monitor closes runs that a DAQ (this test) drops into its directory one by one, a bad file among them,
and both readers poll what the dashboard reads while it writes (tests/monitor/catalog_reader.py), each
adding a shift note.  Afterwards plain SQL on the server: every run once, one fit per closed run.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kamcore.fit import Templates
from kamcore.runs import run_file_name

pytestmark = pytest.mark.postgres

_ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


@pytest.fixture(scope="module")
def pg_runs(simulated_run_files):
    return simulated_run_files(runs=4, events_per_run=10, seed=12)


def test_two_dashboards_and_a_monitor_share_postgres(postgres_url, model_and_templates, pg_runs, tmp_path):
    import psycopg

    model, tpath = model_and_templates
    t = Templates.load(tpath)
    daq = tmp_path / "daq"
    daq.mkdir()
    n_runs = 5  # 4 good, 1 bad
    t0 = time.monotonic()
    readers = [subprocess.Popen([sys.executable, str(Path(__file__).with_name("catalog_reader.py")), postgres_url,
                                 t.model["digest"], t.digest, str(n_runs), "90", f"dashboard-{i}"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_ENV)
               for i in (1, 2)]
    monitor = subprocess.Popen([sys.executable, "-m", "kamcore", "monitor", "--feed", str(daq), "--model", str(model),
                                "--templates", str(tpath), "--catalog", postgres_url, "--store", str(tmp_path / "live"),
                                "--settle-s", "0.2", "--poll-interval-s", "0.05", "--min-events", "3",
                                "--max-runs", str(n_runs), "--duration", "90"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_ENV)
    try:
        for r in range(1, 5):  # the DAQ closes a run every 0.4 s, and writes one broken file
            shutil.copy(pg_runs / run_file_name(r), daq / run_file_name(r))
            if r == 2:
                (daq / run_file_name(9)).write_bytes(b"broken run file from the DAQ")
            time.sleep(0.4)
        out, err = monitor.communicate(timeout=200)
        assert monitor.returncode == 0, err[-2000:]
        assert "4 run(s) closed [1, 2, 3, 4], 1 bad file(s)" in out
        results = []
        for p in readers:
            o, e = p.communicate(timeout=200)
            assert p.returncode == 0, (o, e[-2000:])
            results.append(json.loads(o.strip().splitlines()[-1]))
    finally:
        for p in (monitor, *readers):
            if p.poll() is None:
                p.kill()
    seconds = time.monotonic() - t0
    for res in results:
        assert res["runs"] == [1, 2, 3, 4, 9] and res["ok"] == [1, 2, 3, 4] and res["problems"] == []
        assert res["polls"] >= 5
    with psycopg.connect(postgres_url.replace("postgresql+psycopg://", "postgresql://")) as con:
        q = lambda sql: con.execute(sql).fetchall()  # noqa: E731
        assert q("SELECT run_number, status FROM runs ORDER BY run_number") == [
            (1, "ok"), (2, "ok"), (3, "ok"), (4, "ok"), (9, "bad_file")]
        assert q("SELECT r.run_number, count(f.id) FROM runs r LEFT JOIN fits f ON f.run_id = r.id "
                 "GROUP BY r.run_number ORDER BY r.run_number") == [(1, 1), (2, 1), (3, 1), (4, 1), (9, 0)]
        assert sorted(a for (a,) in q("SELECT author FROM notes")) == ["dashboard-1", "dashboard-2"]
    print(f"\nPostgreSQL: monitor + 2 readers, {n_runs} runs in {seconds:.1f} s; reader polls "
          f"{[r['polls'] for r in results]}")

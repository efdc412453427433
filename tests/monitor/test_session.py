"""kamcore monitor as a supervised child: history replay first, a status file, the seed of the live feed."""

import json
import os

from kamcore.catalog import Catalog


def test_history_then_live_with_a_status_file(model_and_templates, tmp_path, capsys):
    from kamcore.cli import main

    model, tpath = model_and_templates
    status = tmp_path / "live" / "producer.json"
    argv = ["monitor", "--rate", "500", "--run-length", "8", "--model", str(model), "--templates", str(tpath),
            "--catalog", str(tmp_path / "c.sqlite"), "--store", str(tmp_path / "live"), "--max-runs", "1",
            "--duration", "60", "--min-events", "3", "--status-file", str(status), "--history-runs", "2"]
    assert main(argv) == 0
    out, err = capsys.readouterr()
    assert "3 run(s) closed [1, 2, 3]" in out and "stopped by max_runs" in out
    assert "seed=0" in err.splitlines()[0] and "seed=1" in err.splitlines()[1]  # the live feed: seed + 1
    runs = Catalog(tmp_path / "c.sqlite").list_runs()
    assert [r["run"] for r in runs] == [1, 2, 3] and all(r["fit"] for r in runs)
    history_stop = runs[1]["stop_ns"]
    assert history_stop < runs[2]["start_ns"]  # the replayed runs lie before the live one
    doc = json.loads(status.read_text())
    assert doc["mode"] == "live" and doc["pid"] == os.getpid() and doc["state"].startswith("live simulated feed")
    # the catalog has fits of this model now: a restart replays no history
    assert main(argv) == 0
    assert "1 run(s) closed [4]" in capsys.readouterr().out
    assert main(argv[:-2] + ["--history-runs", "-1"]) == 2
    assert "--history-runs must be >= 0" in capsys.readouterr().err


_PARENT = """
import os, subprocess, sys, time
child = subprocess.Popen(sys.argv[1:] + ["--parent-pid", str(os.getpid())])  # kamcore monitor, our child
print(child.pid, flush=True)
time.sleep(120)  # until the test kills this process
"""


def test_monitor_exits_when_its_parent_process_dies(model_and_templates, tmp_path):
    """``kamcore monitor --parent-pid P`` (the dashboard's supervised child) stops once P is gone."""
    import subprocess
    import sys
    import time

    import psutil

    model, tpath = model_and_templates
    status = tmp_path / "live" / "producer.json"
    argv = [sys.executable, "-m", "kamcore", "monitor", "--rate", "20", "--run-length", "100000", "--model",
            str(model), "--templates", str(tpath), "--catalog", str(tmp_path / "c.sqlite"),
            "--store", str(tmp_path / "live"), "--status-file", str(status), "--duration", "90"]
    # a dummy parent starts the monitor with --parent-pid <its own pid>
    parent = subprocess.Popen([sys.executable, "-c", _PARENT, *argv], stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "OMP_NUM_THREADS": "1"})
    child = psutil.Process(int(parent.stdout.readline()))
    try:
        deadline = time.monotonic() + 60
        while not (status.exists() and json.loads(status.read_text())["mode"] == "live"):
            assert child.is_running() and child.status() != psutil.STATUS_ZOMBIE, "the monitor ended early"
            assert time.monotonic() < deadline, "the monitor did not reach its live feed in 60 s"
            time.sleep(0.2)
        assert child.ppid() == parent.pid
        t0 = time.monotonic()
        parent.kill()
        parent.wait()
        while child.is_running() and child.status() != psutil.STATUS_ZOMBIE:  # re-parented, maybe not reaped
            assert time.monotonic() - t0 < 15, "the monitor outlived its parent by 15 s"
            time.sleep(0.1)
    finally:
        if child.is_running() and child.status() != psutil.STATUS_ZOMBIE:
            child.kill()
        parent.kill()

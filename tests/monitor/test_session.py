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

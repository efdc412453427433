"""kamcore without the dashboard's stack: it imports, simulates, scores and fits with panel, bokeh
and holoviews absent (a cluster worker or an analysis node need not install them)."""

import json
import os
import subprocess
import sys
import textwrap

BLOCKED = ("panel", "bokeh", "holoviews", "hvplot", "dashboard")

SCRIPT = textwrap.dedent(f"""
    import importlib.abc, json, sys

    class Absent(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in {BLOCKED!r}:
                raise ModuleNotFoundError(f"No module named {{name!r}} (blocked by the test)")
            return None

    sys.meta_path.insert(0, Absent())
    import kamcore
    from kamcore.io import write_events
    from kamcore.runs import RunSimConfig
    from kamcore.runs.simulate import simulate_run

    events, truth = simulate_run(3, seed=2, config=RunSimConfig(events_per_run=60.0, run_duration_s=3600.0))
    write_events(events, sys.argv[1])
    scores = kamcore.load_model("cnn_cpu").score(kamcore.open_events(sys.argv[1]))
    fit = kamcore.fit_run(scores, kamcore.load_templates("templates_cnn_cpu.json"))
    loaded = sorted(m for m in sys.modules if m.split(".")[0] in {BLOCKED!r})
    print(json.dumps({{"n": len(scores), "status": fit.status, "run": fit.run, "loaded": loaded}}))
""")


def test_kamcore_scores_and_fits_with_panel_bokeh_and_holoviews_absent(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path / "run_000003.parquet")], env=env,
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    res = json.loads(out.stdout.strip().splitlines()[-1])
    assert res["loaded"] == [] and res["run"] == 3 and res["n"] > 0, res
    assert res["status"] in ("ok", "too_few_events"), res

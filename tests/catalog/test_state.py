"""One run-state rule and one reference-run rule (kamcore.catalog.state), shared by the report and the pages."""

import numpy as np
import pytest

from kamcore.catalog import RUN_STATES, acked_runs, reference_run, run_state, run_states
from kamcore.fit import FlagConfig, reference_fraction


def _run(run, f, err=0.04, *, good=False, flags=(), status="ok", fit_status="ok", yields=None, pvalue=0.5):
    res = {"components": ["Xe136_2vbb", "Bi214"], "yields": yields or {"Xe136_2vbb": 300.0, "Bi214": 100.0},
           "errors": {"Xe136_2vbb": 20.0, "Bi214": 10.0}}
    fit = None if fit_status is None else {"status": fit_status, "bkg_fraction": f, "bkg_fraction_err": err,
                                           "pvalue": pvalue, "valid": True, "result": res}
    return {"run": run, "status": status, "good": good, "fit": fit, "flags": [{"kind": k} for k in flags]}


def test_each_state_and_the_order_of_the_rule():
    assert run_state(_run(1, 0.4, status="bad_file", fit_status=None)) == "bad file"
    assert run_state(_run(1, 0.4, status="incomplete", fit_status=None)) == "incomplete"
    assert run_state(_run(1, 0.4, fit_status=None)) == "not fitted"
    assert run_state(_run(1, 0.4, fit_status="failed")) == "not fitted"
    assert run_state(_run(1, 0.4, flags=["bad_fit"])) == "bad fit"
    assert run_state(_run(1, 0.4, flags=["bad_fit"]), acked=True) == "acknowledged"
    assert run_state(_run(1, 0.4, flags=["high_background"])) == "flagged"
    assert run_state(_run(1, 0.4, yields={"Xe136_2vbb": 300.0, "Bi214": -30.0})) == "unphysical"
    assert run_state(_run(1, 0.4)) == "ok"
    alarms = [{"kind": "flag", "run": 1, "status": "acked"}, {"kind": "flag", "run": 2, "status": "open"},
              {"kind": "flag", "run": 2, "status": "acked"}, {"kind": "period", "run": 3, "status": "acked"}]
    assert acked_runs(alarms) == {1}
    rows = run_states([_run(1, 0.4, flags=["high_background"]), _run(2, 0.4, flags=["high_background"])], alarms)
    assert [(s.run, s.state, s.acknowledged, s.flags) for s in rows] == [
        (1, "acknowledged", True, ("high_background",)), (2, "flagged", False, ("high_background",))]
    assert {s.state for s in rows} <= set(RUN_STATES)


def test_reference_run_follows_the_reference_fraction():
    f = [0.30, 0.34, 0.29, 0.70, 0.31, 0.33]
    runs = [_run(i + 1, x) for i, x in enumerate(f)]
    runs[3]["flags"] = [{"kind": "high_background"}]
    ref = reference_run(runs)
    f_ref, s_ref, method = reference_fraction(np.array(f), np.full(6, 0.04))
    assert method == ref.method == "median" and ref.f_ref == pytest.approx(f_ref) and ref.sigma_ref == s_ref
    assert ref.run["run"] == 6  # the ok run closest to the median 0.32 (runs 5 and 6 tie at 0.01: the newest)
    assert reference_run(runs, exclude=6).run["run"] == 5
    # enough runs marked good: the fraction and the run come from them
    for r in runs[:3]:
        r["good"] = True
    ref = reference_run(runs, config=FlagConfig(min_good_runs=3))
    assert ref.method == "good" and ref.run["good"] and ref.f_ref == pytest.approx(np.mean(f[:3]), abs=1e-9)
    assert ref.run["run"] == 1  # 0.30, closest to the good runs' mean 0.31
    # too few marked good (auto): the median rule, any ok run
    assert reference_run(runs, config=FlagConfig(min_good_runs=4)).method == "median"
    # reference='good' with nothing marked good falls back to the median, as no run could qualify otherwise
    for r in runs:
        r["good"] = False
    assert reference_run(runs, config=FlagConfig(reference="good")).method == "median"
    # a bad-fit p-value does not enter the sequence; nothing fitted: no reference
    assert reference_run([_run(1, 0.3, pvalue=1e-6)]) is None
    assert reference_run([_run(1, 0.3, fit_status=None)]) is None

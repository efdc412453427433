"""Templates remember the rates their fits assume; a run far from them gets a one-line RateWarning."""

import json
import warnings

import numpy as np
import pytest

from kamcore.errors import RateWarning
from kamcore.fit import FitConfig, Templates, fit_run
from kamcore.fit.templates import DEFAULT_RATES_PER_HOUR
from kamcore.fit.toy import ToyScoreModel
from kamcore.runs import RunSimConfig

MODEL = {"name": "toy", "kind": "toy", "digest": "0"}
DAY_S = 86400.0


@pytest.fixture(scope="module")
def toy_templates():
    toy, rng = ToyScoreModel(), np.random.default_rng(3)
    edges = np.linspace(0, 1, FitConfig().bins + 1)
    return toy, Templates.from_scores({k: toy.sample(k, 4000, rng) for k in FitConfig().components}, edges,
                                      model=MODEL)


def _run_scores(toy, n_per_day: float, seed: int):
    """Scores of one day-long run at ``n_per_day`` selected events with RunSimConfig's composition."""
    rng = np.random.default_rng(seed)
    comp = RunSimConfig().composition
    counts = {k: int(rng.poisson(n_per_day * f)) for k, f in comp.items()}
    return toy.run_scores(counts, rng)[0]


def test_default_rates_are_those_of_a_default_run_and_of_the_default_constraints():
    want = {k: round(v, 4) for k, v in RunSimConfig().expected_rates_per_hour().items()}
    assert DEFAULT_RATES_PER_HOUR == want
    for c, (rate, _) in FitConfig().constraints.items():
        assert rate == DEFAULT_RATES_PER_HOUR[c]


def test_old_files_load_with_the_default_rates_new_ones_keep_theirs(toy_templates, tmp_path):
    _, t = toy_templates
    t.save(tmp_path / "old.json")
    old = Templates.load(tmp_path / "old.json")
    assert "rates_per_hour" not in old.meta and old.rates_per_hour == DEFAULT_RATES_PER_HOUR
    assert old.fit_config().constraints == FitConfig().constraints
    rates = {k: v / 10 for k, v in DEFAULT_RATES_PER_HOUR.items()}
    new = Templates(t.edges, t.counts, MODEL, {"rates_per_hour": rates})
    new.save(tmp_path / "new.json")
    back = Templates.load(tmp_path / "new.json")
    assert json.loads((tmp_path / "new.json").read_text())["meta"]["rates_per_hour"] == rates
    assert back.rates_per_hour == rates
    assert back.fit_config().constraints["Xe136_2vbb"] == [rates["Xe136_2vbb"], 0.05]  # the fit follows the file
    assert back.expected_events(back.fit_config(), DAY_S) == pytest.approx(40.0, rel=1e-4)


def test_a_run_at_the_assumed_rate_fits_without_warning(toy_templates):
    toy, t = toy_templates
    with warnings.catch_warnings():
        warnings.simplefilter("error", RateWarning)
        res = fit_run(_run_scores(toy, 400.0, seed=1), t, livetime_s=DAY_S, run=7)
    assert res.status == "ok"
    assert t.check_rate(400 + 5 * 20, DAY_S, run=7) is None  # +5 sigma: a fluctuation, no warning


def test_a_run_at_a_tenth_of_the_rate_warns_once_naming_it(toy_templates):
    toy, t = toy_templates
    scores = _run_scores(toy, 40.0, seed=2)
    with pytest.warns(RateWarning) as got:
        fit_run(scores, t, livetime_s=DAY_S, run=17)
    assert len(got) == 1
    msg = str(got[0].message)
    assert msg.startswith(f"run 17: {len(scores)} events in 86400 s") and "assume 400.0" in msg and "\n" not in msg
    # the same run with its own rates in the constraints, or no constraints: nothing assumed wrongly
    own = t.fit_config(constraints={c: [r / 10, rel] for c, (r, rel) in FitConfig().constraints.items()})
    with warnings.catch_warnings():
        warnings.simplefilter("error", RateWarning)
        fit_run(scores, t, own, livetime_s=DAY_S, run=17)
        fit_run(scores, t, t.fit_config(constraints={}), livetime_s=DAY_S, run=17)


def test_a_background_excess_below_twice_the_rate_stays_silent(toy_templates):
    _, t = toy_templates
    assert t.check_rate(640, DAY_S, run=3) is None  # 214Bi x3 (convection): 1.6x the events, 12 sigma
    with pytest.warns(RateWarning, match="run 4: 150 events in 3600 s"):
        assert t.check_rate(150, 3600.0, run=4) is not None  # the run: 150 events in an hour, 9x

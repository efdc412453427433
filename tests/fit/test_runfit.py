"""Run fits on toy score distributions: recovery of known yields, pulls, errors."""

import numpy as np
import pytest

from kamcore.errors import ConfigError, EventFileError, SchemaError, ScoreError
from kamcore.fit import (DEFAULT_COMPONENTS, FitConfig, RunFit, Templates, ToyScoreModel, fit_histogram, fit_run,
                         score_edges)

FRACTIONS = {"Xe136_2vbb": 0.55, "Solar_nu": 0.05, "Bi214": 0.15, "Bi214_film": 0.15, "C10": 0.10}
MODEL = {"name": "toy", "kind": "toy", "digest": "0123456789abcdef"}


@pytest.fixture(scope="module")
def toy():
    return ToyScoreModel()


@pytest.fixture(scope="module")
def templates(toy):
    rng = np.random.default_rng(11)
    return Templates.from_scores({k: toy.sample(k, 40_000, rng) for k in DEFAULT_COMPONENTS},
                                 score_edges(FitConfig()), model=MODEL)


def _toy_run(toy, rng, n=400, strength=1.0):
    mu = {k: n * f * (strength if k in ("Bi214", "Bi214_film") else 1.0) for k, f in FRACTIONS.items()}
    scores, _ = toy.run_scores({k: rng.poisson(v) for k, v in mu.items()}, rng)
    return scores, mu


def test_fit_recovers_known_yields_within_errors(toy, templates):
    rng = np.random.default_rng(1)
    # a large run: every yield measurable; free fit (no constraints)
    mu = {k: 20_000 * f for k, f in FRACTIONS.items()}
    counts = sum(rng.poisson(v * toy.expected(k, templates.edges)) for k, v in mu.items())
    r = fit_histogram(counts, templates, templates.fit_config(constraints={}), run=5)
    assert r.valid and r.status == "ok" and r.run == 5 and r.ndof == 20 - 5
    for k, v in mu.items():
        assert abs(r.yields[k] - v) < 4 * r.errors[k], (k, r.yields[k], v, r.errors[k])
    f_true = 0.40
    assert abs(r.bkg_fraction - f_true) < 3 * r.bkg_fraction_err
    assert 1e-3 < r.pvalue <= 1.0
    np.testing.assert_allclose(np.sqrt(np.diag(r.covariance)), [r.errors[k] for k in r.components], rtol=1e-6)


def test_background_fraction_pulls_are_standard_normal(toy, templates):
    rng = np.random.default_rng(2)
    cfg = templates.fit_config()
    pulls = []
    for _ in range(60):
        scores, mu = _toy_run(toy, rng)
        r = fit_run(scores, templates, cfg, livetime_s=86400.0)
        assert r.valid
        pulls.append((r.bkg_fraction - 0.40) / r.bkg_fraction_err)
    pulls = np.array(pulls)
    assert abs(pulls.mean()) < 0.45 and 0.6 < pulls.std() < 1.4, (pulls.mean(), pulls.std())


def test_constraints_need_livetime_and_small_runs_are_not_fitted(toy, templates):
    rng = np.random.default_rng(3)
    scores, _ = _toy_run(toy, rng, n=100)
    with pytest.raises(ConfigError, match="live time"):
        fit_run(scores, templates, templates.fit_config(), run=9)
    r = fit_run(scores[:5], templates, templates.fit_config(), livetime_s=3600.0)
    assert r.status == "too_few_events" and not r.valid and np.isnan(r.bkg_fraction)


def test_binning_and_component_mismatch_are_errors(templates):
    with pytest.raises(ConfigError, match="templates have 20 bins"):
        fit_histogram(np.ones(20), templates, FitConfig(bins=10, constraints={}))
    with pytest.raises(ConfigError, match=r"no template for component\(s\) \['I130'\]"):
        fit_histogram(np.ones(20), templates, FitConfig(components=["Xe136_2vbb", "I130"], background=["I130"],
                                                        constraints={}))
    with pytest.raises(ConfigError, match="background"):
        FitConfig(background=["Th228"]).validate()
    with pytest.raises(ConfigError, match="shape"):
        fit_histogram(np.ones(7), templates, templates.fit_config(constraints={}))


def test_runfit_dict_round_trip(toy, templates):
    rng = np.random.default_rng(4)
    scores, _ = _toy_run(toy, rng)
    r = fit_run(scores, templates, templates.fit_config(), livetime_s=86400.0, run=3)
    back = RunFit.from_dict(r.to_dict())
    assert back.yields == r.yields and back.bkg_fraction == r.bkg_fraction
    np.testing.assert_array_equal(back.covariance, r.covariance)


def test_templates_file_round_trip(tmp_path, templates):
    path = templates.save(tmp_path / "t.json")
    back = Templates.load(path)
    assert back.digest == templates.digest and back.model == MODEL
    for k in templates.components:
        np.testing.assert_array_equal(back.counts[k], templates.counts[k])
    (tmp_path / "bad.json").write_text('{"format": "other"}')
    with pytest.raises(SchemaError, match="bad.json"):
        Templates.load(tmp_path / "bad.json")
    with pytest.raises(EventFileError, match="missing.json"):
        Templates.load(tmp_path / "missing.json")


def test_toy_model_matches_paper_rejections(toy):
    for k, r in {"Solar_nu": 0.098, "Bi214": 0.271, "Bi214_film": 0.596, "C10": 0.40}.items():
        assert toy.rejection(k) == pytest.approx(r, abs=1e-6)


def test_fitted_counts_stack_to_the_fitted_expectation(toy, templates):
    from kamcore.fit import fitted_counts

    rng = np.random.default_rng(3)
    counts = sum(rng.poisson(20_000 * f * toy.expected(k, templates.edges)) for k, f in FRACTIONS.items())
    r = fit_histogram(counts, templates, templates.fit_config(constraints={}))
    parts = fitted_counts(r, templates)
    assert list(parts) == r.components
    for k, c in parts.items():  # each component keeps its template shape and carries its yield
        np.testing.assert_allclose(c.sum(), r.yields[k], rtol=1e-9)
        np.testing.assert_allclose(c / c.sum(), templates.counts[k] / templates.counts[k].sum(), rtol=1e-9)
    total = sum(parts.values())
    assert abs(total.sum() - counts.sum()) < 4 * np.sqrt(counts.sum())  # the stack describes the run
    empty = fit_histogram(np.zeros(templates.n_bins), templates, templates.fit_config())
    assert fitted_counts(empty, templates) == {}


@pytest.mark.parametrize("bad, words", [(float("nan"), "NaN or infinite"), (float("inf"), "NaN or infinite"),
                                        (1.5, "outside the templates' range"), (-0.01, "outside the templates' range")])
def test_a_nan_or_out_of_range_score_is_refused_not_dropped(toy, templates, bad, words):
    scores, _ = _toy_run(toy, np.random.default_rng(3))
    scores = np.array(scores, np.float64)
    scores[7] = bad
    with pytest.raises(ScoreError, match=words) as exc:
        fit_run(scores, templates, templates.fit_config(constraints={}))
    assert "\n" not in str(exc.value) and f"1 of {len(scores)}" in str(exc.value)
    # the edges themselves are inside
    scores[7] = templates.edges[-1]
    assert fit_run(scores, templates, templates.fit_config(constraints={})).n_events == len(scores)

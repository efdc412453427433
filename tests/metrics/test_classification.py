import numpy as np
import pytest
from scipy.stats import norm

from kamcore.metrics import (auc, mixed_sensitivity_factor, rejection_at_acceptance, roc_curve, sensitivity_factor,
                             threshold_at_acceptance)


def test_auc_matches_binormal_closed_form():
    rng = np.random.default_rng(0)
    s, b = rng.normal(1.0, 1.0, 20000), rng.normal(0.0, 1.0, 20000)
    assert auc(s, b) == pytest.approx(norm.cdf(1.0 / np.sqrt(2.0)), abs=0.01)
    # the trapezoid area of the ROC curve is the same number
    fpr, tpr, _ = roc_curve(s, b)
    assert np.trapezoid(tpr, fpr) == pytest.approx(auc(s, b), abs=1e-9)


def test_ties_and_identical_samples():
    x = np.array([0.5, 0.5, 0.5])
    assert auc(x, x) == 0.5
    assert auc(np.array([1.0]), np.array([0.0])) == 1.0


def test_rejection_at_acceptance_for_gaussians():
    rng = np.random.default_rng(1)
    s, b = rng.normal(1.0, 1.0, 50000), rng.normal(0.0, 1.0, 50000)
    c = threshold_at_acceptance(s, 0.9)
    assert (s >= c).mean() == pytest.approx(0.9, abs=1e-3)
    assert rejection_at_acceptance(s, b, 0.9) == pytest.approx(norm.cdf(1.0 + norm.ppf(0.1)), abs=0.01)
    # an inseparable source: rejection = 1 - acceptance
    assert rejection_at_acceptance(s, rng.normal(1.0, 1.0, 50000), 0.9) == pytest.approx(0.1, abs=0.01)
    with pytest.raises(ValueError, match="acceptance"):
        threshold_at_acceptance(s, 1.5)


def test_sensitivity_factors():
    # the paper's eq. 5: 30% rejection at 90% acceptance gives S = 1.076
    assert float(sensitivity_factor(0.9, 0.7)) == pytest.approx(1.076, abs=1e-3)
    assert float(sensitivity_factor(0.9, 0.81)) == pytest.approx(1.0)
    # eq. 6 reduces to eq. 5 without 2vbb-like background, and a cut that rejects nothing gains nothing
    assert float(mixed_sensitivity_factor(0.9, 0.7, f_long_lived=1.0)) == pytest.approx(0.9 / np.sqrt(0.7))
    assert float(mixed_sensitivity_factor(0.9, 0.9)) == pytest.approx(np.sqrt(0.9))
    assert float(mixed_sensitivity_factor(0.9, 0.7)) < float(sensitivity_factor(0.9, 0.7))
    assert np.isnan(sensitivity_factor(0.5, 0.0))


def test_weighted_auc_and_rejection_equal_repeating_events():
    rng = np.random.default_rng(3)
    s = rng.normal(1.0, 1.0, 200)
    b = np.round(rng.normal(0.0, 1.0, 50), 1)  # ties with each other
    w = rng.integers(0, 4, len(b))
    repeated = np.repeat(b, w)
    assert auc(s, b, w) == pytest.approx(auc(s, repeated), abs=1e-12)
    assert rejection_at_acceptance(s, b, 0.9, w) == pytest.approx(rejection_at_acceptance(s, repeated, 0.9))
    # unit weights are the unweighted figures
    assert auc(s, b, np.ones(len(b))) == pytest.approx(auc(s, b), abs=1e-12)

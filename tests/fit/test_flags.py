"""Run flags and periods: fire on an injected period, stay quiet on a clean sequence."""

import numpy as np
import pytest

from kamcore.errors import ConfigError
from kamcore.fit import FlagConfig, flag_sequence, reference_fraction
from kamcore.fit.flags import _cusum_segments


def _sequence(rng, n=120, period=None, shift=0.15, sigma=0.04, f0=0.40):
    f = f0 + sigma * rng.standard_normal(n)
    if period is not None:
        a, b = period
        f[a:b] += shift
    return np.arange(1000, 1000 + n), f, np.full(n, sigma)


@pytest.mark.parametrize("method", ["cusum", "bayesian_blocks"])
def test_injected_period_is_found(method):
    rng = np.random.default_rng(5)
    runs, f, err = _sequence(rng, period=(50, 56))
    res = flag_sequence(runs, f, err, config=FlagConfig(period_method=method))
    assert res.reference == "median" and abs(res.f_ref - 0.40) < 0.02
    assert res.flagged_runs("high_background") <= set(range(1050, 1056))
    found = [p for p in res.periods if p.method == method]
    assert len(found) == 1
    p = found[0]
    assert p.first_run <= 1051 and p.last_run >= 1054 and p.significance > 5
    assert any(p.method == "consecutive" for p in res.periods)


@pytest.mark.parametrize("method", ["cusum", "bayesian_blocks"])
def test_clean_sequence_is_quiet(method):
    rng = np.random.default_rng(6)
    runs, f, err = _sequence(rng, n=300)
    res = flag_sequence(runs, f, err, config=FlagConfig(period_method=method))
    assert res.periods == [] and res.flagged_runs() == set()


def test_bad_fits_and_unfitted_runs_are_flagged_and_left_out():
    rng = np.random.default_rng(7)
    runs, f, err = _sequence(rng, n=30)
    pvalue = np.full(30, 0.5)
    pvalue[3] = 1e-6
    valid = np.ones(30, bool)
    valid[4] = False
    f[5] = np.nan
    res = flag_sequence(runs, f, err, pvalue=pvalue, valid=valid)
    kinds = {(x.run, x.kind) for x in res.flags}
    assert kinds == {(1003, "bad_fit"), (1004, "bad_fit"), (1005, "not_fitted")}
    assert np.isnan(res.z[3:6]).all()


def test_reference_from_good_runs():
    f = np.array([0.3, 0.32, 0.28, 0.6, 0.31, 0.29])
    err = np.full(6, 0.02)
    good = np.array([1, 1, 1, 0, 1, 1], bool)
    ref, sig, kind = reference_fraction(f, err, good, FlagConfig(min_good_runs=5))
    assert kind == "good" and ref == pytest.approx(0.30) and sig == pytest.approx(0.02 / np.sqrt(5))
    ref, _, kind = reference_fraction(f, err, good, FlagConfig(min_good_runs=6))
    assert kind == "median"
    with pytest.raises(ConfigError, match="no fitted run is marked good"):
        reference_fraction(f, err, np.zeros(6, bool), FlagConfig(reference="good"))


def test_cusum_segment_runs_from_last_zero_to_peak():
    z = np.array([0, 0, 3, 3, 3, -3, -3, -3, 0, 0], float)
    assert _cusum_segments(z, 0.5, 5.0) == [(2, 4)]
    assert _cusum_segments(np.zeros(50), 0.5, 5.0) == []

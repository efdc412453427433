"""The studies' formulas against the KamNet paper's worked numbers, and their building blocks."""

import math

import numpy as np
import pytest

from kamcore.errors import ConfigError
from kamcore.metrics import mixed_sensitivity_factor
from kamcore.studies import (combined_gain, counting_sensitivity, des, exposure_gain, gamma_cascade_intensity, pearson,
                             sensitivity_curve, sensitivity_gain, signal_to_noise_after)
from kamcore.studies.excited import PAPER_EXCITED
from kamcore.studies.fiducial import FiducialConfig, crossing_radius, fiducial_expansion, fit_log_density, shell_density


def test_counting_sensitivity_is_the_papers_1076():
    # eq. 5: 90% signal kept, 30% background rejected
    assert round(float(counting_sensitivity(0.9, 0.3)), 3) == 1.076
    assert float(counting_sensitivity(1.0, 0.0)) == 1.0


def test_mixed_form_keeps_2vbb_like_background():
    # with no long-lived background the cut cannot help: S = sqrt(TPR) < 1
    assert float(mixed_sensitivity_factor(0.9, 0.5, 0.0)) == pytest.approx(math.sqrt(0.9))
    # eq. 6 at 90% acceptance needs the long-lived FPR below 1 - 0.418 * 0.1 / 0.582 ... for S > 1
    s = float(mixed_sensitivity_factor(0.9, 0.7, 0.582))
    assert s == pytest.approx(0.9 / math.sqrt(0.582 * 0.7 + 0.418 * 0.9))


def test_exposure_and_sensitivity_gain_match_the_paper():
    g = exposure_gain(157.0, 165.8)
    assert abs(g - 0.177) < 1e-3  # paper: +17.7% (exactly 17.78%)
    assert round(sensitivity_gain(0.177), 3) == 0.085  # paper: +8.5%
    assert abs(combined_gain(0.022, 0.085) - 0.108) < 1.5e-3  # paper: 10.8%
    assert exposure_gain(157.0, 157.0) == 0.0
    with pytest.raises(ConfigError, match="radii must be > 0"):
        exposure_gain(0.0, 100.0)


def test_des_is_the_papers_54_percent():
    p = PAPER_EXCITED
    assert round(des(p["efficiency_at_70"], p["branching_ratios"]), 3) == 0.540
    # the 0+1 state dominates the branching ratios
    assert des({"a": 0.2, "b": 0.9}, {"a": 1.0, "b": 0.0}) == pytest.approx(0.2)
    with pytest.raises(ConfigError, match="no efficiency"):
        des({"a": 0.5}, {"a": 1.0, "b": 1.0})


def test_signal_to_noise_after_cut():
    assert signal_to_noise_after(0.07, 1.0, 0.0, other_fraction=0.0) == pytest.approx(0.07)
    # the paper's inputs: 0.0691 x 0.54 / (0.99 x 0.30 + 0.01 x 0.56) = 0.1233 (paper, bin by bin: 0.1187)
    v = signal_to_noise_after(0.0691, 0.54, 0.7, other_fraction=0.01, other_efficiency=0.56)
    assert v == pytest.approx(0.1233, abs=2e-4) and abs(v / 0.1187 - 1) < 0.05


def test_sensitivity_curve_on_known_scores():
    rng = np.random.default_rng(0)
    sig = rng.uniform(0.3, 1.0, 2000)
    ll = {"a": rng.uniform(0.0, 1.0, 2000), "b": rng.uniform(0.0, 1.0, 2000)}
    c = sensitivity_curve(sig, ll, twovbb_scores=sig.copy(), n_thresholds=50)
    assert np.all(np.diff(c["tpr"]) <= 0) and np.all(np.diff(c["threshold"]) > 0)
    a = c["at_acceptance"]
    assert a["tpr"] == pytest.approx(0.9, abs=2e-3)
    # threshold 0.37: uniform [0,1] background keeps 63%
    assert a["fpr_long_lived"] == pytest.approx(1 - a["threshold"], abs=0.03)
    assert a["s_counting"] == pytest.approx(a["tpr"] / math.sqrt(a["fpr_long_lived"]))
    # measured FPR_2v = TPR reproduces the paper's assumption
    assert a["s_mixed_measured_2vbb"] == pytest.approx(a["s_mixed"], rel=1e-3)
    assert c["optimum"]["s_mixed"] >= a["s_mixed"]


def test_crossing_radius_recovers_a_known_profile():
    # density exp(r / 20 cm): a cut keeping half everywhere moves R1 by 20 ln 2 = 13.9 cm
    rng = np.random.default_rng(1)
    r = np.linspace(100, 200, 200_001)
    pdf = r ** 2 * np.exp(r / 20.0)
    sample = rng.choice(r, 400_000, p=pdf / pdf.sum())
    kept = rng.random(len(sample)) < 0.5
    prof = fiducial_expansion(sample, kept, FiducialConfig(r_fiducial_cm=157.0, r_min_cm=100.0, r_max_cm=200.0))
    assert prof["r_expanded_cm"] == pytest.approx(157.0 + 20 * math.log(2), abs=0.6)
    n, v = shell_density(sample, prof["edges_cm"])
    assert np.all(v > 0) and n.sum() == len(sample)
    assert crossing_radius(fit_log_density(n, v, prof["centres_cm"]), 1e30, 100, 200) is None


def test_gamma_cascade_intensity_reads_the_decay_tables():
    assert gamma_cascade_intensity("Xe136_0vbb")["gammas_per_decay"] == 0.0
    assert gamma_cascade_intensity("Xe136_2vbb_2+1")["gamma_mev_per_decay"] == pytest.approx(0.8185)
    c10 = gamma_cascade_intensity("C10")
    assert c10["gammas_per_decay"] == pytest.approx(1.0) and c10["annihilation_gammas_per_decay"] == pytest.approx(2.0)
    i130 = gamma_cascade_intensity("I130")
    assert i130["gammas_per_decay"] == pytest.approx(0.48 * 3 + 0.46 * 4 + 0.06 * 2)
    assert pearson([1, 2, 3], [2, 4, 6.5]) > 0.99 and pearson([1, 2], [1, 2]) is None

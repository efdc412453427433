"""Figures of merit of a signal/background classifier (DESIGN 6).

With scores ``s`` (higher = more signal-like) and a threshold ``c``:

    TPR(c) = P(s_sig >= c)      signal acceptance
    FPR(c) = P(s_bkg >= c)      background leakage;  rejection = 1 - FPR

* ROC: ``(FPR, TPR)`` over all thresholds; AUC = P(s_sig > s_bkg) + P(=)/2
  (Mann-Whitney), computed from ranks so ties are handled exactly.
* Rejection at a fixed signal acceptance (the papers use 90%): the threshold
  ``c`` is the ``1 - acceptance`` quantile of the signal scores, and the
  rejection is the fraction of background scores below it.
* Background weights ``w`` (e.g. Nhit reweighting to the signal's distribution,
  :func:`kamcore.preprocess.nhit_weights`) replace counts by sums of weights:
  ``FPR(c) = sum_j w_j [b_j >= c] / sum_j w_j`` and
  ``AUC = sum_j w_j P(s_sig > b_j) / sum_j w_j``.
* Sensitivity factor of a counting experiment ``S = TPR / sqrt(FPR)``; with a
  background split into long-lived spallation (fraction ``f_LL = 0.582``) and a
  2vbb-like part (``0.418``) that the cut treats like signal (``FPR_2v = TPR``):
  ``S = TPR / sqrt(f_LL FPR_LL + (1 - f_LL) TPR)`` (KamNet paper, sec. VI).

>>> auc(np.array([0.9, 0.8]), np.array([0.1, 0.2]))
1.0
"""

from __future__ import annotations

import numpy as np
from scipy.stats import rankdata

__all__ = ["roc_curve", "auc", "threshold_at_acceptance", "rejection_at_acceptance", "sensitivity_factor",
           "mixed_sensitivity_factor"]


def roc_curve(signal_scores: np.ndarray, background_scores: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(fpr, tpr, thresholds)``, from the strictest threshold to the loosest.

    Point ``i`` accepts scores ``>= thresholds[i]``; the curve starts at (0, 0).
    """
    s = np.asarray(signal_scores, np.float64)
    b = np.asarray(background_scores, np.float64)
    thr = np.unique(np.concatenate([s, b]))[::-1]
    tpr = 1.0 - np.searchsorted(np.sort(s), thr, side="left") / max(len(s), 1)
    fpr = 1.0 - np.searchsorted(np.sort(b), thr, side="left") / max(len(b), 1)
    return np.r_[0.0, fpr], np.r_[0.0, tpr], np.r_[np.inf, thr]


def auc(signal_scores: np.ndarray, background_scores: np.ndarray,
        background_weights: np.ndarray | None = None) -> float:
    """Area under the ROC curve, ``P(s_sig > s_bkg)`` with ties counted half (weighted background optional)."""
    s = np.asarray(signal_scores, np.float64)
    b = np.asarray(background_scores, np.float64)
    if len(s) == 0 or len(b) == 0:
        return float("nan")
    if background_weights is not None:
        w = np.asarray(background_weights, np.float64)
        if w.sum() <= 0:
            return float("nan")
        s_sorted = np.sort(s)
        above = len(s) - np.searchsorted(s_sorted, b, side="right")  # signal scores > b_j
        ties = np.searchsorted(s_sorted, b, side="right") - np.searchsorted(s_sorted, b, side="left")
        return float(np.sum(w * (above + 0.5 * ties)) / (len(s) * w.sum()))
    ranks = rankdata(np.concatenate([s, b]))
    u = ranks[: len(s)].sum() - len(s) * (len(s) + 1) / 2.0
    return float(u / (len(s) * len(b)))


def threshold_at_acceptance(signal_scores: np.ndarray, acceptance: float = 0.9) -> float:
    """Score threshold that keeps the fraction ``acceptance`` of the signal (scores ``>=`` it)."""
    if not 0.0 < acceptance <= 1.0:
        raise ValueError(f"acceptance must be in (0, 1], got {acceptance}")
    s = np.sort(np.asarray(signal_scores, np.float64))
    k = int(np.floor((1.0 - acceptance) * len(s)))
    return float(s[min(k, len(s) - 1)])


def rejection_at_acceptance(signal_scores: np.ndarray, background_scores: np.ndarray,
                            acceptance: float = 0.9, background_weights: np.ndarray | None = None) -> float:
    """Fraction of background below the threshold that keeps ``acceptance`` of the signal (weighted optional)."""
    c = threshold_at_acceptance(signal_scores, acceptance)
    b = np.asarray(background_scores, np.float64)
    if not len(b):
        return float("nan")
    if background_weights is None:
        return float((b < c).mean())
    w = np.asarray(background_weights, np.float64)
    return float(np.sum(w * (b < c)) / w.sum()) if w.sum() > 0 else float("nan")


def sensitivity_factor(tpr: np.ndarray, fpr: np.ndarray) -> np.ndarray:
    """``TPR / sqrt(FPR)`` (NaN where FPR = 0)."""
    tpr, fpr = np.asarray(tpr, np.float64), np.asarray(fpr, np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(fpr > 0, tpr / np.sqrt(fpr), np.nan)


def mixed_sensitivity_factor(tpr: np.ndarray, fpr_long_lived: np.ndarray, f_long_lived: float = 0.582) -> np.ndarray:
    """``TPR / sqrt(f_LL FPR_LL + (1 - f_LL) TPR)`` (KamNet paper: 58.2% long-lived spallation)."""
    tpr, fpr = np.asarray(tpr, np.float64), np.asarray(fpr_long_lived, np.float64)
    denom = f_long_lived * fpr + (1.0 - f_long_lived) * tpr
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(denom > 0, tpr / np.sqrt(denom), np.nan)

"""Run flags and high-background periods from a sequence of run fits.

Reference.  The background fraction expected of a quiet run, ``f_ref +-
sigma_ref``: either the inverse-variance weighted mean of the runs marked good,

    f_ref = sum_i w_i f_i / sum_i w_i,   w_i = 1 / sigma_i^2,   sigma_ref = (sum_i w_i)^(-1/2),

or (no or too few good runs) the robust baseline of all validly fitted runs:
``f_ref = median(f_i)``, ``sigma_ref = 1.2533 s / sqrt(n)`` with ``s`` the
normal-consistent median absolute deviation
(:func:`scipy.stats.median_abs_deviation`, ``scale="normal"``); 1.2533 =
sqrt(pi/2) is the efficiency loss of the median for Gaussian data.  The median
ignores a minority of high runs, so a convection period does not pull its
own reference up.

Run flags.  Each validly fitted run gets the excess significance

    z_i = (f_i - f_ref) / sqrt(sigma_i^2 + sigma_ref^2),

and is flagged ``high_background`` when ``z_i > n_sigma``.  A fit that is not
valid, or has ``p < min_pvalue``, is flagged ``bad_fit``; a run too small to fit
is flagged ``not_fitted``.  Neither of the last two enter the sequence below.

Periods (``method`` of each :class:`Period`):

* ``consecutive``: ``min_consecutive`` or more consecutive ``high_background``
  runs;
* ``cusum`` (Page 1954): the one-sided CUSUM ``S_i = max(0, S_{i-1} + z_i - k)``
  raises an alarm when ``S_i > h``.  With ``k = 0.5`` and ``h = 5`` its average
  run length between false alarms on pure N(0, 1) noise is ~900 runs, and a
  shift of ``delta`` sigma is found after about ``(h + 1.166) / (delta - k)``
  runs (Siegmund's approximation).  The period starts after the last ``S = 0``
  before the alarm and ends at the maximum of ``S`` in that excursion;
* ``bayesian_blocks`` (Scargle et al. 2013, :func:`astropy.stats.bayesian_blocks`
  with ``fitness="measures"`` on ``(run index, f_i, sigma_i)`` and false-alarm
  probability ``p0`` per change point): the optimal piecewise-constant
  segmentation; blocks above the reference are the candidates.

Every period carries the significance of its mean excess,

    Z = (fbar - f_ref) / sqrt(1 / sum_i w_i + sigma_ref^2),   fbar = sum_i w_i f_i / sum_i w_i,

over its runs, and change-point candidates are kept only when ``Z >=
period_n_sigma``.
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np
from scipy import stats

from ..errors import ConfigError
from .config import FlagConfig
from .runfit import RunFit

__all__ = ["RunFlag", "Period", "FlagResult", "reference_fraction", "flag_sequence", "flag_fits",
           "unphysical_components"]


@dataclasses.dataclass(frozen=True)
class RunFlag:
    """One flag on one run: ``kind`` is ``high_background``, ``bad_fit`` or ``not_fitted``."""

    run: int
    kind: str
    significance: float
    reason: str


@dataclasses.dataclass(frozen=True)
class Period:
    """A high-background period: runs ``first_run..last_run`` (inclusive) found by ``method``."""

    method: str
    first_run: int
    last_run: int
    n_runs: int
    start_ns: int | None
    stop_ns: int | None
    mean_fraction: float
    significance: float


def run_range(first_run: int, last_run: int, dash: str = "-") -> str:
    """The runs ``first_run..last_run`` (inclusive) as text: ``"run 7"`` for one run, else ``"runs 7-9"``.

    ``dash`` joins the two numbers (``"&ndash;"`` in HTML).

    >>> run_range(7, 7), run_range(7, 9), run_range(7, 9, dash="&ndash;")
    ('run 7', 'runs 7-9', 'runs 7&ndash;9')
    """
    return f"run {first_run}" if first_run == last_run else f"runs {first_run}{dash}{last_run}"


@dataclasses.dataclass
class FlagResult:
    """Reference, per-run significances, flags and periods of a run sequence."""

    runs: np.ndarray
    z: np.ndarray
    f_ref: float
    sigma_ref: float
    reference: str
    flags: list
    periods: list

    def flagged_runs(self, kind: str | None = None) -> set[int]:
        """Run numbers with a flag (of ``kind``)."""
        return {f.run for f in self.flags if kind is None or f.kind == kind}


def reference_fraction(f: np.ndarray, err: np.ndarray, good: np.ndarray | None = None,
                       config: FlagConfig | None = None) -> tuple[float, float, str]:
    """``(f_ref, sigma_ref, "good" | "median")`` from fitted fractions ``f``, errors ``err`` ``(n,)``."""
    config = config or FlagConfig()
    f, err = np.asarray(f, np.float64), np.asarray(err, np.float64)
    if len(f) == 0:
        raise ConfigError("no validly fitted runs to build the reference background fraction from")
    good = np.zeros(len(f), bool) if good is None else np.asarray(good, bool)
    use_good = config.reference == "good" or (config.reference == "auto" and good.sum() >= config.min_good_runs)
    if use_good:
        if not good.any():
            raise ConfigError("FlagConfig.reference='good' but no fitted run is marked good")
        w = 1.0 / err[good] ** 2
        return float(np.sum(w * f[good]) / w.sum()), float(w.sum() ** -0.5), "good"
    s = float(stats.median_abs_deviation(f, scale="normal")) if len(f) > 1 else float(err[0])
    if not s > 0:
        s = float(np.median(err))
    return float(np.median(f)), float(np.sqrt(np.pi / 2) * s / np.sqrt(len(f))), "median"


def _segment_z(f, err, f_ref, sigma_ref):
    w = 1.0 / err ** 2
    fbar = float(np.sum(w * f) / w.sum())
    return fbar, float((fbar - f_ref) / np.sqrt(1.0 / w.sum() + sigma_ref ** 2))


def _cusum_segments(z: np.ndarray, k: float, h: float) -> list[tuple[int, int]]:
    segs, s, start, i = [], 0.0, 0, 0
    n = len(z)
    while i < n:
        s = max(0.0, s + z[i] - k)
        if s == 0.0:
            start = i + 1
        elif s > h:  # alarm: follow the excursion to its peak
            peak_s, peak = s, i
            j = i + 1
            while j < n:
                s = max(0.0, s + z[j] - k)
                if s == 0.0:
                    break
                if s > peak_s:
                    peak_s, peak = s, j
                j += 1
            segs.append((start, peak))
            s, start, i = 0.0, j + 1, j + 1
            continue
        i += 1
    return segs


def _bb_segments(f: np.ndarray, err: np.ndarray, p0: float) -> list[tuple[int, int]]:
    from astropy.stats import bayesian_blocks

    if len(f) < 2:
        return [(0, len(f) - 1)] if len(f) else []
    t = np.arange(len(f), dtype=np.float64)
    edges = bayesian_blocks(t, f, err, fitness="measures", p0=p0)
    idx = np.searchsorted(t, edges, side="left")
    idx[-1] = len(f)
    return [(int(a), int(b) - 1) for a, b in zip(idx[:-1], idx[1:]) if b > a]


def _consecutive(mask: np.ndarray, min_len: int) -> list[tuple[int, int]]:
    segs, i, n = [], 0, len(mask)
    while i < n:
        if mask[i]:
            j = i
            while j + 1 < n and mask[j + 1]:
                j += 1
            if j - i + 1 >= min_len:
                segs.append((i, j))
            i = j + 1
        else:
            i += 1
    return segs


def flag_sequence(runs: Sequence[int], f: np.ndarray, err: np.ndarray, *, pvalue: np.ndarray | None = None,
                  valid: np.ndarray | None = None, good: np.ndarray | None = None,
                  start_ns: np.ndarray | None = None, stop_ns: np.ndarray | None = None,
                  config: FlagConfig | None = None) -> FlagResult:
    """Flag runs and find periods in a sequence ordered by run number (see module docstring).

    Parameters
    ----------
    runs : (n,) int
        Run numbers (sorted here).
    f, err : (n,) float
        Fitted background fractions and errors; NaN for runs that were not fitted.
    pvalue : (n,) float, optional
        Goodness-of-fit p-values.
    valid : (n,) bool, optional
        Fit validity (default: finite ``f`` and ``err > 0``).
    good : (n,) bool, optional
        Runs marked good by the shift crew (reference).
    start_ns, stop_ns : (n,) int, optional
        Run start/stop times, copied into the periods.
    config : FlagConfig, optional

    Returns
    -------
    FlagResult
    """
    config = config or FlagConfig()
    runs = np.asarray(runs, np.int64)
    n = len(runs)
    order = np.argsort(runs, kind="stable")

    def arr(x, default, dtype):
        return np.full(n, default, dtype) if x is None else np.asarray(x, dtype)[order]

    runs = runs[order]
    f, err = np.asarray(f, np.float64)[order], np.asarray(err, np.float64)[order]
    pvalue = arr(pvalue, 1.0, np.float64)
    fitted = np.isfinite(f) & np.isfinite(err) & (err > 0)
    valid = fitted & arr(valid, True, bool)
    good = arr(good, False, bool)
    start = arr(start_ns, -1, np.int64)
    stop = arr(stop_ns, -1, np.int64)
    bad = fitted & (~valid | (pvalue < config.min_pvalue))
    use = valid & ~bad
    flags: list[RunFlag] = []
    for i in np.flatnonzero(~fitted):
        flags.append(RunFlag(int(runs[i]), "not_fitted", float("nan"), "too few events or no fit"))
    for i in np.flatnonzero(bad):
        why = "fit not valid" if not valid[i] else f"p-value {pvalue[i]:.2g} < {config.min_pvalue:g}"
        flags.append(RunFlag(int(runs[i]), "bad_fit", float("nan"), why))
    z = np.full(n, np.nan)
    periods: list[Period] = []
    if not use.any():
        return FlagResult(runs, z, float("nan"), float("nan"), "none", flags, periods)
    f_ref, s_ref, ref_kind = reference_fraction(f[use], err[use], good[use] if good is not None else None, config)
    z[use] = (f[use] - f_ref) / np.sqrt(err[use] ** 2 + s_ref ** 2)
    for i in np.flatnonzero(use & (z > config.n_sigma)):
        flags.append(RunFlag(int(runs[i]), "high_background", float(z[i]),
                             f"f = {f[i]:.3f} +- {err[i]:.3f} vs reference {f_ref:.3f} ({ref_kind}): "
                             f"{z[i]:.1f} sigma"))
    idx = np.flatnonzero(use)  # the sequence: validly fitted runs in run order
    fs, es, zs = f[idx], err[idx], z[idx]

    def period(method, a, b):
        sel = idx[a:b + 1]
        fbar, zz = _segment_z(f[sel], err[sel], f_ref, s_ref)
        return Period(method, int(runs[sel[0]]), int(runs[sel[-1]]), int(len(sel)),
                      int(start[sel[0]]) if start[sel[0]] >= 0 else None,
                      int(stop[sel[-1]]) if stop[sel[-1]] >= 0 else None, fbar, zz)

    for a, b in _consecutive(zs > config.n_sigma, config.min_consecutive):
        periods.append(period("consecutive", a, b))
    if config.period_method == "cusum":
        segs = _cusum_segments(zs, config.cusum_k, config.cusum_h)
    else:
        segs = _bb_segments(fs, es, config.bb_p0)
    for a, b in segs:
        p = period(config.period_method, a, b)
        if p.significance >= config.period_n_sigma:
            periods.append(p)
    flags.sort(key=lambda x: (x.run, x.kind))
    return FlagResult(runs, z, f_ref, s_ref, ref_kind, flags, periods)


def flag_fits(fits: Sequence[RunFit], *, good: Sequence[bool] | None = None,
              start_ns: Sequence[int] | None = None, stop_ns: Sequence[int] | None = None,
              config: FlagConfig | None = None) -> FlagResult:
    """:func:`flag_sequence` on :class:`RunFit` results (their ``run`` must be set)."""
    if any(r.run is None for r in fits):
        raise ConfigError("every RunFit needs its run number to be flagged")
    return flag_sequence([r.run for r in fits], np.array([r.bkg_fraction for r in fits]),
                         np.array([r.bkg_fraction_err for r in fits]), pvalue=np.array([r.pvalue for r in fits]),
                         valid=np.array([r.valid for r in fits]), good=good, start_ns=start_ns, stop_ns=stop_ns,
                         config=config)


def unphysical_components(yields: dict, errors: dict, n_sigma: float = 2.0) -> list[str]:
    """Components whose fitted yield is negative by more than ``n_sigma`` of its error (an expected
    number of events cannot be negative; within errors it may fluctuate below zero, see
    :mod:`kamcore.fit.runfit`).  Missing or NaN values are ignored.

    >>> unphysical_components({"Bi214": -52.0, "C10": -3.0}, {"Bi214": 20.0, "C10": 5.0})
    ['Bi214']
    """
    out = []
    for k, y in yields.items():
        e = errors.get(k)
        if y is None or e is None or not np.isfinite(y) or not np.isfinite(e):
            continue
        if y < -n_sigma * e:
            out.append(k)
    return out


"""Per-run template fit of the score histogram: yields, background fraction, goodness of fit.

Model.  A run's selected events give the score histogram ``n_i`` (``i = 0..K-1``,
the templates' bins).  Its expectation is a mixture of the components ``k``,

    mu_i = sum_k nu_k t_k,i / sum_j t_k,j,

with the yields ``nu_k >= 0`` (expected events of component ``k`` in the run)
the fitted parameters and ``t_k,i`` the Monte Carlo template counts.  The cost is
:class:`iminuit.cost.Template` with the pinned method of :class:`FitConfig`
("da": one profiled nuisance parameter per bin accounts for the templates' own
Monte Carlo statistics).  Components with an external rate measurement get
``+ NormalConstraint(nu_k, r_k T, s_k r_k T)`` (``T``: the run's live time in
hours; ``r_k``, ``s_k`` from ``FitConfig.constraints``).  Bins where every
template is empty are masked (they carry no information and would otherwise be
counted in the degrees of freedom).

Minimisation.  MIGRAD (strategy ``FitConfig.strategy``, retried once with
strategy 2 when the minimum is invalid), then HESSE for the covariance ``C`` of
the yields.

Background fraction.  ``f = B / N`` with ``B = sum_{k in background} nu_k``,
``N = sum_k nu_k``; its variance ``sigma_f^2 = J C J^T`` by linear error
propagation with the exact Jacobian ``J_k = df/dnu_k = (1[k in bkg] - f) / N``
(``iminuit.util.propagate`` does the same numerically but is deprecated in
favour of the ``jacobi`` package, which we do not need for a ratio).

Yields are not bounded below: a yield may fluctuate negative (the expectation
per bin stays positive because 2vbb dominates), which keeps the estimator of
``f`` unbiased and its HESSE error Gaussian; with ``nu_k >= 0`` limits the
weakly separated Bi214 yield sits at the limit in a fair fraction of runs and
the pull of ``f`` widens to ~1.6 (measured on toys).

Goodness of fit.  For "da" and "jsc" the minimum value of the Template cost
is asymptotically chi-square distributed (Baker & Cousins transform of the
profiled likelihood ratio); a constraint adds its own ``((nu - m)/s)^2``.  The
p-value is ``P(chi2_ndof >= fval)`` (:func:`scipy.stats.chi2.sf`) with
``ndof = Minuit.ndof`` = unmasked bins + constraints - fitted yields.  With a
few hundred events per run and ~20 bins the asymptotic distribution is only
approximate; ``benchmarks/bench_runfit.py`` measures how often clean toy runs
fall below ``FlagConfig.min_pvalue``.
"""

from __future__ import annotations

import dataclasses
import logging
import time
import warnings

import numpy as np
from iminuit import Minuit
from iminuit.cost import NormalConstraint, Template
from scipy import stats

from ..errors import ConfigError, ScoreError
from .config import FitConfig
from .templates import Templates

__all__ = ["RunFit", "fit_run", "fit_histogram", "score_histogram", "fitted_counts"]

log = logging.getLogger(__name__)


@dataclasses.dataclass
class RunFit:
    """Result of one run fit.

    Attributes
    ----------
    run : int or None
        Run number.
    n_events : int
        Events in the score histogram (within ``[score_min, score_max]``).
    components : list of str
        Fitted components, in parameter order.
    yields, errors : dict of str -> float
        Fitted yields ``nu_k`` (expected events in the run) and their HESSE errors.
    covariance : (M, M) float64
        HESSE covariance of the yields (NaN when the fit was not done).
    bkg_fraction, bkg_fraction_err : float
        ``f = B/N`` and ``sigma_f`` (see module docstring); NaN when not fitted.
    fval : float
        Minimum of the cost (chi-square-like).
    ndof : int
        Degrees of freedom of ``fval``.
    pvalue : float
        ``P(chi2_ndof >= fval)``.
    valid : bool
        MIGRAD converged to a valid minimum and HESSE gave an accurate covariance.
    status : str
        ``"ok"``, ``"invalid"`` (fit failed) or ``"too_few_events"``.
    nfcn : int
        Cost evaluations.
    seconds : float
        Wall time of the fit.
    """

    run: int | None
    n_events: int
    components: list
    yields: dict
    errors: dict
    covariance: np.ndarray
    bkg_fraction: float
    bkg_fraction_err: float
    fval: float
    ndof: int
    pvalue: float
    valid: bool
    status: str
    nfcn: int = 0
    seconds: float = 0.0

    def to_dict(self) -> dict:
        """JSON-ready dict (NaN as None)."""
        def clean(x):
            return None if isinstance(x, float) and not np.isfinite(x) else x
        d = dataclasses.asdict(self)
        d["covariance"] = [[clean(float(v)) for v in row] for row in np.asarray(self.covariance)]
        for k in ("bkg_fraction", "bkg_fraction_err", "fval", "pvalue"):
            d[k] = clean(float(d[k]))
        d["yields"] = {k: clean(float(v)) for k, v in self.yields.items()}
        d["errors"] = {k: clean(float(v)) for k, v in self.errors.items()}
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "RunFit":
        """Inverse of :meth:`to_dict`."""
        d = dict(d)
        nan = float("nan")
        d["covariance"] = np.array([[nan if v is None else v for v in row] for row in d["covariance"]], np.float64)
        for k in ("bkg_fraction", "bkg_fraction_err", "fval", "pvalue"):
            d[k] = nan if d[k] is None else float(d[k])
        d["yields"] = {k: nan if v is None else v for k, v in d["yields"].items()}
        d["errors"] = {k: nan if v is None else v for k, v in d["errors"].items()}
        return cls(**d)


def fitted_counts(fit: "RunFit", templates: Templates) -> dict[str, np.ndarray]:
    """Expected events per score bin of each fitted component, ``nu_k t_k,i / sum_j t_k,j`` (module docstring).

    Returns ``{component: (K,) float64}`` in the fit's component order; an empty
    dict when the run was not fitted.  Summed over components this is the fitted
    ``mu_i`` that the run's histogram is compared with (what a stacked plot shows).
    """
    out = {}
    for k in fit.components:
        nu = fit.yields.get(k, np.nan)
        t = templates.counts.get(k)
        if t is None or not np.isfinite(nu) or t.sum() <= 0:
            continue
        out[k] = float(nu) * t / t.sum()
    return out


def score_histogram(scores: np.ndarray, templates: Templates) -> np.ndarray:
    """``(K,) float64`` histogram of ``scores`` on the templates' edges.

    Raises :class:`~kamcore.errors.ScoreError` when a score is NaN or infinite or lies outside
    ``[edges[0], edges[-1]]``: such events would silently leave the fit (``np.histogram``
    drops them), and the run's yields with them.
    """
    s = np.asarray(scores, np.float64).reshape(-1)
    bad = ~np.isfinite(s)
    if bad.any():
        raise ScoreError(f"{int(bad.sum())} of {len(s)} scores are NaN or infinite (first at index "
                         f"{int(np.flatnonzero(bad)[0])}): the model's output is broken")
    lo, hi = float(templates.edges[0]), float(templates.edges[-1])
    out = (s < lo) | (s > hi)
    if out.any():
        raise ScoreError(f"{int(out.sum())} of {len(s)} scores lie outside the templates' range [{lo:g}, {hi:g}] "
                         f"(min {s.min():g}, max {s.max():g}): scores and templates are not of one model")
    return np.histogram(s, bins=templates.edges)[0].astype(np.float64)


def _not_fitted(run, n, comps, status) -> RunFit:
    nan = float("nan")
    m = len(comps)
    return RunFit(run, int(n), list(comps), {c: nan for c in comps}, {c: nan for c in comps},
                  np.full((m, m), nan), nan, nan, nan, 0, nan, False, status)


def fit_histogram(counts: np.ndarray, templates: Templates, config: FitConfig | None = None, *,
                  livetime_s: float | None = None, run: int | None = None) -> RunFit:
    """Fit a score histogram ``counts`` ``(K,)`` (events per template bin) with the templates.

    Parameters
    ----------
    counts : (K,) array
        Events per bin of ``templates.edges``.
    templates : Templates
        Monte Carlo templates scored by the same model as the run.
    config : FitConfig, optional
        Default ``templates.fit_config()``; its binning must match the templates.
    livetime_s : float, optional
        Run live time, s; required when ``config.constraints`` is not empty.
    run : int, optional
        Run number, copied into the result.

    Returns
    -------
    RunFit

    Raises
    ------
    ConfigError
        Binning or components do not match the templates, a constraint without
        ``livetime_s``, or a histogram of the wrong shape.
    """
    config = (config or templates.fit_config()).validate()
    templates.check_binning(config)
    counts = np.asarray(counts, np.float64)
    if counts.shape != (templates.n_bins,):
        raise ConfigError(f"score histogram has shape {counts.shape}, templates need ({templates.n_bins},)")
    comps = list(config.components)
    n = float(counts.sum())
    if n < config.min_events:
        return _not_fitted(run, n, comps, "too_few_events")
    if config.constraints and (livetime_s is None or not np.isfinite(livetime_s) or livetime_s <= 0):
        raise ConfigError(f"run {run}: FitConfig.constraints {sorted(config.constraints)} need the run's live time, "
                          f"got {livetime_s!r}")
    templates.check_rate(n, livetime_s, config, run=run)  # RateWarning: constraints of another rate
    t0 = time.perf_counter()
    tpl = [templates.counts[c] for c in comps]
    cost = Template(counts, templates.edges, tpl, name=comps, method=config.method)
    cost.mask = np.sum(tpl, axis=0) > 0
    start = {c: n / len(comps) for c in comps}
    for c, (rate_h, rel) in config.constraints.items():
        mean = float(rate_h) * float(livetime_s) / 3600.0
        cost = cost + NormalConstraint(c, mean, max(rel * mean, 1e-3))
        start[c] = max(mean, 0.5)
    free = n - sum(start[c] for c in config.constraints)
    for c in comps:
        if c not in config.constraints:
            start[c] = max(free / max(len(comps) - len(config.constraints), 1), 0.5)

    m = Minuit(cost, **start)
    for c in comps:
        m.limits[c] = (None, None)  # Template's default (0, inf) removed: see module docstring
    m.strategy = config.strategy
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # iminuit's warnings about the limits and HESSE are reflected in `valid`
        m.migrad()
        if not m.valid:
            m.strategy = 2
            m.migrad()
        m.hesse()
    valid = bool(m.valid and m.accurate)
    nu = np.array([m.values[c] for c in comps])
    cov = np.array(m.covariance, np.float64) if m.covariance is not None else np.full((len(comps),) * 2, np.nan)
    bkg = np.array([c in config.background for c in comps], np.float64)

    total = nu.sum()
    f = float(np.dot(bkg, nu) / total)
    jac = (bkg - f) / total
    f_cov = float(jac @ cov @ jac)
    ndof = int(m.ndof)
    fval = float(m.fval)
    pvalue = float(stats.chi2.sf(fval, ndof)) if ndof > 0 else float("nan")
    result = RunFit(run, int(n), comps, {c: float(v) for c, v in zip(comps, nu)},
                    {c: float(m.errors[c]) for c in comps}, cov, float(f), float(np.sqrt(max(float(f_cov), 0.0))),
                    fval, ndof, pvalue, valid, "ok" if valid else "invalid", int(m.nfcn),
                    time.perf_counter() - t0)
    log.debug("run %s: f = %.3f +- %.3f, chi2/ndof = %.1f/%d, valid %s", run, f, result.bkg_fraction_err,
              fval, ndof, valid)
    return result


def fit_run(scores: np.ndarray, templates: Templates, config: FitConfig | None = None, *,
            livetime_s: float | None = None, run: int | None = None) -> RunFit:
    """Fit the scores ``(N,)`` of one run's selected events; see :func:`fit_histogram`.

    ``scores`` may be a :class:`kamcore.models.Scores`: then the templates must come from
    the same model (:meth:`Templates.check_model`) and its run's number and live time are
    used unless given.  A NaN, infinite or out-of-range score raises
    :class:`~kamcore.errors.ScoreError` (:func:`score_histogram`).

    >>> import numpy as np
    >>> from kamcore.fit.toy import ToyScoreModel
    >>> toy, rng = ToyScoreModel(), np.random.default_rng(1)
    >>> edges = np.linspace(0, 1, 21)
    >>> t = Templates.from_scores({k: toy.sample(k, 20000, rng) for k in ("Xe136_2vbb", "Bi214_film")}, edges,
    ...                           model={"name": "toy", "kind": "toy", "digest": "0"})
    >>> s, _ = toy.run_scores({"Xe136_2vbb": 700, "Bi214_film": 300}, rng)
    >>> r = fit_run(s, t, t.fit_config(components=["Xe136_2vbb", "Bi214_film"], background=["Bi214_film"],
    ...                                constraints={}))
    >>> r.valid, abs(r.bkg_fraction - 0.3) < 3 * r.bkg_fraction_err
    (True, True)
    """
    if hasattr(scores, "identity") and hasattr(scores, "score"):  # kamcore.models.Scores: model, run, live time
        templates.check_model(scores)
        info = scores.run_info or {}
        livetime_s = info.get("livetime_s") if livetime_s is None else livetime_s
        run = info.get("run") if run is None else run
        scores = scores.score
    return fit_histogram(score_histogram(scores, templates), templates, config, livetime_s=livetime_s, run=run)

"""Run fits: score templates, per-run template fits, run flags and high-background periods (DESIGN 7).

* :mod:`~kamcore.fit.config` -- :class:`FitConfig`, :class:`FlagConfig`;
* :mod:`~kamcore.fit.templates` -- :class:`Templates` (score histograms of Monte
  Carlo per component, with the model that scored them);
* :mod:`~kamcore.fit.runfit` -- :func:`fit_run` (``iminuit.cost.Template`` +
  ``NormalConstraint``, MIGRAD + HESSE) -> :class:`RunFit`;
* :mod:`~kamcore.fit.flags` -- :func:`flag_fits` / :func:`flag_sequence`
  (reference, N-sigma run flags, consecutive-run, CUSUM and Bayesian-blocks
  periods) -> :class:`FlagResult`;
* :mod:`~kamcore.fit.toy` -- :class:`ToyScoreModel`, paper-calibrated score
  shapes for tests and benchmarks.
"""

from .config import DEFAULT_BACKGROUND, DEFAULT_COMPONENTS, FitConfig, FlagConfig
from .flags import FlagResult, Period, RunFlag, flag_fits, flag_sequence, reference_fraction, run_range
from .runfit import RunFit, fit_histogram, fit_run, fitted_counts, score_histogram
from .templates import Templates, model_identity, score_edges
from .toy import ToyScoreModel

__all__ = [
    "FitConfig", "FlagConfig", "DEFAULT_COMPONENTS", "DEFAULT_BACKGROUND",
    "Templates", "model_identity", "score_edges",
    "RunFit", "fit_run", "fit_histogram", "score_histogram", "fitted_counts",
    "RunFlag", "Period", "FlagResult", "flag_fits", "flag_sequence", "reference_fraction", "run_range",
    "ToyScoreModel",
]

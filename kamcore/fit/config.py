"""Configuration of the run fits (:class:`FitConfig`) and of the run flags (:class:`FlagConfig`).

Both are ``param.Parameterized`` classes shared by the library, the command line
(``kamcore runs fit``) and the dashboard; both serialise to JSON and are stored
with every catalog entry they produced.

Choices and why
---------------
* ``method = "da"``: :class:`iminuit.cost.Template` offers three treatments of
  the templates' own Monte Carlo statistics.  "da" (Dembinski & Abdelmotteleb,
  arXiv:2206.12346) profiles one nuisance parameter per bin analytically (a
  Barlow-Beeston-lite likelihood generalised to weights); its paper finds it the
  best overall in bias and coverage, and its minimum value is asymptotically
  chi-square distributed, which gives the goodness-of-fit p-value.  "jsc"
  (Conway, arXiv:1103.0354) is the other chi-square-like option.  "asy" is not
  offered: its minimum is a marginalised negative log-likelihood, not a test
  statistic.  iminuit warns that its default may change, so we pin it.
* ``constraints``: the 2vbb and solar-nu score shapes are the same (both single
  vertex), C10 overlaps Bi214, and Bi214 in the XeLS is only weakly separated
  from 2vbb (27% rejection at 90% acceptance), so a free five-yield fit is
  nearly degenerate: on toy runs of 400 events the background fraction comes
  out with sigma_f ~ 0.12, too coarse to see a doubling of Bi214.  As in the
  KamLAND-Zen analyses, the 2vbb rate (measured half-life and Xe mass), the
  solar-nu rate (8B flux) and the C10 rate (spallation tagging) are known from
  outside the run; each enters as an :class:`iminuit.cost.NormalConstraint` on
  the yield, ``nu_k ~ N(r_k T, s_k r_k T)`` with ``r_k`` the rate in the
  selection (events per hour), ``T`` the run's live time (hours) and ``s_k``
  the relative uncertainty; sigma_f drops to ~0.04.  The defaults equal the
  rates of :class:`kamcore.runs.RunSimConfig`'s defaults (400 events per 24 h
  run: 55% 2vbb -> 9.1667/h, 5% solar nu -> 0.8333/h, 10% C10 -> 1.6667/h),
  with 5%, 10% and 20% uncertainty.  Change them with the rates of your
  selection (``kamcore runs fit --constraint NAME:RATE_PER_H:REL``); an empty
  dict gives the free fit.

>>> FitConfig.from_json(FitConfig(bins=10).to_json()).bins
10
"""

from __future__ import annotations


import param

from ..config import JsonConfig
from ..errors import ConfigError

__all__ = ["FitConfig", "FlagConfig", "DEFAULT_COMPONENTS", "DEFAULT_BACKGROUND"]

#: the fitted components: beta-like (2vbb, solar nu) and background-like (DESIGN 7)
DEFAULT_COMPONENTS = ["Xe136_2vbb", "Solar_nu", "Bi214", "Bi214_film", "C10"]
#: the components counted in the background fraction
DEFAULT_BACKGROUND = ["Bi214", "Bi214_film", "C10"]


class FitConfig(JsonConfig):
    """How a run's score histogram is fitted (binning, components, method, constraints)."""

    bins = param.Integer(default=20, bounds=(2, 1000), doc="Number of score bins of templates and run histograms.")
    score_min = param.Number(default=0.0, bounds=(0.0, 1.0), doc="Lower edge of the score histogram.")
    score_max = param.Number(default=1.0, bounds=(0.0, 1.0), doc="Upper edge of the score histogram.")
    components = param.List(default=list(DEFAULT_COMPONENTS), item_type=str,
                            doc="Template components fitted (names of Monte Carlo sources).")
    background = param.List(default=list(DEFAULT_BACKGROUND), item_type=str,
                            doc="Components counted in the background fraction.")
    method = param.Selector(default="da", objects=["da", "jsc"], doc=(
        "iminuit.cost.Template method for the templates' MC statistics (pinned; see module docstring)."))
    constraints = param.Dict(default={"Xe136_2vbb": [9.1667, 0.05], "Solar_nu": [0.8333, 0.10],
                                      "C10": [1.6667, 0.20]}, doc=(
        "component -> [rate in the selection, events per hour; relative 1-sigma uncertainty]; "
        "a Gaussian constraint on the yield, scaled by the run's live time."))
    min_events = param.Integer(default=20, bounds=(1, None), doc="Runs with fewer selected events are not fitted.")
    strategy = param.Integer(default=1, bounds=(0, 2), doc="MIGRAD strategy of the first attempt (2 on retry).")

    def validate(self) -> "FitConfig":
        """Check the relations between parameters; raise ConfigError naming the parameter."""
        if not self.score_min < self.score_max:
            raise ConfigError(f"FitConfig: score_min ({self.score_min}) must be < score_max ({self.score_max})")
        if len(set(self.components)) != len(self.components) or len(self.components) < 1:
            raise ConfigError(f"FitConfig.components must be distinct names, got {self.components}")
        extra = sorted(set(self.background) - set(self.components))
        if extra:
            raise ConfigError(f"FitConfig.background {extra} are not fitted components {self.components}")
        for k, v in self.constraints.items():
            if k not in self.components:
                raise ConfigError(f"FitConfig.constraints: {k!r} is not a fitted component {self.components}")
            if (not isinstance(v, (list, tuple)) or len(v) != 2 or not all(isinstance(x, (int, float)) for x in v)
                    or v[0] < 0 or v[1] <= 0):
                raise ConfigError(f"FitConfig.constraints[{k!r}] must be [rate_per_hour >= 0, relative_sigma > 0], "
                                  f"got {v!r}")
        return self


class FlagConfig(JsonConfig):
    """When a run is flagged and how high-background periods are found."""

    n_sigma = param.Number(default=3.0, bounds=(0.0, None), doc=(
        "A run is flagged when its background fraction exceeds the reference by more than this many sigma."))
    min_pvalue = param.Number(default=1e-3, bounds=(0.0, 1.0), doc="A fit with a smaller p-value is flagged bad.")
    reference = param.Selector(default="auto", objects=["auto", "good", "median"], doc=(
        "Reference background fraction: weighted mean of runs marked good, robust median of all fitted runs, "
        "or auto (good runs when there are at least min_good_runs, else median)."))
    min_good_runs = param.Integer(default=5, bounds=(1, None), doc="Good runs needed for reference='auto'.")
    min_consecutive = param.Integer(default=2, bounds=(1, None), doc=(
        "Consecutive high-background runs that make a period on their own."))
    period_method = param.Selector(default="cusum", objects=["cusum", "bayesian_blocks"], doc=(
        "Change-point method over the run sequence (see kamcore.fit.flags)."))
    period_n_sigma = param.Number(default=3.0, bounds=(0.0, None), doc=(
        "A candidate period is kept when its mean excess over the reference is this significant."))
    cusum_k = param.Number(default=0.5, bounds=(0.0, None), doc="CUSUM allowance k, in units of sigma per run.")
    cusum_h = param.Number(default=5.0, bounds=(0.0, None), doc="CUSUM decision threshold h, in units of sigma.")
    bb_p0 = param.Number(default=0.01, bounds=(1e-12, 1.0), doc=(
        "Bayesian blocks: false-alarm probability per change point (astropy's p0)."))

"""A toy model of per-component score distributions, calibrated to the KamNet paper.

For tests and benchmarks of the fits and flags no classifier is needed: each
component's score ``s in [0, 1]`` is drawn from a Beta distribution,

    s ~ Beta(a_k, b),    b = 2,

with the signal-like reference ``Xe136_2vbb`` at ``a = 5``.  The cut ``c`` that
keeps 90% of 2vbb (``F_2vbb(c) = 0.1``) defines each background's rejection
``F_k(c)``; ``a_k`` is solved (:func:`scipy.optimize.brentq`) so that the
rejections equal the KamNet paper's (arXiv:2203.01870, Sec. V.A and Table I,
KamLAND-Zen 800 simulation): solar nu 9.8%, Bi214 in the XeLS 27.1%, Bi214 on
the film 59.6%, C10 40.0%.  The shapes are a stand-in for scores of a trained
model, chosen only to separate the components as much as KamNet does.

>>> toy = ToyScoreModel()
>>> round(toy.rejection("Bi214_film"), 3)
0.596
"""

from __future__ import annotations

import functools

import numpy as np
from scipy import optimize, stats

from ..errors import ConfigError

__all__ = ["ToyScoreModel", "PAPER_REJECTION"]

#: rejection at 90% 2vbb acceptance (KamNet paper, Sec. V.A text and Table I)
PAPER_REJECTION = {"Xe136_2vbb": 0.10, "Solar_nu": 0.098, "Bi214": 0.271, "Bi214_film": 0.596, "C10": 0.400}

_B = 2.0
_A_SIGNAL = 5.0


@functools.lru_cache(maxsize=None)
def _beta_a(rejection: float) -> float:
    cut = stats.beta.ppf(0.10, _A_SIGNAL, _B)
    return float(optimize.brentq(lambda a: stats.beta.cdf(cut, a, _B) - rejection, 0.05, 50.0, xtol=1e-10))


class ToyScoreModel:
    """Beta-distributed scores per component (see module docstring).

    Parameters
    ----------
    rejection : dict, optional
        component -> rejection at 90% 2vbb acceptance; default :data:`PAPER_REJECTION`.
    """

    def __init__(self, rejection: dict[str, float] | None = None):
        self._rejection = dict(PAPER_REJECTION if rejection is None else rejection)
        for k, r in self._rejection.items():
            if not 0.0 < r < 1.0:
                raise ConfigError(f"ToyScoreModel: rejection of {k!r} must be in (0, 1), got {r}")

    @property
    def components(self) -> list[str]:
        """Names of the modelled components."""
        return list(self._rejection)

    def _dist(self, component: str):
        if component not in self._rejection:
            raise ConfigError(f"ToyScoreModel: unknown component {component!r}; known: {self.components}")
        return stats.beta(_beta_a(self._rejection[component]), _B)

    def rejection(self, component: str) -> float:
        """Fraction of ``component`` below the cut keeping 90% of Xe136_2vbb."""
        cut = stats.beta.ppf(0.10, _A_SIGNAL, _B)
        return float(self._dist(component).cdf(cut))

    def sample(self, component: str, n: int, rng: np.random.Generator) -> np.ndarray:
        """``(n,) float32`` scores of ``component`` drawn with ``rng``."""
        return self._dist(component).rvs(size=int(n), random_state=rng).astype(np.float32)

    def expected(self, component: str, edges: np.ndarray) -> np.ndarray:
        """``(K,) float64`` probability of each bin ``[edges[i], edges[i+1])``."""
        return np.diff(self._dist(component).cdf(np.asarray(edges, np.float64)))

    def run_scores(self, counts: dict[str, int], rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Scores ``(N,) float32`` and sources ``(N,) object`` of a run with ``counts`` events per component."""
        parts = [(self.sample(k, n, rng), np.full(int(n), k, dtype=object)) for k, n in counts.items()]
        if not parts:
            return np.zeros(0, np.float32), np.zeros(0, dtype=object)
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])

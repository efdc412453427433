"""Monte Carlo against a generator on one seed: both samples, their four distributions and the metrics.

:func:`compare_generator` simulates ``n`` events of a source with the fast Monte Carlo
(:func:`kamcore.sim.simulate`, by default Xe136 0vbb with visible energy in 2-3 MeV and
vertex radius below 157 cm, the generators' training selection), generates ``n`` events
with the generator on the same seed, and compares the four distributions of
:mod:`kamcore.metrics.generative` (``time`` ns and ``charge`` p.e. per point-cloud hit,
``nhit`` and ``total_charge`` p.e. per event) with the histogram IoU ``J`` (eq. 4) and the
normalised Wasserstein distance ``R`` (eq. 5).  ``J = 1`` and ``R = 0`` for identical
distributions.  The result is a :class:`SampleComparison` a server can cache and a
display only draws.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from .generative import ALL_QUANTITIES, event_observables, histogram_iou, normalised_wasserstein

__all__ = ["SampleComparison", "compare_generator"]


@dataclasses.dataclass(frozen=True, eq=False)
class SampleComparison:
    """A Monte Carlo and a generated sample of one seed and how they compare.

    Attributes
    ----------
    source : the simulated source (``"Xe136_0vbb"``)
    seed : seed of the simulation and of the generation
    mc, generated : :class:`kamcore.Events` of ``n`` events each (generated: proper times)
    observables_mc, observables_gen : ``{quantity: (M,) float64}`` (:func:`event_observables`)
    metrics : ``{quantity: {"iou": J, "wd": R}}``
    generator : the generator checkpoint's JSON (``model`` kind, ``preset``, ...)
    """

    source: str
    seed: int
    mc: object
    generated: object
    observables_mc: dict
    observables_gen: dict
    metrics: dict
    generator: dict

    def histograms(self, bins: int = 50) -> dict:
        """``{quantity: (edges (bins+1,), fraction_mc (bins,), fraction_gen (bins,))}``: unit-normalised
        histograms on ``bins`` equal bins over the Monte Carlo range, generated values outside it counted
        in the first or last bin; a quantity without Monte Carlo values is left out."""
        out = {}
        for k in ALL_QUANTITIES:
            a, b = self.observables_mc[k], self.observables_gen[k]
            if not len(a):
                continue
            edges = np.histogram_bin_edges(a, bins, range=(float(a.min()), float(a.max())))
            ha = np.histogram(a, edges)[0] / max(len(a), 1)
            hb = np.histogram(np.clip(b, edges[0], edges[-1]), edges)[0] / max(len(b), 1)
            out[k] = (edges, ha, hb)
        return out


def compare_generator(generator, n_events: int, seed: int = 0, *, source: str = "Xe136_0vbb",
                      energy_window_mev: tuple[float, float] = (2.0, 3.0), max_radius_cm: float = 157.0,
                      pmts=None) -> SampleComparison:
    """Simulate and generate ``n_events`` events of seed ``seed`` and compare them (module docstring).

    Parameters
    ----------
    generator : :class:`kamcore.models.Generator` (:func:`kamcore.models.load_generator`), or anything with
        its ``generate(n, seed=..., pmts=...) -> Events`` and ``meta``
    n_events : events per sample
    seed : seed of both samples
    source, energy_window_mev, max_radius_cm : the Monte Carlo selection (MeV of visible energy, cm)
    pmts : PMTTable, optional
    """
    from ..sim import simulate

    mc = simulate(source, int(n_events), seed=int(seed), energy_window_mev=tuple(energy_window_mev),
                  max_radius_cm=float(max_radius_cm), pmts=pmts)
    gen = generator.generate(int(n_events), seed=int(seed), pmts=pmts)
    om, og = event_observables(mc, pmts), event_observables(gen, pmts)
    metrics = {k: {"iou": histogram_iou(om[k], og[k]), "wd": normalised_wasserstein(om[k], og[k])} for k in om}
    return SampleComparison(source, int(seed), mc, gen, om, og, metrics, dict(generator.meta))

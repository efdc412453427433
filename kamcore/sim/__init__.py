"""The fast Monte Carlo: decays -> particles -> energy deposits -> PMT hits.

Modules, one concept each: :mod:`~kamcore.sim.config` (:class:`SimConfig`),
:mod:`~kamcore.sim.spectra` (beta, 2vbb and 8B spectra),
:mod:`~kamcore.sim.sources` (the source registry), :mod:`~kamcore.sim.transport`
(Compton transport of gammas), :mod:`~kamcore.sim.detector` (light, PMTs,
electronics), :mod:`~kamcore.sim.streams` (batch-size independent random
streams) and :mod:`~kamcore.sim.generator` (:func:`simulate`).

>>> ev = simulate("Xe136_0vbb", 3, seed=0)
>>> len(ev), ev.source[0], round(float(ev.energy_mev[0]), 3)
(3, 'Xe136_0vbb', 2.458)
"""

from .config import SimConfig
from .generator import DEFAULT_START_NS, simulate, simulate_at
from .sources import SOURCES, Particles, Source, get_source, list_sources
from .transport import Deposits

__all__ = [
    "SimConfig",
    "simulate",
    "simulate_at",
    "list_sources",
    "get_source",
    "SOURCES",
    "Source",
    "Particles",
    "Deposits",
    "DEFAULT_START_NS",
]

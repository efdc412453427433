"""Configuration of the run simulation (:class:`RunSimConfig`) and convection periods.

A simulated run of live time ``T`` (``run_duration_s``) holds, for each component
``k`` (a Monte Carlo source), ``n_k ~ Poisson(mu_k)`` selected events with

    mu_k = events_per_run * composition[k] * S_r(k),

``S_r(k) = STRENGTH`` when run ``r`` lies in a convection period and ``k`` is one
of ``convection_components``, else 1.  The composition is a choice (DESIGN 7
names the components, not their rates): 2vbb dominates the 2.0-3.0 MeV window,
Bi214 in the XeLS and leaking in from the film are the next, then C10 and
solar-nu electrons.  By default a convection period raises both Bi214
components: convection pulls 214Bi off the balloon film into the XeLS (KamNet
paper Sec. V.B), where it decays either still near the film or already mixed
in.

>>> c = RunSimConfig(events_per_run=100)
>>> round(c.expected_rates_per_hour()["C10"], 4)
0.4167
>>> parse_convection("5:3:2.5")
ConvectionPeriod(start_run=5, length=3, strength=2.5)
"""

from __future__ import annotations

import dataclasses

import param

from ..config import JsonConfig
from ..errors import ConfigError
from ..sim.generator import DEFAULT_START_NS

__all__ = ["RunSimConfig", "ConvectionPeriod", "parse_convection"]


@dataclasses.dataclass(frozen=True)
class ConvectionPeriod:
    """Runs ``start_run .. start_run + length - 1`` with the convection components scaled by ``strength``."""

    start_run: int
    length: int
    strength: float

    def __post_init__(self):
        if self.length < 1 or not self.strength > 0:
            raise ConfigError(f"convection period needs LENGTH >= 1 and STRENGTH > 0, got {self}")

    @property
    def runs(self) -> range:
        return range(self.start_run, self.start_run + self.length)


def parse_convection(text: str) -> ConvectionPeriod:
    """``"START:LENGTH:STRENGTH"`` (run number, runs, factor) -> :class:`ConvectionPeriod`."""
    parts = str(text).split(":")
    try:
        if len(parts) != 3:
            raise ValueError
        start, length, strength = int(parts[0]), int(parts[1]), float(parts[2])
    except ValueError:
        raise ConfigError(f"--convection wants START:LENGTH:STRENGTH (run number, number of runs, factor), "
                          f"got {text!r}") from None
    return ConvectionPeriod(start, length, strength)


class RunSimConfig(JsonConfig):
    """What a simulated sequence of runs contains (units in the names)."""

    events_per_run = param.Number(default=400.0, bounds=(0.0, None), doc=(
        "Mean number of selected events in a run without convection."))
    run_duration_s = param.Number(default=86400.0, bounds=(0.0, None), inclusive_bounds=(False, True),
                                  doc="Live time of each run, s.")
    gap_s = param.Number(default=600.0, bounds=(0.0, None), doc="Dead time between consecutive runs, s.")
    first_run = param.Integer(default=1, bounds=(0, None), doc="Run number of the first simulated run.")
    start_time_ns = param.Integer(default=DEFAULT_START_NS, bounds=(0, None), doc=(
        "Start of the first run, ns since the Unix epoch."))
    composition = param.Dict(default={"Xe136_2vbb": 0.55, "Solar_nu": 0.05, "Bi214": 0.15, "Bi214_film": 0.15,
                                      "C10": 0.10}, doc="Source -> fraction of a quiet run's selected events.")
    convection_components = param.List(default=["Bi214", "Bi214_film"], item_type=str, doc=(
        "Sources whose yield a convection period multiplies by its STRENGTH."))
    energy_min_mev = param.Number(default=2.0, bounds=(0.0, None), doc="Selection: visible energy >= this, MeV.")
    energy_max_mev = param.Number(default=3.0, bounds=(0.0, None), doc="Selection: visible energy < this, MeV.")
    max_radius_cm = param.Number(default=157.0, bounds=(0.0, None), doc=(
        "Selection: reconstructed vertex radius < this, cm (fiducial cut)."))
    vertex = param.Selector(default="fit", objects=["fit", "centroid"], doc=(
        "Reconstruction stored as vertex_cm and cut on: 'fit' (time likelihood) or 'centroid' (the old chain)."))

    def validate(self) -> "RunSimConfig":
        """Check the relations between parameters; raise ConfigError naming the parameter."""
        from ..sim import list_sources

        known = set(list_sources())
        bad = sorted(set(self.composition) - known)
        if bad:
            raise ConfigError(f"RunSimConfig.composition: unknown source(s) {bad}; known: {sorted(known)}")
        if any((not isinstance(v, (int, float))) or v < 0 for v in self.composition.values()):
            raise ConfigError(f"RunSimConfig.composition fractions must be >= 0, got {self.composition}")
        extra = sorted(set(self.convection_components) - set(self.composition))
        if extra:
            raise ConfigError(f"RunSimConfig.convection_components {extra} are not in the composition")
        if not self.energy_min_mev < self.energy_max_mev:
            raise ConfigError(f"RunSimConfig: energy_min_mev ({self.energy_min_mev}) must be < energy_max_mev "
                              f"({self.energy_max_mev})")
        return self

    def expected_rates_per_hour(self) -> dict[str, float]:
        """Source -> quiet-run rate in the selection, events per hour (for ``FitConfig.constraints``)."""
        hours = self.run_duration_s / 3600.0
        return {k: self.events_per_run * v / hours for k, v in self.composition.items()}



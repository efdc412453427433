"""Event sources of the fast Monte Carlo (DESIGN 3): decay vertex + primary particles.

A :class:`Source` pairs a vertex distribution (uniform in the XeLS balloon, or on
its surface for film sources) with an emitter that turns ``n`` decays into
primary particles (:class:`Particles`: type, kinetic energy, emission time,
start point, direction).  All sources are in the registry :data:`SOURCES`
(name -> Source); :func:`get_source` looks names up and :func:`list_sources`
gives one line per source.

Conventions: energies are kinetic, MeV; times are ns after the decay; every
particle starts at the decay vertex (betas, conversion products and positrons
travel only millimetres); directions are isotropic and independent (gamma-gamma
angular correlations are neglected), except that the two annihilation gammas
are back to back.  Nuclear levels de-excite promptly unless a branch gives a
level lifetime ``tau`` (then all its gammas are emitted together at
``t ~ Exp(tau)``).  A positron annihilates at its start point into two 511 keV
gammas: with probability ``ops_fraction`` after forming ortho-positronium
(``t ~ Exp(ops_lifetime_ns)``), otherwise at once (para-positronium and free
annihilation take < 0.5 ns; neglected).  After electron capture the atomic
K-shell binding energy is deposited at the vertex (X-rays and Auger electrons
are absorbed within millimetres).

Decay schemes (energies in keV; "choice" = simplified here, not evaluated data)
--------------------------------------------------------------------------------
* ``Xe136_0vbb``: two electrons sharing Q = 2457.8 keV (Redshaw et al., PRL 98
  (2007) 053003); the split is uniform (it does not matter: both deposit at the
  vertex).
* ``Xe136_2vbb``: summed electron energy from the Primakoff-Rosen spectrum
  (:mod:`kamcore.sim.spectra`), split uniformly.
* ``Xe136_2vbb_0+1``: 136Ba 0+1 level at 1579.0, electrons share Q - 1579.0;
  gammas 760.5 + 818.5.  ``_2+1``: level 818.5, gamma 818.5.  ``_2+2``: level
  1551.0, gammas 732.5 + 818.5 (60%) or 1551.0 (40%) (choice).
* ``Bi214`` (XeLS), ``Bi214_film`` (balloon, R = 190 cm) and ``Bi214_film_bottom`` (the
  balloon's bottom cap, :class:`BottomCap`: the generative paper's few-shot use case, an
  excess at the inner-balloon bottom): beta- to 214Po,
  Q = 3270 keV.  Branches (percent of decays -> level: gammas), built from the
  main ENSDF lines, other branches scaled so that the ground state stays 19.1%
  (choice; 609.3 keV then appears in 46% of decays, ENSDF 45.5%):

  ======  =======  ===================
  %       level    gammas
  ======  =======  ===================
  19.10   0        --
  2.26    609.3    609.3
  4.52    1377.7   1377.7
  5.54    1377.7   768.4, 609.3
  3.28    1729.6   1729.6
  16.84   1729.6   1120.3, 609.3
  17.29   1764.5   1764.5
  1.81    1764.5   1155.2, 609.3
  2.26    1847.4   1847.4
  6.55    1847.4   1238.1, 609.3
  5.54    2204.1   2204.1
  3.50    1543.4   934.1, 609.3
  2.71    2017.3   1408.0, 609.3
  2.37    2118.5   1509.2, 609.3
  1.69    2447.7   2447.7
  1.58    1890.3   1281.0, 609.3
  1.47    1415.5   806.2, 609.3
  1.69    1274.8   665.5, 609.3
  ======  =======  ===================

  The 214Po alpha (164 us later) is a separate event and is not simulated.
* ``C10``: beta+ (Q_EC = 3647.8 keV) to the 718.4 keV level of 10B (100%,
  choice; positron endpoint 1907 keV), level lifetime 1.02 ns (T1/2 = 0.707 ns),
  plus the annihilation gammas (ortho-positronium as above).
* ``Solar_nu``: one electron from :func:`kamcore.sim.spectra.b8_recoil_spectrum`.
* ``I130`` (beta-, Q = 2949): 48% -> 1944.1: 739.5, 668.5, 536.1;
  46% -> 2362.1: 418.0, 739.5, 668.5, 536.1; 6% -> 1693.6: 1157.5, 536.1 (choice).
* ``I124`` (EC/beta+, Q_EC = 3160): beta+ 11% -> 0; beta+ 12% -> 602.7: 602.7;
  EC 25% -> 0; EC 31% -> 602.7: 602.7; EC 10% -> 1325.5: 722.8, 602.7;
  EC 11% -> 2293.7: 1691.0, 602.7 (choice; Te K binding 31.8 keV).
* ``Sb118`` (EC/beta+, Q_EC = 3657): beta+ 74% -> 0; EC 23% -> 0;
  beta+ 1.5% -> 1229.7: 1229.7; EC 1.5% -> 1229.7: 1229.7 (choice; Sn K
  binding 29.2 keV).

>>> sorted(list_sources())[:3]
['Bi214', 'Bi214_film', 'Bi214_film_bottom']
"""

from __future__ import annotations

import dataclasses
import types
from typing import Callable, Protocol

import numpy as np

from ..errors import ConfigError
from .config import SimConfig
from .spectra import ELECTRON_MASS_MEV, TabulatedSpectrum, b8_recoil_spectrum, beta_spectrum, \
    two_nu_double_beta_spectrum
from .streams import BlockStreams

__all__ = [
    "Particles", "Source", "SOURCES", "get_source", "list_sources",
    "ELECTRON", "POSITRON", "GAMMA", "PARTICLE_NAMES",
    "Branch", "BetaCascade", "DoubleBeta", "SingleElectron", "UniformBall", "SphereSurface",
]

ELECTRON, POSITRON, GAMMA = 0, 1, 2  #: particle type codes
PARTICLE_NAMES = ("e-", "e+", "gamma")
ANNIHILATION_MEV = ELECTRON_MASS_MEV  #: energy of each annihilation gamma
XE136_Q_MEV = 2.45783  #: Redshaw et al., PRL 98 (2007) 053003


# --------------------------------------------------------------------------- particles
@dataclasses.dataclass
class Particles:
    """Primary particles of a batch of decays (``K`` particles in all).

    Attributes
    ----------
    event : (K,) int64
        Batch-local decay index, non-decreasing.
    kind : (K,) int8
        :data:`ELECTRON`, :data:`POSITRON` or :data:`GAMMA`.
    e_mev : (K,) float64
        Kinetic energy, MeV.
    t_ns : (K,) float64
        Emission time after the decay, ns.
    xyz_cm : (K, 3) float64
        Start point, cm.
    direction : (K, 3) float64
        Unit direction of flight.
    """

    event: np.ndarray
    kind: np.ndarray
    e_mev: np.ndarray
    t_ns: np.ndarray
    xyz_cm: np.ndarray
    direction: np.ndarray

    def __len__(self) -> int:
        return len(self.event)

    @classmethod
    def concat(cls, parts: list["Particles"]) -> "Particles":
        """Concatenate and order by event (stable: the order within an event is kept)."""
        cols = {f.name: np.concatenate([getattr(p, f.name) for p in parts]) for f in dataclasses.fields(cls)}
        order = np.argsort(cols["event"], kind="stable")
        return cls(**{k: v[order] for k, v in cols.items()})

    def energy_per_event(self, n: int) -> np.ndarray:
        """``(n,) float64`` summed kinetic energy of the particles of each decay, MeV."""
        return np.bincount(self.event, self.e_mev, minlength=n)


def isotropic(streams: BlockStreams, ev: np.ndarray) -> np.ndarray:
    """``(len(ev), 3)`` isotropic unit vectors (one per entry of ``ev``)."""
    u = streams.random(ev, (2,))
    cz = 2.0 * u[:, 0] - 1.0
    sz = np.sqrt(np.maximum(0.0, 1.0 - cz * cz))
    ph = 2.0 * np.pi * u[:, 1]
    return np.stack([sz * np.cos(ph), sz * np.sin(ph), cz], axis=1)


def _group(streams, vertices, ev, kind, e, t, direction=None) -> Particles:
    ev = np.asarray(ev, np.int64)
    if direction is None:
        direction = isotropic(streams, ev)
    return Particles(event=ev, kind=np.full(len(ev), kind, np.int8), e_mev=np.asarray(e, np.float64),
                     t_ns=np.asarray(t, np.float64), xyz_cm=vertices[ev], direction=direction)


def _annihilation(streams, vertices, ev_pos, t_pos, config: SimConfig) -> list[Particles]:
    """Two back-to-back 511 keV gammas per positron (ortho-positronium delay in a fraction)."""
    if len(ev_pos) == 0:
        return []
    u = streams.random(ev_pos, (2,))
    ops = u[:, 0] < config.ops_fraction
    t = t_pos + np.where(ops, -config.ops_lifetime_ns * np.log1p(-u[:, 1]), 0.0)
    d = isotropic(streams, ev_pos)
    ev2 = np.repeat(ev_pos, 2)
    dirs = np.stack([d, -d], axis=1).reshape(-1, 3)
    return [_group(streams, vertices, ev2, GAMMA, np.full(len(ev2), ANNIHILATION_MEV), np.repeat(t, 2), dirs)]


def _gamma_table(cascades: list[tuple[float, ...]]) -> np.ndarray:
    width = max([len(c) for c in cascades] + [1])
    table = np.zeros((len(cascades), width))
    for i, c in enumerate(cascades):
        table[i, :len(c)] = c
    return table


def _cascade_gammas(streams, vertices, choice: np.ndarray, table_mev: np.ndarray,
                    t_ns: np.ndarray) -> list[Particles]:
    """Gammas of cascade ``choice[i]`` (a row of ``table_mev``, MeV, 0 = none) for decay ``i``."""
    g = table_mev[choice]
    ev, slot = np.nonzero(g > 0)
    if len(ev) == 0:
        return []
    return [_group(streams, vertices, ev, GAMMA, g[ev, slot], t_ns[ev])]


def _categorical(u: np.ndarray, probs) -> np.ndarray:
    cdf = np.cumsum(np.asarray(probs, np.float64))
    return np.minimum(np.searchsorted(cdf / cdf[-1], u, side="right"), len(cdf) - 1)


# ---------------------------------------------------------------------------- emitters
class Emitter(Protocol):
    def emit(self, vertices: np.ndarray, streams: BlockStreams, config: SimConfig) -> Particles: ...


@dataclasses.dataclass(frozen=True)
class Branch:
    """One decay branch: mode, fed level and its de-excitation gammas (MeV).

    ``fraction`` is the share of decays; ``mode`` one of ``"beta-"``, ``"beta+"``,
    ``"ec"``; ``lifetime_ns`` the mean life of the fed level.
    """

    fraction: float
    mode: str
    level_mev: float
    gammas_mev: tuple[float, ...] = ()
    lifetime_ns: float = 0.0


@dataclasses.dataclass(frozen=True)
class BetaCascade:
    """Beta-, beta+ or EC decay feeding levels that de-excite by gamma cascades.

    The beta endpoint of a branch is ``Q - level`` (beta-) or
    ``Q_EC - 2 m_e - level`` (beta+); an EC branch deposits ``ec_binding_mev``.
    """

    q_mev: float
    z_daughter: int
    branches: tuple[Branch, ...]
    ec_binding_mev: float = 0.0

    def endpoint_mev(self, b: Branch) -> float:
        if b.mode == "beta-":
            return self.q_mev - b.level_mev
        if b.mode == "beta+":
            return self.q_mev - 2 * ELECTRON_MASS_MEV - b.level_mev
        return 0.0

    def emit(self, vertices, streams, config) -> Particles:
        n = len(vertices)
        u = streams.random(None, (3,))
        branch = _categorical(u[:, 0], [b.fraction for b in self.branches])
        energy = np.zeros(n)
        kind = np.full(n, -1, np.int8)
        codes = {"beta-": ELECTRON, "beta+": POSITRON, "ec": ELECTRON}
        for i, b in enumerate(self.branches):  # loop over the decay table, not over events
            sel = branch == i
            if b.mode == "ec":
                energy[sel] = self.ec_binding_mev
            else:
                spec = beta_spectrum(round(self.endpoint_mev(b), 6), self.z_daughter, b.mode == "beta+")
                energy[sel] = spec.sample(u[sel, 1])
            kind[sel] = codes[b.mode]
        lifetime = np.array([b.lifetime_ns for b in self.branches])[branch]
        t_level = -lifetime * np.log1p(-u[:, 2])
        parts = []
        for code in (ELECTRON, POSITRON):
            ev = np.flatnonzero((kind == code) & (energy > 0))
            parts.append(_group(streams, vertices, ev, code, energy[ev], np.zeros(len(ev))))
        ev_pos = np.flatnonzero(kind == POSITRON)
        parts += _annihilation(streams, vertices, ev_pos, np.zeros(len(ev_pos)), config)
        parts += _cascade_gammas(streams, vertices, branch, _gamma_table([b.gammas_mev for b in self.branches]),
                                 t_level)
        return Particles.concat(parts)


@dataclasses.dataclass(frozen=True)
class DoubleBeta:
    """136Xe double beta decay to a 136Ba level ``level_mev``, then ``cascades`` of gammas.

    ``neutrinos=False`` is 0vbb (electrons share exactly ``Q - level``),
    ``True`` is 2vbb (Primakoff-Rosen summed energy).  ``cascades`` are
    ``(fraction, gammas_mev)`` pairs.
    """

    neutrinos: bool
    level_mev: float = 0.0
    cascades: tuple[tuple[float, tuple[float, ...]], ...] = ((1.0, ()),)
    q_mev: float = XE136_Q_MEV

    def emit(self, vertices, streams, config) -> Particles:
        n = len(vertices)
        u = streams.random(None, (3,))
        q = self.q_mev - self.level_mev
        total = two_nu_double_beta_spectrum(round(q, 6)).sample(u[:, 0]) if self.neutrinos else np.full(n, q)
        ev = np.repeat(np.arange(n), 2)
        e = np.stack([u[:, 1] * total, (1 - u[:, 1]) * total], axis=1).reshape(-1)
        parts = [_group(streams, vertices, ev, ELECTRON, e, np.zeros(2 * n))]
        choice = _categorical(u[:, 2], [c[0] for c in self.cascades])
        parts += _cascade_gammas(streams, vertices, choice, _gamma_table([c[1] for c in self.cascades]),
                                 np.zeros(n))
        return Particles.concat(parts)


@dataclasses.dataclass(frozen=True)
class SingleElectron:
    """One electron per decay with kinetic energy from ``spectrum()``."""

    spectrum: Callable[[], TabulatedSpectrum]

    def emit(self, vertices, streams, config) -> Particles:
        n = len(vertices)
        e = self.spectrum().sample(streams.random())
        return _group(streams, vertices, np.arange(n), ELECTRON, e, np.zeros(n))


# ---------------------------------------------------------------------------- vertices
@dataclasses.dataclass(frozen=True)
class UniformBall:
    """Vertices uniform in the XeLS balloon, ``r = R u^(1/3)`` (``R = config.xels_radius_cm``)."""

    def sample(self, streams: BlockStreams, config: SimConfig) -> np.ndarray:
        ev = np.arange(streams.n_decays)
        r = config.xels_radius_cm * np.cbrt(streams.random())
        return r[:, None] * isotropic(streams, ev)


@dataclasses.dataclass(frozen=True)
class SphereSurface:
    """Vertices uniform on the XeLS balloon film, ``|r| = config.xels_radius_cm``."""

    def sample(self, streams: BlockStreams, config: SimConfig) -> np.ndarray:
        return config.xels_radius_cm * isotropic(streams, np.arange(streams.n_decays))


@dataclasses.dataclass(frozen=True)
class BottomCap:
    """Vertices uniform on the bottom cap of the XeLS balloon film: ``|r| = config.xels_radius_cm`` and
    polar angle from the south pole ``<= half_angle_deg`` (``z = -R cos(alpha)``, ``cos(alpha)``
    uniform in ``[cos(half_angle), 1]``, azimuth uniform).

    The KamLAND-Zen 800 excess sits at the bottom of the inner balloon; the 30 degree half angle
    (7% of the film's area) is our choice, not a measured extent.
    """

    half_angle_deg: float = 30.0

    def sample(self, streams: BlockStreams, config: SimConfig) -> np.ndarray:
        u = streams.random(np.arange(streams.n_decays), (2,))
        ca = 1.0 - u[:, 0] * (1.0 - np.cos(np.radians(self.half_angle_deg)))
        sa = np.sqrt(np.maximum(0.0, 1.0 - ca * ca))
        ph = 2.0 * np.pi * u[:, 1]
        return config.xels_radius_cm * np.stack([sa * np.cos(ph), sa * np.sin(ph), -ca], axis=1)


# ------------------------------------------------------------------------------ source
@dataclasses.dataclass(frozen=True)
class Source:
    """A named source: where decays happen and what they emit.

    Attributes
    ----------
    name, description : str
    emitter : object with ``emit(vertices, streams, config) -> Particles``
    vertex : object with ``sample(streams, config) -> (n, 3) float64`` cm
    topology : ``"single"`` (all energy at one point) or ``"multi"`` (gammas
        spread the energy over several Compton vertices)
    """

    name: str
    description: str
    emitter: Emitter
    vertex: UniformBall | SphereSurface | BottomCap
    topology: str

    def sample(self, streams: BlockStreams, config: SimConfig,
               position_cm: np.ndarray | None = None) -> tuple[np.ndarray, Particles]:
        """Vertices ``(n, 3) float64`` cm and particles of the ``n = streams.n_decays`` decays.

        ``position_cm`` ``(3,)`` fixes every vertex (the vertex draws are still
        made, so the particles do not depend on it).
        """
        vertices = self.vertex.sample(streams, config)
        if position_cm is not None:
            vertices = np.broadcast_to(np.asarray(position_cm, np.float64), vertices.shape).copy()
        return vertices, self.emitter.emit(vertices, streams, config)


def _bi214() -> BetaCascade:
    rows = [  # percent, level keV, gammas keV (module docstring table)
        (19.10, 0.0, ()), (2.26, 609.3, (609.3,)),
        (4.52, 1377.7, (1377.7,)), (5.54, 1377.7, (768.4, 609.3)),
        (3.28, 1729.6, (1729.6,)), (16.84, 1729.6, (1120.3, 609.3)),
        (17.29, 1764.5, (1764.5,)), (1.81, 1764.5, (1155.2, 609.3)),
        (2.26, 1847.4, (1847.4,)), (6.55, 1847.4, (1238.1, 609.3)),
        (5.54, 2204.1, (2204.1,)), (3.50, 1543.4, (934.1, 609.3)),
        (2.71, 2017.3, (1408.0, 609.3)), (2.37, 2118.5, (1509.2, 609.3)),
        (1.69, 2447.7, (2447.7,)), (1.58, 1890.3, (1281.0, 609.3)),
        (1.47, 1415.5, (806.2, 609.3)), (1.69, 1274.8, (665.5, 609.3)),
    ]
    return BetaCascade(3.270, 84, tuple(Branch(p / 100, "beta-", lvl / 1e3, tuple(g / 1e3 for g in gs))
                                        for p, lvl, gs in rows))


def _make_registry() -> types.MappingProxyType:
    ball, film = UniformBall(), SphereSurface()
    bi214 = _bi214()
    kev = 1e-3
    c10 = BetaCascade(3.6478, 5, (Branch(1.0, "beta+", 0.7184, (0.7184,), lifetime_ns=0.707 / np.log(2)),))
    i130 = BetaCascade(2.949, 54, (
        Branch(0.48, "beta-", 1.9441, (0.7395, 0.6685, 0.5361)),
        Branch(0.46, "beta-", 2.3621, (0.4180, 0.7395, 0.6685, 0.5361)),
        Branch(0.06, "beta-", 1.6936, (1.1575, 0.5361)),
    ))
    i124 = BetaCascade(3.160, 52, (
        Branch(0.11, "beta+", 0.0), Branch(0.12, "beta+", 0.6027, (0.6027,)),
        Branch(0.25, "ec", 0.0), Branch(0.31, "ec", 0.6027, (0.6027,)),
        Branch(0.10, "ec", 1.3255, (0.7228, 0.6027)), Branch(0.11, "ec", 2.2937, (1.6910, 0.6027)),
    ), ec_binding_mev=31.8 * kev)
    sb118 = BetaCascade(3.657, 50, (
        Branch(0.74, "beta+", 0.0), Branch(0.23, "ec", 0.0),
        Branch(0.015, "beta+", 1.2297, (1.2297,)), Branch(0.015, "ec", 1.2297, (1.2297,)),
    ), ec_binding_mev=29.2 * kev)
    sources = [
        Source("Xe136_0vbb", "136Xe 0vbb signal: two electrons sharing Q = 2.458 MeV at one point",
               DoubleBeta(neutrinos=False), ball, "single"),
        Source("Xe136_2vbb", "136Xe 2vbb to the ground state: summed-electron spectrum up to Q (single vertex)",
               DoubleBeta(neutrinos=True), ball, "single"),
        Source("Xe136_2vbb_0+1", "136Xe 2vbb to the 0+1 level of 136Ba: betas + 760.5 + 818.5 keV gammas",
               DoubleBeta(True, 1.5790, ((1.0, (0.7605, 0.8185)),)), ball, "multi"),
        Source("Xe136_2vbb_2+1", "136Xe 2vbb to the 2+1 level of 136Ba: betas + 818.5 keV gamma",
               DoubleBeta(True, 0.8185, ((1.0, (0.8185,)),)), ball, "multi"),
        Source("Xe136_2vbb_2+2", "136Xe 2vbb to the 2+2 level of 136Ba: betas + 732.5 + 818.5 or 1551 keV gammas",
               DoubleBeta(True, 1.5510, ((0.6, (0.7325, 0.8185)), (0.4, (1.5510,)))), ball, "multi"),
        Source("Bi214", "214Bi in the XeLS: beta- (Q = 3.27 MeV) + gamma cascade (609, 1120, 1764 keV ...)",
               bi214, ball, "multi"),
        Source("Bi214_film", "214Bi on the balloon film (R = 190 cm): beta- + gamma cascade",
               bi214, film, "multi"),
        Source("Bi214_film_bottom", "214Bi on the bottom cap of the balloon film (30 deg around the south pole): "
               "the few-shot 'unknown' background", bi214, BottomCap(), "multi"),
        Source("C10", "10C spallation: e+ (1.91 MeV endpoint) + delayed 718 keV gamma + 2x511 keV (o-Ps delay)",
               c10, ball, "multi"),
        Source("Solar_nu", "8B solar-neutrino elastic scattering: one recoil electron, flat-ish spectrum",
               SingleElectron(b8_recoil_spectrum), ball, "single"),
        Source("I130", "130I long-lived spallation: beta- (Q = 2.95 MeV) + 536/669/740 keV gammas",
               i130, ball, "multi"),
        Source("I124", "124I long-lived spallation: EC/beta+ (Q = 3.16 MeV) + 603 keV gamma",
               i124, ball, "multi"),
        Source("Sb118", "118Sb long-lived spallation: beta+ (2.64 MeV endpoint), rare 1230 keV gamma",
               sb118, ball, "multi"),
    ]
    return types.MappingProxyType({s.name: s for s in sources})


#: name -> :class:`Source` (read-only)
SOURCES = _make_registry()


def get_source(name: str) -> Source:
    """The registered source ``name``; :class:`~kamcore.errors.ConfigError` listing the known ones otherwise."""
    try:
        return SOURCES[name]
    except (KeyError, TypeError):
        raise ConfigError(f"unknown source {name!r}; known sources: {', '.join(SOURCES)}") from None


def list_sources() -> dict[str, str]:
    """``{name: one-line description}`` of every source, in registry order."""
    return {name: s.description for name, s in SOURCES.items()}

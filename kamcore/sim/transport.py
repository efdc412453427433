"""Transport of primary particles to energy deposits in the liquid scintillator.

Electrons and positrons deposit their kinetic energy at their start point (their
range is millimetres; quenching is neglected: deposits are visible energy).
Deposits of one event at the same point and time are merged (e.g. the two
0vbb electrons).

Gammas Compton-scatter.  For a gamma of energy ``E`` (``k = E / m_e``) the
Klein-Nishina cross-section per electron is

    sigma(k) = 2 pi r_e^2 { (1+k)/k^2 [2(1+k)/(1+2k) - ln(1+2k)/k]
                            + ln(1+2k)/(2k) - (1+3k)/(1+2k)^2 },

the mean free path ``lambda = 1 / (n_e sigma)`` with the LS electron density
``n_e = rho (Z/A) N_A = 0.78 * 0.55 * N_A = 2.58e23 /cm^3`` (18 cm at 1 MeV,
13 cm at 0.5 MeV), and the scattered energy ``E' = eps E`` follows

    dsigma/deps  ~  (1/eps + eps) [1 - eps sin^2(theta) / (1 + eps^2)],
    eps in [1/(1+2k), 1],   1 - cos(theta) = (1 - eps) / (k eps),

sampled by the composition-rejection method of Butcher & Messel, Nucl. Phys.
20 (1960) 15 (the ``1/eps`` or ``eps`` part is chosen by its weight, then
accepted with the bracket), vectorised over all pending gammas.  Each step:
flight length ``s ~ Exp(lambda)``; if the new point is outside the LS sphere
(``R > config.ls_radius_cm``) the gamma is lost; otherwise ``E - E'`` is
deposited there at ``t + s / c``; a gamma that reaches an interaction point
with ``E < config.gamma_cutoff_mev`` is photo-absorbed (deposits ``E``).  The
loop runs over scatter generations only; every gamma of the batch advances
together.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from .config import SimConfig
from .sources import GAMMA, Particles
from .spectra import ELECTRON_MASS_MEV
from .streams import BlockStreams

__all__ = [
    "Deposits", "transport", "klein_nishina_sigma_cm2", "klein_nishina_dsigma_dcos", "mean_free_path_cm",
    "sample_klein_nishina", "rotate", "ELECTRON_DENSITY_PER_CM3", "C_VACUUM_CM_PER_NS",
]

AVOGADRO = 6.02214076e23  #: SI 2019 exact
LS_DENSITY_G_PER_CM3 = 0.78  #: KamLAND LS (dodecane + PC + PPO), DESIGN brief
LS_Z_OVER_A = 0.55  #: mostly CH2: (6 + 2) / 14 = 0.57, with PC/PPO ~ 0.55
ELECTRON_DENSITY_PER_CM3 = LS_DENSITY_G_PER_CM3 * LS_Z_OVER_A * AVOGADRO  #: ~2.58e23 /cm^3
CLASSICAL_ELECTRON_RADIUS_CM = 2.8179403262e-13  #: CODATA 2018
C_VACUUM_CM_PER_NS = 29.9792458  #: speed of light in vacuum (gammas)
_MAX_GENERATIONS = 1000  #: guard; a 10 MeV gamma needs < 100 scatters to fall below 10 keV


@dataclasses.dataclass
class Deposits:
    """Energy deposits of a batch (``D`` deposits), ordered by event then time.

    Attributes
    ----------
    event : (D,) int64
        Batch-local decay index.
    xyz_cm : (D, 3) float64
    t_ns : (D,) float64
        Time after the decay, ns.
    e_mev : (D,) float64
        Deposited (visible) energy, MeV.
    escaped_mev : (n,) float64
        Energy per decay carried out of the LS sphere by gammas, MeV.
    """

    event: np.ndarray
    xyz_cm: np.ndarray
    t_ns: np.ndarray
    e_mev: np.ndarray
    escaped_mev: np.ndarray

    def __len__(self) -> int:
        return len(self.event)

    def energy_per_event(self) -> np.ndarray:
        """``(n,) float64`` visible energy (sum of deposits) per decay, MeV."""
        return np.bincount(self.event, self.e_mev, minlength=len(self.escaped_mev))

    def select(self, events: np.ndarray) -> "Deposits":
        """Deposits of the (sorted, unique) decays ``events`` only; ``escaped_mev`` is kept whole."""
        keep = np.isin(self.event, events)
        return Deposits(self.event[keep], self.xyz_cm[keep], self.t_ns[keep], self.e_mev[keep], self.escaped_mev)


def klein_nishina_sigma_cm2(e_mev: np.ndarray) -> np.ndarray:
    """Total Klein-Nishina cross-section per electron, cm^2 (module docstring), same shape as ``e_mev``."""
    k = np.asarray(e_mev, np.float64) / ELECTRON_MASS_MEV
    k = np.maximum(k, 1e-6)
    l2k = np.log1p(2 * k)
    s = ((1 + k) / k**2 * (2 * (1 + k) / (1 + 2 * k) - l2k / k) + l2k / (2 * k) - (1 + 3 * k) / (1 + 2 * k) ** 2)
    # below k ~ 1e-3 the bracket cancels badly: use the Thomson expansion 4/3 (1 - 2k + 26 k^2 / 5)
    thomson = 4.0 / 3.0 * (1 - 2 * k + 5.2 * k**2)
    s = np.where(k < 1e-3, thomson, s)
    return 2 * np.pi * CLASSICAL_ELECTRON_RADIUS_CM**2 * s


def klein_nishina_dsigma_dcos(cos_theta: np.ndarray, e_mev: float) -> np.ndarray:
    """Differential cross-section ``dsigma/dcos(theta)`` per electron, cm^2.

    ``2 pi (r_e^2 / 2) P^2 (P + 1/P - sin^2 theta)`` with ``P = E'/E = 1 / (1 + k (1 - cos theta))``.
    Its integral over ``cos theta in [-1, 1]`` is :func:`klein_nishina_sigma_cm2`.
    """
    c = np.asarray(cos_theta, np.float64)
    p = 1.0 / (1.0 + e_mev / ELECTRON_MASS_MEV * (1.0 - c))
    return np.pi * CLASSICAL_ELECTRON_RADIUS_CM**2 * p**2 * (p + 1 / p - (1 - c * c))


def mean_free_path_cm(e_mev: np.ndarray, electron_density_per_cm3: float = ELECTRON_DENSITY_PER_CM3) -> np.ndarray:
    """Compton mean free path ``1 / (n_e sigma_KN)`` in LS, cm.

    >>> round(float(mean_free_path_cm(1.0)), 1)
    18.3
    """
    return 1.0 / (electron_density_per_cm3 * klein_nishina_sigma_cm2(e_mev))


def sample_klein_nishina(e_mev: np.ndarray, ev: np.ndarray, streams: BlockStreams) -> tuple[np.ndarray, np.ndarray]:
    """Scattering ``(cos_theta, E'/E)`` for gammas of energies ``e_mev`` ``(K,)`` (Butcher-Messel).

    ``ev`` ``(K,)`` sorted decay indices own the draws (see :mod:`kamcore.sim.streams`).
    """
    k = np.asarray(e_mev, np.float64) / ELECTRON_MASS_MEV
    eps0 = 1.0 / (1.0 + 2.0 * k)
    a1 = -np.log(eps0)
    a2 = 0.5 * (1.0 - eps0 * eps0)
    eps = np.ones_like(k)
    pending = np.arange(len(k))
    while len(pending):
        u = streams.random(ev[pending], (3,))
        kp, e0, w1, w2 = k[pending], eps0[pending], a1[pending], a2[pending]
        first = u[:, 0] * (w1 + w2) < w1
        e = np.where(first, np.exp(-w1 * u[:, 1]), np.sqrt(e0 * e0 + (1.0 - e0 * e0) * u[:, 1]))
        t = (1.0 - e) / (kp * e)
        sin2 = np.clip(t * (2.0 - t), 0.0, 1.0)
        ok = u[:, 2] * (1.0 + e * e) <= (1.0 + e * e) - e * sin2
        eps[pending[ok]] = e[ok]
        pending = pending[~ok]
    cos = np.clip(1.0 - (1.0 - eps) / (k * eps), -1.0, 1.0)
    return cos, eps


def _cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``(K, 3)`` row-wise ``a x b``: the products and differences of ``np.cross``, without its overhead."""
    out = np.empty(a.shape)
    tmp = np.empty(len(a))
    for k, (i, j) in enumerate(((1, 2), (2, 0), (0, 1))):  # out_k = a_i b_j - a_j b_i
        np.multiply(a[:, i], b[:, j], out=out[:, k])
        np.multiply(a[:, j], b[:, i], out=tmp)
        out[:, k] -= tmp
    return out


def rotate(direction: np.ndarray, cos_theta: np.ndarray, phi: np.ndarray) -> np.ndarray:
    """Unit vectors at polar angle ``theta`` and azimuth ``phi`` about ``direction`` ``(K, 3)``."""
    u = direction
    helper = np.zeros_like(u)
    use_x = np.abs(u[:, 0]) < 0.9
    helper[:, 0] = use_x
    helper[:, 1] = ~use_x
    v1 = _cross(u, helper)
    v1 /= np.linalg.norm(v1, axis=1, keepdims=True)
    v2 = _cross(u, v1)
    sin_theta = np.sqrt(np.maximum(0.0, 1.0 - cos_theta * cos_theta))
    out = (cos_theta[:, None] * u
           + (sin_theta * np.cos(phi))[:, None] * v1 + (sin_theta * np.sin(phi))[:, None] * v2)
    out /= np.linalg.norm(out, axis=1, keepdims=True)
    return out


def _merge_points(ev, xyz, t, e):
    """Merge deposits of one event at the same point and time (sum of energies)."""
    if len(ev) == 0:
        return ev, xyz, t, e
    rows = np.column_stack([ev.astype(np.float64), xyz, t])
    uniq, inv = np.unique(rows, axis=0, return_inverse=True)
    return uniq[:, 0].astype(np.int64), uniq[:, 1:4], uniq[:, 4], np.bincount(inv.ravel(), e, minlength=len(uniq))


def transport(particles: Particles, n_decays: int, streams: BlockStreams, config: SimConfig) -> Deposits:
    """Energy deposits of ``particles`` (module docstring); ``n_decays`` sizes ``escaped_mev``."""
    is_gamma = particles.kind == GAMMA
    charged = ~is_gamma & (particles.e_mev > 0)
    ev_c, xyz_c, t_c, e_c = _merge_points(particles.event[charged], particles.xyz_cm[charged],
                                          particles.t_ns[charged], particles.e_mev[charged])
    dep_ev, dep_xyz, dep_t, dep_e = [ev_c], [xyz_c], [t_c], [e_c]
    escaped = np.zeros(n_decays)

    ev = particles.event[is_gamma]
    pos = particles.xyz_cm[is_gamma].copy()
    direction = particles.direction[is_gamma].copy()
    e = particles.e_mev[is_gamma].copy()
    t = particles.t_ns[is_gamma].copy()
    r2_max = config.ls_radius_cm**2
    for _ in range(_MAX_GENERATIONS):
        if len(ev) == 0:
            break
        s = mean_free_path_cm(e) * streams.standard_exponential(ev)
        pos = pos + s[:, None] * direction
        t = t + s / C_VACUUM_CM_PER_NS
        out = (pos * pos).sum(1) > r2_max
        if out.any():
            escaped += np.bincount(ev[out], e[out], minlength=n_decays)
            keep = ~out
            ev, pos, direction, e, t = ev[keep], pos[keep], direction[keep], e[keep], t[keep]
        absorb = e < config.gamma_cutoff_mev
        if absorb.any():
            dep_ev.append(ev[absorb]); dep_xyz.append(pos[absorb]); dep_t.append(t[absorb]); dep_e.append(e[absorb])
            keep = ~absorb
            ev, pos, direction, e, t = ev[keep], pos[keep], direction[keep], e[keep], t[keep]
        if len(ev) == 0:
            break
        cos, eps = sample_klein_nishina(e, ev, streams)
        phi = 2.0 * np.pi * streams.random(ev)
        dep_ev.append(ev); dep_xyz.append(pos); dep_t.append(t); dep_e.append(e * (1.0 - eps))
        e = e * eps
        direction = rotate(direction, cos, phi)
    else:  # pragma: no cover - internal guard
        raise RuntimeError(f"gamma transport did not finish in {_MAX_GENERATIONS} generations")

    ev_all = np.concatenate(dep_ev)
    t_all = np.concatenate(dep_t)
    order = np.lexsort((t_all, ev_all))
    return Deposits(event=ev_all[order], xyz_cm=np.concatenate(dep_xyz)[order], t_ns=t_all[order],
                    e_mev=np.concatenate(dep_e)[order], escaped_mev=escaped)

"""Energy spectra of the emitted electrons, sampled by inverse CDF on a table.

All energies are kinetic energies in MeV; internally ``W = 1 + T / m_e`` is the
total electron energy and ``p = sqrt(W^2 - 1)`` the momentum in units of
``m_e c^2`` and ``m_e c``.

* Allowed beta spectrum (:func:`beta_spectrum`), endpoint ``T0 = (W0 - 1) m_e``:

      dN/dT  ~  F(Z, W) p W (W0 - W)^2,

  with the non-relativistic Fermi function ``F = 2 pi eta / (1 - exp(-2 pi eta))``,
  ``eta = +- alpha Z W / p`` (``+`` for beta-, ``-`` for beta+, ``Z`` of the
  daughter nucleus).
* Two-neutrino double beta decay, summed kinetic energy ``K`` of the two
  electrons (Primakoff-Rosen approximation; :func:`two_nu_double_beta_spectrum`),
  ``K`` and ``T0 = Q`` in units of ``m_e``:

      dN/dK  ~  K (T0 - K)^5 (1 + 2K + 4K^2/3 + K^3/3 + K^4/30).

* ``8B`` solar-neutrino elastic scattering on electrons
  (:func:`b8_recoil_spectrum`): recoil kinetic energy ``T`` of the electron,

      dN/dT  ~  int dE  phi(E) [P_ee s_e(E, T) + (1 - P_ee) s_mu(E, T)],
      s(E, T) = gL^2 + gR^2 (1 - T/E)^2 - gL gR m_e T / E^2,  T <= 2E^2 / (m_e + 2E),

  ``gL = +-1/2 + sin^2 theta_W`` (``+`` for nu_e, ``-`` for nu_mu,tau),
  ``gR = sin^2 theta_W``; the neutrino spectrum ``phi(E) ~ E^2 (E0 - E)^3`` with
  ``E0 = 16 MeV`` is a stand-in with the peak (6.4 MeV) and endpoint of Winter et
  al., PRC 73 (2006) 025503 (choice).  The result falls almost linearly from 0 to
  ~15 MeV ("flat-ish").

A :class:`TabulatedSpectrum` stores the density on a grid of ``n`` points, its
cumulative integral (trapezoid rule), and maps uniforms ``u`` to energies by
linear interpolation of the inverse CDF.

>>> s = beta_spectrum(1.0, 20)
>>> float(s.sample(np.array([0.0]))[0]), float(s.sample(np.array([1.0]))[0])
(0.0, 1.0)
"""

from __future__ import annotations

import functools

import numpy as np

__all__ = [
    "TabulatedSpectrum",
    "beta_spectrum",
    "two_nu_double_beta_spectrum",
    "b8_recoil_spectrum",
    "ELECTRON_MASS_MEV",
    "FINE_STRUCTURE",
]

ELECTRON_MASS_MEV = 0.51099895  #: CODATA 2018
FINE_STRUCTURE = 1.0 / 137.035999  #: CODATA 2018
SIN2_THETA_W = 0.2312  #: weak mixing angle, PDG (MS-bar at M_Z), enough for the shape
B8_NU_ENDPOINT_MEV = 16.0  #: choice, see the module docstring
B8_PEE = 0.31  #: nu_e survival probability of 8B neutrinos at ~10 MeV (MSW, LMA), choice for the shape
N_GRID = 1024  #: grid points of every table


class TabulatedSpectrum:
    """A spectrum tabulated on a grid, sampled by inverse CDF.

    Parameters
    ----------
    t_mev : (n,) float64
        Increasing grid of kinetic energies, MeV.
    density : (n,) float64
        Non-negative density at the grid points (any normalisation).
    """

    def __init__(self, t_mev: np.ndarray, density: np.ndarray):
        t = np.asarray(t_mev, np.float64)
        d = np.clip(np.nan_to_num(np.asarray(density, np.float64)), 0.0, None)
        cdf = np.concatenate([[0.0], np.cumsum(0.5 * (d[1:] + d[:-1]) * np.diff(t))])
        assert cdf[-1] > 0, "spectrum has no weight"
        self.t_mev = t
        self.density = d / cdf[-1]
        self.cdf = cdf / cdf[-1]

    @property
    def endpoint_mev(self) -> float:
        return float(self.t_mev[-1])

    def mean(self) -> float:
        """Mean kinetic energy, MeV (trapezoid rule)."""
        f = self.density * self.t_mev
        return float(np.sum(0.5 * (f[1:] + f[:-1]) * np.diff(self.t_mev)))

    def sample(self, u: np.ndarray) -> np.ndarray:
        """Kinetic energies (MeV, float64, shape of ``u``) for uniforms ``u`` in [0, 1]."""
        return np.interp(u, self.cdf, self.t_mev)


def _fermi(z: int, w: np.ndarray, p: np.ndarray, positron: bool) -> np.ndarray:
    eta = (-1.0 if positron else 1.0) * FINE_STRUCTURE * z * w / np.maximum(p, 1e-12)
    x = 2.0 * np.pi * eta
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        f = np.where(np.abs(x) < 1e-8, 1.0, x / -np.expm1(-x))
    return f


@functools.lru_cache(maxsize=64)
def beta_spectrum(endpoint_mev: float, z_daughter: int, positron: bool = False) -> TabulatedSpectrum:
    """Allowed beta spectrum with endpoint ``endpoint_mev`` (kinetic, MeV); see the module docstring.

    Cached per arguments; treat the result as read-only.
    """
    t = np.linspace(0.0, float(endpoint_mev), N_GRID)
    w = 1.0 + t / ELECTRON_MASS_MEV
    w0 = 1.0 + endpoint_mev / ELECTRON_MASS_MEV
    p = np.sqrt(np.maximum(w * w - 1.0, 0.0))
    return TabulatedSpectrum(t, _fermi(z_daughter, w, p, positron) * p * w * (w0 - w) ** 2)


@functools.lru_cache(maxsize=16)
def two_nu_double_beta_spectrum(q_mev: float) -> TabulatedSpectrum:
    """Summed-electron kinetic energy of 2vbb decay, Primakoff-Rosen approximation.

    ``q_mev`` is the kinetic energy available to the electrons (Q minus the
    excitation energy of the daughter level).  Cached; read-only.
    """
    t = np.linspace(0.0, float(q_mev), N_GRID)
    k = t / ELECTRON_MASS_MEV
    k0 = q_mev / ELECTRON_MASS_MEV
    return TabulatedSpectrum(t, k * (k0 - k) ** 5 * (1 + 2 * k + 4 * k**2 / 3 + k**3 / 3 + k**4 / 30))


@functools.lru_cache(maxsize=1)
def b8_recoil_spectrum() -> TabulatedSpectrum:
    """Recoil-electron kinetic energy of 8B solar-neutrino elastic scattering (module docstring)."""
    me = ELECTRON_MASS_MEV
    e = np.linspace(0.05, B8_NU_ENDPOINT_MEV, 800)[:, None]  # neutrino energy, MeV
    tmax_all = 2 * B8_NU_ENDPOINT_MEV**2 / (me + 2 * B8_NU_ENDPOINT_MEV)
    t = np.linspace(0.0, tmax_all, N_GRID)[None, :]
    phi = e**2 * (B8_NU_ENDPOINT_MEV - e) ** 3
    gr = SIN2_THETA_W

    def shape(gl):
        return gl**2 + gr**2 * (1 - t / e) ** 2 - gl * gr * me * t / e**2

    s = B8_PEE * shape(0.5 + SIN2_THETA_W) + (1 - B8_PEE) * shape(-0.5 + SIN2_THETA_W)
    allowed = t <= 2 * e**2 / (me + 2 * e)
    dens = np.trapezoid(np.where(allowed, phi * np.clip(s, 0.0, None), 0.0), e[:, 0], axis=0)
    return TabulatedSpectrum(t[0], dens)

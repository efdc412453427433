"""The SOFT sampling grid, its quadrature weights, and the kernel-support grids.

Functions on the sphere S2 and on the rotation group SO(3) are sampled on the
equiangular grid of bandwidth ``b`` of Kostelec & Rockmore (SOFT; J. Fourier
Anal. Appl. 14 (2008) 145), the grid of the KamNet hit maps (DESIGN 4):

    beta_j  = pi (2 j + 1) / (4 b),   j = 0 .. 2b-1     (polar angle, theta)
    alpha_k = 2 pi k / (2 b),          k = 0 .. 2b-1     (azimuth, phi)
    gamma_p = 2 pi p / (2 b),          p = 0 .. 2b-1     (SO(3) only)

Tensor layouts are ``[..., beta, alpha]`` on S2 and ``[..., beta, alpha, gamma]``
on SO(3), each axis of length ``2b``.  A rotation has ZYZ Euler angles
``R(alpha, beta, gamma) = Rz(alpha) Ry(beta) Rz(gamma)``; the point
``(beta, alpha)`` of S2 is ``R(alpha, beta, .) e_z``.

Quadrature.  With the weights ``w_j`` of :func:`soft_quadrature_weights`,

    sum_j w_j g(beta_j) = int_0^pi g(beta) sin(beta) d(beta)

exactly for every polynomial ``g`` in ``cos(beta)`` of degree ``< 2b`` (and the
``sum_j w_j = 2``).  Hence, for band-limited integrands (degree ``l < b``),

    int_S2 f dx       = (2 pi / 2b)   sum_{j,k}   w_j f(beta_j, alpha_k)
    int_SO3 f dR      = (2 pi / 2b)^2 sum_{j,k,p} w_j f(alpha_k, beta_j, gamma_p)

with ``int_SO3 dR = 8 pi^2`` (Haar measure ``sin(beta) d(alpha) d(beta) d(gamma)``).

Kernel grids.  The convolution kernels carry one learnable weight per point of a
small grid: points of S2 given as ``(beta, alpha)`` rows, or rotations given as
``(beta, alpha, gamma)`` rows (the order of the sampling axes).  The near-identity
and equatorial families are those of Cohen et al., "Spherical CNNs" (ICLR 2018),
which KamNet uses (``s2_near_identity_grid`` for the S2 layer and
``so3_equatorial_grid`` for the SO(3) layers in the reference configuration).
"""

from __future__ import annotations

import functools
import math

import numpy as np
import torch

from kamcore.errors import ConfigError
from kamcore.geometry.grid import soft_alpha, soft_beta

__all__ = [
    "soft_beta",
    "soft_alpha",
    "soft_quadrature_weights",
    "s2_near_identity_grid",
    "s2_equatorial_grid",
    "so3_near_identity_grid",
    "so3_equatorial_grid",
]


def _check_bandwidth(b: int, name: str = "b") -> int:
    if isinstance(b, bool) or not isinstance(b, (int, np.integer)) or b < 1:
        raise ConfigError(f"{name} must be a positive integer bandwidth, got {b!r}")
    return int(b)


@functools.lru_cache(maxsize=None)
def _soft_weights_np(b: int) -> np.ndarray:
    beta = soft_beta(b)
    k = np.arange(b)
    # Kostelec & Rockmore (2008), eq. (2.13), scaled so that sum_j w_j = 2.
    s = np.sin(np.outer(beta, 2 * k + 1)) / (2 * k + 1)  # [2b, b]
    w = (2.0 / b) * np.sin(beta) * s.sum(axis=1)
    w.setflags(write=False)
    return w


def soft_quadrature_weights(b: int, *, dtype: torch.dtype | None = None,
                            device: torch.device | str | None = None) -> torch.Tensor:
    """Quadrature weights of the SOFT polar grid.

    Parameters
    ----------
    b : int
        Bandwidth ``b`` of the grid.
    dtype, device
        Of the returned tensor (default: torch's default dtype, CPU).

    Returns
    -------
    torch.Tensor
        ``(2b,)`` weights ``w_j`` with ``sum_j w_j g(beta_j) = int_0^pi g sin(beta) d beta``
        for polynomials ``g`` in ``cos(beta)`` of degree ``< 2b``; computed in float64.

    Examples
    --------
    >>> w = soft_quadrature_weights(4, dtype=torch.float64)
    >>> round(float(w.sum()), 12)
    2.0
    """
    b = _check_bandwidth(b)
    dtype = dtype or torch.get_default_dtype()
    return torch.tensor(_soft_weights_np(b), dtype=dtype, device=device)


def _rings(max_beta: float, n_beta: int) -> np.ndarray:
    return np.arange(1, n_beta + 1, dtype=np.float64) * max_beta / n_beta


def _equatorial_band(max_beta: float, n_beta: int) -> np.ndarray:
    """``(n_beta,)`` polar angles spread evenly over ``[pi/2 - max_beta, pi/2 + max_beta]``, rad."""
    return np.linspace(np.pi / 2 - max_beta, np.pi / 2 + max_beta, n_beta)


def _azimuths(n_alpha: int) -> np.ndarray:
    """``(n_alpha,)`` azimuths ``2 pi k / n_alpha``, ``k = 0 .. n_alpha-1``, rad."""
    return np.linspace(0.0, 2 * np.pi, n_alpha, endpoint=False)


def _mesh(*axes: np.ndarray) -> list[np.ndarray]:
    """Every combination of the 1-D ``axes`` (the first varies slowest), one flat column per axis."""
    return [g.ravel() for g in np.meshgrid(*axes, indexing="ij")]


def _grid_rows(*columns: np.ndarray) -> torch.Tensor:
    """``(P, len(columns)) float64`` kernel grid whose rows are the angles of the flat ``columns``."""
    return torch.tensor(np.stack(columns, axis=1), dtype=torch.float64)


def s2_near_identity_grid(max_beta: float = math.pi / 8, n_alpha: int = 8, n_beta: int = 3) -> torch.Tensor:
    """Rings of S2 points around the north pole (the support of an S2 kernel).

    Parameters
    ----------
    max_beta : float
        Polar angle of the outermost ring, rad.
    n_alpha : int
        Points per ring, equally spaced in azimuth from 0.
    n_beta : int
        Number of rings, at ``beta = max_beta * i / n_beta``, ``i = 1 .. n_beta``.

    Returns
    -------
    torch.Tensor
        ``(n_beta * n_alpha, 2) float64``, rows ``(beta, alpha)`` in rad.

    Examples
    --------
    >>> s2_near_identity_grid().shape
    torch.Size([24, 2])
    """
    return _grid_rows(*_mesh(_rings(max_beta, n_beta), _azimuths(n_alpha)))


def s2_equatorial_grid(max_beta: float = 0.0, n_alpha: int = 32, n_beta: int = 1) -> torch.Tensor:
    """Rings of S2 points around the equator.

    Parameters
    ----------
    max_beta : float
        Half-width of the band around ``beta = pi/2``, rad; the ``n_beta`` rings are
        spread evenly over ``[pi/2 - max_beta, pi/2 + max_beta]``.
    n_alpha, n_beta : int
        Points per ring and number of rings.

    Returns
    -------
    torch.Tensor
        ``(n_beta * n_alpha, 2) float64``, rows ``(beta, alpha)`` in rad.
    """
    return _grid_rows(*_mesh(_equatorial_band(max_beta, n_beta), _azimuths(n_alpha)))


def so3_near_identity_grid(max_beta: float = math.pi / 8, max_gamma: float = 2 * math.pi,
                           n_alpha: int = 8, n_beta: int = 3, n_gamma: int | None = None) -> torch.Tensor:
    """Rotations near the identity: tilts of the z axis by up to ``max_beta``, with twists.

    The rotation ``R(alpha, beta, gamma0 - alpha)`` tilts the north pole by ``beta``
    towards azimuth ``alpha`` and then twists by ``gamma0`` about the tilted axis; for
    ``gamma0 = 0`` it is the rotation by ``beta`` about an axis in the xy plane.

    Parameters
    ----------
    max_beta : float
        Largest tilt, rad (rings at ``max_beta * i / n_beta``, ``i = 1 .. n_beta``).
    max_gamma : float
        Twists ``gamma0`` span ``[-max_gamma, max_gamma]`` (end points included).
    n_alpha, n_beta, n_gamma : int
        Grid sizes (``n_gamma`` defaults to ``n_alpha``).

    Returns
    -------
    torch.Tensor
        ``(n_beta * n_alpha * n_gamma, 3) float64``, rows ``(beta, alpha, gamma)`` in rad.

    Examples
    --------
    >>> so3_near_identity_grid().shape
    torch.Size([192, 3])
    """
    n_gamma = n_alpha if n_gamma is None else n_gamma
    beta, alpha, gamma0 = _mesh(_rings(max_beta, n_beta), _azimuths(n_alpha),
                                np.linspace(-max_gamma, max_gamma, n_gamma))
    return _grid_rows(beta, alpha, gamma0 - alpha)


def so3_equatorial_grid(max_beta: float = 0.0, max_gamma: float = math.pi / 8,
                        n_alpha: int = 32, n_beta: int = 1, n_gamma: int = 2) -> torch.Tensor:
    """Rotations that carry the north pole to (a band around) the equator.

    Parameters
    ----------
    max_beta : float
        Half-width of the band of ``beta`` around ``pi/2``, rad.
    max_gamma : float
        ``gamma`` spans ``[-max_gamma, max_gamma]`` (end points included), rad.
    n_alpha, n_beta, n_gamma : int
        Grid sizes; the defaults (32, 1, 2) are KamNet's ``so3_eq`` kernel, 64 rotations.

    Returns
    -------
    torch.Tensor
        ``(n_beta * n_alpha * n_gamma, 3) float64``, rows ``(beta, alpha, gamma)`` in rad.

    Examples
    --------
    >>> so3_equatorial_grid().shape
    torch.Size([64, 3])
    """
    return _grid_rows(*_mesh(_equatorial_band(max_beta, n_beta), _azimuths(n_alpha),
                             np.linspace(-max_gamma, max_gamma, n_gamma)))


def _as_grid(grid, n_cols: int, name: str) -> np.ndarray:
    """Validate a kernel grid; return a read-only ``(P, n_cols) float64`` array."""
    try:
        arr = np.array(grid.detach().cpu().numpy() if isinstance(grid, torch.Tensor) else grid, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{name} must be a (P, {n_cols}) array of angles in rad, got {type(grid).__name__}") from exc
    if arr.ndim != 2 or arr.shape[1] != n_cols or arr.shape[0] < 1:
        raise ConfigError(f"{name} must have shape (P, {n_cols}) with P >= 1, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ConfigError(f"{name} contains non-finite angles")
    arr.setflags(write=False)
    return arr

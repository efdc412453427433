"""Rotations acting on signals on S2 and SO(3): Euler angles, grid permutations, Wigner-D.

A rotation ``Q`` acts on a signal by ``(Q f)(x) = f(Q^-1 x)`` on S2 and by left
translation ``(Q f)(R) = f(Q^-1 R)`` on SO(3); the spherical convolutions satisfy
``conv(Q f) = Q conv(f)``.  Rotations are 3x3 matrices (float64); Euler angles follow
:mod:`kamcore.nn.wigner`, ``R(alpha, beta, gamma) = Rz(alpha) Ry(beta) Rz(gamma)``.

Two ways to rotate a sampled signal:

* :func:`rotate_s2_grid` / :func:`rotate_so3_grid` permute grid samples.  They are
  exact for every signal but only accept rotations that map the SOFT grid of
  bandwidth ``b`` onto itself: rotations about z by multiples of ``2 pi / 2b``, and
  rotations by ``pi`` about x or y (and their products).
* :func:`rotate_s2_spectral` / :func:`rotate_so3_spectral` rotate the spectrum,
  ``c^l -> D^l(Q) c^l`` (:func:`rotate_s2_coeffs`, :func:`rotate_so3_coeffs`).  They
  accept any rotation and are exact for band-limited signals (bandwidth ``<= b``).
"""

from __future__ import annotations

import numpy as np
import torch

from kamcore.errors import ConfigError

from .grid import soft_alpha, soft_beta
from .s2fft import s2_fft, s2_ifft
from .so3fft import so3_fft, so3_ifft
from .wigner import _wigner_D_padded_np
from ._util import grid_bandwidth, spectrum_bandwidth

__all__ = [
    "euler_to_matrix",
    "matrix_to_euler",
    "random_rotation",
    "rotate_s2_coeffs",
    "rotate_so3_coeffs",
    "rotate_s2_grid",
    "rotate_so3_grid",
    "rotate_s2_spectral",
    "rotate_so3_spectral",
]


def _euler_np(alpha, beta, gamma) -> np.ndarray:
    a, b, g = np.broadcast_arrays(*(np.asarray(v, dtype=np.float64) for v in (alpha, beta, gamma)))
    ca, sa, cb, sb, cg, sg = np.cos(a), np.sin(a), np.cos(b), np.sin(b), np.cos(g), np.sin(g)
    out = np.empty(a.shape + (3, 3))
    out[..., 0, 0] = ca * cb * cg - sa * sg
    out[..., 0, 1] = -ca * cb * sg - sa * cg
    out[..., 0, 2] = ca * sb
    out[..., 1, 0] = sa * cb * cg + ca * sg
    out[..., 1, 1] = -sa * cb * sg + ca * cg
    out[..., 1, 2] = sa * sb
    out[..., 2, 0] = -sb * cg
    out[..., 2, 1] = sb * sg
    out[..., 2, 2] = cb
    return out


def _matrix_np(rotation) -> np.ndarray:
    if isinstance(rotation, torch.Tensor):
        rotation = rotation.detach().to("cpu", torch.float64).numpy()
    r = np.asarray(rotation, dtype=np.float64)
    if r.shape != (3, 3) or not np.allclose(r @ r.T, np.eye(3), atol=1e-6) or np.linalg.det(r) < 0:
        raise ConfigError(f"rotation must be a 3x3 proper orthogonal matrix, got shape {r.shape}")
    return r


def _euler_of_np(r: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    beta = np.arccos(np.clip(r[..., 2, 2], -1.0, 1.0))
    sin_beta = np.hypot(r[..., 0, 2], r[..., 1, 2])
    regular = sin_beta > 1e-9
    alpha = np.where(regular, np.arctan2(r[..., 1, 2], r[..., 0, 2]), 0.0)
    gamma = np.where(regular, np.arctan2(r[..., 2, 1], -r[..., 2, 0]), 0.0)
    # gimbal lock: beta = 0 -> Rz(alpha + gamma); beta = pi -> Rz(alpha - gamma) Ry(pi); put it all in alpha
    north = np.arctan2(r[..., 1, 0], r[..., 0, 0])
    south = np.arctan2(-r[..., 0, 1], r[..., 1, 1])
    alpha = np.where(regular, alpha, np.where(r[..., 2, 2] > 0, north, south))
    return np.mod(alpha, 2 * np.pi), beta, np.mod(gamma, 2 * np.pi)


def euler_to_matrix(alpha, beta, gamma) -> torch.Tensor:
    """Rotation matrix ``Rz(alpha) Ry(beta) Rz(gamma)``.

    Parameters
    ----------
    alpha, beta, gamma : float or array-like
        ZYZ Euler angles, rad, broadcast to a common shape ``S``.

    Returns
    -------
    torch.Tensor
        ``S + (3, 3)`` float64.

    Examples
    --------
    >>> R = euler_to_matrix(0.3, 1.2, -0.4)
    >>> [f"{v:.6f}" for v in matrix_to_euler(R)]          # gamma = -0.4 + 2 pi
    ['0.300000', '1.200000', '5.883185']
    """
    return torch.from_numpy(_euler_np(alpha, beta, gamma))


def matrix_to_euler(rotation) -> tuple[float, float, float]:
    """ZYZ Euler angles ``(alpha, beta, gamma)`` of a rotation matrix.

    Parameters
    ----------
    rotation : array-like
        ``(3, 3)`` proper rotation matrix.

    Returns
    -------
    tuple of float
        ``alpha, gamma`` in ``[0, 2 pi)`` and ``beta`` in ``[0, pi]``, rad; at
        ``beta = 0`` or ``pi`` the angle is put in ``alpha`` and ``gamma = 0``.
    """
    a, b, g = _euler_of_np(_matrix_np(rotation))
    return float(a), float(b), float(g)


def random_rotation(generator: torch.Generator | None = None) -> torch.Tensor:
    """A Haar-uniform random rotation (from a uniform random unit quaternion).

    Parameters
    ----------
    generator : torch.Generator, optional
        Source of randomness.

    Returns
    -------
    torch.Tensor
        ``(3, 3)`` float64 rotation matrix.
    """
    q = torch.randn(4, generator=generator, dtype=torch.float64)
    w, x, y, z = (q / q.norm()).tolist()
    return torch.tensor([
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
    ], dtype=torch.float64)


def _wigner_D_of(rotation, n_l: int, like: torch.Tensor) -> torch.Tensor:
    a, b, g = _euler_of_np(_matrix_np(rotation))
    return torch.tensor(_wigner_D_padded_np(n_l, a, b, g), dtype=like.dtype, device=like.device)


def rotate_s2_coeffs(c: torch.Tensor, rotation) -> torch.Tensor:
    """Spherical-harmonic coefficients of ``Q f`` from those of ``f``: ``c_l -> D^l(Q) c_l``.

    Parameters
    ----------
    c : torch.Tensor
        ``[..., L, 2L-1]`` complex (layout of :func:`kamcore.nn.s2_fft`).
    rotation : array-like
        ``(3, 3)`` rotation ``Q``.

    Returns
    -------
    torch.Tensor
        ``[..., L, 2L-1]`` complex.
    """
    L = spectrum_bandwidth(c, 1, "c")
    return torch.einsum("lmn,...ln->...lm", _wigner_D_of(rotation, L, c), c)


def rotate_so3_coeffs(c: torch.Tensor, rotation) -> torch.Tensor:
    """Wigner coefficients of ``(Q f)(R) = f(Q^-1 R)`` from those of ``f``: ``c^l -> D^l(Q) c^l``.

    Parameters
    ----------
    c : torch.Tensor
        ``[..., L, 2L-1, 2L-1]`` complex (layout of :func:`kamcore.nn.so3_fft`).
    rotation : array-like
        ``(3, 3)`` rotation ``Q``.

    Returns
    -------
    torch.Tensor
        ``[..., L, 2L-1, 2L-1]`` complex.
    """
    L = spectrum_bandwidth(c, 2, "c")
    return torch.einsum("lmk,...lkn->...lmn", _wigner_D_of(rotation, L, c), c)


def _grid_index(values: np.ndarray, step: float, offset: float, n: int, what: str, b: int) -> np.ndarray:
    pos = (values - offset) / step
    idx = np.round(pos)
    if np.max(np.abs(pos - idx)) > 1e-6:
        raise ConfigError(f"the rotation does not map the SOFT grid of bandwidth {b} onto itself "
                          f"({what} off the grid by up to {np.max(np.abs(pos - idx)) * step:.3g} rad); "
                          "use the spectral rotation instead")
    return idx.astype(np.int64) % n


def _s2_rotated_angles(b: int, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(beta, alpha)`` of ``Q^-1 p`` for the S2 grid points ``p``, each ``(2b, 2b)``, rad."""
    beta, alpha = np.meshgrid(soft_beta(b), soft_alpha(b), indexing="ij")
    p = np.stack([np.sin(beta) * np.cos(alpha), np.sin(beta) * np.sin(alpha), np.cos(beta)], axis=-1)
    y = p @ q  # rows are Q^T p
    return np.arccos(np.clip(y[..., 2], -1.0, 1.0)), np.mod(np.arctan2(y[..., 1], y[..., 0]), 2 * np.pi)


def _so3_rotated_angles(b: int, q: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(beta, alpha, gamma)`` of ``Q^-1 R`` for the SO(3) grid rotations ``R``, each ``(2b, 2b, 2b)``, rad."""
    beta, alpha, gamma = np.meshgrid(soft_beta(b), soft_alpha(b), soft_alpha(b), indexing="ij")
    na, nb, ng = _euler_of_np(q.T @ _euler_np(alpha, beta, gamma))
    return nb, na, ng


def _permute_grid(x: torch.Tensor, rotation, n_axes: int, rotated_angles) -> torch.Tensor:
    """Rotate a grid signal exactly: ``x`` read at the grid point ``Q^-1 p`` for every grid point ``p``.

    ``rotated_angles(b, Q)`` gives the angles of those points in grid order, ``beta`` first
    (then ``alpha`` and, on SO(3), ``gamma``); each must fall on the grid of bandwidth ``b``
    (:func:`_grid_index` raises :class:`~kamcore.errors.ConfigError` otherwise).
    """
    b = grid_bandwidth(x, n_axes, "x")
    beta, *azimuths = rotated_angles(b, _matrix_np(rotation))
    index = _grid_index(beta, np.pi / (2 * b), np.pi / (4 * b), 2 * b, "beta", b)
    for angle, what in zip(azimuths, ("alpha", "gamma")):
        index = index * 2 * b + _grid_index(angle, np.pi / b, 0.0, 2 * b, what, b)
    index = torch.as_tensor(index.ravel(), device=x.device)
    return x.reshape(*x.shape[:-n_axes], -1)[..., index].reshape(x.shape)


def rotate_s2_grid(x: torch.Tensor, rotation) -> torch.Tensor:
    """Rotate a signal on the S2 grid exactly by permuting its samples.

    Parameters
    ----------
    x : torch.Tensor
        ``[..., 2b, 2b]`` (beta, alpha) samples.
    rotation : array-like
        ``(3, 3)`` rotation ``Q`` that maps the grid onto itself.

    Returns
    -------
    torch.Tensor
        ``[..., 2b, 2b]``, ``(Q x)(p) = x(Q^-1 p)``.

    Raises
    ------
    kamcore.errors.ConfigError
        If ``Q`` does not map the grid of bandwidth ``b`` onto itself.
    """
    return _permute_grid(x, rotation, 2, _s2_rotated_angles)


def rotate_so3_grid(x: torch.Tensor, rotation) -> torch.Tensor:
    """Left-translate a signal on the SO(3) grid exactly by permuting its samples.

    Parameters
    ----------
    x : torch.Tensor
        ``[..., 2b, 2b, 2b]`` (beta, alpha, gamma) samples.
    rotation : array-like
        ``(3, 3)`` rotation ``Q`` that maps the grid onto itself.

    Returns
    -------
    torch.Tensor
        ``[..., 2b, 2b, 2b]``, ``(Q x)(R) = x(Q^-1 R)``.

    Raises
    ------
    kamcore.errors.ConfigError
        If ``Q`` does not map the grid of bandwidth ``b`` onto itself.
    """
    return _permute_grid(x, rotation, 3, _so3_rotated_angles)


def rotate_s2_spectral(x: torch.Tensor, rotation) -> torch.Tensor:
    """Rotate a band-limited real signal on the S2 grid through its spectrum.

    Parameters
    ----------
    x : torch.Tensor
        ``[..., 2b, 2b]`` real samples; exact if ``x`` has bandwidth ``<= b``
        (otherwise ``x`` is first projected to bandwidth ``b``).
    rotation : array-like
        ``(3, 3)`` rotation ``Q``, any.

    Returns
    -------
    torch.Tensor
        ``[..., 2b, 2b]``, ``(Q x)(p) = x(Q^-1 p)``.
    """
    return s2_ifft(rotate_s2_coeffs(s2_fft(x), rotation))


def rotate_so3_spectral(x: torch.Tensor, rotation) -> torch.Tensor:
    """Left-translate a band-limited real signal on the SO(3) grid through its spectrum.

    Parameters
    ----------
    x : torch.Tensor
        ``[..., 2b, 2b, 2b]`` real samples; exact if ``x`` has bandwidth ``<= b``.
    rotation : array-like
        ``(3, 3)`` rotation ``Q``, any.

    Returns
    -------
    torch.Tensor
        ``[..., 2b, 2b, 2b]``, ``(Q x)(R) = x(Q^-1 R)``.
    """
    return so3_ifft(rotate_so3_coeffs(so3_fft(x), rotation))

"""Wigner-d and Wigner-D matrices, and their tables on the SOFT polar grid.

Convention (the "quantum mechanics" one of Varshalovich, Wikipedia and
Kostelec & Rockmore): rotations are active, with ZYZ Euler angles

    R(alpha, beta, gamma) = Rz(alpha) Ry(beta) Rz(gamma),

and ``Ry(beta)`` turns ``e_z`` towards ``e_x`` for ``beta > 0`` (right-hand rule).
The angular-momentum operators act on the basis ``|l m>``, ``m = -l .. l``, with
``J_z |l m> = m |l m>`` and the Condon-Shortley phase
``J_+ |l m> = sqrt(l(l+1) - m(m+1)) |l m+1>``; ``J_y = (J_+ - J_-) / 2i``.  Then

    D^l_{mn}(alpha, beta, gamma) = <l m| exp(-i alpha J_z) exp(-i beta J_y) exp(-i gamma J_z) |l n>
                                 = exp(-i m alpha) d^l_{mn}(beta) exp(-i n gamma),
    d^l_{mn}(beta)               = <l m| exp(-i beta J_y) |l n>       (real).

Matrix index ``i`` of a ``(2l+1, 2l+1)`` matrix is ``m = i - l`` (rows and columns
run ``m = -l .. l``).  For ``l = 1``, with ``c = cos(beta)``, ``s = sin(beta)``,

    d^1(beta) = [[(1+c)/2,  s/sqrt2, (1-c)/2],
                 [-s/sqrt2, c,        s/sqrt2],
                 [(1-c)/2, -s/sqrt2, (1+c)/2]],    so d^1_{1,0} = -s/sqrt2.

Group properties (tested): ``D^l`` is a unitary representation,
``D^l(R1 R2) = D^l(R1) D^l(R2)``, so ``d^l(0) = I``, ``d^l(a + b) = d^l(a) d^l(b)``,
``d^l(-b) = d^l(b)^T``, and ``sum_n d^l_{mn} d^l_{m'n} = delta_{mm'}``; also
``d^l_{-m,-n} = (-1)^(m-n) d^l_{mn}``.  The spherical harmonics (orthonormal,
Condon-Shortley phase) are ``Y_l^m(beta, alpha) = sqrt((2l+1)/4pi) d^l_{m0}(beta) e^{i m alpha}``
and rotate as ``Y_l^m(R^-1 x) = sum_m' Y_l^m'(x) D^l_{m'm}(R)``.

Computation: ``d^l(beta) = V diag(exp(-i beta lambda)) V^H`` from the eigen-decomposition
``J_y = V diag(lambda) V^H`` (eigenvalues exactly ``-l .. l``), in float64.  Tables are
cached with :func:`functools.lru_cache` and handed out as copies in the caller's
dtype and device.

Padded layout.  Tables for all ``l < L`` are stacked as ``[L, 2L-1, 2L-1, ...]`` with
``d^l_{mn}`` at index ``[l, m + L - 1, n + L - 1]`` and zeros where ``|m| > l`` or
``|n| > l``; L is the bandwidth of the spectrum (degrees ``l = 0 .. L-1``).
"""

from __future__ import annotations

import functools

import numpy as np
import torch

from kamcore.errors import ConfigError

from .grid import _check_bandwidth, soft_beta

__all__ = ["wigner_d", "wigner_D", "wigner_d_soft"]


@functools.lru_cache(maxsize=None)
def _jy_eigh(l: int) -> tuple[np.ndarray, np.ndarray]:
    """Eigen-decomposition of ``J_y`` for degree ``l`` (float64/complex128, read-only)."""
    m = np.arange(-l, l)  # J_+ |m> -> |m+1>
    jp = np.zeros((2 * l + 1, 2 * l + 1))
    jp[m + l + 1, m + l] = np.sqrt(l * (l + 1) - m * (m + 1))
    jy = (jp - jp.T) / 2j
    lam, vec = np.linalg.eigh(jy)
    exact = np.round(lam)
    assert np.allclose(lam, exact, atol=1e-8) and np.array_equal(exact, np.arange(-l, l + 1)), "J_y spectrum"
    exact.setflags(write=False)
    vec.setflags(write=False)
    return exact, vec


def _wigner_d_np(l: int, beta: np.ndarray) -> np.ndarray:
    """``d^l(beta)``: ``beta`` of shape ``S`` -> ``S + (2l+1, 2l+1)`` float64."""
    lam, vec = _jy_eigh(l)
    phase = np.exp(-1j * np.asarray(beta, dtype=np.float64)[..., None] * lam)
    d = np.einsum("ik,...k,jk->...ij", vec, phase, vec.conj())
    return np.ascontiguousarray(d.real)


def _wigner_d_padded_np(n_l: int, beta: np.ndarray) -> np.ndarray:
    """Padded ``d``: ``beta`` of shape ``S`` -> ``S + (L, 2L-1, 2L-1)`` float64."""
    beta = np.asarray(beta, dtype=np.float64)
    out = np.zeros(beta.shape + (n_l, 2 * n_l - 1, 2 * n_l - 1))
    for l in range(n_l):
        s = slice(n_l - 1 - l, n_l + l)
        out[..., l, s, s] = _wigner_d_np(l, beta)
    return out


def _wigner_D_padded_np(n_l: int, alpha, beta, gamma) -> np.ndarray:
    """Padded ``D``: angles of a common shape ``S`` -> ``S + (L, 2L-1, 2L-1)`` complex128."""
    alpha, beta, gamma = np.broadcast_arrays(*(np.asarray(a, dtype=np.float64) for a in (alpha, beta, gamma)))
    m = np.arange(-(n_l - 1), n_l)
    d = _wigner_d_padded_np(n_l, beta)
    ea = np.exp(-1j * alpha[..., None] * m)[..., None, :, None]
    eg = np.exp(-1j * gamma[..., None] * m)[..., None, None, :]
    return ea * d * eg


@functools.lru_cache(maxsize=64)
def _wigner_d_soft_np(b: int, n_l: int) -> np.ndarray:
    out = np.moveaxis(_wigner_d_padded_np(n_l, soft_beta(b)), 0, -1)  # [L, M, M, 2b]
    out = np.ascontiguousarray(out)
    out.setflags(write=False)
    return out


def _check_degree(l) -> int:
    if isinstance(l, bool) or not isinstance(l, (int, np.integer)) or l < 0:
        raise ConfigError(f"degree l must be a non-negative integer, got {l!r}")
    return int(l)


def _angles_np(x) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().to("cpu", torch.float64).numpy()
    return np.asarray(x, dtype=np.float64)


def wigner_d(l: int, beta, *, dtype: torch.dtype | None = None,
             device: torch.device | str | None = None) -> torch.Tensor:
    """Wigner small-d matrix ``d^l(beta)``.

    Parameters
    ----------
    l : int
        Degree, ``l >= 0``.
    beta : float or array-like or torch.Tensor
        Polar Euler angle(s), rad, any shape ``S``.
    dtype, device
        Of the result; default: those of ``beta`` if it is a floating tensor, else
        torch's default dtype on CPU.  Computed in float64.

    Returns
    -------
    torch.Tensor
        ``S + (2l+1, 2l+1)``, element ``[..., m + l, n + l] = d^l_{mn}(beta)``.

    Examples
    --------
    >>> d = wigner_d(2, torch.tensor([0.3, 1.1], dtype=torch.float64))
    >>> d.shape
    torch.Size([2, 5, 5])
    >>> torch.allclose(d @ d.transpose(-1, -2), torch.eye(5, dtype=torch.float64))
    True
    """
    l = _check_degree(l)
    if isinstance(beta, torch.Tensor) and beta.is_floating_point():
        dtype = dtype or beta.dtype
        device = device if device is not None else beta.device
    return torch.tensor(_wigner_d_np(l, _angles_np(beta)), dtype=dtype or torch.get_default_dtype(), device=device)


def wigner_D(l: int, alpha, beta, gamma, *, dtype: torch.dtype | None = None,
             device: torch.device | str | None = None) -> torch.Tensor:
    """Wigner D-matrix ``D^l(alpha, beta, gamma)`` of the rotation ``Rz(alpha) Ry(beta) Rz(gamma)``.

    Parameters
    ----------
    l : int
        Degree, ``l >= 0``.
    alpha, beta, gamma : float or array-like or torch.Tensor
        ZYZ Euler angles, rad, broadcast to a common shape ``S``.
    dtype : torch.dtype, optional
        Complex dtype of the result (a real dtype is mapped to its complex
        counterpart); default: complex version of torch's default dtype.
    device : optional
        Device of the result (default CPU).

    Returns
    -------
    torch.Tensor
        ``S + (2l+1, 2l+1)`` complex, element ``[..., m + l, n + l] = D^l_{mn}``.

    Examples
    --------
    >>> a, b = wigner_D(1, 0.1, 0.2, 0.3), wigner_D(1, 0.0, 0.0, 0.5)
    >>> torch.allclose(a @ b, wigner_D(1, 0.1, 0.2, 0.8), atol=1e-6)
    True
    """
    l = _check_degree(l)
    D = _wigner_D_padded_np(l + 1, _angles_np(alpha), _angles_np(beta), _angles_np(gamma))[..., l, :, :]
    return torch.tensor(D, dtype=_complex_of(dtype), device=device)


def wigner_d_soft(b: int, n_l: int | None = None, *, dtype: torch.dtype | None = None,
                  device: torch.device | str | None = None) -> torch.Tensor:
    """Padded table of ``d^l_{mn}(beta_j)`` on the SOFT polar grid of bandwidth ``b``.

    Parameters
    ----------
    b : int
        Bandwidth of the grid; ``beta_j = pi (2j+1) / 4b``, ``j = 0 .. 2b-1``.
    n_l : int, optional
        Number of degrees L (``l = 0 .. L-1``); default ``b``.
    dtype, device
        Of the returned copy (the cache holds float64).

    Returns
    -------
    torch.Tensor
        ``(L, 2L-1, 2L-1, 2b)``: ``[l, m + L - 1, n + L - 1, j] = d^l_{mn}(beta_j)``,
        zero where ``|m| > l`` or ``|n| > l``.

    Examples
    --------
    >>> t = wigner_d_soft(3, dtype=torch.float64)
    >>> t.shape
    torch.Size([3, 5, 5, 6])
    >>> float(t[0, 2, 2, 0])
    1.0
    """
    b = _check_bandwidth(b)
    n_l = b if n_l is None else _check_bandwidth(n_l, "n_l")
    return torch.tensor(_wigner_d_soft_np(b, n_l), dtype=dtype or torch.get_default_dtype(), device=device)


def _complex_of(dtype: torch.dtype | None) -> torch.dtype:
    dtype = dtype or torch.get_default_dtype()
    if dtype.is_complex:
        return dtype
    return {torch.float32: torch.complex64, torch.float64: torch.complex128,
            torch.float16: torch.complex32}.get(dtype, torch.complex64)

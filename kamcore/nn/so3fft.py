"""Fourier transform on the rotation group SO(3) for signals on the SOFT grid.

A function on SO(3) of bandwidth L is expanded in conjugate Wigner D-functions,

    f(R) = sum_{l<L} sum_{|m|,|n|<=l} c^l_{mn} conj(D^l_{mn}(R)),
    conj(D^l_{mn}(alpha, beta, gamma)) = e^{i m alpha} d^l_{mn}(beta) e^{i n gamma}

(conventions in :mod:`kamcore.nn.wigner`).  This basis makes the inverse a plain
inverse Fourier series and the convolutions of :mod:`kamcore.nn.s2conv` /
:mod:`kamcore.nn.so3conv` a matrix product per degree.  With
``int D^l_{mn} conj(D^l'_{m'n'}) dR = 8 pi^2/(2l+1) delta delta delta``, the forward
transform on the grid of bandwidth ``b`` (:mod:`kamcore.nn.grid`) is the quadrature

    c^l_{mn} = (2l+1)/(8 pi^2) int f(R) D^l_{mn}(R) dR
             = sum_j (2l+1) w_j / (8 b^2) d^l_{mn}(beta_j) F_j(m, n),
    F_j(m, n) = sum_{k,p} f(alpha_k, beta_j, gamma_p) e^{-i m alpha_k} e^{-i n gamma_p}   (2-D DFT),

exact for signals of bandwidth ``<= b``.  The inverse is
``G_j(m, n) = sum_l c^l_{mn} d^l_{mn}(beta_j)`` followed by the inverse 2-D DFT.
Grid tensors are ``[..., 2b (beta), 2b (alpha), 2b (gamma)]``; spectra are stored padded
as ``[..., L, 2L-1, 2L-1]`` complex with ``c^l_{mn}`` at ``[l, m + L - 1, n + L - 1]``
(zeros for ``|m| > l`` or ``|n| > l``).  A real ``f`` has
``c^l_{-m,-n} = (-1)^(m+n) conj(c^l_{mn})``.

Translations act on the left: ``(Q f)(R) = f(Q^-1 R)`` has ``c^l -> D^l(Q) c^l``
(matrix product over ``m``).  The Haar integral is ``8 pi^2 c^0_{00}``.

Implementation (real signals): only ``n >= 0`` is computed.  Analysis is a real matrix
product with a cos/sin table over gamma (``L`` of the ``2b`` frequencies), one 2-D
transpose, a complex matrix product over alpha and one batched product per ``(m, n)``
over beta; synthesis mirrors it.  The layers keep spectra in the "spectral-major" layout
``[2L-1 (m), L (n >= 0), L (l), batch]`` those products produce, so the large grid
tensors are copied once per transform.  Tables are built in float64 and cached.
"""

from __future__ import annotations

import functools

import numpy as np
import torch

from .grid import _soft_weights_np, soft_alpha
from .wigner import _wigner_d_soft_np
from ._util import analysis_bandwidths, as_complex, complex_dtype, readonly, real_dtype, synthesis_bandwidths, table

__all__ = ["so3_fft", "so3_ifft"]


def _d_half_np(b: int, n_l: int) -> np.ndarray:
    """``(2L-1, L, L, 2b)``: ``[m, n >= 0, l, j] = d^l_{mn}(beta_j)``."""
    d = _wigner_d_soft_np(b, n_l)[:, :, n_l - 1:, :]  # [l, m, n >= 0, j]
    return np.transpose(d, (1, 2, 0, 3))


@functools.lru_cache(maxsize=64)
def _so3_analysis_tables_np(b: int, n_l: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Tables of :func:`_so3_analysis`.

    gamma DFT ``(2b, L, 2)``: cos, -sin of ``n gamma_p``, ``n = 0 .. L-1``;
    alpha DFT ``(2L-1, 2b, 2)``: ``e^{-i m alpha_k}`` as (re, im), ``m = -(L-1) .. L-1``;
    beta ``(2L-1, L, L, 2b)``: ``[m, n, l, j] = (2l+1) w_j / (8 b^2) d^l_{mn}(beta_j)``.
    """
    if n_l > b:
        raise ValueError(f"analysis needs L <= b, got L={n_l}, b={b}")
    alpha = soft_alpha(b)
    pg = np.outer(alpha, np.arange(n_l))
    gamma_dft = np.stack([np.cos(pg), -np.sin(pg)], axis=-1)
    pa = np.outer(np.arange(-(n_l - 1), n_l), alpha)
    alpha_dft = np.stack([np.cos(pa), -np.sin(pa)], axis=-1)
    deg = 2 * np.arange(n_l) + 1.0
    beta = _d_half_np(b, n_l) * deg[:, None] * _soft_weights_np(b) / (8.0 * b * b)
    return readonly(gamma_dft), readonly(alpha_dft), readonly(beta)


@functools.lru_cache(maxsize=64)
def _so3_synthesis_tables_np(b: int, n_l: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Tables of :func:`_so3_synthesis`.

    beta ``(2L-1, L, L, 2b)``: ``[m, n, l, j] = d^l_{mn}(beta_j)``;
    alpha inverse DFT ``(2b, 2L-1, 2)``: ``e^{+i m alpha_k}`` as (re, im);
    gamma inverse DFT ``(L, 2, 2b)``: ``[n, 0, p] = c_n cos(n gamma_p)``, ``[n, 1, p] = -c_n sin``,
    ``c_0 = 1`` and ``c_n = 2`` (the ``-n`` terms of a real signal).
    """
    if n_l > b:
        raise ValueError(f"synthesis needs L <= b, got L={n_l}, b={b}")
    alpha = soft_alpha(b)
    pa = np.outer(alpha, np.arange(-(n_l - 1), n_l))
    alpha_idft = np.stack([np.cos(pa), np.sin(pa)], axis=-1)
    n = np.arange(n_l)
    pg = np.outer(n, alpha)
    weight = np.where(n == 0, 1.0, 2.0)[:, None]
    gamma_idft = np.stack([weight * np.cos(pg), -weight * np.sin(pg)], axis=1)
    return readonly(_d_half_np(b, n_l)), readonly(alpha_idft), readonly(gamma_idft)


def _so3_analysis(x: torch.Tensor, gamma_dft: torch.Tensor, alpha_dft: torch.Tensor,
                  beta: torch.Tensor) -> torch.Tensor:
    """Real ``x [B', 2b, 2b, 2b]`` -> half spectrum ``[2L-1 (m), L (n >= 0), L (l), B']`` complex.

    The tables are those of :func:`_so3_analysis_tables_np` in ``x``'s dtype.
    """
    Bp, J, K, P = x.shape
    M, L = beta.shape[0], beta.shape[1]
    X = as_complex((x.reshape(-1, P) @ gamma_dft.reshape(P, 2 * L)).view(Bp * J, K * L, 2))  # [(B', beta), (alpha, n)]
    X = X.t().contiguous()                                                                  # [(alpha, n), (B', beta)]
    Z = as_complex(alpha_dft) @ X.view(K, L * Bp * J)                                       # [m, (n, B', beta)]
    c = torch.bmm(beta.to(Z.dtype).view(M * L, L, J), Z.view(M * L, Bp, J).transpose(1, 2))  # [(m, n), l, B']
    return c.view(M, L, L, Bp)


def _so3_synthesis(c: torch.Tensor, beta: torch.Tensor, alpha_idft: torch.Tensor,
                   gamma_idft: torch.Tensor) -> torch.Tensor:
    """Half spectrum ``[2L-1 (m), L (n >= 0), L (l), B']`` of a real signal -> ``[B', 2b, 2b, 2b]`` real.

    The tables are those of :func:`_so3_synthesis_tables_np` in ``c``'s real dtype.
    """
    M, L, _, Bp = c.shape
    J, K, P = beta.shape[-1], alpha_idft.shape[0], gamma_idft.shape[-1]
    G = torch.bmm(c.reshape(M * L, L, Bp).transpose(1, 2), beta.to(c.dtype).view(M * L, L, J))  # [(m, n), B', beta]
    H = as_complex(alpha_idft) @ G.view(M, L * Bp * J)                                      # [alpha, (n, B', beta)]
    H = torch.view_as_real(H.view(K * L, Bp * J).t().contiguous())                  # [(B', beta), (alpha, n), 2]
    return (H.view(Bp * J * K, 2 * L) @ gamma_idft.reshape(2 * L, P)).view(Bp, J, K, P)


def _half_sign(n_l: int, device, dtype) -> torch.Tensor:
    """``(2L-1, L-1)``: ``(-1)^(m+n)`` for ``m = -(L-1) .. L-1`` and ``n = -(L-1) .. -1``."""
    m = torch.arange(-(n_l - 1), n_l, device=device)[:, None]
    n = torch.arange(-(n_l - 1), 0, device=device)[None, :]
    return (1 - 2 * ((m + n) % 2)).to(dtype)


def _so3_half_to_full(c: torch.Tensor) -> torch.Tensor:
    """``[2L-1 (m), L (n >= 0), ...]`` -> ``[2L-1 (m), 2L-1 (n), ...]`` via ``c_{-m,-n} = (-1)^(m+n) conj(c_{mn})``."""
    L = c.shape[1]
    sign = _half_sign(L, c.device, real_dtype(c.dtype))
    neg = torch.conj(c[:, 1:].flip(0, 1)) * sign.view(*sign.shape, *([1] * (c.dim() - 2)))
    return torch.cat([neg, c], dim=1)


def so3_fft(x: torch.Tensor, b_out: int | None = None) -> torch.Tensor:
    """Wigner coefficients of a signal on the SOFT grid of SO(3).

    Parameters
    ----------
    x : torch.Tensor
        ``[..., 2b_in, 2b_in, 2b_in]`` (beta, alpha, gamma) samples, real or complex.
    b_out : int, optional
        Bandwidth L of the returned spectrum (degrees ``l < L``); default ``b_in``.
        Degrees ``l >= b_in`` are returned as zeros.

    Returns
    -------
    torch.Tensor
        ``[..., L, 2L-1, 2L-1]`` complex: ``c^l_{mn}`` at ``[l, m + L - 1, n + L - 1]``;
        exact when ``x`` has bandwidth ``<= b_in``.

    Examples
    --------
    >>> c = so3_fft(torch.ones(4, 4, 4, dtype=torch.float64))   # f = 1, b_in = 2
    >>> c.shape
    torch.Size([2, 3, 3])
    >>> print(f"{c[0, 1, 1].real.item():.6f}")                   # c^0_00 = 1
    1.000000
    """
    b_in, L, Le = analysis_bandwidths(x, 3, b_out)
    if x.is_complex():
        return so3_fft(x.real, L) + 1j * so3_fft(x.imag, L)
    batch = x.shape[:-3]
    tables = [table(t, x) for t in _so3_analysis_tables_np(b_in, Le)]
    half = _so3_analysis(x.reshape(-1, 2 * b_in, 2 * b_in, 2 * b_in), *tables)  # [m, n >= 0, l, B']
    full = _so3_half_to_full(half).permute(3, 2, 0, 1)                            # [B', l, m, n]
    pad = L - Le
    full = torch.nn.functional.pad(torch.view_as_real(full), (0, 0, pad, pad, pad, pad, 0, pad))
    return as_complex(full.contiguous()).reshape(*batch, L, 2 * L - 1, 2 * L - 1).to(complex_dtype(x.dtype))


def so3_ifft(c: torch.Tensor, b_out: int | None = None, *, real: bool = True) -> torch.Tensor:
    """Evaluate Wigner coefficients on the SOFT grid of SO(3).

    Parameters
    ----------
    c : torch.Tensor
        ``[..., L, 2L-1, 2L-1]`` complex coefficients (layout of :func:`so3_fft`).
    b_out : int, optional
        Bandwidth of the output grid (default ``L``); degrees ``l >= b_out`` are dropped.
    real : bool
        If true (default), ``c`` must be the spectrum of a real signal
        (``c^l_{-m,-n} = (-1)^(m+n) conj(c^l_{mn})``); only ``n >= 0`` is read and a
        real tensor is returned.  If false, the complex signal is returned.

    Returns
    -------
    torch.Tensor
        ``[..., 2b_out, 2b_out, 2b_out]`` samples on the (beta, alpha, gamma) grid.

    Examples
    --------
    >>> g = torch.Generator().manual_seed(0)
    >>> x = so3_ifft(so3_fft(torch.randn(2, 6, 6, 6, generator=g, dtype=torch.float64)))  # b = 3
    >>> torch.allclose(so3_ifft(so3_fft(x)), x)
    True
    """
    L, b, Le = synthesis_bandwidths(c, 2, b_out)
    if not real:
        m = torch.arange(-(L - 1), L, device=c.device)
        sign = (1 - 2 * ((m[:, None] + m[None, :]) % 2)).to(real_dtype(c.dtype))
        star = torch.conj(c.flip(-1, -2)) * sign  # c#_{mn} = (-1)^(m+n) conj(c_{-m,-n})
        return torch.complex(so3_ifft((c + star) / 2, b), so3_ifft((c - star) / 2j, b))
    batch = c.shape[:-3]
    ms = slice(L - Le, L + Le - 1)
    half = c[..., :Le, ms, L - 1:L - 1 + Le].reshape(-1, Le, 2 * Le - 1, Le).permute(2, 3, 1, 0).contiguous()
    tables = [table(t, c) for t in _so3_synthesis_tables_np(b, Le)]
    return _so3_synthesis(half, *tables).reshape(*batch, 2 * b, 2 * b, 2 * b)

"""Fourier transform on the sphere S2 for signals on the SOFT grid.

A function on S2 of bandwidth L is ``f(x) = sum_{l<L} sum_{|m|<=l} c_l^m Y_l^m(x)``
with orthonormal spherical harmonics ``Y_l^m(beta, alpha) = sqrt((2l+1)/4pi)
d^l_{m0}(beta) e^{i m alpha}`` (see :mod:`kamcore.nn.wigner`).  On the grid of
bandwidth ``b`` (:mod:`kamcore.nn.grid`) the forward transform is the quadrature

    c_l^m = int_S2 f conj(Y_l^m) dx
          = sum_j (pi / b) w_j sqrt((2l+1)/4pi) d^l_{m0}(beta_j) F_j(m),
    F_j(m) = sum_k f(beta_j, alpha_k) e^{-i m alpha_k}              (DFT over alpha),

which is exact for signals of bandwidth ``<= b`` (degrees ``l < b``).  The inverse
evaluates the series on the grid: ``G_j(m) = sum_l c_l^m sqrt((2l+1)/4pi) d^l_{m0}(beta_j)``
followed by the inverse DFT over alpha.

Symbols: ``b`` is the grid bandwidth (``2b`` samples per axis; ``b_in``/``b_out``),
``L`` the bandwidth of the spectrum.  Coefficients are stored padded: ``[..., L, 2L-1]``
complex with ``c_l^m`` at ``[l, m + L - 1]`` and zeros for ``|m| > l``.  A real ``f``
has ``c_l^{-m} = (-1)^m conj(c_l^m)``.  Changing the bandwidth truncates (``L < b``)
or zero-pads (``L > b``) the spectrum.

Implementation: for real signals only ``m >= 0`` is computed.  The DFT over alpha is
a real matrix product against a cos/sin table (only ``L`` of the ``2b`` frequencies are
needed), then one 2-D transpose and one batched matrix product per ``m`` over ``beta``;
the layers of :mod:`kamcore.nn.s2conv` keep spectra in the "spectral-major" layout
``[m >= 0, l, batch]`` that these products produce.  Tables are built in float64 and cached.
"""

from __future__ import annotations

import functools

import numpy as np
import torch

from .grid import _soft_weights_np, soft_alpha, soft_beta
from .wigner import _wigner_d_padded_np
from ._util import analysis_bandwidths, as_complex, complex_dtype, readonly, real_dtype, synthesis_bandwidths, table

__all__ = ["s2_fft", "s2_ifft"]


@functools.lru_cache(maxsize=64)
def _ylm_beta_np(b: int, n_l: int) -> np.ndarray:
    """``(L, L, 2b)``: ``[m, l, j] = sqrt((2l+1)/4pi) d^l_{m0}(beta_j)`` for ``m >= 0`` (read-only)."""
    d = _wigner_d_padded_np(n_l, soft_beta(b))[..., n_l - 1:, n_l - 1]  # [2b, l, m >= 0]
    norm = np.sqrt((2 * np.arange(n_l) + 1) / (4 * np.pi))[:, None]
    return readonly(np.transpose(d * norm, (2, 1, 0)))


@functools.lru_cache(maxsize=64)
def _s2_analysis_tables_np(b: int, n_l: int) -> tuple[np.ndarray, np.ndarray]:
    """DFT table ``(2b, L, 2)`` (cos, -sin of ``m alpha_k``, ``m >= 0``) and beta table ``(L, L, 2b)``
    (``[m, l, j] = (pi/b) w_j sqrt((2l+1)/4pi) d^l_{m0}(beta_j)``)."""
    if n_l > b:
        raise ValueError(f"analysis needs L <= b, got L={n_l}, b={b}")
    phase = np.outer(soft_alpha(b), np.arange(n_l))
    dft = readonly(np.stack([np.cos(phase), -np.sin(phase)], axis=-1))
    beta = readonly(_ylm_beta_np(b, n_l) * (np.pi / b) * _soft_weights_np(b))
    return dft, beta


@functools.lru_cache(maxsize=64)
def _s2_synthesis_tables_np(b: int, n_l: int) -> tuple[np.ndarray, np.ndarray]:
    """Beta table ``(L, L, 2b)`` (``[m, l, j] = sqrt((2l+1)/4pi) d^l_{m0}(beta_j)``) and
    inverse-DFT table ``(L, 2, 2b)`` (``c_m cos``, ``-c_m sin`` of ``m alpha_k``; ``c_0 = 1``, else 2)."""
    if n_l > b:
        raise ValueError(f"synthesis needs L <= b, got L={n_l}, b={b}")
    m = np.arange(n_l)
    phase = np.outer(m, soft_alpha(b))
    weight = np.where(m == 0, 1.0, 2.0)[:, None]  # m and -m together for a real signal
    idft = readonly(np.stack([weight * np.cos(phase), -weight * np.sin(phase)], axis=1))
    return _ylm_beta_np(b, n_l), idft


def _s2_analysis(x: torch.Tensor, dft: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
    """Real ``x [B', 2b, 2b]`` -> half spectrum ``[L (m >= 0), L (l), B']`` complex.

    ``dft`` and ``beta`` are the tables of :func:`_s2_analysis_tables_np` in ``x``'s dtype.
    """
    Bp, J, K = x.shape
    L = beta.shape[0]
    X = as_complex((x.reshape(Bp * J, K) @ dft.reshape(K, 2 * L)).view(Bp * J, L, 2))  # [(B', beta), m]
    X = X.t().contiguous().view(L, Bp, J)                                               # [m, B', beta]
    return torch.bmm(beta.to(X.dtype), X.transpose(1, 2))                               # [m, l, B']


def _s2_synthesis(c: torch.Tensor, beta: torch.Tensor, idft: torch.Tensor) -> torch.Tensor:
    """Half spectrum ``[L (m >= 0), L (l), B']`` of a real signal -> ``[B', 2b, 2b]`` real.

    ``beta`` and ``idft`` are the tables of :func:`_s2_synthesis_tables_np` in ``c``'s real dtype.
    """
    L, _, Bp = c.shape
    J, K = beta.shape[-1], idft.shape[-1]
    G = torch.bmm(c.transpose(1, 2), beta.to(c.dtype))                  # [m, B', beta]
    G = torch.view_as_real(G.view(L, Bp * J).t().contiguous())          # [(B', beta), m, re/im]
    return (G.view(Bp * J, 2 * L) @ idft.reshape(2 * L, K)).view(Bp, J, K)


def _s2_half_to_full(c: torch.Tensor) -> torch.Tensor:
    """``[L (m >= 0), ...]`` -> ``[2L-1 (m), ...]`` using ``c^{-m} = (-1)^m conj(c^m)``."""
    L = c.shape[0]
    sign = (1.0 - 2.0 * (torch.arange(L - 1, 0, -1, device=c.device) % 2)).to(real_dtype(c.dtype))
    neg = torch.conj(c[1:].flip(0)) * sign.view(-1, *([1] * (c.dim() - 1)))
    return torch.cat([neg, c], dim=0)


def _real_parts(c: torch.Tensor, sign_m: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Split a spectrum ``c`` into ``c1 + i c2`` where ``c1``, ``c2`` are spectra of real signals."""
    star = torch.conj(c.flip(-1)) * sign_m  # c#_l^m = (-1)^m conj(c_l^{-m})
    return (c + star) / 2, (c - star) / 2j


def s2_fft(x: torch.Tensor, b_out: int | None = None) -> torch.Tensor:
    """Spherical-harmonic coefficients of a signal on the SOFT grid.

    Parameters
    ----------
    x : torch.Tensor
        ``[..., 2b_in, 2b_in]`` (beta, alpha) samples, real or complex, float32/float64.
    b_out : int, optional
        Bandwidth L of the returned spectrum (degrees ``l < L``); default ``b_in``.
        Degrees ``l >= b_in`` are returned as zeros.

    Returns
    -------
    torch.Tensor
        ``[..., L, 2L-1]`` complex: ``c_l^m`` at ``[l, m + L - 1]``, zero for ``|m| > l``;
        exact when ``x`` has bandwidth ``<= b_in``.

    Examples
    --------
    >>> c = s2_fft(torch.ones(6, 6, dtype=torch.float64))   # f = 1 on the b = 3 grid
    >>> c.shape
    torch.Size([3, 5])
    >>> print(f"{c[0, 2].real.item():.6f}")                  # c_0^0 = sqrt(4 pi)
    3.544908
    """
    b_in, L, Le = analysis_bandwidths(x, 2, b_out)
    if x.is_complex():
        return s2_fft(x.real, L) + 1j * s2_fft(x.imag, L)
    batch = x.shape[:-2]
    dft, beta = (table(t, x) for t in _s2_analysis_tables_np(b_in, Le))
    half = _s2_analysis(x.reshape(-1, 2 * b_in, 2 * b_in), dft, beta)  # [m >= 0, l, B']
    full = _s2_half_to_full(half).permute(2, 1, 0)                        # [B', l, m]
    full = torch.nn.functional.pad(torch.view_as_real(full), (0, 0, L - Le, L - Le, 0, L - Le))
    return as_complex(full.contiguous()).reshape(*batch, L, 2 * L - 1).to(complex_dtype(x.dtype))


def s2_ifft(c: torch.Tensor, b_out: int | None = None, *, real: bool = True) -> torch.Tensor:
    """Evaluate spherical-harmonic coefficients on the SOFT grid.

    Parameters
    ----------
    c : torch.Tensor
        ``[..., L, 2L-1]`` complex coefficients (layout of :func:`s2_fft`).
    b_out : int, optional
        Bandwidth of the output grid (default ``L``); degrees ``l >= b_out`` are dropped.
    real : bool
        If true (default), ``c`` must be the spectrum of a real signal
        (``c_l^{-m} = (-1)^m conj(c_l^m)``); only ``m >= 0`` is read and a real tensor
        is returned.  If false, the complex signal is returned.

    Returns
    -------
    torch.Tensor
        ``[..., 2b_out, 2b_out]`` samples on the (beta, alpha) grid.

    Examples
    --------
    >>> g = torch.Generator().manual_seed(0)
    >>> x = s2_ifft(s2_fft(torch.randn(2, 8, 8, generator=g, dtype=torch.float64)))  # band-limited, b = 4
    >>> torch.allclose(s2_ifft(s2_fft(x)), x)
    True
    >>> torch.allclose(s2_ifft(s2_fft(x, b_out=6), b_out=4), x)   # zero-padded spectrum
    True
    """
    L, b, Le = synthesis_bandwidths(c, 1, b_out)
    if not real:
        m = torch.arange(-(L - 1), L, device=c.device)
        sign = (1.0 - 2.0 * (m % 2)).to(real_dtype(c.dtype))
        c1, c2 = _real_parts(c, sign)
        return torch.complex(s2_ifft(c1, b), s2_ifft(c2, b))
    batch = c.shape[:-2]
    half = c[..., :Le, L - 1:L - 1 + Le].reshape(-1, Le, Le).permute(2, 1, 0).contiguous()  # [m, l, B']
    beta, idft = (table(t, c) for t in _s2_synthesis_tables_np(b, Le))
    return _s2_synthesis(half, beta, idft).reshape(*batch, 2 * b, 2 * b)

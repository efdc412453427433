r"""S2 -> SO(3) convolution (the first layer of the spherical CNN, Cohen et al. 2018).

For input channels ``f_c`` on the sphere and kernels ``psi_{co}``, the output on SO(3) is

    h_o(R) = sum_c (psi_{co} * f_c)(R) + bias_o,
    (psi * f)(R) = int_S2 psi(R^-1 x) f(x) dx.

It is equivariant: rotating the input, ``f -> f(Q^-1 .)``, left-translates the output,
``h -> h(Q^-1 .)``.  In the spectral domain (coefficients as in :mod:`kamcore.nn.s2fft`
and :mod:`kamcore.nn.so3fft`) the integral is a product per degree ``l``:

    h^l_{mn} = sum_c f_c{}^m_l conj(psi_{co}{}^n_l),       h(R) = sum h^l_{mn} conj(D^l_{mn}(R)).

The kernel is a weighted sum of point masses on a small grid of S2 points ``x_p``
(by default the rings around the north pole of
:func:`kamcore.nn.grid.s2_near_identity_grid`): ``psi_{co} = s sum_p W_{cop} delta_{x_p}``,
band-limited to the output bandwidth.  Then ``conj(psi^n_l) = s sum_p W_{cop} Y_l^n(x_p)``
and ``h_o(R) = s sum_{c,p} W_{cop} (P f_c)(R x_p)``: the input, band-limited to
``L = min(b_in, b_out)`` (``P``), read at the kernel points carried by ``R``.  The bias is
the constant (``l = 0``) coefficient.

Steps: analysis (``[B, C_in, 2b_in, 2b_in] -> [2L-1 (m), L (l), B, C_in]``), for each
degree one matrix product ``[(m, B), C_in] @ [C_in, (C_out, n)]`` over the valid
``|m| <= l``, ``0 <= n <= l`` (only ``n >= 0``, the output being real), one scatter into the
padded ``[2L-1 (m), L (n), L (l), B, C_out]`` spectrum, and the SO(3) synthesis on the output
grid (``[B, C_out, 2b_out, 2b_out, 2b_out]``).  Tables are float64 buffers (not saved in the state dict) that follow
``.to()``; ``forward`` casts them to the parameters' dtype.

Initialisation: ``W ~ U(-1, 1)`` and a fixed scale ``s = sqrt(3 / (C_in P v))`` applied in
``forward`` (parameters of order one, as in S2CNN, so the reference optimiser settings
carry over), where ``v = L^2 / (4 b_in^2)`` is the variance left after band-limiting white
noise on the input grid: an input of independent unit-variance samples gives outputs of
about unit variance.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from .grid import s2_near_identity_grid
from .s2fft import _s2_analysis, _s2_analysis_tables_np, _s2_half_to_full
from .wigner import _wigner_D_padded_np
from ._conv import _PointKernelConv
from ._util import as_complex

__all__ = ["S2Convolution"]


def _s2_kernel_basis_np(grid: np.ndarray, n_l: int) -> np.ndarray:
    """``(P, L, L, 2)``: ``[p, l, n] = Y_l^n(beta_p, alpha_p)`` for ``n = 0 .. L-1``, as (re, im)."""
    beta, alpha = grid[:, 0], grid[:, 1]
    # Y_l^n(beta, alpha) = sqrt((2l+1)/4pi) conj(D^l_{n0}(alpha, beta, 0))
    D = _wigner_D_padded_np(n_l, alpha, beta, np.zeros_like(beta))[..., n_l - 1:, n_l - 1]  # [P, l, n >= 0]
    Y = np.conj(D) * np.sqrt((2 * np.arange(n_l) + 1) / (4 * np.pi))[:, None]
    return np.stack([Y.real, Y.imag], axis=-1)


class S2Convolution(_PointKernelConv):
    """Rotation-equivariant convolution of signals on S2, giving signals on SO(3).

    Parameters
    ----------
    in_channels, out_channels : int
        ``C_in`` and ``C_out``.
    b_in : int
        Bandwidth of the input grid (``2 b_in`` samples in beta and alpha).
    b_out : int
        Bandwidth of the output grid (``2 b_out`` samples in beta, alpha, gamma); the
        convolution keeps degrees ``l < min(b_in, b_out)``.
    grid : array-like, optional
        ``(P, 2)`` kernel points ``(beta, alpha)`` in rad; default
        :func:`~kamcore.nn.grid.s2_near_identity_grid` (24 points within pi/8 of the pole).
    bias : bool
        Add a learnable bias per output channel (default true).

    Shape
    -----
    input ``(B, C_in, 2 b_in, 2 b_in)`` (beta, alpha) -> output
    ``(B, C_out, 2 b_out, 2 b_out, 2 b_out)`` (beta, alpha, gamma); float32 or float64,
    the dtype and device of the layer.

    Examples
    --------
    >>> conv = S2Convolution(2, 3, b_in=4, b_out=3)
    >>> conv(torch.randn(5, 2, 8, 8)).shape
    torch.Size([5, 3, 6, 6, 6])
    """

    _n_angles = 2
    _default_grid = staticmethod(s2_near_identity_grid)

    def _input_tables(self, grid: np.ndarray) -> dict[str, np.ndarray]:
        an_alpha, an_beta = _s2_analysis_tables_np(self.b_in, self.n_l)
        return {"_an_alpha": an_alpha, "_an_beta": an_beta, "_kernel_basis": _s2_kernel_basis_np(grid, self.n_l)}

    def _initial_scale(self) -> float:
        L = self.n_l
        return math.sqrt(3.0 / (self.in_channels * self.n_points * (L * L) / (4.0 * self.b_in ** 2)))

    def kernel_spectrum(self) -> torch.Tensor:
        """``conj(psi_{co}{}^n_l)`` for ``n >= 0``: ``(C_in, C_out, L (l), L (n))`` complex."""
        L = self.n_l
        return as_complex(self._kernel_coefficients().view(self.in_channels, self.out_channels, L, L, 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Convolve.

        Parameters
        ----------
        x : torch.Tensor
            ``(B, C_in, 2 b_in, 2 b_in)`` real signal on the S2 grid.

        Returns
        -------
        torch.Tensor
            ``(B, C_out, 2 b_out, 2 b_out, 2 b_out)`` real signal on the SO(3) grid.
        """
        self._check_input(x)
        B, C, O, L, N = x.shape[0], self.in_channels, self.out_channels, self.n_l, 2 * self.b_in
        dt = x.dtype
        f = _s2_analysis(x.reshape(B * C, N, N), self._an_alpha.to(dt), self._an_beta.to(dt))  # [m >= 0, l, B C]
        f = _s2_half_to_full(f).view(2 * L - 1, L, B, C)                                       # [m, l, B, C]
        out = []
        for l, kernel in enumerate(self.kernel_spectrum().unbind(2)):                          # [C, O, n >= 0]
            a = f[L - 1 - l:L + l, l].reshape((2 * l + 1) * B, C)                                # [(m, B), C]
            w = kernel[:, :, :l + 1].reshape(C, O * (l + 1))                                   # [C, (O, n)]
            hl = (a @ w).view(2 * l + 1, B, O, l + 1).permute(0, 3, 1, 2)                       # [m, n, B, O]
            out.append(hl.reshape((2 * l + 1) * (l + 1), B * O))
        return self._synthesize(out, B, dt)

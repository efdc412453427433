r"""SO(3) -> SO(3) convolution with a change of bandwidth (Cohen et al. 2018).

For input channels ``f_c`` and kernels ``psi_{co}`` on the rotation group,

    h_o(R) = sum_c (psi_{co} * f_c)(R) + bias_o,
    (psi * f)(R) = int_SO3 psi(R^-1 Q) f(Q) dQ.

It is equivariant under left translation: ``f -> f(Q^-1 .)`` gives ``h -> h(Q^-1 .)``.
With the expansion ``f(R) = sum c^l_{mn} conj(D^l_{mn}(R))`` of :mod:`kamcore.nn.so3fft`
the integral is a matrix product per degree ``l``:

    h^l_{mk} = sum_c sum_n f_c{}^l_{mn} K_{co}{}^l_{kn},
    K^l_{kn} = (8 pi^2 / (2l+1)) conj(psi^l_{kn}).

The kernel is a weighted sum of point masses on a small set of rotations ``R_p`` (by
default KamNet's :func:`kamcore.nn.grid.so3_equatorial_grid`):
``psi_{co} = s sum_p W_{cop} delta_{R_p}``, so ``K^l_{kn} = s sum_p W_{cop} conj(D^l_{kn}(R_p))``
and ``h_o(R) = s sum_{c,p} W_{cop} (P f_c)(R R_p)``: the input, band-limited to
``L = min(b_in, b_out)`` (``P``), read at the rotations ``R R_p``.  The bias is the
constant (``l = 0``) coefficient.

Steps: analysis (``[B, C_in, 2b_in, 2b_in, 2b_in] -> [2L-1 (m), L (n >= 0), L (l), B, C_in]``),
for each degree one complex matrix product ``[(B m), (C_in n)] @ [(C_in n), (C_out k)]``
over all ``n`` (the ``n < 0`` half follows from the symmetry of real signals) giving
``k >= 0``, and the SO(3) synthesis on the output grid.  Tables are float64 buffers (not
in the state dict), cast to the parameters' dtype in ``forward``.

Initialisation: ``W ~ U(-1, 1)`` with the fixed scale ``s = sqrt(3 / (C_in P v))`` applied
in ``forward``, ``v = L (4 L^2 - 1) / (3 * 8 b_in^3)`` being the variance left after
band-limiting white noise on the input grid (unit-variance input -> about unit-variance
output).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from .grid import so3_equatorial_grid
from .so3fft import _so3_analysis, _so3_analysis_tables_np
from .wigner import _wigner_D_padded_np
from ._conv import _PointKernelConv
from ._util import as_complex, block_indices

__all__ = ["SO3Convolution"]


def _so3_kernel_basis_np(grid: np.ndarray, n_l: int) -> np.ndarray:
    """``(P, S, 2)``: ``conj(D^l_{kn}(R_p))`` as (re, im), packed over ``l``, ``k = 0..l``, ``n = -l..l``."""
    beta, alpha, gamma = grid[:, 0], grid[:, 1], grid[:, 2]
    Dc = np.conj(_wigner_D_padded_np(n_l, alpha, beta, gamma))  # [P, L, M, M]
    c = n_l - 1
    blocks = [Dc[:, l, c:c + l + 1, c - l:c + l + 1].reshape(len(grid), -1) for l in range(n_l)]
    packed = np.concatenate(blocks, axis=1)
    return np.stack([packed.real, packed.imag], axis=-1)


def _full_sign_np(n_l: int) -> np.ndarray:
    """``(2L-1, 2L-1)``: ``(-1)^(m+n)`` for ``m, n = -(L-1) .. L-1``."""
    m = np.arange(-(n_l - 1), n_l)
    return (1.0 - 2.0 * ((m[:, None] + m[None, :]) % 2))


class SO3Convolution(_PointKernelConv):
    """Rotation-equivariant convolution of signals on SO(3), with a change of bandwidth.

    Parameters
    ----------
    in_channels, out_channels : int
        ``C_in`` and ``C_out``.
    b_in, b_out : int
        Bandwidths of the input and output grids (``2b`` samples per Euler angle); the
        convolution keeps degrees ``l < min(b_in, b_out)``.
    grid : array-like, optional
        ``(P, 3)`` kernel rotations ``(beta, alpha, gamma)`` in rad; default
        :func:`~kamcore.nn.grid.so3_equatorial_grid` (64 rotations, KamNet's ``so3_eq``).
    bias : bool
        Add a learnable bias per output channel (default true).

    Shape
    -----
    input ``(B, C_in, 2 b_in, 2 b_in, 2 b_in)`` -> output ``(B, C_out, 2 b_out, 2 b_out, 2 b_out)``,
    axes (beta, alpha, gamma); float32 or float64, the dtype and device of the layer.

    Examples
    --------
    >>> conv = SO3Convolution(3, 4, b_in=3, b_out=2)
    >>> conv(torch.randn(2, 3, 6, 6, 6)).shape
    torch.Size([2, 4, 4, 4, 4])
    """

    _n_angles = 3
    _default_grid = staticmethod(so3_equatorial_grid)

    def _input_tables(self, grid: np.ndarray) -> dict[str, np.ndarray]:
        L = self.n_l
        an_gamma, an_alpha, an_beta = _so3_analysis_tables_np(self.b_in, L)
        self._block_sizes = [(2 * l + 1) * (l + 1) for l in range(L)]
        self.register_buffer("_gather", torch.from_numpy(block_indices(L)[0]), persistent=False)
        return {"_an_gamma": an_gamma, "_an_alpha": an_alpha, "_an_beta": an_beta, "_sign": _full_sign_np(L),
                "_kernel_basis": _so3_kernel_basis_np(grid, L)}

    def _initial_scale(self) -> float:
        L = self.n_l
        v = L * (4 * L * L - 1) / 3.0 / (8.0 * self.b_in ** 3)
        return math.sqrt(3.0 / (self.in_channels * self.n_points * v))

    def kernel_spectrum(self) -> list[torch.Tensor]:
        """``K^l_{kn}`` for ``k >= 0``: one ``(C_in, C_out, l+1 (k), 2l+1 (n))`` complex tensor per ``l < L``."""
        C, O = self.in_channels, self.out_channels
        k = as_complex(self._kernel_coefficients())
        return [kl.reshape(C, O, l + 1, 2 * l + 1) for l, kl in enumerate(torch.split(k, self._block_sizes, dim=2))]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Convolve.

        Parameters
        ----------
        x : torch.Tensor
            ``(B, C_in, 2 b_in, 2 b_in, 2 b_in)`` real signal on the SO(3) grid.

        Returns
        -------
        torch.Tensor
            ``(B, C_out, 2 b_out, 2 b_out, 2 b_out)`` real signal on the SO(3) grid.
        """
        self._check_input(x)
        B, C, O, N = x.shape[0], self.in_channels, self.out_channels, 2 * self.b_in
        dt, c = x.dtype, self.n_l - 1
        f = _so3_analysis(x.reshape(B * C, N, N, N), self._an_gamma.to(dt), self._an_alpha.to(dt),
                          self._an_beta.to(dt))                                # [m, n >= 0, l, B C]
        # gather the valid (m, n >= 0) block of every degree: one copy, and one scatter back
        blocks = torch.split(f.view(-1, B * C).index_select(0, self._gather), self._block_sizes)
        sign = self._sign.to(dt)
        out = []
        for l, (fl, kernel) in enumerate(zip(blocks, self.kernel_spectrum())):
            fl = fl.view(2 * l + 1, l + 1, B, C)                                # [m, n >= 0, B, C]
            if l > 0:  # n < 0 from f_{-m,-n} = (-1)^(m+n) conj(f_{mn})
                neg = torch.conj(fl[:, 1:].flip(0, 1)) * sign[c - l:c + l + 1, c - l:c, None, None]
                fl = torch.cat([neg, fl], dim=1)                                # [m, n, B, C]
            a = fl.permute(2, 0, 3, 1).reshape(B * (2 * l + 1), C * (2 * l + 1))
            w = kernel.permute(0, 3, 1, 2).reshape(C * (2 * l + 1), O * (l + 1))
            hl = (a @ w).view(B, 2 * l + 1, O, l + 1).permute(1, 3, 0, 2)      # [m, k >= 0, B, O]
            out.append(hl.reshape((2 * l + 1) * (l + 1), B * O))
        return self._synthesize(out, B, dt)


r"""What the two point-kernel convolutions (:mod:`~kamcore.nn.s2conv`, :mod:`~kamcore.nn.so3conv`) share.

Both layers map ``C_in`` channels on an input grid of bandwidth ``b_in`` (S2 or SO(3)) to
``C_out`` channels on the SO(3) grid of bandwidth ``b_out``, keep the degrees
``l < L = min(b_in, b_out)``, and carry one learnable weight ``W_{cop}`` per input channel,
output channel and kernel point (``(P, 2)`` points of S2 or ``(P, 3)`` rotations, in rad),
used as ``s W`` with a fixed scale ``s``.  Both end the same way: the per-degree output
blocks ``h^l_{mn}`` (``n >= 0``), with the bias on the constant ``l = 0`` coefficient, are
scattered into the padded ``[2L-1 (m), L (n), L (l), B C_out]`` spectrum and synthesised on
the output grid (:mod:`~kamcore.nn.so3fft`).

:class:`_PointKernelConv` holds those parts; a subclass sets ``_n_angles`` (2 on S2, 3 on
SO(3): the input grid axes and the kernel grid columns) and ``_default_grid`` (the kernel
grid function), and supplies its analysis and kernel-basis tables (``_input_tables``), its
scale (``_initial_scale``) and ``forward``.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .grid import _as_grid, _check_bandwidth
from .so3fft import _so3_synthesis, _so3_synthesis_tables_np
from ._util import block_indices, check_input, check_positive_int, register_tables


class _PointKernelConv(nn.Module):
    """Base of :class:`~kamcore.nn.S2Convolution` and :class:`~kamcore.nn.SO3Convolution`.

    Parameters
    ----------
    in_channels, out_channels : int
        ``C_in`` and ``C_out``.
    b_in, b_out : int
        Bandwidths of the input and output grids.
    grid : array-like, optional
        ``(P, _n_angles)`` kernel points in rad; default ``_default_grid()``.
    bias : bool
        Add a learnable bias per output channel (default true).
    """

    _n_angles: int
    _default_grid: staticmethod

    def __init__(self, in_channels: int, out_channels: int, b_in: int, b_out: int, grid=None,
                 bias: bool = True):
        super().__init__()
        self.in_channels = check_positive_int(in_channels, "in_channels")
        self.out_channels = check_positive_int(out_channels, "out_channels")
        self.b_in, self.b_out = _check_bandwidth(b_in, "b_in"), _check_bandwidth(b_out, "b_out")
        grid = _as_grid(self._default_grid() if grid is None else grid, self._n_angles, "grid")
        self.n_l = L = min(self.b_in, self.b_out)
        self.n_points = grid.shape[0]
        syn_beta, syn_alpha, syn_gamma = _so3_synthesis_tables_np(self.b_out, L)
        # float64 tables, cast to the parameters' dtype in forward (a no-op after .double() or
        # .float()), so a layer made in float32 and then converted to float64 stays exact.
        self.register_buffer("_scatter", torch.from_numpy(block_indices(L)[1]), persistent=False)
        register_tables(self, {"grid": grid, **self._input_tables(grid),
                               "_syn_beta": syn_beta, "_syn_alpha": syn_alpha, "_syn_gamma": syn_gamma})
        self.weight = nn.Parameter(torch.empty(self.in_channels, self.out_channels, self.n_points))
        self.bias = nn.Parameter(torch.empty(self.out_channels)) if bias else None
        self.scale = self._initial_scale()
        self.reset_parameters()

    def _input_tables(self, grid: np.ndarray) -> dict[str, np.ndarray]:
        """The subclass's float64 tables (analysis, ``_kernel_basis``), by buffer name."""
        raise NotImplementedError

    def _initial_scale(self) -> float:
        """The fixed scale ``s`` of the weights (the module docstrings give the formulas)."""
        raise NotImplementedError

    def reset_parameters(self) -> None:
        """``weight ~ U(-1, 1)`` (torch's global generator), ``bias = 0``."""
        with torch.no_grad():
            self.weight.uniform_(-1.0, 1.0)
            if self.bias is not None:
                self.bias.zero_()

    def _kernel_coefficients(self) -> torch.Tensor:
        """``s sum_p W_{cop} K_p`` for the kernel basis ``K``: ``(C_in, C_out, S, 2)`` real, (re, im) pairs."""
        P = self.n_points
        w = (self.weight * self.scale).reshape(-1, P)  # [C_in C_out, P]
        k = w @ self._kernel_basis.to(w.dtype).reshape(P, -1)
        return k.view(self.in_channels, self.out_channels, -1, 2)

    def _check_input(self, x: torch.Tensor) -> None:
        """Readable error unless ``x`` is ``(B, C_in, 2 b_in, ...)`` in the parameters' dtype."""
        check_input(x, self.in_channels, self.b_in, self._n_angles, self.weight.dtype, type(self).__name__)

    def _synthesize(self, blocks: list[torch.Tensor], batch: int, dtype: torch.dtype) -> torch.Tensor:
        """The output signal from its per-degree spectrum.

        Parameters
        ----------
        blocks : list of torch.Tensor
            ``L`` complex blocks, block ``l`` of shape ``((2l+1)(l+1), B C_out)``: ``h^l_{mn}``
            for ``|m| <= l``, ``0 <= n <= l`` in ``(m, n)`` order, without the bias.
        batch : int
            ``B``.
        dtype : torch.dtype
            Real dtype of the input (float32 or float64).

        Returns
        -------
        torch.Tensor
            ``(B, C_out, 2 b_out, 2 b_out, 2 b_out)`` real signal on the SO(3) grid.
        """
        B, O, L = batch, self.out_channels, self.n_l
        if self.bias is not None:
            blocks = [blocks[0] + self.bias.repeat(B).to(blocks[0].dtype), *blocks[1:]]  # constant term
        h = torch.cat([*blocks, blocks[0].new_zeros(1, B * O)]).index_select(0, self._scatter)  # [m, n >= 0, l, B O]
        y = _so3_synthesis(h.view(2 * L - 1, L, L, B * O), self._syn_beta.to(dtype), self._syn_alpha.to(dtype),
                           self._syn_gamma.to(dtype))
        return y.view(B, O, *y.shape[1:])

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, b_in={self.b_in}, b_out={self.b_out}, "
                f"grid_points={self.n_points}, bias={self.bias is not None}")

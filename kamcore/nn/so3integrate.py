"""Integration over SO(3) with the Haar measure (the invariant pooling of the spherical CNN).

For a signal on the SOFT grid of bandwidth ``b`` (:mod:`kamcore.nn.grid`),

    int_SO3 f(R) dR = (pi / b)^2 sum_{j,k,p} w_j f(beta_j, alpha_k, gamma_p),

exact for band-limited ``f`` (``8 pi^2 c^0_{00}`` in terms of :func:`kamcore.nn.so3_fft`).
The default is the normalised Haar measure (total mass 1), i.e. the mean over the group,
so a constant signal integrates to itself.  The result is invariant under rotations
``f -> f(Q^-1 .)`` exactly for grid rotations and band-limited signals.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .grid import _soft_weights_np
from ._util import grid_bandwidth, table

__all__ = ["so3_integrate", "SO3Integrate"]


def so3_integrate(x: torch.Tensor, *, normalized: bool = True) -> torch.Tensor:
    """Integrate signals on the SO(3) grid over the group.

    Parameters
    ----------
    x : torch.Tensor
        ``[..., 2b, 2b, 2b]`` (beta, alpha, gamma) samples, e.g. ``(B, C, 2b, 2b, 2b)``.
    normalized : bool
        If true (default), integrate with the normalised Haar measure (mean over SO(3));
        otherwise with ``dR = sin(beta) d(alpha) d(beta) d(gamma)`` of total mass ``8 pi^2``.

    Returns
    -------
    torch.Tensor
        ``[...]``, e.g. ``(B, C)``.

    Examples
    --------
    >>> print(f"{so3_integrate(torch.full((6, 6, 6), 2.0, dtype=torch.float64)).item():.12f}")
    2.000000000000
    """
    b = grid_bandwidth(x, 3, "x")
    w = table(_soft_weights_np(b), x) / (8.0 * b * b)  # normalised: sum_j w_j (2b)^2 / (8 b^2) = 1
    if not normalized:
        w = w * (8 * math.pi ** 2)
    return torch.einsum("...jkp,j->...", x, w.to(x.dtype))


class SO3Integrate(nn.Module):
    """Module form of :func:`so3_integrate`: ``(B, C, 2b, 2b, 2b) -> (B, C)``.

    Parameters
    ----------
    normalized : bool
        Normalised Haar measure (mean over SO(3), default) or total mass ``8 pi^2``.

    Examples
    --------
    >>> SO3Integrate()(torch.ones(2, 3, 4, 4, 4)).shape
    torch.Size([2, 3])
    """

    def __init__(self, normalized: bool = True):
        super().__init__()
        self.normalized = bool(normalized)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C, 2b, 2b, 2b) -> (B, C)``."""
        return so3_integrate(x, normalized=self.normalized)

    def extra_repr(self) -> str:
        return f"normalized={self.normalized}"

"""PointNet building blocks: the shared MLP, the spatial-transform network and its orthogonality loss
(the representation and the math are in :mod:`kamcore.nn.pointnet`)."""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from ...errors import ConfigError


#: network features per point: x, y, z (scaled), t (scaled), q (scaled), trigger
N_FEATURES = 6
_NORMS = ("batch", "layer", "none")
_POOLS = ("max", "max_mean", "max_hitmean")


def orthogonality_loss(a: torch.Tensor) -> torch.Tensor:
    """Mean squared Frobenius distance of ``A A^T`` from the identity.

    Parameters
    ----------
    a : (B, k, k) or (k, k) tensor
        Transform matrices.

    Returns
    -------
    () tensor
        ``mean_b ||I - A_b A_b^T||_F^2`` (zero exactly when every ``A_b`` is orthogonal).

    Examples
    --------
    >>> float(orthogonality_loss(torch.eye(3)))
    0.0
    >>> float(orthogonality_loss(2 * torch.eye(3)))  # (1 - 4)^2 on 3 diagonal entries
    27.0
    """
    if a.dim() == 2:
        a = a[None]
    if a.dim() != 3 or a.shape[-1] != a.shape[-2]:
        raise ConfigError(f"orthogonality_loss expects (B, k, k) matrices, got shape {tuple(a.shape)}")
    eye = torch.eye(a.shape[-1], dtype=a.dtype, device=a.device)
    diff = eye - a @ a.transpose(1, 2)
    return diff.pow(2).sum((1, 2)).mean()


def _check_norm(norm: str) -> str:
    if norm not in _NORMS:
        raise ConfigError(f"norm must be one of {list(_NORMS)}, got {norm!r}")
    return norm


class _Norm(nn.Module):
    """Normalisation over the last (channel) axis of ``(..., C)``: batch, layer or none.

    Batch norm takes its statistics over every leading axis (events and points),
    exactly as ``BatchNorm1d`` does on a ``(B, C, P)`` tensor.
    """

    def __init__(self, channels: int, norm: str):
        super().__init__()
        self.kind = _check_norm(norm)
        if norm == "batch":
            self.norm = nn.BatchNorm1d(channels)
        elif norm == "layer":
            self.norm = nn.LayerNorm(channels)
        else:
            self.norm = nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.kind == "batch":
            return self.norm(x.reshape(-1, x.shape[-1])).reshape(x.shape)
        return self.norm(x)


class SharedMLP(nn.Module):
    """The same ``Linear -> norm -> ReLU`` stack applied to every point (a 1x1 convolution).

    Parameters
    ----------
    in_features : int
    widths : sequence of int
        Output width of each layer.
    norm : {"batch", "layer", "none"}
    last_activation : bool
        Apply norm and ReLU after the last layer too (False: PointNet's last layer
        before the max pool keeps norm but no ReLU).

    Shapes: ``(..., in_features) -> (..., widths[-1])``.
    """

    def __init__(self, in_features: int, widths: Sequence[int], norm: str = "batch", last_activation: bool = True):
        super().__init__()
        if not widths:
            raise ConfigError("SharedMLP needs at least one layer width")
        layers: list[nn.Module] = []
        c = in_features
        for i, w in enumerate(widths):
            last = i == len(widths) - 1
            layers += [nn.Linear(c, w), _Norm(w, norm)]
            if not last or last_activation:
                layers.append(nn.ReLU())
            c = w
        self.layers = nn.Sequential(*layers)
        self.out_features = c

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


class TransformNet(nn.Module):
    """Spatial-transform network: a small PointNet that predicts a ``k x k`` matrix.

    ``A = I + head(max_p mlp(x))``; the head's last layer starts at zero, so the
    transform starts as the identity.

    Parameters
    ----------
    k : int
        Size of the predicted matrix (3 for the input transform, C1 for the feature one).
    in_features : int
        Features per point read by the network (``k`` in PointNet).
    point_widths, fc_widths : sequence of int
        Shared-MLP widths before the max pool and fully connected widths after it
        (PointNet: ``(64, 128, 1024)`` and ``(512, 256)``).
    norm : {"batch", "layer", "none"}

    Shapes: ``(B, P, in_features) -> (B, k, k)``.
    """

    def __init__(self, k: int, in_features: int, point_widths: Sequence[int] = (64, 128, 1024),
                 fc_widths: Sequence[int] = (512, 256), norm: str = "batch"):
        super().__init__()
        self.k = k
        self.mlp = SharedMLP(in_features, point_widths, norm)
        self.fc = SharedMLP(self.mlp.out_features, fc_widths, norm) if fc_widths else nn.Identity()
        width = fc_widths[-1] if fc_widths else self.mlp.out_features
        self.out = nn.Linear(width, k * k)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        g = self.mlp(x).amax(1)                          # (B, C)
        a = self.out(self.fc(g)).view(-1, self.k, self.k)  # (B, k, k)
        return a + torch.eye(self.k, dtype=a.dtype, device=a.device)

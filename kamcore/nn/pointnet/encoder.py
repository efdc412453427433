"""The PointNet encoder: input and feature transforms, shared MLPs, the pooling over points."""

from __future__ import annotations

from typing import NamedTuple, Sequence

import torch
from torch import nn

from ...errors import ConfigError
from .layers import _POOLS, N_FEATURES, SharedMLP, TransformNet, _check_norm


class PointNetOutput(NamedTuple):
    """What :class:`PointNetEncoder` returns."""

    feature: torch.Tensor  #: (B, G) global feature
    input_transform: torch.Tensor | None  #: (B, 3, 3) or None
    feature_transform: torch.Tensor | None  #: (B, C1, C1) or None


class PointNetEncoder(nn.Module):
    """PointNet global feature of a point cloud (see the module docstring).

    Parameters
    ----------
    in_features : int
        ``F``, features per point; the first three are the coordinates the input
        transform acts on (:data:`N_FEATURES` = 6 for the generators).
    point_widths : sequence of int
        Shared-MLP widths; the feature transform acts after the first layer
        (PointNet: ``(64, 128, 1024)``, so ``A_feat`` is ``64 x 64`` and ``G = 1024``).
    transform_widths, transform_fc_widths : sequence of int
        Widths of the two transform networks.
    input_transform, feature_transform : bool
        Use the ``3 x 3`` input transform and the ``C1 x C1`` feature transform.
    norm : {"batch", "layer", "none"}
        Normalisation in every layer (PointNet: batch; a WGAN-GP critic: layer or none).
    pool : {"max", "max_mean", "max_hitmean"}
        Global pooling over the points: the max (PointNet); or the max and a mean side
        by side (``2 G`` features): "max_mean" the mean over all ``P`` rows, "max_hitmean"
        the mean over the rows weighted by the last input feature (the trigger channel of
        the double sphere: the mean over the hits, unchanged by adding untriggered rows).
        A max is blind to how many points share a feature value and to their density on
        the sphere: a max-pooled critic cannot count triggered PMTs (the mean over all
        rows can), and a max-pooled encoder barely sees the vertex dipole of the hit
        pattern (the mean over the hits does).

    Shapes: ``x (B, P, F) -> PointNetOutput(feature (B, G) or (B, 2G), (B, 3, 3) | None, (B, C1, C1) | None)``.
    The feature is invariant to permutations of the ``P`` points.

    Examples
    --------
    >>> enc = PointNetEncoder(6, (8, 16), transform_widths=(8,), transform_fc_widths=(8,)).eval()
    >>> out = enc(torch.randn(2, 10, 6))
    >>> tuple(out.feature.shape), tuple(out.input_transform.shape), tuple(out.feature_transform.shape)
    ((2, 16), (2, 3, 3), (2, 8, 8))
    """

    def __init__(self, in_features: int = N_FEATURES, point_widths: Sequence[int] = (64, 128, 1024), *,
                 transform_widths: Sequence[int] = (64, 128, 1024), transform_fc_widths: Sequence[int] = (512, 256),
                 input_transform: bool = True, feature_transform: bool = True, norm: str = "batch",
                 pool: str = "max"):
        super().__init__()
        _check_norm(norm)
        point_widths = list(point_widths)
        if len(point_widths) < 2 and feature_transform:
            raise ConfigError(f"point_widths needs at least two layers with a feature transform, got {point_widths}")
        if in_features < 3 and input_transform:
            raise ConfigError(f"the input transform needs x, y, z among the features, got in_features={in_features}")
        self.in_features = in_features
        self.stn = TransformNet(3, 3, transform_widths, transform_fc_widths, norm) if input_transform else None
        self.first = SharedMLP(in_features, point_widths[:1], norm)
        c1 = point_widths[0]
        self.fstn = TransformNet(c1, c1, transform_widths, transform_fc_widths, norm) if feature_transform else None
        rest = point_widths[1:]
        self.rest = SharedMLP(c1, rest, norm, last_activation=False) if rest else nn.Identity()
        if pool not in _POOLS:
            raise ConfigError(f"pool must be one of {list(_POOLS)}, got {pool!r}")
        self.pool = pool
        self.out_features = point_widths[-1] * (1 if pool == "max" else 2)

    def forward(self, x: torch.Tensor) -> PointNetOutput:
        if x.dim() != 3 or x.shape[-1] != self.in_features:
            raise ConfigError(f"PointNetEncoder expects (B, P, {self.in_features}) points, got {tuple(x.shape)}")
        a_in = a_feat = None
        weight = x[..., -1]                                        # (B, P) trigger channel (max_hitmean)
        if self.stn is not None:
            a_in = self.stn(x[..., :3])                            # (B, 3, 3)
            x = torch.cat([x[..., :3] @ a_in, x[..., 3:]], -1)     # (B, P, F)
        h = self.first(x)                                          # (B, P, C1)
        if self.fstn is not None:
            a_feat = self.fstn(h)                                  # (B, C1, C1)
            h = h @ a_feat
        h = self.rest(h)                                           # (B, P, G)
        if self.pool == "max":
            g = h.amax(1)                                          # (B, G)
        elif self.pool == "max_mean":
            g = torch.cat([h.amax(1), h.mean(1)], -1)              # (B, 2G)
        else:                                                      # max_hitmean: mean over triggered rows
            s = weight[..., None]                                  # (B, P, 1)
            g = torch.cat([h.amax(1), (h * s).sum(1) / s.sum(1).clamp_min(1e-6)], -1)
        return PointNetOutput(g, a_in, a_feat)

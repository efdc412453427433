"""PointNet blocks and the point-cloud representation shared by the VAE and the WGAN-GP.

PointNet (Qi et al., arXiv:1612.00593; generative-models paper, sec. 3.1) reads an
unordered set of ``P`` points with ``F`` features each, ``x`` of shape ``(B, P, F)``:

    x'   = [x_xyz A_in, x_rest]                  A_in = T_in(x_xyz)        (B, 3, 3)
    h    = phi_1(x')                             shared MLP               (B, P, C1)
    h'   = h A_feat                              A_feat = T_feat(h)       (B, C1, C1)
    g    = max_p phi_2(h')                       shared MLP + max pool    (B, G)

``phi`` is applied to every point with the same weights (a 1x1 convolution), and the
max over points makes ``g`` invariant to the order of the points.  ``T_in`` and
``T_feat`` are the spatial-transform networks ("stn" and "fstn" of the paper's Fig. 2):
small PointNets of their own whose fully connected head emits a ``k x k`` matrix,
initialised to the identity.  The feature transform is pulled towards an orthogonal
matrix by :func:`orthogonality_loss` ``||I - A A^T||_F^2``.

Choice (documented in DESIGN 5 terms): the input transform is ``3 x 3`` and acts on the
PMT coordinates only, as in PointNet, where it aligns the spatial frame.  Mixing time
and charge into the coordinates with a ``k x k`` transform over all features has no
physical meaning (they are not a vector under rotations), so ``t``, ``q`` and the
trigger channel pass through unchanged.

Representation of one event (the paper's "concentric double sphere", DESIGN 4), built
by :class:`PointCloudScaler` from ``kamcore.preprocess.point_clouds`` output:

    features[p] = s_p * [x_p / R, y_p / R, z_p / R, (t_p - mu_t) / sigma_t,
                         (log q_p - mu_lq) / sigma_lq, 1]                   (P, 6)

with ``s_p = 1`` for a triggered PMT and ``0`` otherwise (untriggered PMTs sit at the
origin), ``R`` the PMT-sphere radius (cm), ``mu_t, sigma_t`` (ns) and ``mu_lq,
sigma_lq`` (log p.e.) fitted on the triggered hits of the training set.  The last
channel is the trigger bit.  For generator output ``s_p`` is the trigger probability
``sigmoid(logit_p)`` (differentiable, used by the WGAN critic) or a Bernoulli draw.
The statistics are buffers, so the inverse transform travels with the checkpoint.

Shape letters: B batch, P points (= PMTs, 1879 for the detector), F features,
C channels, G global feature width, k transform size.
"""

from __future__ import annotations

from typing import NamedTuple, Sequence

import numpy as np
import torch
from torch import nn

from ..errors import ConfigError

__all__ = [
    "N_FEATURES",
    "orthogonality_loss",
    "SharedMLP",
    "TransformNet",
    "PointNetEncoder",
    "PointNetOutput",
    "PointCloudScaler",
    "PMTDecoder",
    "HitSample",
    "SAMPLE_CHUNK",
    "TRIGGER_LEVELS",
    "TriggerDraws",
    "sample_hits",
    "OutputCalibration",
]

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


class PointCloudScaler(nn.Module):
    """Physical point clouds <-> network features, with the statistics as buffers.

    ``transform`` builds the ``(..., P, 6)`` features of the module docstring from
    ``points (..., P, 5) = [x_cm, y_cm, z_cm, t_ns, q_pe]`` and ``trigger (..., P)``;
    ``inverse_transform`` maps features back.  Charges are floored at ``q_floor_pe``
    before the logarithm.

    Parameters
    ----------
    n_pmts : int
        ``P``.

    Buffers
    -------
    pmt_xyz_cm : (P, 3), PMT positions, cm
    radius_cm : (), PMT-sphere radius R, cm
    t_mean_ns, t_std_ns : (), hit-time mean and spread, ns
    logq_mean, logq_std : (), mean and spread of log(q / p.e.)
    fitted : () bool

    Examples
    --------
    >>> xyz = torch.tensor([[900., 0, 0], [0, 900., 0], [0, 0, 900.]])
    >>> pts = torch.tensor([[[900., 0, 0, -2.0, 1.5], [0, 0, 0, 0, 0], [0, 0, 900., 4.0, 0.5]]])
    >>> trig = torch.tensor([[True, False, True]])
    >>> sc = PointCloudScaler(3).fit(pts, trig, xyz)
    >>> back, btrig = sc.inverse_transform(sc.transform(pts, trig))
    >>> torch.allclose(back, pts, atol=1e-5), bool((btrig == trig).all())
    (True, True)
    """

    q_floor_pe = 1e-3

    def __init__(self, n_pmts: int):
        super().__init__()
        self.n_pmts = n_pmts
        self.register_buffer("pmt_xyz_cm", torch.zeros(n_pmts, 3))
        self.register_buffer("radius_cm", torch.tensor(1.0))
        self.register_buffer("t_mean_ns", torch.tensor(0.0))
        self.register_buffer("t_std_ns", torch.tensor(1.0))
        self.register_buffer("logq_mean", torch.tensor(0.0))
        self.register_buffer("logq_std", torch.tensor(1.0))
        self.register_buffer("fitted", torch.tensor(False))

    def _check(self, points: torch.Tensor, trigger: torch.Tensor) -> None:
        if points.shape[-2:] != (self.n_pmts, 5) or tuple(trigger.shape) != tuple(points.shape[:-1]):
            raise ConfigError(f"expected points (B, {self.n_pmts}, 5) and trigger (B, {self.n_pmts}), "
                              f"got {tuple(points.shape)} and {tuple(trigger.shape)}")

    @torch.no_grad()
    def fit(self, points: torch.Tensor, trigger: torch.Tensor, pmt_xyz_cm: torch.Tensor) -> "PointCloudScaler":
        """Fit the statistics on the triggered hits; returns ``self``.

        Parameters
        ----------
        points : (N, P, 5) [x_cm, y_cm, z_cm, t_ns, q_pe]
        trigger : (N, P) bool
        pmt_xyz_cm : (P, 3), cm
            PMT positions (the decoders emit one row per PMT index).
        """
        points = torch.as_tensor(points)
        trigger = torch.as_tensor(trigger, dtype=torch.bool)
        self._check(points, trigger)
        xyz = torch.as_tensor(pmt_xyz_cm, dtype=torch.float64)
        if tuple(xyz.shape) != (self.n_pmts, 3):
            raise ConfigError(f"pmt_xyz_cm must have shape ({self.n_pmts}, 3), got {tuple(xyz.shape)}")
        hits = points[trigger].to(torch.float64)                  # (H, 5)
        if len(hits) < 2:
            raise ConfigError(f"cannot fit the point-cloud scaler on {len(hits)} triggered hits (need >= 2)")
        t, lq = hits[:, 3], torch.log(hits[:, 4].clamp_min(self.q_floor_pe))
        self.pmt_xyz_cm.copy_(xyz)
        self.radius_cm.fill_(float(xyz.norm(dim=1).max().clamp_min(1e-6)))
        self.t_mean_ns.fill_(float(t.mean()))
        self.t_std_ns.fill_(float(t.std().clamp_min(1e-6)))
        self.logq_mean.fill_(float(lq.mean()))
        self.logq_std.fill_(float(lq.std().clamp_min(1e-6)))
        self.fitted.fill_(True)
        return self

    def scale_t(self, t_ns: torch.Tensor) -> torch.Tensor:
        """``(t - mu_t) / sigma_t``, any shape."""
        return (t_ns - self.t_mean_ns) / self.t_std_ns

    def scale_q(self, q_pe: torch.Tensor) -> torch.Tensor:
        """``(log max(q, q_floor) - mu_lq) / sigma_lq``, any shape."""
        return (torch.log(q_pe.clamp_min(self.q_floor_pe)) - self.logq_mean) / self.logq_std

    def unscale_t(self, t_hat: torch.Tensor) -> torch.Tensor:
        """Inverse of :meth:`scale_t`: ns."""
        return t_hat * self.t_std_ns + self.t_mean_ns

    def unscale_q(self, q_hat: torch.Tensor) -> torch.Tensor:
        """Inverse of :meth:`scale_q`: p.e. (always positive)."""
        return torch.exp(q_hat * self.logq_std + self.logq_mean)

    def transform(self, points: torch.Tensor, trigger: torch.Tensor) -> torch.Tensor:
        """Network features ``(..., P, 6)`` of physical point clouds (zeros where untriggered).

        Parameters
        ----------
        points : (..., P, 5) float, [x_cm, y_cm, z_cm, t_ns, q_pe]
        trigger : (..., P) bool
        """
        self._check(points, trigger)
        s = trigger.to(points.dtype)[..., None]
        feats = torch.cat([points[..., :3] / self.radius_cm, self.scale_t(points[..., 3:4]),
                           self.scale_q(points[..., 4:5]), torch.ones_like(points[..., :1])], -1)
        return feats * s

    def inverse_transform(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Physical ``points (..., P, 5)`` and ``trigger (..., P) bool`` of features ``(..., P, 6)``.

        A row is triggered when its trigger channel exceeds 0.5; untriggered rows are zeros.
        """
        trigger = features[..., 5] > 0.5
        points = torch.cat([features[..., :3] * self.radius_cm, self.unscale_t(features[..., 3:4]),
                            self.unscale_q(features[..., 4:5])], -1)
        return points * trigger[..., None].to(points.dtype), trigger

    def output_features(self, raw: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        """Features ``(B, P, 6)`` of decoder output ``raw (B, P, 3) = [logit, t_hat, q_hat]``.

        ``weight (B, P)`` is the trigger weight ``s_p``: probabilities (soft, for a critic)
        or 0/1 draws.  Coordinates are the PMT positions over ``R``.
        """
        xyz = (self.pmt_xyz_cm / self.radius_cm).to(raw.dtype).expand(raw.shape[0], -1, -1)
        feats = torch.cat([xyz, raw[..., 1:3], torch.ones_like(raw[..., :1])], -1)
        return feats * weight[..., None]

    def output_points(self, raw: torch.Tensor, trigger: torch.Tensor) -> torch.Tensor:
        """Physical ``points (B, P, 5)`` of decoder output with ``trigger (B, P) bool`` (zeros where off)."""
        xyz = self.pmt_xyz_cm.to(raw.dtype).expand(raw.shape[0], -1, -1)
        pts = torch.cat([xyz, self.unscale_t(raw[..., 1:2]), self.unscale_q(raw[..., 2:3])], -1)
        return pts * trigger[..., None].to(pts.dtype)

    def extra_repr(self) -> str:
        return f"n_pmts={self.n_pmts}, fitted={bool(self.fitted)}"


class PMTDecoder(nn.Module):
    """Fully connected decoder: latent ``(B, L)`` -> per-PMT ``(B, P, 3) = [trigger logit, t_hat, q_hat]``.

    ``Linear -> ReLU`` hidden layers (optionally layer-normalised), then one linear
    layer with ``3 P`` outputs, optionally factorised through ``rank`` features
    (``W = W_out W_low``, no non-linearity in between: the output layer dominates the
    sampling cost, ``width x 3P`` multiply-adds per event, and a rank-``r`` factor
    costs ``r (width + 3P)``).  ``t_hat`` and ``q_hat`` are in the scaled units of
    :class:`PointCloudScaler`.

    Parameters
    ----------
    latent_dim : int
    widths : sequence of int
        Hidden widths.
    n_pmts : int
    norm : {"layer", "none", "batch"}
    rank : int
        0 (default): a full output layer; otherwise the rank of the factorised one.

    Examples
    --------
    >>> dec = PMTDecoder(4, [16], 10, rank=3)
    >>> tuple(dec(torch.zeros(2, 4)).shape), tuple(dec.low.weight.shape)
    ((2, 10, 3), (3, 16))
    """

    def __init__(self, latent_dim: int, widths: Sequence[int], n_pmts: int, norm: str = "none", rank: int = 0):
        super().__init__()
        if rank < 0:
            raise ConfigError(f"decoder rank must be >= 0 (0: full output layer), got {rank}")
        self.n_pmts = n_pmts
        self.hidden = SharedMLP(latent_dim, widths, norm) if widths else nn.Identity()
        width = widths[-1] if widths else latent_dim
        self.low = nn.Linear(width, rank, bias=False) if rank else nn.Identity()
        self.out = nn.Linear(rank or width, 3 * n_pmts)

    @torch.no_grad()
    def init_output_bias(self, trigger_rate: torch.Tensor) -> None:
        """Start the logits at ``logit(rate)`` per PMT and ``t_hat = q_hat = 0`` (the training means).

        ``trigger_rate (P,)`` in [0, 1] (clipped to [1e-3, 1 - 1e-3]).
        """
        r = torch.as_tensor(trigger_rate, dtype=self.out.bias.dtype, device=self.out.bias.device)
        r = r.clamp(1e-3, 1 - 1e-3)
        bias = self.out.bias.view(self.n_pmts, 3)
        bias[:, 0] = torch.log(r / (1 - r))
        bias[:, 1:] = 0.0

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.out(self.features(z)).view(z.shape[0], self.n_pmts, 3)  # (B, P, 3)

    def features(self, z: torch.Tensor) -> torch.Tensor:
        """Input of the output layer: ``z (B, L) -> (B, rank or width)``."""
        if torch.is_grad_enabled() or not self._plain_hidden():
            return self.low(self.hidden(z))
        for lin in self.hidden.layers[::3]:                 # sampling: Linear -> ReLU fused, in place
            z = torch.addmm(lin.bias, z, lin.weight.t()).relu_()
        return self.low(z)

    def _plain_hidden(self) -> bool:
        """The hidden layers are ``Linear -> (no norm) -> ReLU`` triples."""
        layers = getattr(self.hidden, "layers", ())
        return len(layers) > 0 and len(layers) % 3 == 0 and all(
            isinstance(layers[i], nn.Linear) and getattr(layers[i + 1], "kind", None) == "none"
            and isinstance(layers[i + 2], nn.ReLU) for i in range(0, len(layers), 3))

    def split_output(self) -> tuple[torch.Tensor, ...]:
        """The output layer split by quantity: ``(w_logit, b_logit, w_t, b_t, w_q, b_q)``, each ``w (K, P)``, ``b (P,)``.

        ``K`` is the rank (or the last hidden width), so ``f @ w_logit + b_logit`` are the
        trigger logits of features ``f (B, K)``, and likewise ``t_hat`` and ``q_hat``.
        Together they equal :attr:`out` (same weights, regrouped and transposed: ``f @ w``
        runs a little faster than ``f @ W.T`` here, and one plane per quantity lets the
        sampler gather the hits of each with flat indices).  Contiguous copies, detached,
        cached and rebuilt whenever the weights change (optimizer step, ``load_state_dict``).
        """
        w, b = self.out.weight, self.out.bias
        key = (w._version, b._version, w.data_ptr(), b.data_ptr(), w.dtype, w.device)
        cache = self.__dict__.get("_split")
        if cache is None or cache[0] != key:
            with torch.no_grad(), torch.inference_mode(False):   # ordinary tensors, usable in any mode
                w3 = w.detach().view(self.n_pmts, 3, -1)              # (P, 3, K)
                b3 = b.detach().view(self.n_pmts, 3)
                cache = (key,) + tuple(t for i in range(3)
                                       for t in (w3[:, i].t().contiguous(), b3[:, i].contiguous()))
            self.__dict__["_split"] = cache
        return cache[1:]


class HitSample(NamedTuple):
    """Generated events as flat host arrays (the layout of :class:`kamcore.events.Events`).

    ``counts (n,) int64`` hits per event; ``pmt (H,) int16`` PMT index; ``t_ns``, ``q_pe``
    ``(H,) float32``; hits ordered by event, then PMT.
    """

    counts: np.ndarray
    pmt: np.ndarray
    t_ns: np.ndarray
    q_pe: np.ndarray


#: events decoded together by :func:`sample_hits` (the per-chunk activations, ~23 kB per
#: event for P = 1879, stay in the core's cache; measured best between 128 and 512)
SAMPLE_CHUNK = 256

#: the trigger draws resolve probabilities in steps of 1 / TRIGGER_LEVELS (see :class:`TriggerDraws`)
TRIGGER_LEVELS = 1 << 16


class TriggerDraws:
    """Bernoulli trigger bits from 16-bit random integers.

    For trigger probabilities ``p (c, P)`` and integers ``k`` drawn uniformly from
    ``0 .. 2^16 - 1``,

        trigger[b, p] = (k[b, p] + 1/2) / 2^16 < p[b, p],

    a Bernoulli draw whose probability is ``p`` rounded to the nearest multiple of
    ``2^-16`` (error at most ``2^-17 = 7.6e-6`` per PMT; over 1879 PMTs at most 0.014
    hits per event, and as often up as down).  On the CPU the integers come from
    numpy's SFC64 bit generator, seeded by one 62-bit draw of the torch ``generator``
    when the object is made, four per 64-bit word (``ceil(P / 4)`` words per event,
    so drawing in chunks of any size gives the same integers): ~0.5 ns per PMT, where
    ``torch.rand`` (Mersenne twister, one 32-bit word per number) costs ~3.5 ns, a
    quarter of the whole sampling time of a rank-64 decoder.  On other devices
    ``torch.randint`` draws them there from ``generator``.

    Parameters
    ----------
    generator : torch.Generator or None
        ``None``: torch's default generator (seeded by ``torch.manual_seed``).
    device : torch.device or str

    Examples
    --------
    >>> draws = TriggerDraws(torch.Generator().manual_seed(0), "cpu")
    >>> bits = draws(torch.full((2000, 3), 0.25))
    >>> bits.shape, bits.dtype, bool(0.23 < bits.mean() < 0.27)
    ((2000, 3), dtype('bool'), True)
    """

    def __init__(self, generator: torch.Generator | None, device: torch.device | str):
        self.device = torch.device(device)
        self.generator = generator
        self._bits = None
        if self.device.type == "cpu":
            seed = int(torch.randint(0, 2**62, (1,), generator=generator))
            self._bits = np.random.SFC64(seed)

    def levels(self, n: int, n_pmts: int) -> np.ndarray | torch.Tensor:
        """The next ``k (n, P)``: a uint16 array (a view, row stride ``4 ceil(P / 4)``) on the CPU, else an int32 tensor."""
        if self._bits is None:
            return torch.randint(0, TRIGGER_LEVELS, (n, n_pmts), generator=self.generator, device=self.device,
                                 dtype=torch.int32)
        words = (n_pmts + 3) // 4
        return self._bits.random_raw(n * words).view(np.uint16).reshape(n, 4 * words)[:, :n_pmts]

    def __call__(self, prob: torch.Tensor, out: np.ndarray | None = None) -> np.ndarray:
        """Trigger bits ``(c, P)`` bool on the host for probabilities ``prob (c, P)``, which is overwritten."""
        k = self.levels(*prob.shape)
        # k + 1/2 < 2^16 p  <=>  k < 2^16 p - 1/2, in one pass: -1/2 + 2^16 p
        thresh = torch.add(prob.new_full((), -0.5), prob, alpha=TRIGGER_LEVELS, out=prob)
        if self._bits is None:
            return torch.lt(k, thresh).cpu().numpy()
        return np.less(k, thresh.numpy(), out=out)


@torch.no_grad()
def sample_hits(decoder: PMTDecoder, scaler: PointCloudScaler, calibration: "OutputCalibration | None",
                z: torch.Tensor, generator: torch.Generator | None = None, *, chunk: int = SAMPLE_CHUNK
                ) -> HitSample:
    """Decode latents into triggered hits, evaluating ``t`` and ``q`` of the hits only.

    For every event ``b`` and PMT ``p`` (``raw = decoder(z)``, ``k`` the integers of
    :class:`TriggerDraws` made from ``generator``):

        trigger[b, p] = (k[b, p] + 1/2) / 2^16 < sigmoid(raw[b, p, 0])       (a Bernoulli draw)
        t_ns = unscale_t(cal_t(raw[b, p, 1])),  q_pe = unscale_q(cal_q(raw[b, p, 2]))   (triggered only)

    which is :meth:`PMTDecoder.forward`, a Bernoulli draw and
    :meth:`OutputCalibration.forward` / :meth:`PointCloudScaler.output_points` on the kept
    PMTs, computed in chunks of ``chunk`` events whose working arrays stay in the core's
    cache: the trigger probabilities as one contiguous ``(chunk, P)`` product
    (:meth:`PMTDecoder.split_output`), the draw and one ``nonzero`` over the bits (numpy on
    the host, the bits are copied there from any device), ``t_hat`` and ``q_hat`` as one
    ``(chunk, P)`` product each, gathered at the hits (the hidden layers run on blocks of
    ``4 chunk`` events), then the calibration, the inverse scaling and ``exp`` of
    ``log q`` in one table look-up per quantity (:meth:`OutputCalibration.table`; the
    products give table positions directly, :func:`_readout`), which reads the
    calibrated value at most half a table spacing away.

    Parameters
    ----------
    decoder : PMTDecoder
        In eval mode.
    scaler : PointCloudScaler
        Fitted; its inverse transform gives ns and p.e.
    calibration : OutputCalibration or None
    z : (n, L) tensor
        Latent vectors (model dtype and device).
    generator : torch.Generator, optional
        Source of the trigger draws (on ``z``'s device).
    chunk : int
        Events decoded together (does not change the result beyond float rounding).

    Returns
    -------
    HitSample
    """
    n, n_pmts = z.shape[0], decoder.n_pmts
    w_logit, b_logit, w_t, b_t, w_q, b_q = decoder.split_output()
    # the scaler's inverse, t_ns = sigma_t t_hat + mu_t and log q_pe = sigma_lq q_hat + mu_lq
    scale = (float(scaler.t_std_ns), float(scaler.logq_std))
    shift = (float(scaler.t_mean_ns), float(scaler.logq_mean))
    w_t, b_t, read_t = _readout(calibration, "t", w_t, b_t, scale[0], shift[0])
    w_q, b_q, read_q = _readout(calibration, "q", w_q, b_q, scale[1], shift[1], exp=True)
    draws = TriggerDraws(generator, z.device)
    chunk = max(1, min(int(chunk), n))
    block = 4 * chunk   # the hidden layers run faster on larger batches than the wide output products
    # working arrays, reused by every chunk (no page faults from fresh allocations)
    p_buf, t_buf, q_buf = (z.new_empty(chunk, n_pmts) for _ in range(3))
    bits_buf = np.empty((chunk, n_pmts), bool)
    parts: list[tuple[np.ndarray, ...]] = []
    for a in range(0, n, chunk):
        if a % block == 0:
            features = decoder.features(z[a:a + block])                            # (<= block, K)
        f = features[a % block:a % block + chunk]                                    # (c, K)
        c = f.shape[0]
        prob = torch.addmm(b_logit, f, w_logit, out=p_buf[:c]).sigmoid_()       # (c, P) trigger probability
        trigger = draws(prob, out=bits_buf[:c])                                    # (c, P) bool, host
        flat = np.flatnonzero(trigger)                                             # (H,) b P + p, sorted
        at = torch.from_numpy(flat).to(z.device)
        t_ns = read_t(torch.addmm(b_t, f, w_t, out=t_buf[:c]).view(-1).index_select(0, at))   # (H,)
        q_pe = read_q(torch.addmm(b_q, f, w_q, out=q_buf[:c]).view(-1).index_select(0, at))
        ends = np.searchsorted(flat, np.arange(1, c + 1, dtype=np.int64) * n_pmts)  # hits before event b + 1
        pmt = flat.astype(np.int32) if c * n_pmts < 2**31 else flat.copy()        # int32 division is ~3x faster
        parts.append((np.diff(ends, prepend=0), np.remainder(pmt, n_pmts, out=pmt).astype(np.int16),
                      t_ns.float().cpu().numpy(), q_pe.float().cpu().numpy()))
    if not parts:
        return HitSample(np.zeros(0, np.int64), np.zeros(0, np.int16), np.zeros(0, np.float32),
                         np.zeros(0, np.float32))
    if len(parts) == 1:
        return HitSample(*parts[0])
    return HitSample(*(np.concatenate(col) for col in zip(*parts)))


def _readout(calibration: "OutputCalibration | None", name: str, w: torch.Tensor, b: torch.Tensor,
             scale: float, shift: float, exp: bool = False):
    """Output weights folded with the map to hits, and the read-out: ``(w', b', read)``.

    For features ``f``, ``read(f @ w' + b')`` is ``g(scale * cal(f @ w + b) + shift)``
    (``g = exp`` when ``exp``, ``cal`` the calibration map ``name``): with a fitted
    calibration, ``f @ w' + b'`` is the position in its table
    (:meth:`OutputCalibration.table`, ``a + s x`` folded into ``w`` and ``b``) and ``read``
    the look-up; without, the affine map is folded in and ``read`` is ``exp`` or nothing.
    One pass less over the hits per map than evaluating them after the product.
    """
    if calibration is not None and bool(calibration.fitted):
        values, a, s, top = calibration.table(name, w, scale, shift, exp)

        def read(pos: torch.Tensor) -> torch.Tensor:
            return values.index_select(0, pos.clamp_(0.0, top).to(torch.int32))   # floor = nearest point
        return w * s, b * s + a, read
    return w * scale, b * scale + shift, (torch.exp_ if exp else (lambda x: x))


def _interp(x: torch.Tensor, xp: torch.Tensor, fp: torch.Tensor) -> torch.Tensor:
    """Piecewise-linear ``f(x)`` through ``(xp, fp)``, ``xp`` increasing; constant beyond the ends (``np.interp``)."""
    xp, fp = xp.to(x.dtype), fp.to(x.dtype)
    i = torch.searchsorted(xp, x.contiguous()).clamp(1, len(xp) - 1)
    x0, x1, f0, f1 = xp[i - 1], xp[i], fp[i - 1], fp[i]
    w = ((x - x0) / (x1 - x0).clamp_min(1e-12)).clamp(0.0, 1.0)
    return f0 + w * (f1 - f0)


class OutputCalibration(nn.Module):
    """Monotone quantile mapping of generated ``t_hat`` and ``q_hat`` onto the training distributions.

    A decoder trained with a Chamfer loss emits, for every PMT, one value per latent
    vector; its pooled distribution of hit times and charges comes out narrower than
    the data (the tails are under-populated).  This map, fitted after training,

        t_hat' = F_data^{-1}(F_gen(t_hat))          (and the same for q_hat)

    sends the ``k``-th of ``K`` quantiles of the generated triggered values to the
    ``k``-th quantile of the training hits, linearly in between and constant beyond the
    ends.  It is monotone, so within an event the order of the hit times and charges is
    kept; only the pooled one-dimensional distributions are matched.

    Parameters
    ----------
    knots : int
        ``K``, quantiles per quantity.

    Buffers
    -------
    t_from, t_to, q_from, q_to : (K,), in the scaled units of :class:`PointCloudScaler`
    fitted : () bool
        Until :meth:`fit` is called the map is the identity.

    Examples
    --------
    >>> cal = OutputCalibration(3).fit(torch.tensor([0., 1., 2.]), torch.tensor([0., 2., 4.]),
    ...                                torch.zeros(3), torch.zeros(3))
    >>> cal.t(torch.tensor([0.5, 3.0]))
    tensor([1., 4.])
    """

    def __init__(self, knots: int):
        super().__init__()
        if knots < 2:
            raise ConfigError(f"the output calibration needs >= 2 knots, got {knots}")
        self.knots = knots
        for name in ("t_from", "t_to", "q_from", "q_to"):
            self.register_buffer(name, torch.linspace(-1.0, 1.0, knots))
        self.register_buffer("fitted", torch.tensor(False))

    @torch.no_grad()
    def fit(self, t_gen: torch.Tensor, t_data: torch.Tensor, q_gen: torch.Tensor,
            q_data: torch.Tensor) -> "OutputCalibration":
        """Fit the maps from generated and data values (1-D, scaled units); returns ``self``."""
        levels = torch.linspace(0.0, 1.0, self.knots, dtype=torch.float64)
        for name, gen, data in (("t", t_gen, t_data), ("q", q_gen, q_data)):
            gen = torch.as_tensor(gen, dtype=torch.float64).reshape(-1)
            data = torch.as_tensor(data, dtype=torch.float64).reshape(-1)
            if len(gen) < 2 or len(data) < 2:
                raise ConfigError(f"cannot calibrate {name} on {len(gen)} generated and {len(data)} data values")
            src = torch.quantile(gen, levels)
            # strictly increasing knots (ties in the generated values would make the map jump)
            src = src + torch.arange(self.knots, dtype=torch.float64) * 1e-9 * (1 + src.abs().max())
            getattr(self, f"{name}_from").copy_(src)
            getattr(self, f"{name}_to").copy_(torch.quantile(data, levels))
        self.fitted.fill_(True)
        return self

    #: intervals of the look-up tables the maps are evaluated with (see :meth:`table`)
    table_size = 65536

    def table(self, name: str, like: torch.Tensor, scale: float = 1.0, shift: float = 0.0,
              exp: bool = False) -> tuple[torch.Tensor, float, float, float]:
        """The map of ``name`` ("t" or "q") tabulated on ``G + 1`` equally spaced points, for :meth:`_eval`.

        Returns ``(values (G + 1,), a, b, top)``: ``values[k] = g(scale * map(x_k) + shift)``
        at ``x_k = x0 + k (x1 - x0) / G`` (``[x0, x1]`` the range of the knots), with
        ``g = exp`` when ``exp`` else the identity; a value ``x`` reads the nearest point,
        index ``clamp(floor(a + b x), 0, top)``.  A look-up costs a multiply-add and one
        gather per value, where a search among the quantile knots costs a binary search.
        The value read is the map at most half a spacing (``(x1 - x0) / 2G``) away from
        ``x``, with ``G = 65536`` far less than one histogram bin, and exactly the end
        values beyond the ends.  Cached, and rebuilt whenever the knots change (fit,
        ``load_state_dict``).
        """
        xp, fp = getattr(self, f"{name}_from"), getattr(self, f"{name}_to")
        key = (name, xp._version, fp._version, xp.data_ptr(), fp.data_ptr(), like.dtype, like.device,
               float(scale), float(shift), bool(exp))
        cache = self.__dict__.setdefault("_luts", {})
        if key not in cache:
            if len(cache) > 16:
                cache.clear()
            g = self.table_size
            with torch.no_grad(), torch.inference_mode(False):   # ordinary tensors, usable in any mode
                x0, x1 = float(xp[0]), float(xp[-1])
                step = max(x1 - x0, 1e-12) / g
                grid = torch.linspace(x0, x1, g + 1, dtype=torch.float64, device=xp.device)
                vals = _interp(grid, xp.to(torch.float64), fp.to(torch.float64)) * float(scale) + float(shift)
                if exp:
                    vals = vals.exp()
                cache[key] = (vals.to(device=like.device, dtype=like.dtype), 0.5 - x0 / step, 1.0 / step, float(g))
        return cache[key]

    def _eval(self, name: str, x: torch.Tensor, scale: float = 1.0, shift: float = 0.0,
              exp: bool = False) -> torch.Tensor:
        """``g(scale * map(x) + shift)`` for the map of ``name``, through the table of :meth:`table`; any shape."""
        values, a, b, top = self.table(name, x, scale, shift, exp)
        pos = (x * b).add_(a).clamp_(0.0, top)                  # nearest point + 1/2
        return values.index_select(0, pos.to(torch.int32).reshape(-1)).view(x.shape)   # floor (pos >= 0)

    def t(self, t_hat: torch.Tensor) -> torch.Tensor:
        """Calibrated ``t_hat`` (scaled units), any shape."""
        return self._eval("t", t_hat) if bool(self.fitted) else t_hat

    def q(self, q_hat: torch.Tensor) -> torch.Tensor:
        """Calibrated ``q_hat`` (scaled units), any shape."""
        return self._eval("q", q_hat) if bool(self.fitted) else q_hat

    def forward(self, raw: torch.Tensor) -> torch.Tensor:
        """``raw (..., 3) = [logit, t_hat, q_hat]`` with ``t_hat`` and ``q_hat`` calibrated."""
        return torch.stack([raw[..., 0], self.t(raw[..., 1]), self.q(raw[..., 2])], -1)

    def extra_repr(self) -> str:
        return f"knots={self.knots}, fitted={bool(self.fitted)}"


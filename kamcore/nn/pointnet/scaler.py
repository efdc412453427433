"""The point-cloud representation of an event (the "concentric double sphere" of
:mod:`kamcore.nn.pointnet`) and its inverse, with statistics fitted on the training hits."""

from __future__ import annotations


import torch
from torch import nn

from ...errors import ConfigError


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

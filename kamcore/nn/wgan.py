"""Wasserstein GAN with gradient penalty for 1879-PMT events (generative-models paper, sec. 3.3).

Generator: :class:`~kamcore.nn.pointnet.PMTDecoder`, noise ``z ~ N(0, I)`` ``(B, L)`` ->
``(B, P, 3) = [trigger logit, t_hat, q_hat]``, the same per-PMT output as the VAE decoder.

Critic: a PointNet on the ``(B, P, 6)`` double-sphere features
(:class:`~kamcore.nn.pointnet.PointCloudScaler`) -- shared MLP, max pool over points,
fully connected head to one unbounded score per event.  No batch norm (it would couple
the events of a batch and break the per-sample gradient penalty) and no sigmoid (a
Wasserstein critic is a 1-Lipschitz function, not a probability); layer norm is the
allowed normalisation (Gulrajani et al., arXiv:1704.00028, sec. 4).  The transform
networks are optional (``critic_transforms``, off by default: a critic only needs a
permutation-invariant score, and they double the cost of the penalty's
double backward).

Trigger bits reach the critic as probabilities while training: a generated row is
``sigmoid(logit) * [xyz/R, t_hat, q_hat, 1]`` (continuous between the PMT and the
origin), a real row is ``trigger * [...]`` (option: straight-through Bernoulli bits,
``GANConfig.critic_triggers``).  At generation the bits are drawn from
``Bernoulli(sigmoid(logit))``.

Objective (WGAN-GP), with ``D`` the critic, ``x_r`` real and ``x_g`` generated features:

    L_D = E[D(x_g)] - E[D(x_r)] + lambda E[(||grad_x D(x_hat)||_2 - 1)^2]
    L_G = -E[D(x_g)]
    x_hat = eps x_r + (1 - eps) x_g,       eps ~ U(0, 1) per event

Training settings (in :class:`kamcore.train.generative.GenTrainConfig`): lambda = 10,
5 critic steps per generator step, Adam with lr 1e-4 and betas (0.5, 0.9) --
Gulrajani et al.'s defaults; the generative-models paper does not list its optimiser
settings.
"""

from __future__ import annotations

from typing import Callable

import param
import torch
from torch import nn

from ..config import JsonConfig
from ..errors import ConfigError
from .pointnet import (N_FEATURES, SAMPLE_CHUNK, HitSample, OutputCalibration, PMTDecoder, PointCloudScaler,
                       PointNetEncoder, SharedMLP, sample_hits)

__all__ = ["GANConfig", "GAN_PRESETS", "PointCloudWGAN", "Critic", "gradient_penalty"]


class GANConfig(JsonConfig):
    """Architecture of :class:`PointCloudWGAN` (presets in :data:`GAN_PRESETS`; training settings live in
    :class:`kamcore.train.generative.GenTrainConfig`)."""

    n_pmts = param.Integer(default=1879, bounds=(1, None), doc="P, PMTs (points per event).")
    latent_dim = param.Integer(default=64, bounds=(1, None), doc="L, size of the noise vector z.")
    generator_widths = param.List(default=[256, 512, 1024], item_type=int, doc="Hidden widths of the generator.")
    generator_rank = param.Integer(default=0, bounds=(0, None), doc=(
        "Rank of the generator's output layer (0: full); see PMTDecoder."))
    calibration_knots = param.Integer(default=0, bounds=(0, None), doc=(
        "Quantiles of the output calibration (0: none); fitted after training, see OutputCalibration."))
    critic_triggers = param.Selector(default="soft", objects=["soft", "straight_through"], doc=(
        "How generated trigger bits reach the critic in training: 'soft' probabilities sigmoid(logit) (issue "
        "spec), or 'straight_through' Bernoulli draws whose gradient is that of the probabilities (the critic "
        "then cannot tell generated events by fractional trigger bits)."))
    generator_norm = param.Selector(default="none", objects=["none", "layer", "batch"],
                                    doc="Normalisation in the generator's hidden layers.")
    critic_point_widths = param.List(default=[64, 128, 1024], item_type=int,
                                     doc="Critic shared-MLP widths before the max pool.")
    critic_fc_widths = param.List(default=[512, 256], item_type=int, doc="Critic widths after the max pool.")
    critic_norm = param.Selector(default="layer", objects=["layer", "none"],
                                 doc="Critic normalisation (no batch norm in a WGAN-GP critic).")
    critic_transforms = param.Boolean(default=False, doc="Give the critic PointNet's input and feature transforms.")
    critic_pool = param.Selector(default="max", objects=["max", "max_mean"], doc=(
        "Critic pooling over points: 'max' (PointNet) or 'max_mean' (max and mean side by side; the mean "
        "lets the critic count triggered PMTs, which a max cannot)."))
    transform_widths = param.List(default=[64, 128, 1024], item_type=int,
                                  doc="Shared-MLP widths of the critic's transform networks.")
    transform_fc_widths = param.List(default=[512, 256], item_type=int,
                                     doc="Fully connected widths of the critic's transform networks.")


#: named configurations: "default", "small", "cpu" (the shipped one: small generator, a two-layer critic
#: without normalisation -- the critic's 1879-point pass and the penalty's double backward dominate the
#: training cost; "small" trains at ~2 events/s on one core, "cpu" at ~35), "tiny" (tests)
GAN_PRESETS: dict[str, dict] = {
    "default": {},
    "small": {"latent_dim": 32, "generator_widths": [128, 256, 512], "critic_point_widths": [32, 64, 256],
              "critic_fc_widths": [64], "transform_widths": [32, 64, 128], "transform_fc_widths": [64, 32]},
    "cpu": {"latent_dim": 32, "generator_widths": [128, 256, 512], "critic_point_widths": [32, 64],
            "critic_fc_widths": [64], "critic_norm": "none", "transform_widths": [32, 64, 128],
            "transform_fc_widths": [64, 32]},
    "tiny": {"latent_dim": 4, "generator_widths": [16], "critic_point_widths": [8, 16], "critic_fc_widths": [8],
             "transform_widths": [8, 16], "transform_fc_widths": [8]},
}
GANConfig.PRESETS = GAN_PRESETS
#: "fast": "cpu" with a rank-64 generator output layer (sampling several times cheaper)
GAN_PRESETS["fast"] = {**GAN_PRESETS["cpu"], "generator_rank": 64}


class Critic(nn.Module):
    """PointNet critic: features ``(B, P, F)`` -> scores ``(B,)`` (unbounded, no sigmoid).

    Parameters
    ----------
    in_features : int
    point_widths, fc_widths : sequence of int
    norm : {"layer", "none"}
    transforms : bool
        Use the input and feature transform networks.
    transform_widths, transform_fc_widths : sequence of int
    pool : {"max", "max_mean"}
        See :class:`~kamcore.nn.pointnet.PointNetEncoder`.
    """

    def __init__(self, in_features: int = N_FEATURES, point_widths=(64, 128, 1024), fc_widths=(512, 256), *,
                 norm: str = "layer", transforms: bool = False, transform_widths=(64, 128, 1024),
                 transform_fc_widths=(512, 256), pool: str = "max"):
        super().__init__()
        if norm == "batch":
            raise ConfigError("a WGAN-GP critic must not use batch norm; use norm='layer' or 'none'")
        self.encoder = PointNetEncoder(in_features, point_widths, transform_widths=transform_widths,
                                       transform_fc_widths=transform_fc_widths, input_transform=transforms,
                                       feature_transform=transforms and len(point_widths) > 1, norm=norm,
                                       pool=pool)
        width = self.encoder.out_features
        self.fc = SharedMLP(width, fc_widths, norm) if fc_widths else nn.Identity()
        self.out = nn.Linear(fc_widths[-1] if fc_widths else width, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.fc(self.encoder(x).feature)).squeeze(-1)  # (B,)


def gradient_penalty(critic: Callable[[torch.Tensor], torch.Tensor], real: torch.Tensor, fake: torch.Tensor, *,
                     weight: float = 10.0, generator: torch.Generator | None = None) -> torch.Tensor:
    """WGAN-GP penalty ``weight * E[(||grad D(x_hat)||_2 - 1)^2]`` on random interpolates.

    Parameters
    ----------
    critic : callable
        ``(B, ...) -> (B,)`` scores.
    real, fake : (B, ...) tensors
        Real and generated critic inputs (``fake`` is detached here).
    weight : float
        lambda (Gulrajani et al.: 10).
    generator : torch.Generator, optional
        Source of the interpolation weights ``eps ~ U(0, 1)`` per event.

    Returns
    -------
    () tensor
        Differentiable with respect to the critic's parameters (``create_graph=True``).

    Examples
    --------
    A linear critic with a unit-norm gradient has no penalty:

    >>> w = torch.full((2, 2), 0.5)  # ||w|| = 1
    >>> float(gradient_penalty(lambda x: (x * w).sum((1, 2)), torch.zeros(4, 2, 2), torch.ones(4, 2, 2)))
    0.0
    """
    if real.shape != fake.shape:
        raise ConfigError(f"real and fake critic inputs differ in shape: {tuple(real.shape)} vs {tuple(fake.shape)}")
    shape = (real.shape[0],) + (1,) * (real.dim() - 1)
    eps = torch.rand(shape, generator=generator, dtype=real.dtype, device=real.device)
    x_hat = (eps * real.detach() + (1 - eps) * fake.detach()).requires_grad_(True)
    scores = critic(x_hat)
    (grad,) = torch.autograd.grad(scores.sum(), x_hat, create_graph=True)
    norm = grad.flatten(1).norm(dim=1)
    return weight * (norm - 1).pow(2).mean()


class PointCloudWGAN(nn.Module):
    """Generator, critic and scaler of the WGAN-GP (see the module docstring).

    Parameters
    ----------
    config : GANConfig, optional

    Attributes
    ----------
    generator : PMTDecoder
        ``z (B, L) -> (B, P, 3)``.
    critic : Critic
    scaler : PointCloudScaler
        Feature scaling and PMT positions (buffers, saved with the weights).
    kind : str
        ``"gan"``.
    """

    kind = "gan"

    def __init__(self, config: GANConfig | None = None):
        super().__init__()
        self.config = config = config or GANConfig()
        self.scaler = PointCloudScaler(config.n_pmts)
        self.generator = PMTDecoder(config.latent_dim, config.generator_widths, config.n_pmts,
                                    norm=config.generator_norm, rank=config.generator_rank)
        self.calibration = OutputCalibration(config.calibration_knots) if config.calibration_knots else None
        self.critic = Critic(N_FEATURES, config.critic_point_widths, config.critic_fc_widths,
                             norm=config.critic_norm, transforms=config.critic_transforms,
                             transform_widths=config.transform_widths,
                             transform_fc_widths=config.transform_fc_widths, pool=config.critic_pool)

    def _like(self) -> torch.Tensor:
        return self.generator.out.weight

    def noise(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``z ~ N(0, I)`` ``(n, L)`` in the model's dtype and device."""
        like = self._like()
        return torch.randn(n, self.config.latent_dim, generator=generator, dtype=like.dtype, device=like.device)

    def real_features(self, points: torch.Tensor, trigger: torch.Tensor) -> torch.Tensor:
        """Critic input ``(B, P, 6)`` of real ``points (B, P, 5)`` and ``trigger (B, P)``."""
        return self.scaler.transform(points, trigger)

    def fake_features(self, raw: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Critic input ``(B, P, 6)`` of generator output ``raw (B, P, 3)``, weighted by the trigger bits.

        ``config.critic_triggers``: "soft" weights rows by ``p = sigmoid(logit)``;
        "straight_through" by Bernoulli draws ``b ~ B(p)`` (from ``generator``) written as
        ``b + p - p.detach()``, so the forward pass sees 0/1 and the gradient is that of ``p``.
        """
        p = torch.sigmoid(raw[..., 0])
        if self.config.critic_triggers == "straight_through":
            b = (torch.rand(p.shape, generator=generator, dtype=p.dtype, device=p.device) < p).to(p.dtype)
            p = b + p - p.detach()
        return self.scaler.output_features(raw, p)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Generator output ``(B, P, 3) = [trigger logit, t_hat, q_hat]`` of noise ``z (B, L)``."""
        return self.generator(z)

    @torch.no_grad()
    def sample_raw(self, n: int, generator: torch.Generator | None = None, *, calibrated: bool = True
                   ) -> torch.Tensor:
        """Generator output ``(n, P, 3) = [trigger logit, t_hat, q_hat]`` of ``n`` noise vectors.

        With a fitted :attr:`calibration` (and ``calibrated``), ``t_hat`` and ``q_hat`` are mapped by it.
        """
        raw = self.generator(self.noise(n, generator))
        return self.calibration(raw) if calibrated and self.calibration is not None else raw

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Draw ``n`` events.

        Returns
        -------
        points : (n, P, 5) [x_cm, y_cm, z_cm, t_ns, q_pe], zeros where untriggered
        trigger : (n, P) bool, ``~ Bernoulli(sigmoid(logit))``
        """
        raw = self.sample_raw(n, generator)
        trigger = torch.bernoulli(torch.sigmoid(raw[..., 0]), generator=generator).bool()
        return self.scaler.output_points(raw, trigger), trigger

    @torch.no_grad()
    def sample_hits(self, n: int, generator: torch.Generator | None = None, *, chunk: int = SAMPLE_CHUNK
                    ) -> HitSample:
        """Draw ``n`` events as triggered hits (the fast path of :meth:`sample`).

        Draws the noise ``(n, L)``, then (in :func:`~kamcore.nn.pointnet.sample_hits`) the
        trigger draws ``(n, P)`` (:class:`~kamcore.nn.pointnet.TriggerDraws`), from
        ``generator``, and decodes them.  Call it in eval mode.
        """
        z = self.noise(n, generator)
        return sample_hits(self.generator, self.scaler, self.calibration, z, generator, chunk=chunk)

    def extra_repr(self) -> str:
        return f"n_pmts={self.config.n_pmts}, latent_dim={self.config.latent_dim}"

"""PointNet variational auto-encoder of 1879-PMT events (generative-models paper, sec. 3.2).

Encoder: :class:`~kamcore.nn.pointnet.PointNetEncoder` (input and feature transform
networks) on the ``(B, P, 6)`` double-sphere features of
:class:`~kamcore.nn.pointnet.PointCloudScaler`, then fully connected layers to the
latent mean ``mu`` and log-variance ``logvar`` ``(B, L)``.  Reparameterisation:

    z = mu + exp(logvar / 2) * omega,        omega ~ N(0, I)               (B, L)

Decoder: :class:`~kamcore.nn.pointnet.PMTDecoder`, fully connected, ``z`` ->
``(B, P, 3) = [trigger logit, t_hat, q_hat]`` for every PMT index (the PMT positions
are fixed by the detector, so a decoded point is ``[pmt xyz, t, q]``).

Loss of one batch (every term averaged over events):

    L = CD(X_trig, X'_trig) + w_bce BCE(logit, trigger) + beta KL + w_orth ||I - A A^T||^2

* ``CD`` -- :func:`chamfer_distance` (squared Euclidean, mean over each set) in the
  scaled 5-D space ``[x/R, y/R, z/R, t_hat, q_hat]`` between the input's triggered
  points and the decoded points of the same PMTs.  Choice: the decoded set uses the
  input's trigger mask (teacher forcing), so the Chamfer term learns times and
  charges of triggered PMTs without a non-differentiable mask, and the trigger
  pattern is learned by the BCE term alone, as in the paper ("BCE ... regularizes the
  trigger-dimension").
* ``BCE`` -- binary cross-entropy of the trigger logits, mean over the ``P`` PMTs.
* ``KL = -1/2 sum_l (1 + logvar - mu^2 - exp(logvar))`` against ``N(0, I)``.
* ``w_orth`` -- PointNet's regulariser on the ``C1 x C1`` feature transform (PointNet: 0.001).

Sampling: ``z ~ N(0, I)``, decode, trigger bits ``~ Bernoulli(sigmoid(logit))``,
``t`` (ns) and ``q`` (p.e.) through the scaler's inverse transform.  :meth:`PointNetVAE.sample`
does it densely (every PMT); :meth:`PointNetVAE.sample_hits` draws the same way but
evaluates ``t`` and ``q`` of the triggered PMTs only (:func:`~kamcore.nn.pointnet.sample_hits`),
the path of :func:`kamcore.models.generate_events`.

Conditional VAE (``config.condition``; issue 18: the unconditioned objective does not put
the event's position into the shared latent).  Every event has a condition vector

    c = (x_v / s_v, y_v / s_v, z_v / s_v, (E - mu_E) / sigma_E)      (B, 4)

from its reconstructed vertex ``x_v`` (cm, ``Events.vertex_cm``) and visible energy ``E``
(MeV, ``Events.energy_mev``; ``mu_E``, ``sigma_E`` fitted on the training set; ``s_v =
config.condition_vertex_scale_cm``).  The decoder models ``p(x | z, c)``: its input is ``[z, c]``
``(B, L + 4)``, and ``c`` also reaches the trigger logits linearly (``config.condition_skip``,
:class:`~kamcore.nn.pointnet.PMTDecoder` ``skip``); the encoder models
``q(z | x, c)`` (``c`` joins the pooled feature before the fully connected layers).  The loss
is the one above.  Sampling without a given condition draws rows ``(x_v, y_v, z_v, E)`` of
:attr:`PointNetVAE.condition_table` (``(K, 4)`` float32, random training events, a buffer
saved with the weights) uniformly, i.e. ``c`` from the training distribution; a given
vertex and/or energy replaces those columns of every drawn row.
"""

from __future__ import annotations


import param
import torch
from torch import nn
from torch.nn import functional as F

from ..config import JsonConfig
from ..errors import ConfigError
from .pointnet import (N_FEATURES, SAMPLE_CHUNK, HitSample, OutputCalibration, PMTDecoder, PointCloudScaler,
                       PointNetEncoder, SharedMLP, orthogonality_loss, sample_hits)

__all__ = ["VAEConfig", "VAE_PRESETS", "N_CONDITION", "PointNetVAE", "chamfer_distance", "kl_divergence", "triggered_points"]

_BIG = 1e8  # "large distance" given to padded / masked points

#: width of the condition vector c: 3 vertex coordinates and the visible energy
N_CONDITION = 4


class VAEConfig(JsonConfig):
    """Hyper-parameters of :class:`PointNetVAE` (presets in :data:`VAE_PRESETS`).

    Defaults follow PointNet (widths 64-128-1024, transform nets 64-128-1024 / 512-256,
    orthogonality weight 0.001); the paper does not publish its widths, latent size or
    beta, so those are our choice.
    """

    n_pmts = param.Integer(default=1879, bounds=(1, None), doc="P, PMTs (points per event).")
    latent_dim = param.Integer(default=64, bounds=(1, None), doc="L, size of the latent vector z.")
    point_widths = param.List(default=[64, 128, 1024], item_type=int,
                              doc="Encoder shared-MLP widths (the feature transform acts after the first).")
    transform_widths = param.List(default=[64, 128, 1024], item_type=int,
                                  doc="Shared-MLP widths of the two transform networks.")
    transform_fc_widths = param.List(default=[512, 256], item_type=int,
                                     doc="Fully connected widths of the two transform networks.")
    input_transform = param.Boolean(default=True, doc="Use the 3x3 input transform on the PMT coordinates.")
    feature_transform = param.Boolean(default=True, doc="Use the feature transform (C1 x C1).")
    encoder_fc_widths = param.List(default=[512, 256], item_type=int,
                                   doc="Fully connected widths from the global feature to (mu, logvar).")
    decoder_widths = param.List(default=[256, 512, 1024], item_type=int, doc="Hidden widths of the decoder.")
    decoder_rank = param.Integer(default=0, bounds=(0, None), doc=(
        "Rank of the decoder's output layer (0: full).  A low rank (e.g. 64) makes sampling several times "
        "cheaper; see PMTDecoder."))
    calibration_knots = param.Integer(default=0, bounds=(0, None), doc=(
        "Quantiles of the output calibration (0: none); fitted after training, see OutputCalibration."))
    norm = param.Selector(default="batch", objects=["batch", "layer", "none"],
                          doc="Normalisation in the encoder (PointNet: batch).")
    beta = param.Number(default=1e-4, bounds=(0.0, None), doc=(
        "Weight of the KL term (choice; paper: unpublished).  On Xe136_0vbb fast MC (1000 events, 'small', "
        "15 epochs) beta = 0.01 collapsed the posterior (KL -> 0.04 nats); 1e-4 kept KL ~ 12 nats and raised "
        "every IoU."))
    bce_weight = param.Number(default=1.0, bounds=(0.0, None), doc="Weight of the trigger-bit BCE term.")
    ortho_weight = param.Number(default=1e-3, bounds=(0.0, None),
                                doc="Weight of ||I - A A^T||^2 on the feature transform (PointNet: 0.001).")
    pool = param.Selector(default="max", objects=["max", "max_hitmean"], doc=(
        "Encoder pooling over points: 'max' (PointNet) or 'max_hitmean' (max and mean over the hits side by "
        "side; the mean sees the density dipole of an off-centre vertex, which a max barely does)."))
    encode_triggered = param.Boolean(default=True, doc=(
        "Encode only the triggered points plus one point at the origin (all untriggered PMTs are that same "
        "point, so the max pool, and the encoding in eval mode, are unchanged; in training, batch-norm "
        "statistics see fewer origin points).  ~4x faster at ~350 of 1879 PMTs triggered."))
    condition = param.Boolean(default=False, doc=(
        "Conditional VAE: decoder p(x | z, c) (and encoder q(z | x, c)) on c = (reconstructed vertex / 650 cm, "
        "scaled visible energy); unconditioned sampling draws c from condition_table.  False (checkpoints "
        "before issue 18): the plain VAE."))
    condition_encoder = param.Boolean(default=True, doc="With condition: the encoder sees c too.")
    condition_vertex_scale_cm = param.Number(default=157.0, bounds=(1.0, None), doc=(
        "With condition: s_v, cm; c holds vertex / s_v.  157 cm (the training selection's radius) keeps c of "
        "order 1: with 650 cm (|c| < 0.25) Adam at lr 1e-3 did not move the decoder's vertex weights far enough "
        "in 3 epochs (generated centroid-radius IoU 11%)."))
    condition_skip = param.Boolean(default=True, doc=(
        "With condition: c also reaches the trigger logits through a linear per-PMT term (decoder skip, zero "
        "at start): the first-order hit dipole of an off-centre vertex."))
    condition_rows = param.Integer(default=4096, bounds=(1, None), doc=(
        "With condition: K, rows (vertex_cm, energy_mev) of random training events kept in the checkpoint "
        "(float32 buffer) for unconditioned sampling."))


#: named configurations: "default" (PointNet widths), "small" (CPU training), "fast" (below), "tiny" (tests)
VAE_PRESETS: dict[str, dict] = {
    "default": {},
    "small": {"latent_dim": 32, "point_widths": [32, 64, 256], "transform_widths": [32, 64, 128],
              "transform_fc_widths": [64, 32], "encoder_fc_widths": [128], "decoder_widths": [128, 256, 512]},
    "tiny": {"latent_dim": 4, "point_widths": [8, 16], "transform_widths": [8, 16], "transform_fc_widths": [8],
             "encoder_fc_widths": [16], "decoder_widths": [16]},
}
VAEConfig.PRESETS = VAE_PRESETS
#: "fast": "small" with a rank-64 decoder output layer (sampling several times cheaper)
VAE_PRESETS["fast"] = {**VAE_PRESETS["small"], "decoder_rank": 64}


def _compact(x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Move the selected points of every event to the front and cut to the largest count.

    ``x (B, N, D)``, ``mask (B, N) bool`` -> ``(B, M, D)``, ``(B, M) bool`` with ``M = max count``.
    """
    m = int(mask.sum(1).max()) if mask.numel() else 0
    order = torch.argsort(mask.to(torch.int8), dim=1, descending=True, stable=True)[:, :m]
    return torch.gather(x, 1, order[..., None].expand(-1, -1, x.shape[-1])), torch.gather(mask, 1, order)


def triggered_points(features: torch.Tensor) -> torch.Tensor:
    """The triggered rows of double-sphere features plus origin rows, cut to the busiest event.

    ``features (B, P, F)`` whose last channel is the trigger weight -> ``(B, M, F)`` with
    ``M = min(P, max_b n_b + 1)``, ``n_b`` the triggered rows of event ``b``: every event
    keeps its triggered rows (in PMT order) followed by untriggered rows, which are all
    zero, i.e. the origin.  A permutation-invariant max pool over the result equals the
    one over all ``P`` rows whenever an event has an untriggered PMT.

    >>> f = torch.tensor([[[0.0, 0.0], [2.0, 1.0], [0.0, 0.0]]])
    >>> triggered_points(f)
    tensor([[[2., 1.],
             [0., 0.]]])
    """
    mask = features[..., -1] > 0
    m = min(features.shape[1], int(mask.sum(1).max()) + 1) if mask.numel() else 0
    order = torch.argsort(mask.to(torch.int8), dim=1, descending=True, stable=True)[:, :m]
    return torch.gather(features, 1, order[..., None].expand(-1, -1, features.shape[-1]))


def chamfer_distance(a: torch.Tensor, b: torch.Tensor, mask_a: torch.Tensor | None = None,
                     mask_b: torch.Tensor | None = None, *, squared: bool = True) -> torch.Tensor:
    """Chamfer distance between two batches of point sets of variable size.

    For sets ``A`` and ``B`` of one event (``d`` = Euclidean distance, squared by default):

        CD(A, B) = mean_{a in A} min_{b in B} d(a, b) + mean_{b in B} min_{a in A} d(a, b)

    Masked-out points are ignored (they get a large distance, so they are never the
    nearest neighbour, and are left out of the means).  A term whose set is empty,
    or whose other set is empty, contributes zero.

    Parameters
    ----------
    a : (B, N, D) tensor
    b : (B, M, D) tensor
    mask_a : (B, N) bool, optional
        Points of ``a`` that belong to the set (default: all).
    mask_b : (B, M) bool, optional
    squared : bool
        Use squared distances (default) or plain distances.

    Returns
    -------
    (B,) tensor
        Chamfer distance of every event (in the units of ``a`` and ``b``, squared).

    Examples
    --------
    >>> a = torch.tensor([[[0.0, 0.0], [1.0, 0.0]]])
    >>> b = torch.tensor([[[0.0, 0.0]]])
    >>> chamfer_distance(a, b)  # (0 + 1) / 2 + 0
    tensor([0.5000])
    """
    if a.dim() != 3 or b.dim() != 3 or a.shape[0] != b.shape[0] or a.shape[2] != b.shape[2]:
        raise ConfigError(f"chamfer_distance expects (B, N, D) and (B, M, D), "
                          f"got {tuple(a.shape)} and {tuple(b.shape)}")
    mask_a = torch.ones(a.shape[:2], dtype=torch.bool, device=a.device) if mask_a is None else mask_a.bool()
    mask_b = torch.ones(b.shape[:2], dtype=torch.bool, device=b.device) if mask_b is None else mask_b.bool()
    a, mask_a = _compact(a, mask_a)                                   # (B, N', D)
    b, mask_b = _compact(b, mask_b)                                   # (B, M', D)
    if a.shape[1] == 0 or b.shape[1] == 0:
        return (a.sum((1, 2)) + b.sum((1, 2))) * 0.0
    d = torch.cdist(a, b)                                             # (B, N', M')
    if squared:
        d = d.pow(2)
    pair = mask_a[:, :, None] & mask_b[:, None, :]
    d = torch.where(pair, d, torch.full_like(d, _BIG))
    a_min, b_min = d.amin(2), d.amin(1)                               # (B, N'), (B, M')
    has_b, has_a = mask_b.any(1), mask_a.any(1)                       # (B,)
    ma = mask_a & has_b[:, None]
    mb = mask_b & has_a[:, None]
    term_a = torch.where(ma, a_min, 0.0).sum(1) / ma.sum(1).clamp_min(1)
    term_b = torch.where(mb, b_min, 0.0).sum(1) / mb.sum(1).clamp_min(1)
    return term_a + term_b


def kl_divergence(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """``KL(N(mu, exp(logvar)) || N(0, I))`` per event, ``(B, L) -> (B,)`` nats.

    >>> kl_divergence(torch.tensor([[1.0, 0.0]]), torch.zeros(1, 2))  # mu^2 / 2
    tensor([0.5000])
    """
    return -0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(-1)


class PointNetVAE(nn.Module):
    """PointNet encoder + fully connected per-PMT decoder (see the module docstring).

    Parameters
    ----------
    config : VAEConfig, optional

    Attributes
    ----------
    scaler : PointCloudScaler
        Feature scaling and the PMT positions (buffers, saved with the weights);
        fit it (``scaler.fit``) before training.
    kind : str
        ``"vae"`` (the checkpoint kind and the ``generated:vae`` source name).
    """

    kind = "vae"

    def __init__(self, config: VAEConfig | None = None):
        super().__init__()
        self.config = config = config or VAEConfig()
        self.scaler = PointCloudScaler(config.n_pmts)
        self.encoder = PointNetEncoder(
            N_FEATURES, config.point_widths, transform_widths=config.transform_widths,
            transform_fc_widths=config.transform_fc_widths, input_transform=config.input_transform,
            feature_transform=config.feature_transform, norm=config.norm, pool=config.pool)
        n_cond = N_CONDITION if config.condition else 0
        width = self.encoder.out_features + (n_cond if config.condition_encoder else 0)
        self.encoder_fc = (SharedMLP(width, config.encoder_fc_widths, config.norm)
                           if config.encoder_fc_widths else nn.Identity())
        width = config.encoder_fc_widths[-1] if config.encoder_fc_widths else width
        self.to_mu = nn.Linear(width, config.latent_dim)
        self.to_logvar = nn.Linear(width, config.latent_dim)
        self.decoder = PMTDecoder(config.latent_dim + n_cond, config.decoder_widths, config.n_pmts,
                                  rank=config.decoder_rank, skip=n_cond if config.condition_skip else 0)
        self.calibration = OutputCalibration(config.calibration_knots) if config.calibration_knots else None
        if config.condition:
            self.register_buffer("condition_table", torch.zeros(config.condition_rows, N_CONDITION))
            self.register_buffer("energy_mean_mev", torch.tensor(0.0))
            self.register_buffer("energy_std_mev", torch.tensor(1.0))
            self.register_buffer("condition_fitted", torch.tensor(False))

    @property
    def conditional(self) -> bool:
        """Whether the model is a conditional VAE (``config.condition``)."""
        return bool(self.config.condition)

    @torch.no_grad()
    def fit_condition(self, condition: torch.Tensor, generator: torch.Generator | None = None) -> None:
        """Fill :attr:`condition_table` and the energy scaling from training conditions.

        ``condition (N, 4)`` raw rows ``[x_cm, y_cm, z_cm, energy_mev]``, all finite; ``K =
        config.condition_rows`` of them are kept, drawn without replacement when ``N >= K``
        (with replacement otherwise).
        """
        if not self.conditional:
            raise ConfigError("fit_condition: the VAE is not conditional (condition=False)")
        c = torch.as_tensor(condition, dtype=torch.float64)
        if c.dim() != 2 or c.shape[1] != N_CONDITION or len(c) == 0:
            raise ConfigError(f"conditions must be (N, {N_CONDITION}) [x_cm, y_cm, z_cm, energy_mev] with N >= 1, "
                              f"got {tuple(c.shape)}")
        if not bool(torch.isfinite(c).all()):
            raise ConfigError(f"conditions must be finite (reconstructed vertex and energy of every training "
                              f"event), got {int((~torch.isfinite(c)).any(1).sum())} rows with NaN/inf")
        k = self.config.condition_rows
        idx = (torch.randperm(len(c), generator=generator)[:k] if len(c) >= k
               else torch.randint(0, len(c), (k,), generator=generator))
        self.condition_table.copy_(c[idx].to(self.condition_table.dtype))
        self.energy_mean_mev.fill_(float(c[:, 3].mean()))
        self.energy_std_mev.fill_(max(float(c[:, 3].std()) if len(c) > 1 else 0.0, 1e-3))
        self.condition_fitted.fill_(True)

    def scale_condition(self, condition: torch.Tensor) -> torch.Tensor:
        """Condition vector ``c (B, 4)`` (module docstring) of raw rows ``(B, 4) [x_cm, y_cm, z_cm, energy_mev]``."""
        vtx = condition[:, :3] / self.config.condition_vertex_scale_cm
        e = (condition[:, 3:] - self.energy_mean_mev) / self.energy_std_mev
        return torch.cat([vtx, e], 1)

    @torch.no_grad()
    def draw_condition(self, n: int, generator: torch.Generator | None = None, *,
                       vertex_cm=None, energy_mev: float | None = None) -> torch.Tensor:
        """``n`` raw conditions ``(n, 4) [x_cm, y_cm, z_cm, energy_mev]``: rows of :attr:`condition_table`
        drawn uniformly from ``generator``, with ``vertex_cm (3,)`` and/or ``energy_mev`` replacing
        those columns when given (the rows are drawn either way, so the draws that follow do not
        depend on which are given)."""
        if not self.conditional:
            raise ConfigError("this VAE is not conditional (trained without condition); it cannot generate at a "
                              "given vertex or energy")
        if not bool(self.condition_fitted):
            raise ConfigError("the conditional VAE has no condition table (train it first)")
        table = self.condition_table
        idx = torch.randint(0, len(table), (n,), generator=generator, device=table.device)
        rows = table.index_select(0, idx).clone()
        if vertex_cm is not None:
            rows[:, :3] = torch.as_tensor(vertex_cm, dtype=rows.dtype, device=rows.device).reshape(3)
        if energy_mev is not None:
            rows[:, 3] = float(energy_mev)
        return rows

    def _like(self) -> torch.Tensor:
        return self.to_mu.weight

    def encode(self, features: torch.Tensor, c: torch.Tensor | None = None
               ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """``(mu, logvar, feature_transform)`` of features ``(B, P, 6)``: ``(B, L)``, ``(B, L)``, ``(B, C1, C1)``.

        ``c (B, 4)``: the scaled condition (:meth:`scale_condition`) of a conditional model.
        """
        if self.config.encode_triggered:
            features = triggered_points(features)                       # (B, M, 6)
        out = self.encoder(features)
        h = out.feature
        if self.conditional and self.config.condition_encoder:
            h = torch.cat([h, self._need(c)], 1)                        # (B, C + 4)
        h = self.encoder_fc(h)
        return self.to_mu(h), self.to_logvar(h).clamp(-20.0, 20.0), out.feature_transform

    def _need(self, c: torch.Tensor | None) -> torch.Tensor:
        if c is None:
            raise ConfigError("a conditional VAE needs the condition (vertex_cm, energy_mev) of every event")
        return c

    def decoder_input(self, z: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        """What the decoder reads: ``z (B, L)``, or ``[z, c] (B, L + 4)`` for a conditional model."""
        return torch.cat([z, self._need(c)], 1) if self.conditional else z

    def decode(self, z: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        """Per-PMT output ``(B, P, 3) = [trigger logit, t_hat, q_hat]`` of latents ``z (B, L)``
        (and scaled conditions ``c (B, 4)`` for a conditional model)."""
        return self.decoder(self.decoder_input(z, c))

    def forward(self, points: torch.Tensor, trigger: torch.Tensor, *,
                generator: torch.Generator | None = None, condition: torch.Tensor | None = None
                ) -> dict[str, torch.Tensor]:
        """Encode, reparameterise and decode a batch.

        Parameters
        ----------
        points : (B, P, 5) [x_cm, y_cm, z_cm, t_ns, q_pe]
        trigger : (B, P) bool
        generator : torch.Generator, optional
            Source of the reparameterisation noise (on the model's device).
        condition : (B, 4) [x_cm, y_cm, z_cm, energy_mev], optional
            Raw conditions (reconstructed vertex, visible energy); required by a conditional model.

        Returns
        -------
        dict
            ``features (B, P, 6)`` (the scaled input), ``raw (B, P, 3)``, ``mu``, ``logvar``,
            ``z`` ``(B, L)``, ``feature_transform`` ``(B, C1, C1)`` or None.
        """
        features = self.scaler.transform(points, trigger)
        c = self.scale_condition(self._need(condition).to(features.dtype)) if self.conditional else None
        mu, logvar, a_feat = self.encode(features, c)
        eps = torch.randn(mu.shape, generator=generator, dtype=mu.dtype, device=mu.device)
        z = mu + torch.exp(0.5 * logvar) * eps
        return {"features": features, "raw": self.decode(z, c), "mu": mu, "logvar": logvar, "z": z,
                "feature_transform": a_feat}

    def loss(self, points: torch.Tensor, trigger: torch.Tensor, *,
             generator: torch.Generator | None = None, condition: torch.Tensor | None = None
             ) -> dict[str, torch.Tensor]:
        """Loss terms of a batch (each a scalar tensor, averaged over events; arguments as :meth:`forward`).

        Returns
        -------
        dict
            ``loss`` (the total that is minimised), ``chamfer``, ``bce``, ``kl``, ``ortho``.
        """
        out = self.forward(points, trigger, generator=generator, condition=condition)
        cfg = self.config
        trig = trigger.bool()
        x_in = out["features"][..., :5]                                       # (B, P, 5)
        x_out = self.scaler.output_features(out["raw"], torch.ones_like(trig, dtype=x_in.dtype))[..., :5]
        chamfer = chamfer_distance(x_in, x_out, trig, trig).mean()
        bce = F.binary_cross_entropy_with_logits(out["raw"][..., 0], trig.to(x_in.dtype))
        kl = kl_divergence(out["mu"], out["logvar"]).mean()
        a = out["feature_transform"]
        ortho = orthogonality_loss(a) if a is not None else chamfer.new_zeros(())
        total = chamfer + cfg.bce_weight * bce + cfg.beta * kl + cfg.ortho_weight * ortho
        return {"loss": total, "chamfer": chamfer, "bce": bce, "kl": kl, "ortho": ortho}

    def prior_inputs(self, n: int, generator: torch.Generator | None, vertex_cm=None, energy_mev=None
               ) -> torch.Tensor:
        """Decoder inputs ``(n, L[+4])`` of ``n`` prior draws: the conditions first (conditional model,
        :meth:`draw_condition`), then ``z ~ N(0, I)``."""
        like = self._like()
        if not self.conditional and (vertex_cm is not None or energy_mev is not None):
            self.draw_condition(0)   # its one-line error
        c = (self.scale_condition(self.draw_condition(n, generator, vertex_cm=vertex_cm, energy_mev=energy_mev)
                                  .to(like.dtype)) if self.conditional else None)
        z = torch.randn(n, self.config.latent_dim, generator=generator, dtype=like.dtype, device=like.device)
        return self.decoder_input(z, c)

    @torch.no_grad()
    def sample_raw(self, n: int, generator: torch.Generator | None = None, *, calibrated: bool = True,
                   vertex_cm=None, energy_mev: float | None = None) -> torch.Tensor:
        """Decoder output ``(n, P, 3) = [trigger logit, t_hat, q_hat]`` of ``n`` latents ``z ~ N(0, I)``.

        With a fitted :attr:`calibration` (and ``calibrated``), ``t_hat`` and ``q_hat`` are mapped by it.
        A conditional model draws the conditions as :meth:`draw_condition` (``vertex_cm`` cm,
        ``energy_mev`` MeV fix them).
        """
        raw = self.decoder(self.prior_inputs(n, generator, vertex_cm, energy_mev))
        return self.calibration(raw) if calibrated and self.calibration is not None else raw

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None, *, vertex_cm=None,
               energy_mev: float | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Draw ``n`` events from the prior.

        Parameters
        ----------
        n : int
        generator : torch.Generator, optional
            Source of the conditions, of ``z`` and of the trigger draws (on the model's device).
        vertex_cm : (3,) cm, energy_mev : float, optional
            Conditional model only: generate at this reconstructed vertex / visible energy.

        Returns
        -------
        points : (n, P, 5) [x_cm, y_cm, z_cm, t_ns, q_pe], zeros where untriggered
        trigger : (n, P) bool
        """
        raw = self.sample_raw(n, generator, vertex_cm=vertex_cm, energy_mev=energy_mev)
        trigger = torch.bernoulli(torch.sigmoid(raw[..., 0]), generator=generator).bool()
        return self.scaler.output_points(raw, trigger), trigger

    @torch.no_grad()
    def sample_hits(self, n: int, generator: torch.Generator | None = None, *, chunk: int = SAMPLE_CHUNK,
                    vertex_cm=None, energy_mev: float | None = None) -> HitSample:
        """Draw ``n`` events from the prior as triggered hits (the fast path of :meth:`sample`).

        Draws the conditions ``(n, 4)`` (conditional model, :meth:`draw_condition`; ``vertex_cm``,
        ``energy_mev`` as :meth:`sample`), ``z ~ N(0, I)`` ``(n, L)``, then (in
        :func:`~kamcore.nn.pointnet.sample_hits`) the trigger draws ``(n, P)``
        (:class:`~kamcore.nn.pointnet.TriggerDraws`), from ``generator``, and decodes them
        (calibrated ``t`` and ``q`` of the triggered PMTs only).  Call it in eval mode.
        """
        x = self.prior_inputs(n, generator, vertex_cm, energy_mev)
        return sample_hits(self.decoder, self.scaler, self.calibration, x, generator, chunk=chunk)

    def extra_repr(self) -> str:
        c = self.config
        return f"n_pmts={c.n_pmts}, latent_dim={c.latent_dim}, beta={c.beta}, condition={c.condition}"

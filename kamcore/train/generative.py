"""Training and sampling of the event generators (PointNet VAE and WGAN-GP).

Data are the point clouds of :func:`kamcore.preprocess.point_clouds`: ``points (N, P, 5)
= [x_cm, y_cm, z_cm, t_ns, q_pe]`` and ``trigger (N, P) bool``.  Before the first step
the model's :class:`~kamcore.nn.pointnet.PointCloudScaler` is fitted on the training
set (PMT positions from the PMT table) and the decoder's trigger logits start at the
per-PMT trigger rate, unless the scaler is already fitted (fine-tuning keeps the
pre-training scaler, so the few-shot model reads the same units).

* VAE: Adam (lr ``config.lr``), loss of :meth:`PointNetVAE.loss`.  A conditional VAE
  (``VAEConfig.condition``) also takes every event's raw condition ``(N, 4) = [x_cm, y_cm,
  z_cm, energy_mev]`` (reconstructed vertex, visible energy: :func:`event_conditions`);
  :func:`prepare_generator` fills its condition table from them.
* WGAN-GP: ``n_critic`` critic steps per generator step, gradient penalty ``gp_lambda``,
  Adam with ``gan_lr`` and betas ``(gan_beta1, gan_beta2)`` for both networks
  (Gulrajani et al.: 10, 5, 1e-4, (0.5, 0.9)).

Randomness (shuffling, reparameterisation noise, generator noise, penalty
interpolation) comes from ``config.seed``; initial weights come from whoever built
the model.

``validate`` (e.g. :func:`iou_validator`: mean histogram IoU of generated against
held-out events) scores the model after epochs and the best weights are restored at
the end; ``lr_schedule="cosine"`` decays the learning rate to zero over the run.
:func:`calibrate_generator` fits the output calibration
(:class:`~kamcore.nn.pointnet.OutputCalibration`) after training.

:func:`kamcore.models.generate_events` turns samples (the models' ``sample_hits``: the output layer split
into trigger logits and ``t, q``, evaluated in cache-sized chunks, ``t`` and ``q`` calibrated
for the triggered PMTs only) into ordinary :class:`~kamcore.events.Events` (hits =
triggered PMTs, ``t_ns`` = the generated proper time, ``q_pe`` = charge, source
``"generated:<kind>"``, NaN vertex and energy, no deposit truth) that
:func:`kamcore.io.write_events` stores in the Monte Carlo schema.  Their ``attrs``
carry ``time_reference = "proper"``: the times are already TOF- and T0-corrected
(vertex at the centre), which :mod:`kamcore.metrics.generative` honours.

Importing this module registers the checkpoint kinds ``"vae"`` and ``"gan"``
(:func:`kamcore.train.checkpoint.register_model`).
"""

from __future__ import annotations

import copy
import logging
import math
import time
from typing import Callable

import numpy as np
import param
import torch
from torch import nn

from ..config import JsonConfig
from ..errors import ConfigError
from ..events import Events
from ..geometry import PMTTable, default_pmt_table
from ..nn.vae import PointNetVAE, VAEConfig
from ..nn.wgan import GANConfig, PointCloudWGAN, gradient_penalty
from .checkpoint import register_model
from ..models.generator import generate_events
from .loop import resolve_device

__all__ = ["GenTrainConfig", "fit_vae", "fit_gan", "prepare_generator", "iou_validator",
           "calibrate_generator", "event_conditions"]

log = logging.getLogger(__name__)


class GenTrainConfig(JsonConfig):
    """How a generator is trained (shared by ``kamcore train vae|gan`` and notebooks)."""

    epochs = param.Integer(default=100, bounds=(1, None), doc="Passes over the training set.")
    batch_size = param.Integer(default=32, bounds=(1, None), doc="Events per mini-batch.")
    lr = param.Number(default=1e-3, bounds=(0.0, 1.0), doc="VAE Adam learning rate (choice).")
    weight_decay = param.Number(default=0.0, bounds=(0.0, 1.0), doc="VAE Adam weight decay.")
    gan_lr = param.Number(default=1e-4, bounds=(0.0, 1.0), doc="WGAN-GP Adam learning rate (Gulrajani et al.).")
    gan_beta1 = param.Number(default=0.5, bounds=(0.0, 1.0), doc="WGAN-GP Adam beta1 (Gulrajani et al.: 0.5).")
    gan_beta2 = param.Number(default=0.9, bounds=(0.0, 1.0), doc="WGAN-GP Adam beta2 (Gulrajani et al.: 0.9).")
    n_critic = param.Integer(default=5, bounds=(1, None), doc="Critic steps per generator step.")
    gp_lambda = param.Number(default=10.0, bounds=(0.0, None), doc="Gradient-penalty weight lambda.")
    seed = param.Integer(default=0, doc="Seed of shuffling and of every noise draw during training.")
    device = param.String(default="auto", doc="'auto' (CUDA when present), 'cpu', 'cuda', 'cuda:1', ...")
    threads = param.Integer(default=0, bounds=(0, None), doc="CPU threads for torch (0: torch's default).")
    lr_schedule = param.Selector(default="constant", objects=["constant", "cosine"], doc=(
        "Learning rate over the run: constant, or cosine decay from the set rate to 0 at the last step "
        "(both VAE and WGAN-GP learning rates)."))


# ------------------------------------------------------------------ checkpoints
def _build_vae(config: dict) -> PointNetVAE:
    return PointNetVAE(VAEConfig(**config))


def _build_gan(config: dict) -> PointCloudWGAN:
    return PointCloudWGAN(GANConfig(**config))


register_model("vae", _build_vae, lambda m: m.config.to_dict())
register_model("gan", _build_gan, lambda m: m.config.to_dict())


# ------------------------------------------------------------------ data
def _check_data(model: nn.Module, points, trigger) -> tuple[np.ndarray, np.ndarray]:
    points = np.asarray(points)
    trigger = np.asarray(trigger, bool)
    p = model.scaler.n_pmts
    if points.ndim != 3 or points.shape[1:] != (p, 5) or trigger.shape != points.shape[:2]:
        raise ConfigError(f"expected points (N, {p}, 5) and trigger (N, {p}) for a {p}-PMT model, "
                          f"got {points.shape} and {trigger.shape}")
    if len(points) == 0:
        raise ConfigError("no training events")
    return points, trigger


def event_conditions(events: Events, *, name: str = "events") -> np.ndarray:
    """Raw conditions ``(N, 4) float32 [x_cm, y_cm, z_cm, energy_mev]`` of a conditional VAE:
    each event's reconstructed vertex (``vertex_cm``) and visible energy (``energy_mev``).

    A one-line :class:`~kamcore.errors.ConfigError` naming ``name`` when any is not finite
    (e.g. events whose vertex was never fitted).
    """
    c = np.concatenate([np.asarray(events.vertex_cm, np.float32).reshape(-1, 3),
                        np.asarray(events.energy_mev, np.float32).reshape(-1, 1)], 1)
    bad = ~np.isfinite(c).all(1)
    if bad.any():
        raise ConfigError(f"{name}: {int(bad.sum())} of {len(c)} events have no reconstructed vertex or energy "
                          "(NaN); a conditional VAE needs both (fit the vertices first)")
    return c


def _check_condition(model: nn.Module, condition, n: int) -> np.ndarray | None:
    if not getattr(model, "conditional", False):
        return None
    if condition is None:
        raise ConfigError("a conditional VAE needs condition (N, 4) [x_cm, y_cm, z_cm, energy_mev] of every "
                          "training event")
    c = np.asarray(condition, np.float32)
    if c.shape != (n, 4):
        raise ConfigError(f"expected condition ({n}, 4) [x_cm, y_cm, z_cm, energy_mev], got {c.shape}")
    return c


def prepare_generator(model: nn.Module, points, trigger, pmts: PMTTable | None = None, *,
                      condition=None, seed: int = 0) -> nn.Module:
    """Fit ``model.scaler`` on the data and start the trigger logits at the per-PMT rate.

    A conditional VAE also fills its condition table and energy scaling from ``condition``
    ``(N, 4) [x_cm, y_cm, z_cm, energy_mev]`` (rows drawn with ``seed``) and starts its decoder's
    skip path at the per-PMT linear fit of the trigger bits on ``c`` (:meth:`PMTDecoder.init_skip`).

    Parameters
    ----------
    model : PointNetVAE or PointCloudWGAN
    points : (N, P, 5) [x_cm, y_cm, z_cm, t_ns, q_pe]
    trigger : (N, P) bool
    pmts : PMTTable, optional
        Must be the table the point clouds were made with (default: the shipped one);
        triggered points are checked against its positions.

    Returns
    -------
    the model (modified in place)
    """
    points, trigger = _check_data(model, points, trigger)
    condition = _check_condition(model, condition, len(points))
    pmts = pmts or default_pmt_table()
    if len(pmts) != model.scaler.n_pmts:
        raise ConfigError(f"the PMT table has {len(pmts)} PMTs, the model expects {model.scaler.n_pmts}")
    ev, idx = np.nonzero(trigger)
    if len(ev):
        off = np.abs(points[ev, idx, :3] - pmts.xyz_cm[idx]).max()
        if off > 1.0:
            raise ConfigError(f"triggered points are up to {off:.1f} cm away from their PMT in the given table; "
                              "pass the PMT table the point clouds were made with")
    # fit copies the statistics into the existing buffers (their dtype and device are kept)
    model.scaler.fit(torch.from_numpy(points), torch.from_numpy(trigger), torch.tensor(pmts.xyz_cm))
    decoder = model.decoder if isinstance(model, PointNetVAE) else model.generator
    decoder.init_output_bias(torch.from_numpy(trigger.mean(0)))
    if condition is not None:
        model.fit_condition(torch.from_numpy(condition), torch.Generator().manual_seed(int(seed)))
        # the decoder's skip path starts at the per-PMT linear fit of the trigger bits on c
        like = next(model.parameters())
        c = model.scale_condition(torch.from_numpy(condition).to(device=like.device, dtype=like.dtype))
        decoder.init_skip(c.double().cpu(), torch.from_numpy(trigger))
    return model


def _batch(points: np.ndarray, trigger: np.ndarray, idx: np.ndarray, like: torch.Tensor
           ) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.from_numpy(np.ascontiguousarray(points[idx])).to(device=like.device, dtype=like.dtype)
    t = torch.from_numpy(np.ascontiguousarray(trigger[idx])).to(device=like.device)
    return x, t


def _setup(model: nn.Module, points, trigger, config: GenTrainConfig, pmts: PMTTable | None, condition=None):
    points, trigger = _check_data(model, points, trigger)
    if config.threads:
        torch.set_num_threads(config.threads)
    dev = resolve_device(config.device)
    model.to(dev)
    if not bool(model.scaler.fitted):
        prepare_generator(model, points, trigger, pmts, condition=condition, seed=config.seed)
    elif getattr(model, "conditional", False) and not bool(model.condition_fitted):
        model.fit_condition(torch.from_numpy(_check_condition(model, condition, len(points))),
                            torch.Generator().manual_seed(int(config.seed)))
    gen = torch.Generator(device=dev).manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    return points, trigger, dev, gen, rng


def _scheduler(opts: list[torch.optim.Optimizer], config: GenTrainConfig, steps_per_epoch: int) -> Callable[[], None]:
    """A per-step callable that applies ``config.lr_schedule`` to every optimiser."""
    if config.lr_schedule == "constant":
        return lambda: None
    total = max(1, steps_per_epoch * config.epochs)
    scheds = [torch.optim.lr_scheduler.LambdaLR(o, lambda s: 0.5 * (1 + math.cos(math.pi * min(s, total) / total)))
              for o in opts]

    def step() -> None:
        for s in scheds:
            s.step()
    return step


class _BestKeeper:
    """Calls ``validate(model)`` at the end of epochs and keeps the weights with the highest ``score``."""

    def __init__(self, model: nn.Module, validate: Callable[[nn.Module], dict] | None, every: int):
        self.model, self.validate, self.every = model, validate, max(1, int(every))
        self.best_score, self.best_epoch, self.best_state = -math.inf, None, None

    def __call__(self, epoch: int, last: bool) -> dict:
        if self.validate is None or not ((epoch % self.every == 0) or last):
            return {}
        was = self.model.training
        self.model.eval()
        try:
            res = dict(self.validate(self.model))
        finally:
            self.model.train(was)
        score = float(res.get("score", math.nan))
        if math.isfinite(score) and score > self.best_score:
            self.best_score, self.best_epoch = score, epoch
            self.best_state = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
        log.info("epoch %d validation: %s", epoch, {k: round(v, 4) if isinstance(v, float) else v
                                                    for k, v in res.items()})
        return {"val": res}

    def restore(self) -> dict:
        if self.best_state is None:
            return {}
        self.model.load_state_dict(self.best_state)
        return {"best_epoch": self.best_epoch, "best_score": self.best_score}


def fit_vae(model: PointNetVAE, points, trigger, config: GenTrainConfig | None = None, *,
            pmts: PMTTable | None = None, progress: Callable[[dict], None] | None = None,
            validate: Callable[[nn.Module], dict] | None = None, validate_every: int = 1,
            condition=None) -> dict:
    """Train a :class:`~kamcore.nn.vae.PointNetVAE` in place.

    Parameters
    ----------
    model : PointNetVAE
    points : (N, P, 5) float, [x_cm, y_cm, z_cm, t_ns, q_pe]
    trigger : (N, P) bool
    config : GenTrainConfig, optional
    pmts : PMTTable, optional
        Used when the scaler still has to be fitted (see :func:`prepare_generator`).
    progress : callable, optional
        Called after every step with ``{"epoch", "step", "loss"}``.
    validate : callable, optional
        ``validate(model) -> dict`` with a ``"score"`` (higher is better, e.g. the mean
        histogram IoU of generated against held-out events), called in eval mode after
        every ``validate_every``-th epoch and after the last; the weights of the best
        score are restored at the end.
    validate_every : int
    condition : (N, 4) [x_cm, y_cm, z_cm, energy_mev], optional
        Raw conditions of the events (:func:`event_conditions`); required by a conditional VAE.

    Returns
    -------
    dict
        ``{"epochs": [{"epoch", "loss", "chamfer", "bce", "kl", "ortho", "seconds"[, "val"]}, ...]}``
        (means over the epoch's steps), plus ``best_epoch`` and ``best_score`` with ``validate``.
    """
    config = config or GenTrainConfig()
    points, trigger, dev, gen, rng = _setup(model, points, trigger, config, pmts, condition)
    condition = _check_condition(model, condition, len(points))
    like = next(model.parameters())
    opt = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    needs_two = model.config.norm == "batch"
    sched = _scheduler([opt], config, math.ceil(len(points) / config.batch_size))
    keeper = _BestKeeper(model, validate, validate_every)
    history, step = [], 0
    for epoch in range(config.epochs):
        model.train()
        t0, sums, n = time.perf_counter(), {}, 0
        perm = rng.permutation(len(points))
        for a in range(0, len(perm), config.batch_size):
            idx = np.sort(perm[a:a + config.batch_size])
            if needs_two and len(idx) < 2:  # batch norm needs two events
                continue
            x, t = _batch(points, trigger, idx, like)
            c = None if condition is None else torch.from_numpy(condition[idx]).to(device=like.device,
                                                                                   dtype=like.dtype)
            terms = model.loss(x, t, generator=gen, condition=c)
            opt.zero_grad(set_to_none=True)
            terms["loss"].backward()
            opt.step()
            sched()
            step += 1
            n += 1
            for k, v in terms.items():
                sums[k] = sums.get(k, 0.0) + float(v.detach())
            if progress:
                progress({"epoch": epoch, "step": step, "loss": float(terms["loss"].detach())})
        rec = {"epoch": epoch + 1, **{k: v / max(n, 1) for k, v in sums.items()},
               "seconds": time.perf_counter() - t0}
        rec.update(keeper(epoch + 1, epoch + 1 == config.epochs))
        history.append(rec)
        log.info("vae epoch %d: loss %.4f (chamfer %.4f, bce %.4f, kl %.3f) %.1f s", rec["epoch"],
                 rec.get("loss", math.nan), rec.get("chamfer", math.nan), rec.get("bce", math.nan),
                 rec.get("kl", math.nan), rec["seconds"])
    best = keeper.restore()
    model.eval()
    return {"epochs": history, **best}


def fit_gan(model: PointCloudWGAN, points, trigger, config: GenTrainConfig | None = None, *,
            pmts: PMTTable | None = None, progress: Callable[[dict], None] | None = None,
            validate: Callable[[nn.Module], dict] | None = None, validate_every: int = 1) -> dict:
    """Train a :class:`~kamcore.nn.wgan.PointCloudWGAN` in place (WGAN-GP).

    Every mini-batch of real events is one critic step; after every ``n_critic``
    critic steps the generator takes one step.

    Parameters
    ----------
    model : PointCloudWGAN
    points : (N, P, 5) float, [x_cm, y_cm, z_cm, t_ns, q_pe]
    trigger : (N, P) bool
    config : GenTrainConfig, optional
    pmts : PMTTable, optional
    progress : callable, optional
        Called after every critic step with ``{"epoch", "step", "critic_loss"}``.
    validate, validate_every
        As :func:`fit_vae` (the best generator and critic are restored).

    Returns
    -------
    dict
        ``{"epochs": [{"epoch", "critic_loss", "wasserstein", "gp", "generator_loss",
        "generator_steps", "seconds"}, ...]}``; ``wasserstein`` is the critic's estimate
        ``E[D(x_r)] - E[D(x_g)]``; with ``validate`` also ``val`` per validated epoch and
        ``best_epoch``, ``best_score``.
    """
    config = config or GenTrainConfig()
    points, trigger, dev, gen, rng = _setup(model, points, trigger, config, pmts)
    like = next(model.parameters())
    betas = (config.gan_beta1, config.gan_beta2)
    opt_d = torch.optim.Adam(model.critic.parameters(), lr=config.gan_lr, betas=betas)
    opt_g = torch.optim.Adam(model.generator.parameters(), lr=config.gan_lr, betas=betas)
    sched = _scheduler([opt_d, opt_g], config, math.ceil(len(points) / config.batch_size))
    keeper = _BestKeeper(model, validate, validate_every)
    history, step = [], 0
    for epoch in range(config.epochs):
        model.train()
        t0 = time.perf_counter()
        d_losses, w_est, gps, g_losses = [], [], [], []
        perm = rng.permutation(len(points))
        for a in range(0, len(perm), config.batch_size):
            idx = np.sort(perm[a:a + config.batch_size])
            x, t = _batch(points, trigger, idx, like)
            real = model.real_features(x, t)
            with torch.no_grad():
                fake = model.fake_features(model(model.noise(len(idx), gen)), gen)
            d_real, d_fake = model.critic(real).mean(), model.critic(fake).mean()
            gp = gradient_penalty(model.critic, real, fake, weight=config.gp_lambda, generator=gen)
            loss_d = d_fake - d_real + gp
            opt_d.zero_grad(set_to_none=True)
            loss_d.backward()
            opt_d.step()
            sched()
            step += 1
            d_losses.append(float(loss_d.detach()))
            w_est.append(float((d_real - d_fake).detach()))
            gps.append(float(gp.detach()))
            if progress:
                progress({"epoch": epoch, "step": step, "critic_loss": d_losses[-1]})
            if step % config.n_critic == 0:
                for p in model.critic.parameters():
                    p.requires_grad_(False)
                loss_g = -model.critic(model.fake_features(model(model.noise(config.batch_size, gen)), gen)).mean()
                opt_g.zero_grad(set_to_none=True)
                loss_g.backward()
                opt_g.step()
                for p in model.critic.parameters():
                    p.requires_grad_(True)
                g_losses.append(float(loss_g.detach()))
        rec = {"epoch": epoch + 1, "critic_loss": float(np.mean(d_losses)), "wasserstein": float(np.mean(w_est)),
               "gp": float(np.mean(gps)), "generator_loss": float(np.mean(g_losses)) if g_losses else math.nan,
               "generator_steps": len(g_losses), "seconds": time.perf_counter() - t0}
        rec.update(keeper(epoch + 1, epoch + 1 == config.epochs))
        history.append(rec)
        log.info("gan epoch %d: critic %.4f (W %.4f, gp %.4f) generator %.4f %.1f s", rec["epoch"],
                 rec["critic_loss"], rec["wasserstein"], rec["gp"], rec["generator_loss"], rec["seconds"])
    best = keeper.restore()
    model.eval()
    return {"epochs": history, **best}


def iou_validator(reference: Events, n: int | None = None, pmts: PMTTable | None = None, *,
                  seed: int = 12345, calibrate_on: tuple | None = None,
                  knots: int = 256) -> Callable[[nn.Module], dict]:
    """A ``validate`` callable for :func:`fit_vae` / :func:`fit_gan`: mean histogram IoU on held-out events.

    Each call generates ``n`` events (default ``len(reference)``) with the fixed ``seed``
    and compares them with ``reference`` (:func:`kamcore.metrics.generative.compare_events`
    without the classifier).  ``score`` is the mean IoU over hit time, charge, NHIT and
    total charge; the four IoUs and normalised Wasserstein distances are returned too.
    With ``calibrate_on = (points, trigger)`` (training point clouds) the events come from
    a calibrated copy of the model (:func:`calibrate_generator` with ``knots``), as a
    model that is calibrated after training is used.
    Use events the final evaluation does not use, or the selection is biased.
    """
    from ..metrics.generative import QUANTITIES, compare_events

    pmts = pmts or default_pmt_table()
    n = len(reference) if n is None else int(n)

    def validate(model: nn.Module) -> dict:
        if calibrate_on is not None:
            model = calibrate_generator(copy.deepcopy(model), *calibrate_on, knots=knots, seed=seed)
        gen = generate_events(model, n, seed=seed, pmts=pmts)
        res = compare_events(reference, gen, pmts, classifier=False)
        out = {f"iou_{q}": res[q]["iou"] for q in QUANTITIES}
        out.update({f"wd_{q}": res[q]["wd"] for q in QUANTITIES})
        out["score"] = float(np.nanmean([res[q]["iou"] for q in QUANTITIES]))
        return out
    return validate


def calibrate_generator(model: nn.Module, points, trigger, *, knots: int = 256, n_generate: int = 2000,
                        seed: int = 0) -> nn.Module:
    """Fit the output calibration (:class:`~kamcore.nn.pointnet.OutputCalibration`) of a trained generator.

    ``n_generate`` events are drawn without calibration (their triggered ``t_hat`` and
    ``q_hat``) and matched quantile by quantile to the triggered hits of ``points`` /
    ``trigger`` (the training data), in the scaler's units.

    Parameters
    ----------
    model : PointNetVAE or PointCloudWGAN
        Trained.  A model without a calibration module is rebuilt with
        ``calibration_knots = knots`` and the same weights (a new object is returned).
    points : (N, P, 5), trigger : (N, P)
    knots : int
    n_generate : int
    seed : int

    Returns
    -------
    the calibrated model (eval mode)
    """
    points, trigger = _check_data(model, points, trigger)
    if not bool(model.scaler.fitted):
        raise ConfigError(f"the {model.kind} model has no fitted point-cloud scaler (train it first)")
    if model.calibration is None or model.calibration.knots != knots:
        cfg = type(model.config)(**{**model.config.to_dict(), "calibration_knots": int(knots)})
        fresh = type(model)(cfg)
        state = {k: v for k, v in model.state_dict().items() if not k.startswith("calibration.")}
        missing, unexpected = fresh.load_state_dict(state, strict=False)
        assert not unexpected and all(k.startswith("calibration.") for k in missing), (missing, unexpected)
        like = next(model.parameters())
        model = fresh.to(device=like.device, dtype=like.dtype)
    model.eval()
    like = next(model.parameters())
    gen = torch.Generator(device=like.device).manual_seed(int(seed))
    t_gen, q_gen = [], []
    with torch.no_grad():
        for a in range(0, n_generate, 1000):
            raw = model.sample_raw(min(1000, n_generate - a), gen, calibrated=False)
            u = torch.rand(raw.shape[:2], generator=gen, dtype=raw.dtype, device=raw.device)
            hit = raw[u < torch.sigmoid(raw[..., 0])]                                  # (H, 3)
            t_gen.append(hit[:, 1].double().cpu())
            q_gen.append(hit[:, 2].double().cpu())
        sc = model.scaler
        hits = torch.from_numpy(points[trigger]).to(device=sc.t_mean_ns.device, dtype=torch.float64)
        t_data = sc.scale_t(hits[:, 3]).cpu()
        q_data = sc.scale_q(hits[:, 4]).cpu()
    model.calibration.fit(torch.cat(t_gen), t_data, torch.cat(q_gen), q_data)
    log.info("calibrated %s on %d generated events and %d data hits (%d knots)", model.kind, n_generate,
             len(t_data), knots)
    return model


# ------------------------------------------------------------------ generation

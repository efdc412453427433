"""Training and scoring loops of the hit-map classifiers (KamNet and the CNN).

Loss: binary cross-entropy on logits (``BCEWithLogitsLoss``).  Optimiser: the
reference's RMSprop with momentum by default (public KamNet code: lr 7.7e-5,
momentum 0.78), Adam as an option, with the reference's learning-rate schedule
scaled to the run length: a linear ramp-up over the first ``warmup_fraction`` of the
steps (lets the attention settle), flat, a linear ramp-down to 10% over the
``cooldown_fraction`` before the last one, and 10% at the end.
The weights of the epoch with the best validation AUC are kept (the loss can keep
falling while the ranking, which is what a rejection cut uses, gets worse).

Before each validation the batch-norm running statistics are re-estimated ("precise BN",
:func:`recalibrate_batchnorm`, ``precise_bn_events`` training events): the momentum
averages lag the moving weights, and for KamNet they were off far enough that every
eval-mode logit sat near -8 (validation loss 2-8, all scores in the first template bin)
while the per-batch statistics of training were fine.  It changes only the buffers used in
eval mode, never the weights' trajectory (train mode normalises by batch statistics, and it
draws from its own random stream), so it is not part of a resumable run's identity.  Randomness (initial weights,
shuffling, dropout) comes from ``seed``.
"""

from __future__ import annotations

import logging
import math
import time
from typing import Callable

import numpy as np
import param
import torch
from torch import nn

from ..config import JsonConfig
from .data import HitMapSet, iterate_batches

__all__ = ["TrainConfig", "fit_classifier", "predict", "recalibrate_batchnorm", "resolve_device"]

log = logging.getLogger(__name__)


def resolve_device(device: str) -> torch.device:
    """``"auto"`` -> CUDA when present, else CPU; anything else as given."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


class TrainConfig(JsonConfig):
    """How a classifier is trained (shared by ``kamcore train`` and notebooks)."""

    epochs = param.Integer(default=30, bounds=(1, None), doc="Passes over the training set (reference: 30).")
    batch_size = param.Integer(default=32, bounds=(1, None), doc="Mini-batch size (reference: 32).")
    optimizer = param.Selector(default="rmsprop", objects=["rmsprop", "adam"], doc="Optimiser.")
    lr = param.Number(default=7.7e-5, bounds=(0.0, 1.0), doc="Peak learning rate (reference: 7.7e-5).")
    momentum = param.Number(default=0.78, bounds=(0.0, 1.0), doc="RMSprop momentum (reference: 0.78).")
    weight_decay = param.Number(default=0.0, bounds=(0.0, 1.0), doc="L2 weight decay.")
    warmup_fraction = param.Number(default=1 / 6, bounds=(0.0, 1.0), doc="Share of steps in the LR ramp-up.")
    cooldown_fraction = param.Number(default=1 / 3, bounds=(0.0, 1.0),
                                     doc="Share of steps in the LR ramp-down + 10%% tail.")
    train_fraction = param.Number(default=0.7, bounds=(0.05, 0.95), doc="Training share of the 7:3 split.")
    nhit_matching = param.Boolean(default=True, doc="Nhit-match signal and background before the split.")
    seed = param.Integer(default=0, doc="Seed of weights, split, shuffling and dropout.")
    device = param.String(default="auto", doc="'auto' (CUDA when present), 'cpu', 'cuda', 'cuda:1', ...")
    threads = param.Integer(default=0, bounds=(0, None), doc="CPU threads for torch (0: torch's default).")
    max_minutes = param.Number(default=0.0, bounds=(0.0, None), doc=(
        "Stop after this many minutes of this run, keeping a resumable state (0: no limit)."))
    max_steps = param.Integer(default=0, bounds=(0, None), doc=(
        "Stop after this many optimiser steps of this run, keeping a resumable state (0: no limit)."))
    checkpoint_minutes = param.Number(default=5.0, bounds=(0.01, None), doc=(
        "Write the resumable training state every this many minutes (with a state prefix)."))
    precise_bn_events = param.Integer(default=1024, bounds=(0, None), doc=(
        "Training events that re-estimate the batch-norm statistics before each validation (0: the "
        "momentum averages as they are)."))


def _lr_factor(step: int, total: int, warm: float, cool: float) -> float:
    w, c = int(warm * total), int(cool * total)
    if step < w:
        return (step + 1) / w
    down_start, tail_start = total - c, total - c // 2
    if step < down_start:
        return 1.0
    if step < tail_start:
        return 1.0 - 0.9 * (step - down_start) / max(tail_start - down_start, 1)
    return 0.1


def _logits_and_attention(model: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
    if hasattr(model, "forward_with_attention"):
        return model.forward_with_attention(x)
    return model(x), None


def predict(model: nn.Module, data: HitMapSet, *, batch_size: int = 64, device: str = "auto"
            ) -> tuple[np.ndarray, np.ndarray | None]:
    """Scores ``sigmoid(logit)`` ``(N,) float32`` and attention ``(N, T) float32`` (None for the CNN)."""
    dev = resolve_device(device)
    model = model.to(dev).eval()
    scores, atts = [], []
    with torch.no_grad():
        for x, _, _ in iterate_batches(data, batch_size, device=dev):
            logit, att = _logits_and_attention(model, x)
            scores.append(torch.sigmoid(logit).float().cpu().numpy())
            if att is not None:
                atts.append(att.float().cpu().numpy())
    s = np.concatenate(scores) if scores else np.zeros(0, np.float32)
    a = np.concatenate(atts) if atts else None
    return s, a


def recalibrate_batchnorm(model: nn.Module, data: HitMapSet, *, events: int = 1024, batch_size: int = 32,
                          seed: int = 0, device: str = "cpu") -> int:
    """Re-estimate the running mean and variance of every batch-norm layer of ``model`` ("precise BN").

    The statistics are reset and accumulated as plain averages (``momentum=None``) over batches of
    ``batch_size`` of ``events`` events of ``data`` drawn without replacement (seeded by ``seed``, its own
    random stream; labels are not used).  Only the batch-norm layers run in training mode (no dropout);
    weights do not change.  Returns the number of events used (0: no batch-norm layer or no events).
    """
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    n = min(int(events), len(data))
    if not norms or n < 2:
        return 0
    was_training = model.training
    momenta = [m.momentum for m in norms]
    model.eval()
    for m in norms:
        m.reset_running_stats()
        m.momentum = None
        m.train()
    used = 0
    try:
        with torch.no_grad():
            for x, _, _ in iterate_batches(data, batch_size, shuffle=True, rng=np.random.default_rng(seed),
                                           device=resolve_device(device), drop_last=len(data) >= batch_size):
                if used >= n:
                    break
                _logits_and_attention(model, x)
                used += len(x)
    finally:
        for m, mom in zip(norms, momenta):
            m.momentum = mom
        model.train(was_training)
    return used


def _train_identity(config: TrainConfig) -> dict:
    """The settings a resumed run must share with the run it continues (not threads, device, budget, nor the
    batch-norm re-estimation, which never changes the weights)."""
    skip = {"threads", "device", "max_minutes", "max_steps", "checkpoint_minutes", "precise_bn_events"}
    return {k: v for k, v in config.to_dict().items() if k not in skip}


def fit_classifier(model: nn.Module, train: HitMapSet, val: HitMapSet, config: TrainConfig | None = None, *,
                   progress: Callable[[dict], None] | None = None, state: str | None = None) -> dict:
    """Train ``model`` in place; returns the history (per epoch: losses, val AUC, seconds, events seen).

    ``progress`` is called after every step with ``{"epoch", "step", "loss"}``.

    ``state`` -- a training-state prefix (:mod:`kamcore.train.resume`).  When it exists the
    run continues from it (same data and settings, else :class:`ConfigError`), as if it had
    never stopped: the result equals an uninterrupted run's.  The state is written every
    ``config.checkpoint_minutes`` and whenever the run stops, by its budget
    (``max_minutes``, ``max_steps``) or at the end.  Without ``state`` nothing is written
    and a budget just ends the run early.

    The returned dict has ``complete`` (all epochs done), ``best_epoch``,
    ``best_val_auc``, ``best_val_loss`` and ``epochs``; the model holds the weights of
    the best epoch so far.
    """
    from ..errors import ConfigError
    from ..metrics import auc
    from . import resume

    config = config or TrainConfig()
    if config.threads:
        torch.set_num_threads(config.threads)
    dev = resolve_device(config.device)
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    model = model.to(dev)
    params = [p for p in model.parameters() if p.requires_grad]
    if config.optimizer == "rmsprop":
        opt = torch.optim.RMSprop(params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)
    else:
        opt = torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay)
    steps_per_epoch = max(len(train) // config.batch_size, 1)
    total = steps_per_epoch * config.epochs
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: _lr_factor(s, total, config.warmup_fraction, config.cooldown_fraction))
    loss_fn = nn.BCEWithLogitsLoss()
    identity = _train_identity(config)
    digest = resume.data_digest(train.label, train.nhit, val.label, val.nhit)
    history: list[dict] = []
    best_auc, best_weights, best_epoch = -math.inf, None, None
    step, start_epoch, skip_batches, epoch_losses, events_seen = 0, 0, 0, [], 0
    epoch_rng_state = rng.bit_generator.state
    saved = resume.load_state(state) if state else None
    if saved is not None:
        where = resume.state_paths(state)
        if saved.get("train_config") != identity:
            raise ConfigError(f"{where}: saved with other training settings; start a new state or use the same ones")
        if saved.get("data_digest") != digest:
            raise ConfigError(f"{where}: saved on other training data (files, --max-events or seed differ)")
        model.load_state_dict({k: v.to(dev) for k, v in saved.group("model").items()})
        resume.restore_optimizer(opt, saved)
        sched.load_state_dict(saved["scheduler"])
        best = saved.group("best")
        best_weights = {k: v.to(dev) for k, v in best.items()} if best else None
        best_auc = saved["best_val_auc"] if saved["best_val_auc"] is not None else -math.inf
        best_epoch, history = saved["best_epoch"], saved["history"]
        step, start_epoch, skip_batches = saved["step"], saved["epoch"], saved["batches_done"]
        epoch_losses, events_seen = saved["epoch_losses"], saved["events_seen"]
        epoch_rng_state = saved["numpy_rng"]
        resume.restore_rng(saved)
        log.info("resumed %s at epoch %d, batch %d (step %d)", where, start_epoch + 1, skip_batches, step)
    t_start = t_ckpt = time.perf_counter()
    steps_this_call = 0

    def write_state(epoch: int, batches_done: int) -> None:
        if state:
            resume.save_state(state, model=model, optimizer=opt, scheduler=sched, best_weights=best_weights, meta={
                "train_config": identity, "data_digest": digest, "step": step, "epoch": epoch,
                "batches_done": batches_done, "epoch_losses": epoch_losses, "events_seen": events_seen,
                "numpy_rng": epoch_rng_state, "history": history, "best_epoch": best_epoch,
                "best_val_auc": best_auc if math.isfinite(best_auc) else None})

    def out_of_budget() -> bool:
        return bool((config.max_steps and steps_this_call >= config.max_steps)
                    or (config.max_minutes and time.perf_counter() - t_start >= 60 * config.max_minutes))

    def result(complete: bool) -> dict:
        if best_weights is not None:
            model.load_state_dict(best_weights)
        kept = history[best_epoch - 1] if best_epoch else {}
        return {"epochs": history, "complete": complete, "best_epoch": best_epoch,
                "best_val_auc": kept.get("val_auc"), "best_val_loss": kept.get("val_loss")}

    for epoch in range(start_epoch, config.epochs):
        model.train()
        t0 = time.perf_counter()
        rng.bit_generator.state = epoch_rng_state
        batches = iterate_batches(train, config.batch_size, shuffle=True, rng=rng, device=dev,
                                  drop_last=len(train) >= config.batch_size)
        epoch_rng_state_next = None
        for k, (x, y, _) in enumerate(batches):
            if k == 0:
                epoch_rng_state_next = rng.bit_generator.state  # after this epoch's shuffle
            if k < skip_batches:
                continue
            if len(y) >= 2:  # batch norm needs two events
                logit, _ = _logits_and_attention(model, x)
                loss = loss_fn(logit, y)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
                epoch_losses.append(loss.item())
                step += 1
                steps_this_call += 1
                events_seen += len(y)
                if progress:
                    progress({"epoch": epoch, "step": step, "loss": epoch_losses[-1]})
            if out_of_budget():
                write_state(epoch, k + 1)
                log.info("stopped by the budget at epoch %d, batch %d (step %d)", epoch + 1, k + 1, step)
                return result(False)
            if state and time.perf_counter() - t_ckpt >= 60 * config.checkpoint_minutes:
                write_state(epoch, k + 1)
                t_ckpt = time.perf_counter()
        skip_batches = 0
        if config.precise_bn_events:
            recalibrate_batchnorm(model, train, events=config.precise_bn_events, batch_size=config.batch_size,
                                  seed=config.seed + 7919 * (epoch + 1), device=str(dev))
        scores, _ = predict(model, val, batch_size=max(config.batch_size, 64), device=str(dev))
        with torch.no_grad():
            p = torch.from_numpy(np.clip(scores, 1e-7, 1 - 1e-7).astype(np.float64))
            val_loss = float(nn.functional.binary_cross_entropy(p, torch.from_numpy(val.label.astype(np.float64))))
        rec = {"epoch": epoch + 1, "train_loss": float(np.mean(epoch_losses)) if epoch_losses else float("nan"),
               "val_loss": val_loss, "val_auc": auc(scores[val.label == 1], scores[val.label == 0]),
               "seconds": time.perf_counter() - t0, "lr": sched.get_last_lr()[0], "events_seen": events_seen}
        history.append(rec)
        log.info("epoch %(epoch)d: train %(train_loss).4f val %(val_loss).4f AUC %(val_auc).3f (%(seconds).0f s)", rec)
        if (math.isfinite(rec["val_auc"]) and rec["val_auc"] > best_auc) or best_weights is None:
            best_auc = rec["val_auc"] if math.isfinite(rec["val_auc"]) else best_auc
            best_weights = {k: v.detach().clone() for k, v in model.state_dict().items()}
            best_epoch = epoch + 1
        epoch_losses = []
        if epoch_rng_state_next is not None:
            epoch_rng_state = epoch_rng_state_next
        write_state(epoch + 1, 0)
        t_ckpt = time.perf_counter()
    return result(True)

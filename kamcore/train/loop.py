"""Training and scoring loops of the hit-map classifiers (KamNet and the CNN).

Loss: binary cross-entropy on logits (``BCEWithLogitsLoss``).  Optimiser: the
reference's RMSprop with momentum by default (public KamNet code: lr 7.7e-5,
momentum 0.78), Adam as an option, with the reference's learning-rate schedule
scaled to the run length: a linear ramp-up over the first ``warmup_fraction`` of the
steps (lets the attention settle), flat, a linear ramp-down to 10% over the
``cooldown_fraction`` before the last one, and 10% at the end.
The weights of the epoch with the best validation AUC are kept (the loss can keep
falling while the ranking, which is what a rejection cut uses, gets worse).  Randomness (initial weights,
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

from .data import HitMapSet, iterate_batches

__all__ = ["TrainConfig", "fit_classifier", "predict", "resolve_device"]

log = logging.getLogger(__name__)


def resolve_device(device: str) -> torch.device:
    """``"auto"`` -> CUDA when present, else CPU; anything else as given."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


class TrainConfig(param.Parameterized):
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


def fit_classifier(model: nn.Module, train: HitMapSet, val: HitMapSet, config: TrainConfig | None = None, *,
                   progress: Callable[[dict], None] | None = None) -> dict:
    """Train ``model`` in place; returns the history (per epoch: losses, val AUC, seconds).

    ``progress`` is called after every step with ``{"epoch", "step", "loss"}``.
    """
    from ..metrics import auc

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
    history: list[dict] = []
    best = (-math.inf, None, None)  # (val AUC, weights, epoch)
    step = 0
    for epoch in range(config.epochs):
        model.train()
        t0, losses = time.perf_counter(), []
        for x, y, _ in iterate_batches(train, config.batch_size, shuffle=True, rng=rng, device=dev,
                                       drop_last=len(train) >= config.batch_size):
            if len(y) < 2:  # batch norm needs two events
                continue
            logit, _ = _logits_and_attention(model, x)
            loss = loss_fn(logit, y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            losses.append(loss.item())
            step += 1
            if progress:
                progress({"epoch": epoch, "step": step, "loss": losses[-1]})
        scores, _ = predict(model, val, batch_size=max(config.batch_size, 64), device=str(dev))
        with torch.no_grad():
            p = torch.from_numpy(np.clip(scores, 1e-7, 1 - 1e-7).astype(np.float64))
            val_loss = float(nn.functional.binary_cross_entropy(p, torch.from_numpy(val.label.astype(np.float64))))
        rec = {"epoch": epoch + 1, "train_loss": float(np.mean(losses)) if losses else float("nan"),
               "val_loss": val_loss, "val_auc": auc(scores[val.label == 1], scores[val.label == 0]),
               "seconds": time.perf_counter() - t0, "lr": sched.get_last_lr()[0]}
        history.append(rec)
        log.info("epoch %(epoch)d: train %(train_loss).4f val %(val_loss).4f AUC %(val_auc).3f (%(seconds).0f s)", rec)
        if math.isfinite(rec["val_auc"]) and rec["val_auc"] > best[0] or best[1] is None:
            best = (rec["val_auc"], {k: v.detach().clone() for k, v in model.state_dict().items()}, epoch + 1)
    model.load_state_dict(best[1])
    kept = history[best[2] - 1]
    return {"epochs": history, "best_epoch": best[2], "best_val_auc": kept["val_auc"], "best_val_loss": kept["val_loss"]}

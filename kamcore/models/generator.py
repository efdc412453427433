"""A loaded event generator (VAE or WGAN-GP point-cloud model) and the events it makes.

:func:`load_generator` finds a generator checkpoint (a path, or a shipped name such as
``vae_xe136`` looked up in ``assets/``) and loads it (safetensors, no pickle,
:func:`kamcore.train.checkpoint.load_model`).  :meth:`Generator.generate` samples events
(:func:`generate_events`): hits of triggered PMTs with proper times in ns and charges in
p.e., marked ``attrs["time_reference"] == "proper"``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import torch

from ..errors import ConfigError
from ..events import Events
from ..geometry import PMTTable, default_pmt_table
from .identity import model_identity

__all__ = ["GENERATOR_KINDS", "Generator", "load_generator", "build_generator", "generate_events"]

#: the generator kinds a checkpoint may hold
GENERATOR_KINDS = ("vae", "gan")


class Generator:
    """A loaded generator; build it with :func:`load_generator`.

    Attributes
    ----------
    module : the torch module (eval mode)
    meta : the checkpoint's JSON (``model`` kind, ``preset``, training history)
    path : the weights file
    identity : ``{"name", "kind", "digest"}`` (:func:`~kamcore.models.model_identity`)
    """

    def __init__(self, module, meta: dict, path: Path):
        self.module, self.meta, self.path = module, meta, Path(path)
        self.identity = model_identity(path, meta)

    @property
    def kind(self) -> str:
        return self.identity["kind"]

    def generate(self, n: int, seed: int = 0, *, pmts=None, run: int = 0):
        """``n`` generated :class:`kamcore.Events` of seed ``seed`` (the same seed gives the same events)."""
        return generate_events(self.module, n, seed=int(seed), pmts=pmts, run=run)

    def __repr__(self) -> str:
        return f"Generator({self.identity['name']}: {self.kind}, digest {self.identity['digest']})"


def load_generator(name_or_path: str | os.PathLike, *, kinds: tuple[str, ...] = GENERATOR_KINDS,
                   device: str = "cpu", expected: str | None = None) -> Generator:
    """The generator at ``name_or_path`` (``PREFIX``, ``PREFIX.json``, ``PREFIX.safetensors``) or the
    shipped one of that name, of one of ``kinds``; one-line :class:`~kamcore.errors.ModelFileError` when it
    is missing or cannot be loaded.

    ``expected`` (the command line's wording): a missing checkpoint is reported by the checkpoint loader
    ("model configuration not found") and a checkpoint of another kind as "is a KIND checkpoint; expected
    ``expected``"; without it, a missing one is "KINDS checkpoint not found" (:func:`checkpoint_info`).
    """
    from ..train.checkpoint import checkpoint_paths
    from ..train.checkpoint import load_model as load_checkpoint
    from .info import checkpoint_info, find_checkpoint

    if expected is None:
        path = checkpoint_info(name_or_path, what=" or ".join(k.upper() for k in kinds)).path
    else:
        path = find_checkpoint(name_or_path)
    module, meta = load_checkpoint(path, device=device, kinds=tuple(kinds), expected=expected)
    return Generator(module, meta, checkpoint_paths(path)[0])


def build_generator(kind: str, preset: str, overrides: dict | None = None):
    """A fresh, untrained ``kind`` (``"vae"`` or ``"gan"``) network of preset ``preset`` with the settings
    ``overrides`` (``VAEConfig`` / ``GANConfig`` parameter -> value) applied.

    An unknown kind, preset or setting, or a bad value, raises a one-line :class:`~kamcore.errors.ConfigError`.
    """
    from ..nn.vae import PointNetVAE, VAEConfig
    from ..nn.wgan import GANConfig, PointCloudWGAN

    if kind not in GENERATOR_KINDS:
        raise ConfigError(f"generator kind must be one of {list(GENERATOR_KINDS)}, got {kind!r}")
    cls, build = (VAEConfig, PointNetVAE) if kind == "vae" else (GANConfig, PointCloudWGAN)
    overrides = dict(overrides or {})
    unknown = sorted(set(overrides) - set(cls.param) - {"name"})
    if unknown or "name" in overrides:
        raise ConfigError(f"unknown {kind} setting(s) {unknown or ['name']}; known: "
                          f"{sorted(k for k in cls.param if k != 'name')}")
    config = cls.from_preset(preset)  # an unknown preset: its one-line ConfigError
    try:
        return build(cls.from_preset(preset, **overrides)) if overrides else build(config)
    except (ValueError, TypeError) as exc:  # a bad value (ConfigError included)
        raise ConfigError(f"{kind} settings {overrides}: {' '.join(str(exc).split())}") from None


def generate_events(model: torch.nn.Module, n: int, seed: int = 0, pmts: PMTTable | None = None,
                    source_name: str | None = None, *, batch_size: int = 65536, run: int = 0,
                    condition: dict | None = None) -> Events:
    """Sample ``n`` events from a trained generator as an ordinary :class:`~kamcore.events.Events` batch.

    Parameters
    ----------
    model : PointNetVAE or PointCloudWGAN
        Anything with ``sample_hits(n, generator)`` returning a
        :class:`~kamcore.nn.pointnet.HitSample`, a fitted ``scaler`` and a ``kind``.
    n : int
        Number of events.
    seed : int
        Seed of every draw; the same model, seed, ``batch_size`` and device give the
        same events.
    pmts : PMTTable, optional
        The detector's PMT table (default: the shipped one); its size must match the model.
    source_name : str, optional
        Default ``"generated:<kind>"``.
    batch_size : int
        Events sampled per call of ``model.sample_hits`` (its latents and trigger draws are
        drawn together, so it is part of what the seed determines; the default keeps the
        latents of a call at 8 MB and, for ``n`` up to it, copies the hits only once).
    run : int
        Run number written to every event.
    condition : dict, optional
        Conditional VAE only: ``{"vertex_cm": (3,), "energy_mev": float}`` (either key), passed to
        ``sample_hits``; unset ones are drawn from the model's condition table.

    Returns
    -------
    Events
        Hits = triggered PMTs (``pmt`` int16, ``t_ns`` proper time in ns, ``q_pe`` p.e.),
        event ids ``0..n-1``, vertex and energy NaN, no deposit truth; ``attrs`` with
        ``time_reference = "proper"``, ``generator`` (kind), ``generator_config`` (JSON),
        ``generator_seed`` and ``pmt_table_digest``.
    """
    if isinstance(n, bool) or int(n) != n or n < 0:
        raise ConfigError(f"number of events must be a non-negative integer, got {n!r}")
    if batch_size < 1:
        raise ConfigError(f"batch_size must be positive, got {batch_size}")
    n = int(n)
    pmts = pmts or default_pmt_table()
    n_pmts = model.scaler.n_pmts
    if len(pmts) != n_pmts:
        raise ConfigError(f"the PMT table has {len(pmts)} PMTs, the model generates {n_pmts}")
    if not bool(model.scaler.fitted):
        raise ConfigError(f"the {model.kind} model has no fitted point-cloud scaler (train it first)")
    kind = getattr(model, "kind", "model")
    source_name = source_name or f"generated:{kind}"
    like = next(model.parameters())
    gen = torch.Generator(device=like.device).manual_seed(int(seed))
    was_training = model.training
    model.eval()
    parts = []
    try:
        with torch.inference_mode():
            for a in range(0, n, batch_size):
                # z, then the trigger draws of the batch, then t and q of the triggered PMTs only
                parts.append(model.sample_hits(min(batch_size, n - a), generator=gen, **(condition or {})))
    finally:
        model.train(was_training)

    def cat(k: int, dt) -> np.ndarray:   # one batch (the usual case): its arrays as they are
        if not parts:
            return np.zeros(0, dt)
        col = np.concatenate([p[k] for p in parts]) if len(parts) > 1 else parts[0][k]
        return col.astype(dt, copy=False)

    offsets = np.zeros(n + 1, np.int64)
    np.cumsum(cat(0, np.int64), out=offsets[1:])
    attrs = {"time_reference": "proper", "generator": kind, "generator_seed": int(seed),
             "generator_config": json.dumps(model.config.to_dict(), sort_keys=True),
             "pmt_table_digest": pmts.digest}
    return Events.from_columns(offsets=offsets, pmt=cat(1, np.int16), t_ns=cat(2, np.float32),
                               q_pe=cat(3, np.float32), run=np.full(n, run, np.int32),
                               source=np.full(n, source_name, dtype=object), attrs=attrs)

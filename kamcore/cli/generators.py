"""Helpers shared by the generator commands (``train vae|gan``, ``calibrate``, ``generate``,
``compare``, ``gen-results``): options, devices, architecture overrides, loading."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np

from ..errors import ConfigError, one_line

__all__ = ["GENERATOR_KINDS", "add_pmt_option", "pmts_from_args", "finite_json", "torch_device", "parse_arch",
           "build_generator", "resolve_checkpoint", "load_generator", "set_threads"]

#: checkpoint kinds these commands train and sample (registered by kamcore.train.generative)
GENERATOR_KINDS = ("vae", "gan")


def add_pmt_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--pmt-table", metavar="CSV", help=(
        "PMT table (pmt_id,x_cm,y_cm,z_cm,type); default $KAMCORE_PMT_TABLE or the shipped one"))


def pmts_from_args(args):
    from ..geometry import default_pmt_table

    return default_pmt_table(getattr(args, "pmt_table", None))


def finite_json(obj):
    """``obj`` with every non-finite float replaced by ``None`` (strict JSON)."""
    if isinstance(obj, dict):
        return {k: finite_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [finite_json(v) for v in obj]
    if isinstance(obj, (float, np.floating)):
        return float(obj) if math.isfinite(obj) else None
    if isinstance(obj, np.integer):
        return int(obj)
    return obj


def torch_device(name: str):
    """The torch device ``name`` (``"auto"`` allowed), or a ConfigError when it is unusable here."""
    import torch

    from ..train import resolve_device

    try:
        dev = resolve_device(name)
    except (ValueError, RuntimeError) as exc:
        raise ConfigError(f"--device {name!r}: {one_line(exc, None)}") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"--device {name!r}: CUDA is not available on this machine")
    return dev


def parse_arch(items: list[str]) -> dict:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--arch expects KEY=VALUE, got {item!r}")
        try:
            out[key] = json.loads(value)
        except ValueError:
            out[key] = value
    return out


def build_generator(kind: str, preset: str, overrides: dict | None = None):
    """:func:`kamcore.models.build_generator`; a bad setting's error names ``--arch``."""
    from ..models import build_generator as build
    from ..nn.vae import VAEConfig
    from ..nn.wgan import GANConfig

    cls = VAEConfig if kind == "vae" else GANConfig
    if preset not in cls.PRESETS:
        cls.from_preset(preset)  # the one-line "unknown preset" ConfigError
    try:
        return build(kind, preset, overrides)
    except ConfigError as exc:
        raise ConfigError(f"--arch: {one_line(exc, None)}") from None


def resolve_checkpoint(path: str) -> Path:
    """``path``, or the shipped checkpoint of that name in ``assets/`` (e.g. ``vae_xe136``):
    :func:`kamcore.models.find_checkpoint`."""
    from ..models import find_checkpoint

    return find_checkpoint(path)


def load_generator(path: str, device: str = "cpu"):
    """``(module, meta)`` of the event generator ``path`` (a checkpoint or a shipped name), for the commands
    that train, calibrate and sample it; a checkpoint of another kind gets the one-line "expected an event
    generator" :class:`~kamcore.errors.ModelFileError`."""
    from ..models.generator import load_generator as load

    gen = load(path, device=torch_device(device), kinds=GENERATOR_KINDS,
               expected=f"an event generator ({' or '.join(GENERATOR_KINDS)})")
    return gen.module, gen.meta


def set_threads(n: int) -> None:
    import torch

    if n < 0:
        raise ConfigError(f"--threads must be >= 0, got {n}")
    if n:
        torch.set_num_threads(n)

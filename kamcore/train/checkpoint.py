"""Model checkpoints: weights as safetensors, configuration and provenance as JSON.

A checkpoint ``NAME`` is two files written atomically side by side:

* ``NAME.safetensors`` -- the ``state_dict`` tensors (no pickle: loading never
  executes code);
* ``NAME.json`` -- ``{"model": kind, "config": {...}, "preset": ..., "training": {...},
  "metrics": {...}, "kamcore_version": ...}``.

:func:`load_model` rebuilds the model from the JSON configuration through the
:data:`MODELS` registry and refuses weights whose names or shapes do not match it,
with a one-line :class:`~kamcore.errors.ModelFileError` naming the file.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from ..errors import ModelFileError
from ..io import atomic_output

__all__ = ["MODELS", "register_model", "save_model", "load_model", "checkpoint_paths"]

#: model kind -> (build(config dict) -> nn.Module, config of a model -> dict)
MODELS: dict[str, tuple[Callable[[dict], nn.Module], Callable[[nn.Module], dict]]] = {}


def register_model(kind: str, build: Callable[[dict], nn.Module], describe: Callable[[nn.Module], dict]) -> None:
    """Register how a model kind is rebuilt from, and described by, its configuration."""
    MODELS[kind] = (build, describe)


def checkpoint_paths(path: str | os.PathLike) -> tuple[Path, Path]:
    """``(weights, metadata)`` paths of checkpoint ``path`` (with or without a suffix)."""
    p = Path(path)
    if p.suffix in (".safetensors", ".json"):
        p = p.with_suffix("")
    return p.with_name(p.name + ".safetensors"), p.with_name(p.name + ".json")


def save_model(path: str | os.PathLike, model: nn.Module, kind: str, **metadata: Any) -> tuple[Path, Path]:
    """Write ``model`` of registered ``kind`` with JSON-serialisable ``metadata``; returns both paths."""
    from safetensors.torch import save_file

    from .. import __version__

    if kind not in MODELS:
        raise ModelFileError(f"unknown model kind {kind!r}; known: {sorted(MODELS)}")
    weights, meta = checkpoint_paths(path)
    weights.parent.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    doc = {"model": kind, "config": MODELS[kind][1](model), "kamcore_version": __version__, **metadata}
    text = json.dumps(doc, indent=1, sort_keys=True, default=float)
    with atomic_output(weights) as tmp:
        save_file(tensors, str(tmp), metadata={"model": kind})
        os.chmod(tmp, 0o644)  # safetensors creates 0600 files; checkpoints are shared read-only
    with atomic_output(meta) as tmp:
        tmp.write_text(text + "\n")
    return weights, meta


def load_model(path: str | os.PathLike, *, device: str | torch.device = "cpu") -> tuple[nn.Module, dict]:
    """Rebuild and load a checkpoint; returns ``(model in eval mode, metadata dict)``."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    weights, meta_path = checkpoint_paths(path)
    try:
        meta = json.loads(meta_path.read_text())
    except FileNotFoundError:
        raise ModelFileError(f"{meta_path}: model configuration not found") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFileError(f"{meta_path}: not a model configuration ({type(exc).__name__})") from None
    kind = meta.get("model") if isinstance(meta, dict) else None
    if kind not in MODELS:
        raise ModelFileError(f"{meta_path}: unknown model kind {kind!r}; known: {sorted(MODELS)}")
    try:
        model = MODELS[kind][0](meta.get("config", {}))
    except (TypeError, ValueError) as exc:
        raise ModelFileError(f"{meta_path}: invalid {kind} configuration ({' '.join(str(exc).split())})") from None
    try:
        state = load_file(str(weights))
    except FileNotFoundError:
        raise ModelFileError(f"{weights}: weights file not found") from None
    except (SafetensorError, OSError, ValueError) as exc:
        raise ModelFileError(f"{weights}: not a safetensors file ({' '.join(str(exc).split())})") from None
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    extra = sorted(set(state) - set(expected))
    if missing or extra:
        raise ModelFileError(f"{weights}: tensors do not match the {kind} configuration "
                             f"(missing {missing[:3]}, unexpected {extra[:3]})")
    for name, t in expected.items():
        if tuple(state[name].shape) != tuple(t.shape):
            raise ModelFileError(f"{weights}: tensor {name!r} has shape {tuple(state[name].shape)}, "
                                 f"the configuration needs {tuple(t.shape)}")
    model.load_state_dict(state)
    return model.to(device).eval(), meta

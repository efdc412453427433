"""Model checkpoints: weights as safetensors, configuration and provenance as JSON.

A checkpoint ``NAME`` is two files written atomically side by side:

* ``NAME.safetensors`` -- the ``state_dict`` tensors (no pickle: loading never
  executes code);
* ``NAME.json`` -- ``{"model": kind, "config": {...}, "preset": ..., "training": {...},
  "metrics": {...}, "kamcore_version": ...}``.

:func:`load_model` rebuilds the model from the JSON configuration through the
:data:`MODELS` registry and refuses, with a one-line :class:`~kamcore.errors.ModelFileError`
naming the file, anything that is not a consistent checkpoint: unreadable or non-object
JSON, an unknown kind, a configuration the model cannot be built from, a damaged
safetensors file, weights whose names, shapes or dtypes do not match the configuration,
non-finite weights.  The weights file's metadata records the kind and the SHA-256 of the
configuration (:func:`config_digest`), so a configuration edited or damaged after saving
is refused before a model is built from it.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import warnings
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from ..errors import ModelFileError, one_line
from ..io import atomic_output

__all__ = ["MODELS", "CLASSIFIER_KINDS", "register_model", "save_model", "load_model", "checkpoint_paths",
           "config_digest"]

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

    from .._version import __version__

    if kind not in MODELS:
        raise ModelFileError(f"unknown model kind {kind!r}; known: {sorted(MODELS)}")
    weights, meta = checkpoint_paths(path)
    weights.parent.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    doc = {"model": kind, "config": MODELS[kind][1](model), "kamcore_version": __version__, **metadata}
    text = json.dumps(doc, indent=1, sort_keys=True, default=float)
    with atomic_output(weights) as tmp:
        # one metadata entry: safetensors keeps metadata in a hash map, so two entries would be
        # written in a random order and the same model would give different bytes
        stamp = json.dumps({"model": kind, "config_sha256": config_digest(doc["config"])}, sort_keys=True)
        save_file(tensors, str(tmp), metadata={"kamcore": stamp})
        os.chmod(tmp, 0o644)  # safetensors creates 0600 files; checkpoints are shared read-only
    with atomic_output(meta) as tmp:
        tmp.write_text(text + "\n")
    return weights, meta


def config_digest(config: Any) -> str:
    """SHA-256 of a configuration's canonical JSON (sorted keys); stored in the weights file's metadata."""
    text = json.dumps(config, sort_keys=True, separators=(",", ":"), default=float)
    return hashlib.sha256(text.encode()).hexdigest()


#: safetensors dtype names of the torch dtypes
_ST_DTYPES = {torch.float64: "F64", torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16",
              torch.int64: "I64", torch.int32: "I32", torch.int16: "I16", torch.int8: "I8", torch.uint8: "U8",
              torch.bool: "BOOL"}


def _read_meta(meta_path: Path) -> tuple[str, dict, dict]:
    """``(kind, config, metadata)`` of a checkpoint's JSON, or :class:`ModelFileError`."""
    try:
        mode = meta_path.stat().st_mode
        if not stat.S_ISREG(mode) and not stat.S_ISDIR(mode):  # reading a FIFO would block
            raise ModelFileError(f"{meta_path}: not a regular file (a FIFO, socket or device)")
        meta = json.loads(meta_path.read_bytes())
    except ModelFileError:
        raise
    except FileNotFoundError:
        raise ModelFileError(f"{meta_path}: model configuration not found") from None
    except IsADirectoryError:
        raise ModelFileError(f"{meta_path}: is a directory, not a model configuration") from None
    except (OSError, ValueError, RecursionError) as exc:  # ValueError: JSON or UTF-8; RecursionError: deep nesting
        raise ModelFileError(f"{meta_path}: not a model configuration ({type(exc).__name__})") from None
    kind = meta.get("model") if isinstance(meta, dict) else None
    if not isinstance(kind, str) or kind not in MODELS:
        raise ModelFileError(f"{meta_path}: unknown model kind {kind!r}; known: {sorted(MODELS)}")
    config = meta.get("config", {})
    if not isinstance(config, dict):
        raise ModelFileError(f"{meta_path}: invalid {kind} configuration (a JSON {type(config).__name__}, "
                             "expected an object)")
    return kind, config, meta


def _read_header(weights: Path) -> tuple[dict[str, tuple[str, tuple[int, ...]]], dict]:
    """``({name: (dtype, shape)}, metadata)`` from the safetensors header, without reading the tensors."""
    from safetensors import SafetensorError, safe_open

    try:
        mode = weights.stat().st_mode
    except FileNotFoundError:
        raise ModelFileError(f"{weights}: weights file not found") from None
    except OSError as exc:
        raise ModelFileError(f"{weights}: cannot open ({exc.strerror or one_line(exc)})") from None
    if not stat.S_ISREG(mode):
        raise ModelFileError(f"{weights}: not a regular file")
    try:
        with safe_open(str(weights), framework="pt") as f:
            header = {}
            for name in f.keys():
                sl = f.get_slice(name)
                header[name] = (sl.get_dtype(), tuple(sl.get_shape()))
            return header, f.metadata() or {}
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise ModelFileError(f"{weights}: not a safetensors file ({one_line(exc)})") from None


def _build(kind: str, config: dict, meta_path: Path, device: str | torch.device | None = None) -> nn.Module:
    """The model of ``kind`` from ``config``; any failure is an invalid configuration."""
    try:
        with warnings.catch_warnings():  # e.g. torch on zero-width layers: the error, if any, comes below
            warnings.simplefilter("ignore")
            if device is None:
                return MODELS[kind][0](config)
            with torch.device(device):
                return MODELS[kind][0](config)
    except MemoryError:
        raise ModelFileError(f"{meta_path}: invalid {kind} configuration (the model does not fit in memory)") from None
    except Exception as exc:  # noqa: BLE001 - torch, numpy and param raise anything on absurd sizes
        raise ModelFileError(f"{meta_path}: invalid {kind} configuration ({one_line(exc)})") from None


def _expected_on_meta(kind: str, config: dict, meta_path: Path) -> dict[str, tuple[str, tuple[int, ...]]] | None:
    """Names, dtypes and shapes of the state of ``kind`` built on the meta device (nothing allocated),
    or None for a model that cannot be built there (one that computes tables at construction)."""
    try:
        with torch.device("meta"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = MODELS[kind][0](config)
    except NotImplementedError:
        return None
    except Exception as exc:  # noqa: BLE001 - as in _build
        if "meta" in str(exc).lower():
            return None
        raise ModelFileError(f"{meta_path}: invalid {kind} configuration ({one_line(exc)})") from None
    return {k: (_ST_DTYPES.get(v.dtype, str(v.dtype)), tuple(v.shape)) for k, v in model.state_dict().items()}


def _compare(weights: Path, kind: str, found: dict, expected: dict) -> None:
    """Refuse weights whose names, shapes or dtypes differ from what the configuration needs."""
    missing = sorted(set(expected) - set(found))
    extra = sorted(set(found) - set(expected))
    if missing or extra:
        raise ModelFileError(f"{weights}: tensors do not match the {kind} configuration "
                             f"(missing {missing[:3]}, unexpected {extra[:3]})")
    for name, (dtype, shape) in expected.items():
        if found[name][1] != shape:
            raise ModelFileError(f"{weights}: tensor {name!r} has shape {found[name][1]}, "
                                 f"the configuration needs {shape}")
        if found[name][0] != dtype:
            raise ModelFileError(f"{weights}: tensor {name!r} has dtype {found[name][0]}, "
                                 f"the configuration needs {dtype}")


#: the model kinds that classify events (score, evaluate, run templates)
CLASSIFIER_KINDS = ("kamnet", "cnn")


def _stamp(st_meta: dict, weights: Path) -> dict:
    """The kind and configuration digest a weights file was saved with (``{}`` for old files)."""
    if "kamcore" not in st_meta:
        return st_meta  # files of before the single entry: "model" / "config_sha256" (or nothing)
    try:
        stamp = json.loads(st_meta["kamcore"])
    except (ValueError, RecursionError):
        stamp = None
    if not isinstance(stamp, dict) or not all(isinstance(stamp.get(k), str) for k in ("model", "config_sha256")):
        raise ModelFileError(f"{weights}: damaged kamcore metadata in the safetensors header")
    return stamp


def load_model(path: str | os.PathLike, *, device: str | torch.device = "cpu",
               kinds: tuple[str, ...] | None = None, expected: str | None = None) -> tuple[nn.Module, dict]:
    """Rebuild and load a checkpoint; returns ``(model in eval mode, metadata dict)``.

    ``kinds``, if given, are the model kinds the caller can use (e.g. :data:`CLASSIFIER_KINDS`);
    a checkpoint of another kind is refused before anything is built, with a message that
    says what was ``expected`` (default: the kinds).

    Checks, in this order, each ending in a one-line :class:`~kamcore.errors.ModelFileError`
    naming the file: the JSON is an object with a known model kind and a configuration
    object; the safetensors header is readable (tensors are not read yet) and its
    recorded kind matches; the tensor names, shapes and dtypes match the model the
    configuration describes -- checked on PyTorch's meta device, before any memory is
    allocated, when the model can be built there (CNN, VAE, GAN); the configuration's
    SHA-256 recorded in the weights file matches the JSON, so an edited or damaged
    configuration is refused before a model is built from it (KamNet computes its
    Wigner tables at construction and cannot be built on the meta device; a KamNet
    checkpoint saved before the digest was recorded, with an absurd configuration, is
    built before the mismatch is seen); every floating-point weight is finite.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    weights, meta_path = checkpoint_paths(path)
    kind, config, meta = _read_meta(meta_path)
    if kinds is not None and kind not in kinds:
        raise ModelFileError(f"{meta_path}: is a {kind} checkpoint; expected {expected or ' or '.join(kinds)}")
    found, st_meta = _read_header(weights)
    st_meta = _stamp(st_meta, weights)
    if st_meta.get("model", kind) != kind:
        raise ModelFileError(f"{weights}: holds {st_meta['model']!r} weights, {meta_path.name} says {kind!r}")
    expected = _expected_on_meta(kind, config, meta_path)
    if expected is not None:
        _compare(weights, kind, found, expected)
    digest = st_meta.get("config_sha256")
    if digest is not None and digest != config_digest(config):
        raise ModelFileError(f"{meta_path}: the {kind} configuration differs from the one {weights.name} "
                             "was saved with (edited or damaged)")
    model = _build(kind, config, meta_path)
    _compare(weights, kind, found, {k: (_ST_DTYPES.get(v.dtype, str(v.dtype)), tuple(v.shape))
                                    for k, v in model.state_dict().items()})
    try:
        state = load_file(str(weights))
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise ModelFileError(f"{weights}: not a safetensors file ({one_line(exc)})") from None
    for name, t in state.items():
        if t.is_floating_point() and not torch.isfinite(t).all():
            raise ModelFileError(f"{weights}: tensor {name!r} holds {int((~torch.isfinite(t)).sum())} "
                                 "non-finite value(s)")
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise ModelFileError(f"{weights}: cannot load the weights ({one_line(exc)})") from None
    if kind in CLASSIFIER_KINDS:  # its input contract: the preprocessing it was trained with
        from .inputs import checkpoint_input_config

        model.hitmap_config = checkpoint_input_config(model, meta, str(meta_path))
    try:
        return model.to(device).eval(), meta
    except RuntimeError as exc:
        raise ModelFileError(f"{weights}: cannot load the weights ({one_line(exc)})") from None

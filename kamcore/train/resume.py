"""Training state that survives a stop: weights, optimiser, schedule, RNG and data position.

A state ``PREFIX`` is a JSON file ``PREFIX.state.json`` and the tensors it names,
``PREFIX.state-<generation>.safetensors`` (no pickle: loading never runs code):

* tensors -- ``model.<name>`` (the weights now), ``best.<name>`` (the weights of the
  epoch with the best validation AUC so far), ``optim.<i>.<key>`` (the optimiser's
  per-parameter state), ``rng.torch`` and ``rng.cuda.<k>`` (the torch generators);
* JSON -- the generation, the optimiser's parameter groups and scalar state, the
  scheduler's state, the NumPy generator's state at the start of the current epoch,
  the epoch and the number of mini-batches of it already consumed (the data
  position: the epoch's shuffle is redrawn from that generator state and the first
  batches skipped), the history, the best epoch, and digests of the training
  configuration and of the training data, so a state is never resumed with other
  data or settings.

Writing is crash-safe: the tensors go to a new generation's file, then the JSON is
replaced atomically to point at it, then the previous generation's file is removed.
A reader therefore always finds a JSON and the tensors it names, whatever moment a
``kill -9`` struck.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from ..errors import ModelFileError
from ..io import atomic_output

__all__ = ["TrainingState", "state_paths", "save_state", "load_state", "data_digest"]

FORMAT = "kamcore-training-state/1"


def state_paths(prefix: str | os.PathLike) -> Path:
    """The JSON file of the training state ``prefix`` (``PREFIX.state.json``)."""
    p = Path(prefix)
    if p.name.endswith(".state.json"):
        return p
    return p.with_name(p.name + ".state.json")


def data_digest(*arrays: np.ndarray) -> str:
    """SHA-256 over arrays (the labels and Nhit of the training and validation sets)."""
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(str((a.dtype.str, a.shape)).encode())
        h.update(a.tobytes())
    return h.hexdigest()


class TrainingState(dict):
    """The JSON part of a training state (a dict) plus its ``tensors`` (name -> tensor)."""

    def __init__(self, meta: dict, tensors: dict[str, torch.Tensor]):
        super().__init__(meta)
        self.tensors = tensors

    def group(self, prefix: str) -> dict[str, torch.Tensor]:
        """The tensors named ``prefix.<rest>``, keyed by ``<rest>``."""
        n = len(prefix) + 1
        return {k[n:]: v for k, v in self.tensors.items() if k.startswith(prefix + ".")}


def _optimizer_split(opt: torch.optim.Optimizer) -> tuple[dict, dict[str, torch.Tensor]]:
    sd = opt.state_dict()
    scalars: dict[str, dict[str, Any]] = {}
    tensors: dict[str, torch.Tensor] = {}
    for idx, st in sd["state"].items():
        for key, val in st.items():
            if torch.is_tensor(val):
                tensors[f"optim.{idx}.{key}"] = val.detach().cpu().clone().contiguous()
            else:
                scalars.setdefault(str(idx), {})[key] = val
    return {"param_groups": sd["param_groups"], "scalars": scalars}, tensors


def restore_optimizer(opt: torch.optim.Optimizer, state: TrainingState) -> None:
    """Load the optimiser part of ``state`` into ``opt`` (same parameters, same kind)."""
    per: dict[int, dict[str, Any]] = {}
    for name, val in state.group("optim").items():
        idx, key = name.split(".", 1)
        per.setdefault(int(idx), {})[key] = val
    for idx, scal in state["optimizer"]["scalars"].items():
        per.setdefault(int(idx), {}).update(scal)
    opt.load_state_dict({"state": per, "param_groups": state["optimizer"]["param_groups"]})


def save_state(prefix: str | os.PathLike, *, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
               scheduler, best_weights: dict[str, torch.Tensor] | None, meta: dict) -> Path:
    """Write the training state ``prefix`` (module docstring); returns the JSON path."""
    meta_path = state_paths(prefix)
    meta_path.parent.mkdir(parents=True, exist_ok=True)
    old = _read_json(meta_path) if meta_path.exists() else None
    generation = int(old.get("generation", 0)) + 1 if isinstance(old, dict) else 1
    tensors = {f"model.{k}": v.detach().cpu().clone().contiguous() for k, v in model.state_dict().items()}
    if best_weights is not None:
        tensors.update({f"best.{k}": v.detach().cpu().clone().contiguous() for k, v in best_weights.items()})
    opt_meta, opt_tensors = _optimizer_split(optimizer)
    tensors.update(opt_tensors)
    tensors["rng.torch"] = torch.get_rng_state()
    if torch.cuda.is_available():
        for k, s in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng.cuda.{k}"] = s
    weights = meta_path.with_name(meta_path.name.removesuffix(".json") + f"-{generation}.safetensors")
    with atomic_output(weights) as tmp:
        save_file(tensors, str(tmp), metadata={"format": FORMAT, "generation": str(generation)})
    doc = {"format": FORMAT, "generation": generation, "tensors": weights.name, "optimizer": opt_meta,
           "scheduler": scheduler.state_dict(), **meta}
    with atomic_output(meta_path) as tmp:
        Path(tmp).write_text(json.dumps(doc, indent=1, default=_json_default))
    if isinstance(old, dict) and isinstance(old.get("tensors"), str) and old["tensors"] != weights.name:
        (meta_path.parent / Path(old["tensors"]).name).unlink(missing_ok=True)
    return meta_path


def _json_default(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFileError(f"{path}: not a training state ({type(exc).__name__})") from None


def load_state(prefix: str | os.PathLike) -> TrainingState | None:
    """The training state ``prefix``, ``None`` when there is none, :class:`ModelFileError` when damaged."""
    meta_path = state_paths(prefix)
    if not meta_path.exists():
        return None
    meta = _read_json(meta_path)
    if not isinstance(meta, dict) or meta.get("format") != FORMAT or not isinstance(meta.get("tensors"), str):
        raise ModelFileError(f"{meta_path}: not a {FORMAT} training state")
    weights = meta_path.parent / Path(meta["tensors"]).name
    try:
        tensors = load_file(str(weights))
    except FileNotFoundError:
        raise ModelFileError(f"{meta_path}: its tensors {weights.name} are missing") from None
    except (SafetensorError, OSError, ValueError) as exc:
        raise ModelFileError(f"{weights}: damaged training state ({type(exc).__name__})") from None
    return TrainingState(meta, tensors)


def restore_rng(state: TrainingState) -> None:
    """Set the torch generators (CPU, and CUDA when present and saved) to the saved states."""
    torch.set_rng_state(state.tensors["rng.torch"])
    cuda = state.group("rng.cuda")
    if cuda and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([cuda[str(k)] for k in range(len(cuda))])

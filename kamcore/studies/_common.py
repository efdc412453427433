"""What every study shares: model presets, checkpoints, scoring, the results file and its figures.

* **Study presets** (:data:`STUDY_PRESETS`) name a KamNet configuration, a CNN
  configuration and the hit-map geometry they read, so a study that trains models
  (pressure map, excited states) can run on a laptop (``tiny``: 4 time slices on an
  8 x 8 map, seconds; ``small``: the ``cpu`` networks with fewer channels on the real
  28 x 38 x 38 maps) or reproduce the paper's networks on a GPU (``paper``).
* **Checkpoints** are loaded with :func:`kamcore.models.load_model` (shipped names such
  as ``kamnet_cpu`` are found in ``assets/``); :func:`hitmap_config_for` gives the map
  geometry a loaded model expects.
* **Results file**: one JSON per study (:func:`write_results`) with the inputs, models,
  seeds, numbers, a ``comparison`` table of ours against the paper's numbers, the
  figure files and ``caveats``; figures are PNG files drawn with matplotlib's Agg
  canvas (no pyplot state, no display).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import time
from pathlib import Path

import numpy as np

from ..errors import ConfigError
from ..io import file_sha256

__all__ = ["STUDY_PRESETS", "build_model", "hitmap_config_for", "study_hitmap_config", "load_checkpoint",
           "score_sets", "write_results", "new_figure", "save_figure", "comparison_row", "Timer",
           "check_output_dir"]

log = logging.getLogger(__name__)

#: study preset -> (KamNet preset, overrides), (CNN preset, overrides), HitMapConfig values
STUDY_PRESETS: dict[str, dict] = {
    # tests: the networks' tiny presets on 4 time slices of 10.5 ns (-20 .. 22 ns) on an 8 x 8 map
    "tiny": {"kamnet": ("tiny", {}), "cnn": ("tiny", {}),
             "maps": {"n_time_bins": 4, "bandwidth": 4, "bin_width_ns": 10.5}},
    # CPU grids: KamNet's cpu preset with half the channels (~1.7x faster to train), the cpu CNN
    "small": {"kamnet": ("cpu", {"lstm_channels": [2, 4], "s2_channels": 6, "so3_channels": [8, 8, 8],
                                 "bandwidths": [6, 4, 3, 2], "fc": [16]}),
              "cnn": ("cpu", {}), "maps": {}},
    "cpu": {"kamnet": ("cpu", {}), "cnn": ("cpu", {}), "maps": {}},
    "paper": {"kamnet": ("paper", {}), "cnn": ("paper", {}), "maps": {}},
}


def _preset(name: str) -> dict:
    if name not in STUDY_PRESETS:
        raise ConfigError(f"unknown study preset {name!r}; known: {', '.join(STUDY_PRESETS)}")
    return STUDY_PRESETS[name]


def study_hitmap_config(preset: str):
    """The :class:`~kamcore.preprocess.HitMapConfig` the networks of study preset ``preset`` read."""
    from ..preprocess import HitMapConfig

    return HitMapConfig(**_preset(preset)["maps"])


def build_model(kind: str, preset: str):
    """A fresh ``kind`` (``"kamnet"`` or ``"cnn"``) network of study preset ``preset``."""
    from ..nn.cnn import CNNConfig, ConventionalCNN
    from ..nn.kamnet import KamNet, KamNetConfig

    name, over = _preset(preset)[kind]
    if kind == "kamnet":
        return KamNet(KamNetConfig.from_preset(name, **over))
    return ConventionalCNN(CNNConfig.from_preset(name, **over))


def hitmap_config_for(model):
    """The hit-map configuration a model reads: its checkpoint's record (vertex method, grid), or for a
    fresh network the default chain on its grid (:func:`kamcore.train.input_config`)."""
    from ..train import input_config

    return input_config(model)


def load_checkpoint(name: str):
    """``(model, info)`` of checkpoint ``name`` (a path, or a shipped name such as ``kamnet_cpu``).

    ``info``: name, kind, preset, sha256 of the weights, validation AUC and the training command.
    """
    from ..models import load_model

    loaded = load_model(name)
    model, meta, weights = loaded.module, loaded.meta, loaded.path
    tr = meta.get("training") or {}
    info = {"name": weights.with_suffix("").name, "kind": meta.get("model"), "preset": meta.get("preset"),
            "sha256": file_sha256(weights), "val_auc": (meta.get("metrics") or {}).get("val_auc"),
            "training_sources": {"signal": tr.get("signal_sources"), "background": tr.get("background_sources")},
            "training_command": tr.get("command")}
    return model, info


def score_sets(model, sets: dict, *, device: str = "cpu", batch_size: int = 64) -> tuple[dict, dict]:
    """Scores ``{name: (N,) float32}`` and attention ``{name: (N, T) float32 or None}`` of each HitMapSet."""
    from ..train import predict

    scores, att = {}, {}
    for name, data in sets.items():
        scores[name], att[name] = predict(model, data, batch_size=batch_size, device=device)
    return scores, att


def comparison_row(quantity: str, ours, paper, unit: str = "", note: str = "") -> dict:
    """One row of a results file's ``comparison`` table (the dashboard shows these side by side)."""
    clean = lambda v: None if v is None or (isinstance(v, float) and not math.isfinite(v)) else v  # noqa: E731
    return {"quantity": quantity, "ours": clean(ours), "paper": clean(paper), "unit": unit, "note": note}


class Timer:
    """Wall-clock seconds since creation (``float(timer)``)."""

    def __init__(self):
        self.t0 = time.perf_counter()

    def __float__(self) -> float:
        return time.perf_counter() - self.t0


def check_output_dir(out_dir) -> Path:
    """``out_dir`` as a Path; ConfigError unless its parent exists (the directory itself is created)."""
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{out}: output must be a directory, it is a file")
    if not out.parent.is_dir():
        raise ConfigError(f"{out}: parent directory {out.parent} does not exist")
    out.mkdir(exist_ok=True)
    return out


def _jsonable(v):
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, np.ndarray):
        return _jsonable(v.tolist())
    if isinstance(v, (np.floating, float)):
        f = float(v)
        return f if math.isfinite(f) else None
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, np.bool_):
        return bool(v)
    return v


def write_results(out_dir, study: str, doc: dict, *, seconds: float | None = None) -> Path:
    """Write ``out_dir/<study>.json`` atomically (NaN/inf become null); returns its path.

    ``doc`` holds ``inputs``, ``models``, ``seeds``, ``results``, ``paper``, ``comparison``,
    ``figures`` and ``caveats``; the study name, kamcore version, UTC time and run time are added.
    """
    from .._version import __version__
    from ..io import atomic_output

    out = Path(out_dir) / f"{study}.json"
    full = {"study": study, "kamcore_version": __version__,
            "created_utc": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "seconds": None if seconds is None else round(float(seconds), 1), **doc}
    text = json.dumps(_jsonable(full), indent=1, allow_nan=False)
    with atomic_output(out) as tmp:
        Path(tmp).write_text(text + "\n")
    log.info("wrote %s", out)
    return out


def new_figure(ncols: int = 1, nrows: int = 1, *, width: float = 6.4, height: float = 4.2):
    """``(figure, axes)`` on matplotlib's Agg canvas (``axes`` is a flat list)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width * ncols, height * nrows), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, ncols, squeeze=False)
    return fig, [a for row in axes for a in row]


def save_figure(fig, out_dir, study: str, name: str) -> str:
    """Save ``fig`` as ``out_dir/<study>_<name>.png`` (atomically); returns the file name."""
    from ..io import atomic_output

    path = Path(out_dir) / f"{study}_{name}.png"
    with atomic_output(path) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    return path.name


def start_model_study(models, out_dir, threads: int):
    """The common start of a study of trained models: ``(out_dir, timer, pmts, loaded checkpoints)``.

    Checks that models were given and the output directory, sets torch's threads, and loads every
    checkpoint, so a bad one fails before any simulation.
    """
    import torch

    from ..geometry import default_pmt_table

    if not models:
        raise ConfigError("give at least one model checkpoint")
    out_dir = check_output_dir(out_dir)
    if threads:
        torch.set_num_threads(threads)
    return out_dir, Timer(), default_pmt_table(), [load_checkpoint(m) for m in models]

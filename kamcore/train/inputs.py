"""The input contract of a hit-map classifier: the preprocessing its maps were made with.

A classifier only makes sense on maps built the way its training maps were: the same
time slices, grid and -- above all -- the same vertex for the time of flight.  Every
checkpoint therefore records its :class:`~kamcore.preprocess.HitMapConfig`
(``hitmap_config`` in the JSON, written by ``kamcore train``), :func:`load_model`
attaches it to the model as ``model.hitmap_config``, and every scoring path builds
the model's input through :func:`score_events` / :func:`input_config`.

Checkpoints saved before the record existed were trained on the bias-corrected
charge centroid: they get ``vertex="centroid"`` and the grid of their network
configuration (the *legacy chain*), never the fitted vertex.
"""

from __future__ import annotations

import numpy as np
from torch import nn

from ..errors import ModelFileError
from ..events import Events
from ..geometry import PMTTable, default_pmt_table
from ..preprocess import HitMapConfig

__all__ = ["grid_config_for", "checkpoint_input_config", "input_config", "score_events", "LEGACY_VERTEX"]

LEGACY_VERTEX = "centroid"  #: the vertex of checkpoints that do not record their hit-map configuration


def grid_config_for(model: nn.Module, **values) -> HitMapConfig:
    """The hit-map geometry a network reads: the default 28 x 38 x 38 maps, or ``T`` slices spanning the
    same -20 .. 22 ns on the ``2b x 2b`` grid of its configuration (``values`` override the rest)."""
    cfg = model.config
    n_time = int(cfg.n_time)
    bandwidth = int(getattr(cfg, "bandwidth", 0) or cfg.size // 2)
    default = HitMapConfig()
    if (n_time, bandwidth) == (default.n_time_bins, default.bandwidth):
        return HitMapConfig(**values)
    span = default.n_time_bins * default.bin_width_ns
    return HitMapConfig(n_time_bins=n_time, bandwidth=bandwidth, bin_width_ns=span / n_time, **values)


def checkpoint_input_config(model: nn.Module, meta: dict, where: str = "checkpoint") -> HitMapConfig:
    """The :class:`HitMapConfig` recorded in checkpoint metadata ``meta`` (legacy chain when absent).

    Raises :class:`~kamcore.errors.ModelFileError` naming ``where`` when the record is
    damaged or its grid does not match the network.
    """
    rec = meta.get("hitmap_config")
    if rec is None:
        return grid_config_for(model, vertex=LEGACY_VERTEX)
    try:
        config = HitMapConfig.from_json(rec)
    except Exception as exc:  # ConfigError: bad keys or values
        raise ModelFileError(f"{where}: bad hitmap_config ({str(exc).splitlines()[0]})") from None
    grid = grid_config_for(model)
    if (config.n_time_bins, config.bandwidth) != (grid.n_time_bins, grid.bandwidth):
        raise ModelFileError(f"{where}: hitmap_config makes {config.n_time_bins} x {2 * config.bandwidth} x "
                             f"{2 * config.bandwidth} maps, the network reads {grid.n_time_bins} x "
                             f"{2 * grid.bandwidth} x {2 * grid.bandwidth}")
    return config


def input_config(model: nn.Module) -> HitMapConfig:
    """The preprocessing ``model`` reads: its checkpoint's record, else the default chain on its grid."""
    config = getattr(model, "hitmap_config", None)
    return config if config is not None else grid_config_for(model)


def score_events(model: nn.Module, events: Events, pmts: PMTTable | None = None, *, batch_size: int = 64,
                 device: str = "auto") -> tuple[np.ndarray, np.ndarray | None]:
    """Scores ``(N,) float32`` and attention ``(N, T)`` (None for the CNN) of ``events``, with maps made the
    model's way (:func:`input_config`)."""
    from .data import hitmap_set
    from .loop import predict

    data = hitmap_set(events, 0.0, pmts or default_pmt_table(), input_config(model))
    return predict(model, data, batch_size=batch_size, device=device)

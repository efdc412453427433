"""Training, scoring and checkpoints of the kamcore models."""

from . import generative as _generative  # noqa: F401  (registers "vae" and "gan")
from . import registry as _registry  # noqa: F401  (registers "kamnet" and "cnn")
from .checkpoint import MODELS, checkpoint_paths, load_model, register_model, save_model
from .data import HitMapSet, hitmap_set, iterate_batches, labelled_set
from .inputs import input_config, score_events
from .loop import TrainConfig, fit_classifier, predict, recalibrate_batchnorm, resolve_device

__all__ = [
    "HitMapSet", "hitmap_set", "labelled_set", "iterate_batches",
    "TrainConfig", "fit_classifier", "predict", "recalibrate_batchnorm", "resolve_device", "input_config", "score_events",
    "MODELS", "register_model", "save_model", "load_model", "checkpoint_paths",
]

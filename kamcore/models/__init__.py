"""Models as their users meet them: load by name or path, know what they are and what they read, score.

* :func:`load_model` / :class:`Model` -- a classifier checkpoint with its identity and
  input contract; :meth:`Model.score` -> :class:`Scores`;
* :func:`model_identity` -- ``{"name", "kind", "digest"}`` of a checkpoint;
* :func:`checkpoint_info` -- a checkpoint's JSON and identity, without loading its weights;
* :func:`find_checkpoint` -- where a checkpoint name (a path, or a shipped name) points;
* :func:`load_generator` / :class:`Generator` -- a VAE or GAN event generator and the events it makes;
  :func:`build_generator` -- a fresh one of a preset, to train.

Training loops and data stay in :mod:`kamcore.train`; this package only loads and feeds.
"""

from .identity import model_identity
from .info import CheckpointInfo, checkpoint_info, find_checkpoint
from .generator import GENERATOR_KINDS, Generator, build_generator, generate_events, load_generator
from .model import Model, Scores, load_model

__all__ = ["Model", "Scores", "load_model", "model_identity", "Generator", "GENERATOR_KINDS", "load_generator", "build_generator", "generate_events",
           "CheckpointInfo", "checkpoint_info", "find_checkpoint"]

"""Models as their users meet them: load by name or path, know what they are and what they read, score.

* :func:`load_model` / :class:`Model` -- a classifier checkpoint with its identity and
  input contract; :meth:`Model.score` -> :class:`Scores`;
* :func:`model_identity` -- ``{"name", "kind", "digest"}`` of a checkpoint.

Training loops and data stay in :mod:`kamcore.train`; this package only loads and feeds.
"""

from .identity import model_identity
from .model import Model, Scores, load_model

__all__ = ["Model", "Scores", "load_model", "model_identity"]

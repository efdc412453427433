"""A loaded classifier with its name, identity and input contract, and the scores it gives.

:func:`load_model` is the one place a classifier is found (a path, or a shipped name
such as ``cnn_bi214`` looked up in ``assets/``) and loaded (safetensors, no pickle,
:func:`kamcore.train.checkpoint.load_model`).  The :class:`Model` it returns knows

* ``identity`` -- ``{"name", "kind", "digest"}`` (:func:`~kamcore.models.identity.model_identity`);
* ``input`` -- the :class:`~kamcore.preprocess.HitMapConfig` its maps must be made with
  (the vertex method and the grid, recorded in the checkpoint; older checkpoints: the
  charge centroid they were trained on);
* ``meta`` -- the checkpoint's JSON (training command, history, metrics).

:meth:`Model.score` turns events into :class:`Scores`: per event the score
``sigmoid(logit)`` in [0, 1] (1 = signal-like, single vertex) and, for KamNet, the
attention per time slice (fractions summing to 1), with the run and event ids, the
run's timing (``run_info``: start, stop, live time in seconds) and the model identity,
so a fit needs nothing else::

    import kamcore
    scores = kamcore.load_model("cnn_bi214").score(kamcore.open_events("run_000017.parquet"))
    fit = kamcore.fit_run(scores, kamcore.load_templates("templates_cnn_bi214.json"))
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np

from ..errors import EventDataError
from .identity import model_identity

__all__ = ["Model", "Scores", "load_model"]


@dataclasses.dataclass(frozen=True, eq=False)
class Scores:
    """Per-event classifier output of one set of events.

    Attributes
    ----------
    score : (N,) float32
        ``sigmoid(logit)``, 1 = signal-like.
    attention : (N, T) float32 or None
        KamNet's attention per time slice (rows sum to 1); None for the CNN.
    run, event_id : (N,) int
    source : (N,) str
    energy_mev : (N,) float32
    run_info : dict or None
        ``{"run", "start_ns", "stop_ns", "livetime_s"}`` when the events are one run, else None.
    identity : dict
        The model's ``{"name", "kind", "digest"}``.
    """

    score: np.ndarray
    attention: np.ndarray | None
    run: np.ndarray
    event_id: np.ndarray
    source: np.ndarray
    energy_mev: np.ndarray
    run_info: dict | None
    identity: dict

    def __len__(self) -> int:
        return len(self.score)

    @property
    def livetime_s(self) -> float | None:
        """The run's live time in seconds (None when the events are not one run)."""
        return None if self.run_info is None else float(self.run_info["livetime_s"])

    def write(self, path: str | os.PathLike, meta: dict | None = None) -> Path:
        """Write a score file (:func:`kamcore.io.write_scores`) atomically; its metadata holds the model's
        name, kind and identity, the run's timing and ``meta``."""
        from ..io import write_scores

        doc = {"model": self.identity["name"], "kind": self.identity["kind"], "identity": self.identity,
               "run_info": self.run_info, **(meta or {})}
        return write_scores(path, run=self.run, event_id=self.event_id, score=self.score, source=self.source,
                            energy_mev=self.energy_mev, attention=self.attention, meta=doc)

    def __repr__(self) -> str:
        run = "" if self.run_info is None else f", run {self.run_info['run']}"
        return f"Scores({len(self)} events{run}, model {self.identity['name']}@{self.identity['digest']})"


class Model:
    """A loaded classifier (module docstring); build it with :func:`load_model`."""

    def __init__(self, module, meta: dict, path: Path):
        from ..train.inputs import input_config

        self.module, self.meta, self.path = module, meta, Path(path)
        self.identity = model_identity(path, meta)
        self.input = input_config(module)

    @property
    def name(self) -> str:
        return self.identity["name"]

    @property
    def kind(self) -> str:
        return self.identity["kind"]

    @property
    def has_attention(self) -> bool:
        """KamNet reports attention per time slice; the CNN does not."""
        return hasattr(self.module, "forward_with_attention")

    def predict(self, events, *, pmts=None, batch_size: int = 64, device: str = "auto"
                ) -> tuple[np.ndarray, np.ndarray | None]:
        """Scores ``(N,) float32`` in [0, 1] and attention ``(N, T) float32`` (None for the CNN) of ``events``
        (:class:`kamcore.Events`, ``N`` events; none gives empty scores), maps made as the model was trained
        (:attr:`input`) with ``pmts`` (default: the shipped PMT table).  :meth:`score` wraps them with the
        event ids, run timing and identity."""
        from ..train.inputs import score_events

        if len(events) == 0:
            return np.zeros(0, np.float32), None
        return score_events(self.module, events, pmts, batch_size=batch_size, device=device)

    def score(self, events, *, pmts=None, batch_size: int = 64, device: str = "auto") -> Scores:
        """:class:`Scores` of ``events`` (:class:`kamcore.Events`), maps made as the model was trained."""
        from ..runs.files import run_info

        try:
            info = run_info(events) if len(events) else None
        except EventDataError:
            info = None  # events of several runs: scores without one run's timing
        score, attention = self.predict(events, pmts=pmts, batch_size=batch_size, device=device)
        return Scores(score=score, attention=attention, run=np.asarray(events.run), event_id=np.asarray(events.event_id),
                      source=np.asarray(events.source).astype(str), energy_mev=np.asarray(events.energy_mev, np.float32),
                      run_info=info, identity=dict(self.identity))

    def __repr__(self) -> str:
        return f"Model({self.name}: {self.kind}, digest {self.identity['digest']}, vertex {self.input.vertex})"


def load_model(name_or_path: str | os.PathLike, *, device: str = "cpu") -> Model:
    """The classifier at ``name_or_path`` (``PREFIX``, ``PREFIX.json``, ``PREFIX.safetensors``) or the
    shipped one of that name; one-line :class:`~kamcore.errors.ModelFileError` when it cannot be loaded."""
    from ..train.checkpoint import CLASSIFIER_KINDS, checkpoint_paths
    from ..train.checkpoint import load_model as load_checkpoint
    from .info import find_checkpoint

    path = find_checkpoint(name_or_path)
    module, meta = load_checkpoint(path, device=device, kinds=CLASSIFIER_KINDS)
    weights, _ = checkpoint_paths(path)
    return Model(module, meta, weights)

"""Scoring run files with a classifier: one score file next to each run.

:func:`score_run_file` reads a run, builds its hit maps, scores every event
with :meth:`kamcore.models.Model.predict` (maps made the model's way) and writes ``<stem>.scores.parquet``
(:func:`write_run_scores`, :func:`kamcore.io.write_scores`) whose metadata
records the model identity (:attr:`kamcore.models.Model.identity`), the digest of
the run file's bytes (:func:`kamcore.runs.run_file_digest`) and the run's number
and times.  A score file is up to date, and reused, only when it was made by the
same model (same weights digest) from the same run file (same run digest), see
:func:`load_run_scores`.  Results depend only on the run file and the model, so
any order or distribution of the work gives identical files
(:mod:`kamcore.runs.batch` spreads it over a Dask cluster).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..errors import KamcoreError
from .files import run_file_digest, run_info, score_path

__all__ = ["score_run_file", "load_run_scores", "write_run_scores"]


def write_run_scores(run_file: str | os.PathLike, events, scores: np.ndarray, attention: np.ndarray | None,
                     ident: dict) -> Path:
    """Write the score file of ``run_file`` (atomically) from scores in hand; returns its path.

    Parameters
    ----------
    run_file : str or os.PathLike
        The run file the events were read from (its digest goes into the metadata).
    events : Events
        The run's ``N`` events.
    scores : (N,) float32
        Classifier scores.
    attention : (N, T) float32 or None
        Attention per time slice (KamNet), None for the CNN.
    ident : dict
        ``{"name", "kind", "digest"}`` of the model (:attr:`kamcore.models.Model.identity`).
    """
    from ..io import write_scores

    info = run_info(events, str(run_file))
    return write_scores(score_path(run_file), run=events.run, event_id=events.event_id, score=scores,
                        source=events.source, energy_mev=events.energy_mev, attention=attention,
                        meta={"model": ident["name"], "kind": ident["kind"], "model_digest": ident["digest"],
                              "run_info": info, "run_file": Path(run_file).name,
                              "run_digest": run_file_digest(run_file), "n_events": int(len(events))})


def _loaded(model, device: str = "cpu"):
    """``model`` when it is a loaded :class:`kamcore.models.Model`, else the model of that name or path."""
    from ..models import Model, load_model

    return model if isinstance(model, Model) else load_model(model, device=device)


def _score_run(run_file, model, *, device: str = "cpu") -> tuple[Path, int]:
    """:func:`score_run_file`, also returning the number of events scored."""
    from ..geometry import default_pmt_table
    from ..io import open_events

    model = _loaded(model, device)
    events = open_events(run_file)
    run_info(events, str(run_file))  # a run file must hold one run: fail before scoring
    scores, att = model.predict(events, pmts=default_pmt_table(), device=device)
    return write_run_scores(run_file, events, scores, att, model.identity), len(events)


def score_run_file(run_file: str | os.PathLike, model, *, device: str = "cpu") -> Path:
    """Score the events of ``run_file`` and write its score file; returns the score file's path.

    ``model`` is a loaded :class:`kamcore.models.Model` (serial loops load it once) or a checkpoint
    path or shipped name (:func:`kamcore.models.load_model`).
    """
    return _score_run(run_file, model, device=device)[0]


def load_run_scores(run_file: str | os.PathLike, model_digest: str) -> dict | None:
    """The score file of ``run_file`` if it is up to date for the model ``model_digest``, else None.

    Up to date: made by that model from the run file as it is now (its
    ``run_digest``).  A score file that exists but cannot be read, or a run
    file that cannot be read, count as no score file (the run is scored again,
    and that reports the error).
    """
    from ..io import read_scores

    p = score_path(run_file)
    if not p.exists():
        return None
    try:
        sc = read_scores(p)
        if sc["meta"].get("model_digest") != model_digest or "run_info" not in sc["meta"]:
            return None
        if sc["meta"].get("run_digest") != run_file_digest(run_file):
            return None
    except KamcoreError:
        return None
    sc["score"] = np.asarray(sc["score"])
    return sc

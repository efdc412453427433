"""Scoring run files with a classifier: one score file next to each run.

:func:`score_run_file` reads a run, builds its hit maps, scores every event
with :func:`kamcore.train.predict` and writes ``<stem>.scores.parquet``
(:func:`kamcore.io.write_scores`) whose metadata records the model identity
(:func:`kamcore.fit.model_identity`) and the run's number and times.  A score
file is reused only when it was made by the same model (same weights digest),
see :func:`load_run_scores`.  Results depend only on the run file and the
model, so any order or distribution of the work gives identical files.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..errors import KamcoreError
from .files import run_info, score_path

__all__ = ["score_run_file", "load_run_scores"]


def score_run_file(run_file: str | os.PathLike, model_path: str | os.PathLike, *, model=None, meta: dict | None = None,
                   ident: dict | None = None, device: str = "cpu") -> Path:
    """Score the events of ``run_file`` and write its score file; returns the score file's path.

    ``model``/``meta``/``ident`` may be passed when the caller has already loaded
    the checkpoint (serial loops); otherwise it is loaded from ``model_path``.
    """
    from ..fit import model_identity
    from ..geometry import default_pmt_table
    from ..io import open_events, write_scores
    from ..train import hitmap_set, load_model, predict

    if model is None:
        model, meta = load_model(model_path, device=device)
    ident = ident or model_identity(model_path, meta)
    events = open_events(run_file)
    info = run_info(events, str(run_file))
    scores, att = predict(model, hitmap_set(events, 0.0, default_pmt_table()), device=device)
    out = score_path(run_file)
    write_scores(out, run=events.run, event_id=events.event_id, score=scores, source=events.source,
                 energy_mev=events.energy_mev, attention=att,
                 meta={"model": ident["name"], "kind": ident["kind"], "model_digest": ident["digest"],
                       "run_info": info, "run_file": Path(run_file).name, "n_events": int(len(events))})
    return out


def load_run_scores(run_file: str | os.PathLike, model_digest: str) -> dict | None:
    """The score file of ``run_file`` if it exists and was made by the model ``model_digest``, else None.

    A score file that exists but cannot be read is treated as absent (it will be rewritten).
    """
    from ..io import read_scores

    p = score_path(run_file)
    if not p.exists():
        return None
    try:
        sc = read_scores(p)
    except KamcoreError:
        return None
    if sc["meta"].get("model_digest") != model_digest or "run_info" not in sc["meta"]:
        return None
    sc["score"] = np.asarray(sc["score"])
    return sc

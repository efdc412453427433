"""Run directories: which files are runs, where their score files go, and a run's number and times.

A run directory holds event files ``*.parquet`` (or ``*.root``) and, next to
each, its score file ``<stem>.scores.parquet`` (:func:`kamcore.io.write_scores`)
and optionally ``truth.json``.  :func:`run_file_digest` fingerprints a run file's
bytes; a score file records the digest of the run it scored, so a run file that
changed afterwards is scored again.  The run number and the start/stop times come
from ``attrs["run_info"]`` when the file has it (simulated runs), else from the
events themselves (the ``run`` column and the first/last timestamps; the live
time is then ``stop - start``).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np

from ..errors import ConfigError, EventDataError, EventFileError
from ..events import Events

__all__ = ["find_run_files", "score_path", "run_info", "run_file_digest", "SCORE_SUFFIX"]

SCORE_SUFFIX = ".scores.parquet"


def find_run_files(directory: str | os.PathLike) -> list[Path]:
    """Event files of ``directory`` in name order (score files and hidden files excluded)."""
    d = Path(directory)
    if not d.is_dir():
        raise ConfigError(f"{d}: not a directory of run files")
    files = [p for p in sorted(d.iterdir()) if p.is_file() and not p.name.startswith(".")
             and p.suffix in (".parquet", ".root") and not p.name.endswith(SCORE_SUFFIX)]
    return files


def score_path(run_file: str | os.PathLike) -> Path:
    """``run_000001.parquet`` -> ``run_000001.scores.parquet`` (same directory)."""
    p = Path(run_file)
    return p.with_name(p.name.rsplit(".", 1)[0] + SCORE_SUFFIX)


def run_file_digest(run_file: str | os.PathLike) -> str:
    """SHA-256 of the bytes of ``run_file``, first 16 hex digits (as the model digest of :func:`kamcore.fit.model_identity`).

    Raises :class:`~kamcore.errors.EventFileError` naming the file when it cannot be read.
    """
    p = Path(run_file)
    try:
        with open(p, "rb") as f:
            return hashlib.file_digest(f, "sha256").hexdigest()[:16]
    except OSError as exc:
        raise EventFileError(f"{p}: cannot read run file ({exc.strerror or exc})") from None


def run_info(events: Events, name: str = "events") -> dict:
    """``{"run", "start_ns", "stop_ns", "livetime_s"}`` of a run's events (see module docstring)."""
    info = events.attrs.get("run_info")
    if isinstance(info, dict) and {"run", "start_ns", "stop_ns"} <= set(info):
        out = {k: info[k] for k in ("run", "start_ns", "stop_ns")}
        out["livetime_s"] = float(info.get("livetime_s", (info["stop_ns"] - info["start_ns"]) / 1e9))
        return out
    runs = np.unique(events.run)
    if len(runs) != 1:
        raise EventDataError(f"{name}: a run file must hold one run, found run numbers {runs[:5].tolist()}")
    start, stop = int(events.timestamp_ns.min()), int(events.timestamp_ns.max())
    return {"run": int(runs[0]), "start_ns": start, "stop_ns": stop, "livetime_s": (stop - start) / 1e9}

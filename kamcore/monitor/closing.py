"""Closing a run: score file, template fit, detector health, catalog rows, and flags of the stored sequence.

These are the steps of ``kamcore runs fit`` for one run, as library functions
(:func:`close_run`, :func:`mark_bad_file`, :func:`flag_stored_sequence`) so the
live producer and the command run the same code.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from ..errors import ConfigError

__all__ = ["close_run", "mark_bad_file", "flag_stored_sequence", "write_run_scores", "run_file_health"]

log = logging.getLogger(__name__)


def write_run_scores(run_file, events, scores, attention, ident: dict) -> Path:
    """Write the score file of ``run_file`` from scores in hand: :func:`kamcore.runs.write_run_scores`."""
    from ..runs import write_run_scores as write

    return write(run_file, events, scores, attention, ident)


def mark_bad_file(catalog, path, run: int | None, error: str, *, status: str = "bad_file") -> None:
    """Record an unreadable run file: run ``run`` gets ``status`` and the one-line error.

    ``status`` is ``"bad_file"`` (the file is not a valid run file) or ``"incomplete"`` (the file has no
    Parquet footer yet: still being written, retried; see :mod:`kamcore.monitor.feeds`).
    """
    if status not in ("bad_file", "incomplete"):
        raise ConfigError(f"status must be 'bad_file' or 'incomplete', got {status!r}")
    if run is not None:
        catalog.upsert_run(int(run), path=str(Path(path).resolve()), status=status,
                           error=" ".join(str(error).split()))


def run_file_health(catalog, run_file, run: int, *, events=None, config=None) -> dict | None:
    """The detector health (:func:`kamcore.monitor.health.run_health`, as a dict) of run ``run`` from
    ``events`` or its run file, against the curated reference run's stored health when one is set (and
    is another run), else each PMT's neighbours; None (logged) when the file cannot be read."""
    from ..errors import KamcoreError
    from .health import run_health

    try:
        if events is None:
            from ..io import open_events

            events = open_events(run_file)
        ref = catalog.curated_reference()
        ref_h = catalog.run_health(ref["run"]) if ref is not None and ref["run"] != int(run) else None
        if ref_h is not None and ref_h.get("status") != "ok":
            ref_h = None  # a reference run too short to define an occupancy pattern
        return run_health(events, run=int(run), reference=ref_h, config=config).to_dict()
    except (KamcoreError, OSError) as exc:
        log.warning("run %s: no detector health (%s)", run, exc)
        return None


def close_run(catalog, run_file, scores: np.ndarray, info: dict, templates, fit_config, *, model: dict,
              command: str | None = None, events=None, health_config=None):
    """Fit one run's scores ``(N,)`` and store run + fit + detector health in the catalog; returns the
    :class:`~kamcore.fit.RunFit`.

    ``info`` is :func:`kamcore.runs.run_info` of the run.  The run row (``status="ok"``), its fit and its
    health (:func:`run_file_health`, from ``events`` or else the run file) are written in one transaction
    (:meth:`~kamcore.catalog.Catalog.store_run_fit`).
    """
    from ..fit import fit_run

    res = fit_run(np.asarray(scores), templates, fit_config, livetime_s=info["livetime_s"], run=info["run"])
    health = run_file_health(catalog, run_file, info["run"], events=events, config=health_config)
    catalog.store_run_fit(info["run"], res, run_fields={
        "path": str(Path(run_file).resolve()), "start_ns": info["start_ns"], "stop_ns": info["stop_ns"],
        "livetime_s": info["livetime_s"], "n_events": int(len(scores)), "status": "ok", "error": None},
        model=model, template_digest=templates.digest, config=fit_config, command=command, health=health)
    return res


def flag_stored_sequence(catalog, *, model_digest: str, template_digest: str, flag_config):
    """Flag every stored fit of (model, templates) and replace their flags/periods; returns the FlagResult or None."""
    from ..fit import flag_sequence

    rows = [r for r in catalog.list_runs(model_digest=model_digest, template_digest=template_digest)
            if r["fit"] is not None]
    if not rows:
        return None

    def col(key, default=np.nan):
        return np.array([default if r["fit"][key] is None else r["fit"][key] for r in rows], np.float64)

    result = flag_sequence([r["run"] for r in rows], col("bkg_fraction"), col("bkg_fraction_err"),
                           pvalue=col("pvalue", 1.0), valid=np.array([r["fit"]["valid"] for r in rows]),
                           good=np.array([r["good"] for r in rows]),
                           start_ns=np.array([r["start_ns"] if r["start_ns"] is not None else -1 for r in rows]),
                           stop_ns=np.array([r["stop_ns"] if r["stop_ns"] is not None else -1 for r in rows]),
                           config=flag_config)
    catalog.store_flags(result, model_digest=model_digest, template_digest=template_digest, config=flag_config)
    return result

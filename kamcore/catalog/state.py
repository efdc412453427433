"""The state of a catalog run, and the reference run a run is compared with: one rule for every reader.

``kamcore runs report`` and the dashboard's Runs and Shift pages read the same catalog rows
(:meth:`~kamcore.catalog.Catalog.list_runs`) and must call a run the same thing.  The state
of a run, first match wins:

* ``"bad file"`` -- its file could not be read (``status == "bad_file"``);
* ``"incomplete"`` -- its file is still being written (``status == "incomplete"``);
* ``"not fitted"`` -- no fit of this (model, templates), or the fit did not end ``ok``;
* ``"acknowledged"`` -- flagged, and every flag alarm of the run was acknowledged;
* ``"bad fit"`` -- flagged ``bad_fit`` (fit not valid, or p-value below ``min_pvalue``);
* ``"unphysical"`` -- a fitted yield negative by more than 2 sigma
  (:func:`kamcore.fit.flags.unphysical_components`): do not use its background fraction;
* ``"flagged"`` -- any other flag (``high_background``);
* ``"ok"``.

The reference run (:func:`reference_run`) follows the rule of the reference background
fraction (:func:`kamcore.fit.flags.reference_fraction`): the fraction is built from the
runs marked good (``FlagConfig.reference="good"``, or ``"auto"`` with at least
``min_good_runs`` of them) or else is the median of all validly fitted runs.  The
reference run is the ``ok`` run of that same set -- marked good when the fraction came
from good runs -- whose fraction is closest to ``f_ref`` (the newest of equals), so the
run overlaid on a page is a run the fraction describes.

>>> run_state({"run": 1, "status": "bad_file"}), run_state({"run": 2, "status": "ok", "fit": None})
('bad file', 'not fitted')
"""

from __future__ import annotations

import dataclasses
from typing import Iterable

import numpy as np

__all__ = ["RUN_STATES", "RunState", "ReferenceRun", "run_state", "run_states", "acked_runs",
           "unphysical", "reference_run"]

#: every state :func:`run_state` returns (module docstring), in the order the rule tries them
RUN_STATES = ("bad file", "incomplete", "not fitted", "acknowledged", "bad fit", "unphysical", "flagged", "ok")


@dataclasses.dataclass(frozen=True)
class RunState:
    """One catalog run as the crew sees it.

    Attributes
    ----------
    run : run number
    state : one of :data:`RUN_STATES`
    flags : kinds of the run's flags, sorted
    unphysical : components with a yield negative beyond 2 sigma (empty when none)
    acknowledged : every flag alarm of the run was acknowledged (at least one)
    """

    run: int
    state: str
    flags: tuple[str, ...]
    unphysical: tuple[str, ...]
    acknowledged: bool


@dataclasses.dataclass(frozen=True)
class ReferenceRun:
    """The run a run is compared with (:func:`reference_run`).

    Attributes
    ----------
    run : the catalog row of the reference run (:meth:`Catalog.list_runs`)
    f_ref, sigma_ref : the reference background fraction and its error
    method : ``"good"`` (runs marked good) or ``"median"`` (all validly fitted runs)
    """

    run: dict
    f_ref: float
    sigma_ref: float
    method: str


def unphysical(run: dict) -> list[str]:
    """Components of the run's ``ok`` fit whose yield is negative beyond 2 sigma
    (:func:`kamcore.fit.flags.unphysical_components`); empty without such a fit."""
    from ..fit.flags import unphysical_components

    fit = run.get("fit") or {}
    if fit.get("status") != "ok":
        return []
    res = fit.get("result") or {}
    return unphysical_components(res.get("yields") or {}, res.get("errors") or {})


def acked_runs(alarms: Iterable[dict]) -> set[int]:
    """Runs whose flag alarms (:meth:`Catalog.alarms`) are all acknowledged (at least one)."""
    seen: dict[int, bool] = {}
    for a in alarms:
        if a["kind"] == "flag" and a["run"] is not None:
            seen[a["run"]] = seen.get(a["run"], True) and a["status"] != "open"
    return {r for r, ok in seen.items() if ok}


def run_state(run: dict, acked: bool = False) -> str:
    """The state (module docstring) of a catalog run dict; ``acked``: its flag alarms are all acknowledged."""
    if run.get("status") == "bad_file":
        return "bad file"
    if run.get("status") == "incomplete":
        return "incomplete"
    fit = run.get("fit")
    if fit is None or fit.get("status") != "ok":
        return "not fitted"
    kinds = {f["kind"] for f in run.get("flags", [])}
    if kinds and acked:
        return "acknowledged"
    if "bad_fit" in kinds:
        return "bad fit"
    if unphysical(run):
        return "unphysical"
    if kinds:
        return "flagged"
    return "ok"


def run_states(runs: Iterable[dict], alarms: Iterable[dict] = ()) -> list[RunState]:
    """:class:`RunState` of each catalog run, with the acknowledgements of ``alarms`` (:meth:`Catalog.alarms`)."""
    acked = acked_runs(alarms)
    out = []
    for r in runs:
        out.append(RunState(int(r["run"]), run_state(r, r["run"] in acked),
                            tuple(sorted({f["kind"] for f in r.get("flags", [])})), tuple(unphysical(r)),
                            r["run"] in acked))
    return out


def _fraction(run: dict) -> tuple[float, float, float, bool]:
    fit = run.get("fit") or {}
    f, e, p = fit.get("bkg_fraction"), fit.get("bkg_fraction_err"), fit.get("pvalue")
    return (np.nan if f is None else float(f), np.nan if e is None else float(e), 1.0 if p is None else float(p),
            bool(fit.get("valid", True)))


def reference_run(runs: list[dict], *, exclude: int | None = None, config=None) -> ReferenceRun | None:
    """The reference run of the catalog runs ``runs`` (module docstring), not run ``exclude``; None when no
    ``ok`` run qualifies.

    ``runs`` are :meth:`Catalog.list_runs` rows of one (model, templates); ``config`` a
    :class:`~kamcore.fit.FlagConfig` (its ``reference``, ``min_good_runs`` and ``min_pvalue``).
    """
    from ..fit import FlagConfig
    from ..fit.flags import reference_fraction

    config = config or FlagConfig()
    rows, vals = [], []
    for r in runs:  # the validly fitted sequence of kamcore.fit.flags.flag_sequence
        if (r.get("fit") or {}).get("status") != "ok":
            continue
        f, e, p, valid = _fraction(r)
        if np.isfinite(f) and np.isfinite(e) and e > 0 and valid and p >= config.min_pvalue:
            rows.append(r)
            vals.append((f, e))
    if not rows:
        return None
    f = np.array([v[0] for v in vals])
    err = np.array([v[1] for v in vals])
    good = np.array([bool(r.get("good")) for r in rows])
    if config.reference == "good" and not good.any():
        values = {k: v for k, v in config.param.values().items() if k != "name"}
        config = FlagConfig(**{**values, "reference": "median"})  # nothing marked good: the median rule
    f_ref, s_ref, method = reference_fraction(f, err, good, config)
    best = None
    for i, r in enumerate(rows):
        if r["run"] == exclude or run_state(r) != "ok" or (method == "good" and not good[i]):
            continue
        d = abs(f[i] - f_ref)
        if best is None or d <= best[0]:
            best = (d, r)
    return None if best is None else ReferenceRun(best[1], f_ref, s_ref, method)

"""Alarms of the shift crew, and the thresholds experts set, on top of the catalog.

* :func:`sync_alarms` -- one alarm per flag of a stored fit (``flag:<run>:<kind>``) and per
  high-background period (``period:<method>:<first run>``) of a (model, templates) sequence that has
  none yet.  Keys name the cause, so the producer, every dashboard process and a rerun of
  ``kamcore runs fit`` raise each alarm once; an acknowledged alarm stays acknowledged.
* :func:`raise_feed_alarm` -- ``STALE`` (keyed by the store time of the last event, the same in every
  process that reads the store) and ``PRODUCER DOWN`` (keyed by when it went down).
* :func:`flag_config` -- a :class:`~kamcore.fit.FlagConfig` with the thresholds an expert stored in the
  catalog (``flag.n_sigma``, ``flag.min_pvalue``; :data:`kamcore.catalog.SETTINGS`).
"""

from __future__ import annotations

import datetime as dt
import logging

__all__ = ["sync_alarms", "raise_feed_alarm", "flag_config", "FLAG_TEXT"]

log = logging.getLogger(__name__)

#: what a flag kind means to the crew
FLAG_TEXT = {"high_background": "high background", "bad_fit": "bad fit", "not_fitted": "not fitted"}


def sync_alarms(catalog, *, model_digest: str, template_digest: str, runs: list | None = None,
                periods: list | None = None) -> list[int]:
    """Raise the missing alarms of flags and periods; returns the ids of the new alarms.

    ``runs`` / ``periods``: the catalog's :meth:`list_runs` / :meth:`periods` of this (model, templates)
    when the caller has them already (the dashboard's cached reads).
    """
    if runs is None:
        runs = catalog.list_runs(model_digest=model_digest, template_digest=template_digest)
    if periods is None:
        periods = catalog.periods(model_digest=model_digest, template_digest=template_digest)
    new = []
    for r in runs:
        fit = r.get("fit") or {}
        for f in r.get("flags", []):
            f_txt = ""
            if fit.get("bkg_fraction") is not None:
                f_txt = f": f_bkg = {fit['bkg_fraction']:.3f} +- {fit.get('bkg_fraction_err') or 0:.3f}"
            text = (f"Run {r['run']} flagged {FLAG_TEXT.get(f['kind'], f['kind'])}{f_txt}"
                    + (f" ({f['reason']})" if f.get("reason") else ""))
            aid, created = catalog.raise_alarm(f"flag:{r['run']}:{f['kind']}", kind="flag", text=text, run=r["run"])
            if created:
                new.append(aid)
    for p in periods:
        runs_txt = (f"run {p['first_run']}" if p["first_run"] == p["last_run"]
                    else f"runs {p['first_run']}-{p['last_run']}")
        text = (f"High-background period, {runs_txt} ({p['method']}): mean f = {p['mean_fraction']:.3f}, "
                f"{p['significance']:.1f} sigma above the reference")
        aid, created = catalog.raise_alarm(f"period:{p['method']}:{p['first_run']}", kind="period", text=text,
                                           run=p["first_run"])
        if created:
            new.append(aid)
    if new:
        log.info("%d new alarm(s)", len(new))
    return new


def raise_feed_alarm(catalog, state: str, *, since_ns: int, detail: str = "") -> tuple[int, bool]:
    """Raise the alarm of a feed state ``"STALE"`` or ``"PRODUCER DOWN"`` that began at ``since_ns``."""
    when = dt.datetime.fromtimestamp(since_ns / 1e9, dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    if state == "STALE":
        return catalog.raise_alarm(f"stale:{int(since_ns)}", kind="stale",
                                   text=f"Feed STALE: no event since {when}" + (f" ({detail})" if detail else ""))
    if state == "PRODUCER DOWN":
        return catalog.raise_alarm(f"down:{int(since_ns) // 10**9}", kind="producer_down",
                                   text=f"PRODUCER DOWN at {when}" + (f": {detail}" if detail else ""))
    raise ValueError(f"no alarm for feed state {state!r}")


def flag_config(catalog, base=None):
    """``base`` (default :class:`~kamcore.fit.FlagConfig`) with the catalog's expert thresholds."""
    from ..fit import FlagConfig

    base = base or FlagConfig()
    st = catalog.settings()
    over = {}
    if "flag.n_sigma" in st:
        over["n_sigma"] = float(st["flag.n_sigma"]["value"])
    if "flag.min_pvalue" in st:
        over["min_pvalue"] = float(st["flag.min_pvalue"]["value"])
    if not over:
        return base
    values = {k: v for k, v in base.param.values().items() if k != "name"}
    return FlagConfig(**{**values, **over})

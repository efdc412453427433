"""The e-log entry of a run: one Markdown document with what the catalog knows about the run.

:func:`run_elog` writes, for one catalog run: its times, events, file status, state and good / bad mark
(who, when); the fit (model, templates, background fraction, p-value, yields); its flags; the detector
health (hot and dead PMTs, mean Nhit, energy peak, the reference it was judged against); the KS
compatibility with the curated reference run (score, Nhit, energy); the alarms with their
acknowledgements (who, when, text); the shift notes.  Plots are PNG files drawn with matplotlib (the
score histogram with the fitted templates stacked, the PMT occupancy map with hot and dead PMTs marked):
``plots="embed"`` puts them into the Markdown as ``data:`` URIs (one self-contained file, what the
dashboard's download gives), ``plots="files"`` returns them to be written next to the Markdown (what
``kamcore runs report --format md --out FILE`` does), ``plots=None`` leaves them out.  Without matplotlib
the plots are left out and the document says so.

``kamcore runs report --format md --run N`` and the Runs page's e-log download call the same function.
"""

from __future__ import annotations

import base64
import datetime as dt
import io
import logging

import numpy as np

from ..errors import ConfigError

__all__ = ["run_elog", "ElogEntry"]

log = logging.getLogger(__name__)


class ElogEntry:
    """An e-log entry: ``markdown`` (str) and ``plots`` (``{file name: PNG bytes}``, empty when embedded or
    left out)."""

    def __init__(self, markdown: str, plots: dict[str, bytes]):
        self.markdown, self.plots = markdown, plots

    def __repr__(self) -> str:
        return f"ElogEntry({len(self.markdown)} characters, plots={sorted(self.plots)})"


def _utc(ns) -> str:
    if ns is None:
        return "-"
    return dt.datetime.fromtimestamp(int(ns) / 1e9, dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def _iso(text) -> str:
    if not text:
        return "-"
    t = dt.datetime.fromisoformat(text)
    if t.tzinfo is None:
        t = t.replace(tzinfo=dt.timezone.utc)
    return t.astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def _md(text) -> str:
    """One line of user text, safe in a Markdown table cell or list item."""
    return " ".join(str(text).split()).replace("|", "\\|")


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    return buf.getvalue()


def _score_plot(run: dict, scores: np.ndarray, templates) -> bytes:
    from matplotlib.figure import Figure

    from ..fit import RunFit, fitted_counts, score_histogram

    fig = Figure(figsize=(6.4, 3.6), layout="constrained")
    ax = fig.add_subplot()
    if templates is not None:
        edges = templates.edges
        n = score_histogram(scores, templates)
        fit = run.get("fit") or {}
        if fit.get("status") == "ok":
            parts = fitted_counts(RunFit.from_dict(fit["result"]), templates)
            bottom = np.zeros(len(n))
            for k, c in parts.items():
                c = np.maximum(c, 0.0)
                ax.bar(edges[:-1], c, width=np.diff(edges), bottom=bottom, align="edge", alpha=0.6, label=k)
                bottom = bottom + c
    else:
        edges = np.linspace(0.0, 1.0, 21)
        n = np.histogram(scores, edges)[0].astype(float)
    x = 0.5 * (edges[1:] + edges[:-1])
    ax.errorbar(x, n, yerr=np.sqrt(n), fmt="o", color="black", ms=3, label="run data")
    ax.set_xlabel("classifier score")
    ax.set_ylabel("events per bin")
    ax.set_title(f"Run {run['run']}: score histogram" + (" with the fitted templates" if templates is not None
                                                        else ""))
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return _png(fig)


def _occupancy_plot(health: dict) -> bytes:
    from matplotlib.figure import Figure

    from ..geometry import default_pmt_table, mollweide_outline, mollweide_xy

    pmts = default_pmt_table()
    x, y = mollweide_xy(pmts.theta, pmts.phi)
    occ = np.asarray(health["counts"], float) / max(int(health["n_events"]), 1)
    fig = Figure(figsize=(6.4, 3.6), layout="constrained")
    ax = fig.add_subplot()
    ox, oy = mollweide_outline()
    ax.plot(ox, oy, color="#888888", lw=0.8)
    sc = ax.scatter(x, y, c=occ, s=6, cmap="viridis", vmin=0.0, vmax=max(float(np.percentile(occ, 99.5)), 1e-3))
    for ids, colour, label in ((health["dead"], "#D55E00", "dead"), (health["hot"], "#CC79A7", "hot")):
        if ids:
            ax.scatter(x[ids], y[ids], s=70, facecolors="none", edgecolors=colour, linewidths=1.6,
                       label=f"{label}: {', '.join(str(i) for i in ids[:8])}")
    fig.colorbar(sc, ax=ax, label="occupancy (hits per PMT per event)", shrink=0.8)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.set_title(f"Run {health['run']}: PMT occupancy ({health['n_events']} events)")
    if health["dead"] or health["hot"]:
        ax.legend(fontsize=7, loc="lower left")
    return _png(fig)


def run_elog(catalog, run: int, *, model_digest: str | None = None, template_digest: str | None = None,
             templates=None, plots: str | None = "embed", plot_prefix: str = "") -> ElogEntry:
    """The e-log entry of catalog run ``run`` (module docstring).

    Parameters
    ----------
    catalog : kamcore.catalog.Catalog
    run : run number
    model_digest, template_digest : the fit to report (default: the run's latest)
    templates : kamcore.fit.Templates, optional
        To stack the fitted templates on the score histogram (else the plain histogram).
    plots : ``"embed"``, ``"files"`` or None
    plot_prefix : file-name prefix of the plots with ``plots="files"`` (e.g. ``"run_17_"``)
    """
    from ..catalog import acked_runs, run_state

    if plots not in ("embed", "files", None):
        raise ConfigError(f"plots must be 'embed', 'files' or None, got {plots!r}")
    runs = catalog.list_runs(model_digest=model_digest, template_digest=template_digest)
    row = next((r for r in runs if r["run"] == int(run)), None)
    if row is None:
        raise ConfigError(f"no run {run} in {catalog.url}")
    alarms = catalog.alarms(run=int(run))
    state = run_state(row, int(run) in acked_runs(alarms))
    marks = catalog.run_marks(run=int(run), limit=1)
    health = catalog.run_health(int(run))
    ref = catalog.curated_reference()
    out = [f"# Run {row['run']}: e-log entry", ""]
    mark = (f"{marks[0]['mark']} (by {_md(marks[0]['by'])}, {_iso(marks[0]['at'])}"
            + (f": {_md(marks[0]['reason'])}" if marks[0].get("reason") else "") + ")") if marks else "not marked"
    out += ["| | |", "|---|---|", f"| state | **{state}** |", f"| start | {_utc(row['start_ns'])} |",
            f"| stop | {_utc(row['stop_ns'])} |",
            f"| live time | {'-' if row['livetime_s'] is None else format(row['livetime_s'], '.1f') + ' s'} |",
            f"| events | {row['n_events'] if row['n_events'] is not None else '-'} |",
            f"| file | `{row['path'] or '-'}` ({row['status']}{': ' + _md(row['error']) if row['error'] else ''}) |",
            f"| good / bad | {mark} |", ""]
    fit = row.get("fit")
    out += ["## Fit", ""]
    if fit is None:
        out += ["Not fitted.", ""]
    else:
        res = fit["result"]
        f, e = fit.get("bkg_fraction"), fit.get("bkg_fraction_err")
        out += [f"Model `{fit['model']['name']}@{fit['model']['digest']}`, templates `{fit['template_digest']}`, "
                f"method {fit['method']}, status {fit['status']}.", "",
                f"- background fraction: **{'-' if f is None else f'{f:.3f} +- {e:.3f}'}**",
                f"- p-value: {'-' if fit.get('pvalue') is None else format(fit['pvalue'], '.3g')}, "
                f"{fit['n_events']} events", ""]
        if res.get("yields"):
            out += ["| component | yield | error |", "|---|---|---|"]
            for k in res.get("components", list(res["yields"])):
                y, err = res["yields"].get(k), (res.get("errors") or {}).get(k)
                out.append(f"| {k} | {'-' if y is None else format(y, '.1f')} | "
                           f"{'-' if err is None else format(err, '.1f')} |")
            out.append("")
    out += ["## Flags", ""]
    out += [f"- **{x['kind']}**" + (f" ({x['significance']:.1f} sigma)" if x.get("significance") is not None else "")
            + f": {_md(x['reason'])}" for x in row.get("flags", [])] or ["None."]
    out += ["", "## Detector health", ""]
    if health is None:
        out += ["No health stored for this run.", ""]
    else:
        out += [f"- status {health['status']}, judged against {health['reference']}",
                f"- dead PMTs: {', '.join(map(str, health['dead'])) or 'none'}",
                f"- hot PMTs: {', '.join(map(str, health['hot'])) or 'none'}",
                f"- mean Nhit {health['mean_nhit']:.1f} hit PMTs per event; energy peak "
                f"{'-' if health.get('energy_peak_mev') is None else format(health['energy_peak_mev'], '.3f')} MeV",
                ""]
    out += ["## Compatibility with the reference run", ""]
    if ref is None:
        out += ["No curated reference run is set.", ""]
    elif ref["run"] == row["run"]:
        out += [f"This run is the curated reference run (set by {_md(ref['by'])}, {_iso(ref['at'])}).", ""]
    else:
        ref_row = next((r for r in runs if r["run"] == ref["run"]), None)
        if ref_row is None or not row.get("path") or not ref_row.get("path"):
            out += [f"Reference run {ref['run']}: no run file to compare with.", ""]
        else:
            from .health import compare_runs

            c = compare_runs(row, ref_row)
            out += [f"Reference run {ref['run']} (set by {_md(ref['by'])}, {_iso(ref['at'])}); two-sample "
                    "Kolmogorov-Smirnov p-values:", "", "| spectrum | p-value | events (run / reference) |",
                    "|---|---|---|"]
            for k in ("score", "nhit", "energy"):
                out.append(f"| {k} | {c[k]['pvalue']:.3g} | {c[k]['n']} / {c[k]['n_ref']} |")
            if c.get("error"):
                out += ["", f"Note: {_md(c['error'])}"]
            out.append("")
    out += ["## Alarms and acknowledgements", ""]
    out += [f"- {a['kind']}: {_md(a['text'])} (raised {_iso(a['raised_at'])}); "
            + (f"acknowledged by {_md(a['acked_by'])}, {_iso(a['acked_at'])}: \"{_md(a['ack_text'])}\""
               if a["status"] != "open" else "**open**") for a in alarms] or ["None."]
    notes = catalog.notes(run=int(run))
    out += ["", "## Notes", ""]
    out += [f"- [{n['kind']}] {_md(n['text'])} ({_md(n['author'])}, {_iso(n['created_at'])}; {n['status']})"
            for n in reversed(notes)] or ["None."]
    out.append("")
    files: dict[str, bytes] = {}
    if plots is not None:
        out += ["## Plots", ""]
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            out += ["Plots left out: matplotlib is not installed (`pip install matplotlib`).", ""]
        else:
            pngs = {}
            if row.get("path"):
                scores = _scores(row)
                if scores is not None:
                    pngs["scores.png"] = ("Score histogram", _score_plot(row, scores, templates))
            if health is not None:
                pngs["occupancy.png"] = ("PMT occupancy", _occupancy_plot(health))
            for name, (title, data) in pngs.items():
                if plots == "embed":
                    out.append(f"![{title}](data:image/png;base64,{base64.b64encode(data).decode()})")
                else:
                    files[plot_prefix + name] = data
                    out.append(f"![{title}]({plot_prefix + name})")
                out.append("")
            if not pngs:
                out += ["No plot: neither a score file nor a stored health.", ""]
    import kamcore

    out += ["---", f"Written by kamcore {kamcore.__version__} at "
            f"{dt.datetime.now(dt.timezone.utc).strftime('%Y-%m-%d %H:%M:%S UTC')} from `{catalog.url}`.", ""]
    return ElogEntry("\n".join(out), files)


def _scores(row: dict) -> np.ndarray | None:
    from ..errors import KamcoreError
    from ..io import read_scores
    from ..runs.files import score_path

    try:
        return np.asarray(read_scores(score_path(row["path"]))["score"], np.float64)
    except (KamcoreError, OSError, KeyError) as exc:
        log.info("run %s: no scores for the e-log (%s)", row["run"], exc)
        return None

"""Health view: detector health and trends.

* the PMT occupancy map of the selected run (Mollweide; hits per PMT per event) with the hot and dead
  PMTs ringed and listed, judged by :mod:`kamcore.monitor.health` when the producer closed the run
  (robust z against the PMT's neighbours or the curated reference run);
* the curated reference run (set here by a person; who, when and why are stored in the catalog) and the
  two-sample Kolmogorov-Smirnov p-values of the selected run's score, Nhit and energy against it;
* event rate, mean Nhit, energy peak and background fraction per run against the run's start time
  (UTC) over the last hours to days.

Everything is computed in :mod:`kamcore`; this view reads the catalog (:class:`dashboard.data.DataAccess`)
and draws.
"""

from __future__ import annotations

import html
import time

import numpy as np
import panel as pn
import param
from panel.viewable import Viewer

from ..plots import OKABE_ITO, error_html, html_div, occupancy_figure, trend_figure
from ..selection import Selection
from .common import EventDisplay, session_params

__all__ = ["HealthView", "WINDOWS_H"]

#: trend window choices: label -> hours (None: every run)
WINDOWS_H = {"last 6 h": 6.0, "last 24 h": 24.0, "last 7 days": 168.0, "all runs": None}

DEAD, HOT = OKABE_ITO[5], OKABE_ITO[3]

CSS = """
.kd-pmts b {margin-right:4px}
.kd-dead {color:#D55E00; font-weight:bold}
.kd-hot {color:#CC79A7; font-weight:bold}
.kd-ks td, .kd-ks th {padding:1px 10px 1px 0; text-align:left}
.kd-ks .kd-bad {color:#D55E00; font-weight:bold}
"""


def _utc(ns) -> str:
    import datetime as dt

    if ns is None:
        return ""
    return dt.datetime.fromtimestamp(int(ns) / 1e9, dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def _when(iso: str | None) -> str:
    return (iso or "")[:19].replace("T", " ") + " UTC" if iso else ""


class HealthView(Viewer):
    """The Health page (importable: ``HealthView(backend=..., selection=...)``)."""

    backend = param.Parameter(doc="dashboard.backend.Backend")
    selection = param.ClassSelector(class_=Selection, doc="Shared selection of the session (its run).")
    window = param.Selector(default="last 24 h", objects=list(WINDOWS_H), doc="Time window of the trends.")
    user = param.String(default="", doc="The logged-in user (basic auth), if any.")

    def __init__(self, **params):
        super().__init__(**session_params(params))
        d = EventDisplay()
        self._occ_fig, self._occ_src, self._flag_src, self._mapper = occupancy_figure(
            "PMT occupancy", d.pmt_x, d.pmt_y, d.outline)
        self._pmts_pane, self._pmts = html_div("", CSS, min_height=50)
        self._ref_pane, self._ref = html_div("", CSS, min_height=60)
        from bokeh.models import Span

        figs = {}
        x_range = None
        for key, title, label, colour in (
                ("rate_hz", "Event rate per run", "events / s", OKABE_ITO[0]),
                ("mean_nhit", "Mean Nhit per run", "hit PMTs / event", OKABE_ITO[2]),
                ("energy_peak_mev", "Energy peak per run", "MeV", OKABE_ITO[1]),
                ("bkg_fraction", "Background fraction per run", "fraction", OKABE_ITO[5])):
            f, src = trend_figure(title + " (start time, UTC)", label, x_range=x_range, color=colour)
            x_range = f.x_range  # the four share one time axis
            span = Span(location=0, dimension="height", line_color=OKABE_ITO[1], line_width=2, visible=False)
            f.add_layout(span)
            figs[key] = (f, src, span)
        self._trends = figs
        self._select = pn.widgets.Select(name="Run", options={}, width=220)
        self._select.param.watch(self._on_select, "value")
        self._window = pn.widgets.Select.from_param(self.param.window, name="Trend window", width=160)
        self._name = pn.widgets.TextInput(name="Your name", value=self.user, placeholder="who sets it", width=170,
                                          disabled=bool(self.user))
        self._reason = pn.widgets.TextInput(name="Why this run", placeholder="e.g. quiet run, all PMTs on",
                                            width=240)
        self._set_ref = pn.widgets.Button(name="Make the shown run the reference", button_type="primary", width=250,
                                          align="end")
        self._auto_ref = pn.widgets.Button(name="Back to automatic", width=150, align="end")
        self._set_ref.on_click(lambda e: self._on_reference(set_run=True))
        self._auto_ref.on_click(lambda e: self._on_reference(set_run=False))
        self._msg = pn.pane.HTML("", sizing_mode="stretch_width")
        self._sig = None
        self._shown = None
        self.selection.param.watch(lambda e: self._redraw_selected(), "run")
        self.param.watch(lambda e: self._draw_trends(), "window")

    # ---------------------------------------------------------------- data
    def _current(self, runs: list[dict]) -> dict | None:
        ok = [r for r in runs if r.get("status") == "ok"]
        want = self.selection.run
        if want:
            return next((r for r in runs if r["run"] == want), None)
        return ok[-1] if ok else None

    def refresh(self) -> bool:
        """Redraw when a run closed, a health or the reference changed."""
        b = self.backend
        runs = b.runs()
        summ = b.health_summaries()
        ref = b.curated_reference()
        sig = (len(runs), max((r["updated_at"] or "" for r in runs), default=None), len(summ),
               max((h["updated_at"] or "" for h in summ.values()), default=None), None if ref is None else ref["id"])
        if sig == self._sig:
            return False
        self._sig = sig
        opts = {f"run {r['run']}" + (" (no health)" if r["run"] not in summ else
                                     f" ({len(summ[r['run']]['dead'])} dead, {len(summ[r['run']]['hot'])} hot)"):
                r["run"] for r in reversed(runs) if r.get("status") == "ok"}
        self._select.options = {"latest": 0, **opts}
        if self._select.value != self.selection.run and self.selection.run in self._select.options.values():
            self._select.value = self.selection.run
        self._draw_trends()
        self._redraw_selected(force=True)
        return True

    def _redraw_selected(self, force: bool = False) -> None:
        b = self.backend
        runs = b.runs()
        cur = self._current(runs)
        key = (None if cur is None else (cur["run"], cur.get("updated_at")), self._sig)
        if key == self._shown and not force:
            return
        self._shown = key
        self._draw_occupancy(cur)
        self._draw_reference(cur, runs)
        for f, src, span in self._trends.values():
            span.visible = cur is not None and cur.get("start_ns") is not None
            if span.visible:
                span.location = cur["start_ns"] / 1e6

    def _draw_occupancy(self, cur: dict | None) -> None:
        n = len(self._occ_src.data["pmt"])
        h = None if cur is None else self.backend.run_health(cur["run"])
        if h is None:
            self._occ_src.data = {**self._occ_src.data, "occ": np.full(n, np.nan), "expected": np.full(n, np.nan),
                                  "z": np.zeros(n)}
            self._flag_src.data = {"x": [], "y": [], "pmt": [], "kind": [], "color": []}
            self._occ_fig.title.text = "PMT occupancy"
            self._pmts.text = ("<i>No run in the catalog yet.</i>" if cur is None else
                               f"<b>Run {cur['run']}</b>: no detector health stored (closed before health was "
                               "computed, or its run file could not be read).")
            return
        counts = np.asarray(h["counts"], np.float64)
        occ = counts / max(int(h["n_events"]), 1)
        self._occ_src.data = {**self._occ_src.data, "occ": occ, "expected": np.asarray(h["expected"]),
                              "z": np.asarray(h["z"])}
        high = max(float(np.percentile(occ, 99.5)), 1e-3)
        if (self._mapper.low, self._mapper.high) != (0.0, high):
            self._mapper.update(low=0.0, high=high)
        x, y = self._occ_src.data["x"], self._occ_src.data["y"]
        ids = [(p, "dead", DEAD) for p in h["dead"]] + [(p, "hot", HOT) for p in h["hot"]]
        self._flag_src.data = {"x": [x[p] for p, _, _ in ids], "y": [y[p] for p, _, _ in ids],
                               "pmt": [p for p, _, _ in ids], "kind": [k for _, k, _ in ids],
                               "color": [c for _, _, c in ids]}
        self._occ_fig.title.text = (f"Run {h['run']}: PMT occupancy, {h['n_events']} events "
                                    f"(dead ringed vermillion, hot purple)")
        rule = h.get("config") or {}

        def lst(v, cls):
            items = ", ".join(f"<span class='{cls}' data-pmt='{p}'>{p}</span>" for p in v[:40])
            return (items + (f" and {len(v) - 40} more" if len(v) > 40 else "")) if v else "none"
        status = ("" if h["status"] == "ok" else
                  f" <b style='color:{DEAD}'>Too few events to judge PMTs</b> (status {html.escape(h['status'])}).")
        self._pmts.text = (
            f"<div class='kd-pmts' data-run='{h['run']}' data-dead='{','.join(map(str, h['dead']))}' "
            f"data-hot='{','.join(map(str, h['hot']))}'><b>Run {h['run']}</b>: "
            f"<b class='kd-dead'>dead PMTs</b> {lst(h['dead'], 'kd-dead-id')} &middot; "
            f"<b class='kd-hot'>hot PMTs</b> {lst(h['hot'], 'kd-hot-id')}{status}<br><small>judged against "
            f"{html.escape(str(h['reference']))}: z = (hits &minus; expected) / &radic;expected, dead below "
            f"&minus;{rule.get('z_dead', 5):g}, hot above +{rule.get('z_hot', 5):g}; mean Nhit "
            f"{h['mean_nhit']:.1f}, energy peak "
            f"{'-' if h.get('energy_peak_mev') is None else format(h['energy_peak_mev'], '.2f')} MeV</small></div>")

    def _draw_reference(self, cur: dict | None, runs: list[dict]) -> None:
        b = self.backend
        ref = b.curated_reference()
        if ref is None:
            head = ("<b>Reference run</b>: none curated (the Runs page overlays the automatic one). Pick a quiet "
                    "run and make it the reference.")
        else:
            head = (f"<b>Reference run {ref['run']}</b>, set by <b>{html.escape(ref['by'])}</b> "
                    f"{_when(ref['at'])}" + (f": &ldquo;{html.escape(ref['reason'])}&rdquo;" if ref.get("reason") else ""))
        body = ""
        if ref is not None and cur is not None:
            rrow = next((r for r in runs if r["run"] == ref["run"]), None)
            if rrow is None:
                body = f"<br>Run {ref['run']} is not in the catalog."
            elif rrow["run"] == cur["run"]:
                body = "<br>The shown run is the reference run."
            else:
                c = b.compatibility(cur, rrow)
                rows = "".join(
                    f"<tr><td>{label}</td><td class='{'kd-bad' if c[k]['pvalue'] < 0.01 else ''}' data-ks='{k}'>"
                    f"{c[k]['pvalue']:.3g}</td><td>{c[k]['n']} / {c[k]['n_ref']}</td></tr>"
                    for k, label in (("score", "score"), ("nhit", "Nhit"), ("energy", "energy")))
                err = f"<br><small>{html.escape(c['error'])}</small>" if c.get("error") else ""
                body = (f"<br>Run {cur['run']} against run {ref['run']}: two-sample Kolmogorov-Smirnov p-value "
                        f"(below 0.01 in orange)<table class='kd-ks'><tr><th>spectrum</th><th>p-value</th>"
                        f"<th>events (run / reference)</th></tr>{rows}</table>{err}")
        self._ref.text = head + body

    def _draw_trends(self) -> None:
        cols = self.backend.trends()
        hours = WINDOWS_H[self.window]
        t = np.asarray(cols["start_ms"], np.float64)
        keep = np.ones(len(t), bool) if hours is None else t >= (time.time() * 1e3 - hours * 3.6e6)
        for key, (f, src, _) in self._trends.items():
            y = np.asarray(cols[key], np.float64)[keep]
            err = np.asarray(cols["bkg_fraction_err"], np.float64)[keep] if key == "bkg_fraction" else np.zeros(len(y))
            src.data = {"t": t[keep], "y": y, "lo": y - err, "hi": y + err,
                        "run": np.asarray(cols["run"], np.int64)[keep]}

    # ------------------------------------------------------------- actions
    def _on_select(self, event) -> None:
        if event.new is not None and event.new != self.selection.run:
            self.selection.run = int(event.new)

    def _on_reference(self, *, set_run: bool) -> None:
        from kamcore.errors import KamcoreError

        name = (self.user or self._name.value_input or self._name.value or "").strip()
        reason = (self._reason.value_input or self._reason.value or "").strip() or None
        cur = self._current(self.backend.runs())
        try:
            if set_run and cur is None:
                raise KamcoreError("no run shown")
            self.backend.set_reference_run(cur["run"] if set_run else None, by=name, reason=reason)
        except KamcoreError as exc:
            self._msg.object = error_html(exc)
            return
        self._msg.object = (f"Run {cur['run']} is the reference run." if set_run else
                            "Back to the automatic reference run.")
        self._reason.param.update(value="", value_input="")
        self._sig = None  # redrawn by the session tick

    def __panel__(self):
        caption = pn.pane.HTML(
            "<div class='kd-caption'><b>Detector health.</b> PMT occupancy of a run with hot and dead PMTs, "
            "its compatibility with the curated reference run, and per-run trends against wall-clock time.</div>",
            sizing_mode="stretch_width", margin=(0, 5))
        ref = pn.Column(self._ref_pane, pn.Row(self._name, self._reason, sizing_mode="stretch_width"),
                        pn.Row(self._set_ref, self._auto_ref), self._msg, sizing_mode="stretch_width")
        top = pn.Row(pn.Column(pn.pane.Bokeh(self._occ_fig, sizing_mode="stretch_width"), self._pmts_pane,
                               sizing_mode="stretch_width"),
                     pn.Column(ref, sizing_mode="stretch_width", max_width=560), sizing_mode="stretch_width")
        figs = [pn.pane.Bokeh(f, sizing_mode="stretch_width") for f, _, _ in self._trends.values()]
        trends = pn.Column(pn.Row(*figs[:2], sizing_mode="stretch_width"), pn.Row(*figs[2:], sizing_mode="stretch_width"),
                           sizing_mode="stretch_width")
        return pn.Column(caption, pn.Row(self._select, self._window), top, trends, sizing_mode="stretch_width")

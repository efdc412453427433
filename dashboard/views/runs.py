"""Runs view: run table and selector, background fraction versus run with flags and high-background
periods, the selected run's score histogram with the fitted templates stacked, a reference run
overlaid, and shift notes / acknowledgements (stored in the catalog, seen by every session).

The fits, flags and periods are made by :mod:`kamcore.fit` when the producer closes a run;
the state of a run and the reference run come from :mod:`kamcore.catalog.state` (the rule of
``kamcore runs report``); this view reads them from the catalog and draws.
"""

from __future__ import annotations

import html

import numpy as np
import panel as pn
import param
from bokeh.models import BoxAnnotation, ColumnDataSource, HoverTool, Span, Whisker
from panel.viewable import Viewer

from kamcore.catalog import acked_runs, reference_run, run_state, unphysical

from ..plots import OKABE_ITO, _base, empty_hist, error_html, histogram_figure, ink, theme
from ..selection import Selection
from .common import session_params

__all__ = ["RunsView", "run_state", "acked_runs", "FILE_PROBLEMS"]

STATE_COLOURS = {"ok": OKABE_ITO[0], "flagged": OKABE_ITO[5], "bad fit": OKABE_ITO[3], "not fitted": "#999999",
                 "bad file": "#000000", "incomplete": OKABE_ITO[4], "acknowledged": OKABE_ITO[2],
                 "unphysical": OKABE_ITO[1]}  # every state its own colour (black is only "bad file")


def _utc(ns) -> str:
    import datetime as dt

    if ns is None:
        return ""
    return dt.datetime.fromtimestamp(int(ns) / 1e9, dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")

#: high-background periods shaded on the background-fraction plot (the newest; every period is listed below it)
MAX_SHADED_PERIODS = 12

#: what the Runs view says about a run file the producer could not close (catalog status -> text)
FILE_PROBLEMS = {"bad_file": "unreadable run file, skipped", "incomplete": "run file still being written, retried"}


class RunsView(Viewer):
    """The Runs page (importable: ``RunsView(backend=..., selection=...)``)."""

    backend = param.Parameter(doc="dashboard.backend.Backend")
    selection = param.ClassSelector(class_=Selection, doc="Shared selection of the session.")
    reference_run = param.Integer(default=0, bounds=(0, None), doc="Reference run overlaid (0: automatic).")
    author = param.String(default="", doc="Name signed under notes added from this session.")

    def __init__(self, **params):
        super().__init__(**session_params(params, "author"))  # the signed-in user signs what this session writes
        comps = self.backend.templates.components
        self._comps = comps
        self._runs: list[dict] = []
        self._signature = None
        # background fraction versus run
        self._f_src = ColumnDataSource({"run": [], "f": [], "lo": [], "hi": [], "color": [], "state": [],
                                        "p": [], "n": []})
        f = _base("Fitted background fraction per run", height=300)
        edge = ink() if theme() == "dark" else None  # "bad file" is black: ringed on a dark background
        r = f.scatter("run", "f", source=self._f_src, size=8, fill_color="color", line_color=edge or "color")
        # the key: one fixed-colour renderer per state (a NaN point).  A legend grouped by a data column
        # (legend_field) keeps row indices that a redraw with fewer rows leaves out of bounds, and
        # Bokeh then fails drawing the legend ("Offset is outside the bounds of the DataView")
        for state, colour in STATE_COLOURS.items():
            f.scatter(x=[float("nan")], y=[float("nan")], size=8, fill_color=colour, line_color=edge or colour,
                      legend_label=state)  # one
            # point off the plot: a renderer without data draws no marker in the legend
        f.legend.label_text_font_size = "9pt"
        f.legend.spacing = 0
        f.add_layout(Whisker(source=self._f_src, base="run", upper="hi", lower="lo", line_color="#666666"))
        f.segment("run", "lo", "run", "hi", source=self._f_src, line_alpha=0)  # the auto range holds the whiskers
        f.add_tools(HoverTool(renderers=[r], tooltips=[("run", "@run"), ("f_bkg", "@f{0.000}"),
                                                       ("state", "@state"), ("p-value", "@p{0.000}"),
                                                       ("events", "@n")]))
        f.xaxis.axis_label = "run"
        f.yaxis.axis_label = "background fraction"
        f.add_layout(f.legend[0], "right")  # outside: a legend inside hides the points under it
        self._ref_span = Span(location=0, dimension="width", line_dash="dashed", line_color=ink())
        f.add_layout(self._ref_span)
        self._sel_span = Span(location=0, dimension="height", line_color=OKABE_ITO[1], line_width=2)
        f.add_layout(self._sel_span)
        # a fixed pool, made with the figure: a BoxAnnotation added to a drawn figure raced its own first patch
        # ("cannot find a view for BoxAnnotation", seen in the browser); periods beyond the pool are listed only
        self._boxes: list[BoxAnnotation] = [BoxAnnotation(fill_alpha=0.15, fill_color=OKABE_ITO[1], visible=False)
                                            for _ in range(MAX_SHADED_PERIODS)]
        for box in self._boxes:
            f.add_layout(box)
        self._f_fig = f
        # selected run: histogram + stacked templates + reference
        names = list(comps)
        self._h_fig, self._h_src = histogram_figure("Score histogram of the run with the fitted templates",
                                                    "classifier score", names, stacked=True, height=340)
        self._data_src = ColumnDataSource({"x": [], "n": [], "lo": [], "hi": []})
        self._h_fig.scatter("x", "n", source=self._data_src, size=7, color="#D55E00", legend_label="run data")
        self._h_fig.add_layout(Whisker(source=self._data_src, base="x", upper="hi", lower="lo", line_color="#D55E00"))
        self._h_fig.segment("x", "lo", "x", "hi", source=self._data_src, line_alpha=0)
        self._ref_src = ColumnDataSource({"x": [], "y": []})
        self._h_fig.step("x", "y", source=self._ref_src, mode="after", line_width=2, line_dash="dashed",
                         color="#888888", legend_label="reference run (scaled)")
        # widgets
        self._select = pn.widgets.Select(name="Run", options={}, width=220)
        self._select.param.watch(self._on_select, "value")
        self._prev = pn.widgets.Button(name="◀ previous", width=100)
        self._next = pn.widgets.Button(name="next ▶", width=100)
        self._last = pn.widgets.Button(name="latest", width=90)
        self._prev.on_click(lambda e: self._step(-1))
        self._next.on_click(lambda e: self._step(+1))
        self._last.on_click(lambda e: setattr(self.selection, "run", 0))
        self._ref_select = pn.widgets.Select(name="Reference run", options={"automatic": 0}, width=200)
        self._ref_select.param.watch(lambda e: setattr(self, "reference_run", int(e.new or 0)), "value")
        self._table = pn.widgets.Tabulator(
            value=None, height=300, sizing_mode="stretch_width", selectable=1, disabled=True, show_index=False,
            pagination=None, layout="fit_data_table")
        self._table.on_click(self._on_table_click)
        self._result = pn.pane.HTML("", sizing_mode="stretch_width")
        self._periods = pn.pane.HTML("", sizing_mode="stretch_width")
        # notes
        self._author = pn.widgets.TextInput(name="Your name", placeholder="shifter name", width=200)
        self._author.link(self, value="author", bidirectional=True)
        self._text = pn.widgets.TextAreaInput(name="Shift note for this run", placeholder="what you saw / did",
                                              height=80, sizing_mode="stretch_width")
        self._add = pn.widgets.Button(name="Add note", button_type="primary", width=110)
        self._ack_text = pn.widgets.TextInput(name="Acknowledgement of this run's alarms",
                                              placeholder="what you checked about the flags", width=320)
        self._ack = pn.widgets.Button(name="Acknowledge flags", button_type="warning", width=160, align="end")
        self._add.on_click(lambda e: self._add_note("note"))
        self._ack.on_click(lambda e: self._ack_run())
        self._note_msg = pn.pane.HTML("", sizing_mode="stretch_width")
        self._notes = pn.pane.HTML("", sizing_mode="stretch_width")
        # good / bad marking by a person, and the e-log entry of the shown run
        self._mark_good = pn.widgets.Button(name="Mark good", button_type="success", width=110, align="end")
        self._mark_bad = pn.widgets.Button(name="Mark bad", button_type="danger", width=110, align="end")
        self._mark_clear = pn.widgets.Button(name="Clear mark", width=100, align="end")
        self._mark_reason = pn.widgets.TextInput(name="Why (good / bad)", placeholder="e.g. HV trip at 03:10",
                                                 width=260)
        for w, m in ((self._mark_good, "good"), (self._mark_bad, "bad"), (self._mark_clear, "none")):
            w.on_click(lambda e, m=m: self._mark(m))
        self._mark_info = pn.pane.HTML("", sizing_mode="stretch_width")
        self._elog = pn.widgets.FileDownload(callback=self._elog_file, filename="run_elog.md", button_type="light",
                                             label="Download e-log entry (Markdown)", width=260, embed=False)
        self._open_notes = pn.widgets.Select(name="Open note", options={}, width=300)
        self._resolve = pn.widgets.Button(name="Resolve note", width=120, align="end")
        self._resolve.on_click(self._resolve_note)
        self.selection.param.watch(lambda e: self._draw_selected(), "run")
        self.param.watch(lambda e: self._draw_selected(), "reference_run")
        self._notes_sig = None
        self._acked: set[int] = set()

    def _state(self, r: dict) -> str:
        return run_state(r, r["run"] in self._acked)

    # ---------------------------------------------------------------- data
    def _current(self) -> dict | None:
        if not self._runs:
            return None
        want = self.selection.run
        if want:
            for r in self._runs:
                if r["run"] == want:
                    return r
            return None
        return self._runs[-1]

    def refresh(self) -> bool:
        """Redraw when the catalog changed (a run closed, a note added)."""
        runs = self.backend.runs()
        notes = self.backend.notes()
        self._acked = acked_runs(self.backend.alarms())
        # any run row written (a run closed, a file marked bad or incomplete, an incomplete file closed later)
        sig = (len(runs), max((r["updated_at"] or "" for r in runs), default=None),
               runs[-1]["fit"]["updated_at"] if runs and runs[-1]["fit"] else None, tuple(sorted(self._acked)))
        changed = False
        if sig != self._signature:
            self._signature = sig
            self._runs = runs
            self._draw_sequence()
            self._draw_selected()
            changed = True
        nsig = (len(notes), tuple((n["id"], n["status"]) for n in notes[:50]))
        if nsig != self._notes_sig:
            self._notes_sig = nsig
            self._draw_notes()
            changed = True
        return changed

    def _draw_sequence(self) -> None:
        from kamcore.fit import run_range

        runs = self._runs
        rows = []
        for r in runs:
            fit = r.get("fit") or {}
            st = self._state(r)
            f = fit.get("bkg_fraction")
            e = fit.get("bkg_fraction_err")
            rows.append({"run": r["run"], "state": st, "start (UTC)": _utc(r.get("start_ns")),
                         "stop (UTC)": _utc(r.get("stop_ns")), "events": r.get("n_events"),
                         "live time (s)": None if r.get("livetime_s") is None else round(r["livetime_s"], 1),
                         "f_bkg": None if f is None else round(f, 3), "error": None if e is None else round(e, 3),
                         "p-value": None if fit.get("pvalue") is None else round(fit["pvalue"], 3),
                         "flags": ", ".join(sorted({x["kind"] for x in r.get("flags", [])})) or "",
                         "mark": r.get("mark") or "",
                         "file problem": (r.get("error") or "") if r.get("status") in FILE_PROBLEMS else ""})
        import pandas as pd

        df = pd.DataFrame(rows, columns=["run", "state", "start (UTC)", "stop (UTC)", "events", "live time (s)",
                                         "f_bkg", "error", "p-value", "flags", "mark", "file problem"])
        self._table.value = df.iloc[::-1].reset_index(drop=True)
        self._highlight()
        fitted = [(r, r["fit"]) for r in runs if r.get("fit") and r["fit"].get("bkg_fraction") is not None]
        self._f_src.data = {
            "run": [r["run"] for r, _ in fitted], "f": [f["bkg_fraction"] for _, f in fitted],
            "lo": [f["bkg_fraction"] - (f["bkg_fraction_err"] or 0) for _, f in fitted],
            "hi": [f["bkg_fraction"] + (f["bkg_fraction_err"] or 0) for _, f in fitted],
            "color": [STATE_COLOURS[self._state(r)] for r, _ in fitted], "state": [self._state(r) for r, _ in fitted],
            "p": [f.get("pvalue") for _, f in fitted], "n": [f.get("n_events") for _, f in fitted]}
        periods = self.backend.periods()
        lines = []
        shaded = periods[-len(self._boxes):]  # the newest ones
        for i, box in enumerate(self._boxes):
            if i < len(shaded):
                box.update(left=shaded[i]["first_run"] - 0.5, right=shaded[i]["last_run"] + 0.5, visible=True)
            elif box.visible:
                box.visible = False
        for p in periods:
            if p.get("reference_fraction") is not None:
                self._ref_span.location = p["reference_fraction"]
            lines.append(f"<li>{run_range(p['first_run'], p['last_run'], dash='&ndash;')} ({p['method']}): "
                         f"mean f = {p['mean_fraction']:.3f}, {p['significance']:.1f}&sigma; above the reference</li>")
        self._periods.object = (("<b>High-background periods</b> (shaded above)<ul>" + "".join(lines) + "</ul>")
                                if lines else "<b>No high-background period</b> in the catalog.")
        opts = {f"run {r['run']} ({self._state(r)})": r["run"] for r in reversed(runs)}
        self._select.options = {"latest": 0, **opts}
        self._ref_select.options = {"automatic": 0, **{f"run {r['run']}": r["run"] for r in reversed(runs)
                                                       if run_state(r) == "ok"}}
        if self._select.value is None or self._select.value != self.selection.run:
            self._select.value = self.selection.run if self.selection.run in self._select.options.values() else 0

    def _highlight(self) -> None:
        """Select (highlight) the row of the shown run in the table."""
        cur = self._current()
        df = self._table.value
        if cur is None or df is None or not len(df):
            return
        rows = [int(i) for i in df.index[df["run"] == cur["run"]]]
        if self._table.selection != rows:
            self._table.selection = rows

    def _reference(self, cur: dict) -> dict | None:
        """The run chosen in the selector, else the curated reference run (set on the Health page), else the
        catalog's automatic reference run (:func:`kamcore.catalog.reference_run`)."""
        if self.reference_run:
            return next((r for r in self._runs if r["run"] == self.reference_run), None)
        curated = self.backend.curated_reference()
        if curated is not None and curated["run"] != cur["run"]:
            row = next((r for r in self._runs if r["run"] == curated["run"]), None)
            if row is not None:
                return row
        ref = reference_run(self._runs, exclude=cur["run"], config=self.backend.flag_config())
        return None if ref is None else ref.run

    def _draw_selected(self) -> None:
        from kamcore.fit import RunFit, fitted_counts, score_histogram

        cur = self._current()
        edges = self.backend.templates.edges
        if cur is None:
            self._result.object = ("<i>No run in the catalog yet.</i>" if not self._runs else
                                   f"<b>Run {self.selection.run}</b> is not in the catalog.")
            self._h_src.data = empty_hist(self._comps)
            self._data_src.data = {"x": [], "n": [], "lo": [], "hi": []}
            return
        self._sel_span.location = cur["run"]
        self._highlight()
        scores = self.backend.run_scores(cur)
        n = score_histogram(scores, self.backend.templates) if len(scores) else np.zeros(len(edges) - 1)
        x = 0.5 * (edges[1:] + edges[:-1])
        err = np.sqrt(n)
        self._data_src.data = {"x": x, "n": n, "lo": n - err, "hi": n + err}
        data = {"left": edges[:-1], "right": edges[1:]}
        fit = cur.get("fit")
        parts = {}
        if fit and fit.get("status") == "ok":
            parts = fitted_counts(RunFit.from_dict(fit["result"]), self.backend.templates)
        bottom = np.zeros(len(x))
        negative = []
        for k in self._comps:
            if parts.get(k) is not None and parts[k].sum() < 0:
                negative.append(k)
            c = np.maximum(parts.get(k, np.zeros(len(x))), 0.0)
            data[k + "_bottom"] = bottom.copy()
            bottom = bottom + c
            data[k] = bottom.copy()
        self._h_src.data = data
        ref = self._reference(cur)
        if ref is not None:
            rs = self.backend.run_scores(ref)
            rh = score_histogram(rs, self.backend.templates) if len(rs) else np.zeros(len(x))
            scale = n.sum() / rh.sum() if rh.sum() > 0 else 0.0
            self._ref_src.data = {"x": np.r_[edges[:-1], edges[-1]], "y": np.r_[rh * scale, (rh * scale)[-1:]]}
        else:
            self._ref_src.data = {"x": [], "y": []}
        self._h_fig.title.text = (f"Run {cur['run']}: {int(n.sum())} events, fitted templates stacked"
                                  + (f", reference run {ref['run']}" if ref is not None else "")
                                  + (f" (negative yield of {', '.join(negative)} not stacked)" if negative else ""))
        self._result.object = self._fit_html(cur, ref)
        self._draw_mark(cur)
        self._elog.filename = f"run_{cur['run']:06d}_elog.md"
        self._notes_sig = None  # notes list follows the run

    def _fit_html(self, cur: dict, ref: dict | None) -> str:
        fit = cur.get("fit")
        st = self._state(cur)
        colour = STATE_COLOURS[st]
        head = (f"<span style='background:{colour};color:white;padding:2px 8px;border-radius:4px'>"
                f"{html.escape(st.upper())}</span> <b>Run {cur['run']}</b>")
        if cur.get("status") in FILE_PROBLEMS:
            return (f"{head}: {FILE_PROBLEMS[cur['status']]}: <code>{html.escape(str(cur.get('error')))}</code> "
                    f"<small>({html.escape(str(cur.get('updated_at') or '')[:19])} UTC)</small>")
        if not fit:
            return f"{head}: not fitted yet."
        res = fit["result"]
        y = ", ".join(f"{k} {res['yields'][k]:.0f} &plusmn; {res['errors'][k]:.0f}" for k in res["components"]
                      if res["yields"].get(k) is not None)
        flags = "".join(f"<li>{html.escape(x['kind'])}: {html.escape(x.get('reason') or '')}</li>"
                        for x in cur.get("flags", []))
        f, e = fit.get("bkg_fraction"), fit.get("bkg_fraction_err")
        fs = "n/a" if f is None else f"{f:.3f} &plusmn; {e:.3f}"
        p = fit.get("pvalue")
        bad = unphysical(cur)
        warn = ("" if not bad else f"<br><b style='color:{OKABE_ITO[5]}'>Unphysical fit:</b> negative yield beyond "
                f"2&sigma; for {html.escape(', '.join(bad))}; do not use its background fraction.")
        return (f"{head}: background fraction <b>{fs}</b>, fit p-value {'n/a' if p is None else f'{p:.3f}'}, "
                f"{fit.get('n_events')} events, status {html.escape(str(fit.get('status')))}<br>"
                f"<small>yields: {y}<br>model {html.escape(fit['model']['name'])}@{fit['model']['digest']}, "
                f"templates {fit['template_digest']}</small>" + warn + (f"<ul>{flags}</ul>" if flags else ""))

    def _draw_notes(self) -> None:
        cur = self._current()
        run = cur["run"] if cur else None
        notes = self.backend.notes(run) if run is not None else []
        items = []
        for n in notes[:30]:
            badge = "ACK" if n["kind"] == "ack" else "NOTE"
            state = ("resolved by " + html.escape(str(n["resolved_by"]))) if n["status"] == "resolved" else "open"
            items.append(f"<li><b>[{badge}]</b> {html.escape(n['text'])} &mdash; <i>{html.escape(n['author'])}, "
                         f"{html.escape((n['created_at'] or '')[:19])} UTC</i> ({state})</li>")
        self._notes.object = (f"<b>Notes for run {run}</b><ul class='kd-notes'>" + "".join(items) + "</ul>"
                              if items else f"<i>No notes for run {run}.</i>")
        self._open_notes.options = {f"#{n['id']}: {n['text'][:40]}": n["id"] for n in notes if n["status"] == "open"}

    def _draw_mark(self, cur: dict) -> None:
        marks = self.backend.run_marks(cur["run"])
        if not marks or marks[0]["mark"] == "none":
            text = f"Run {cur['run']} is <b>not marked</b> good or bad."
        else:
            m = marks[0]
            colour = OKABE_ITO[2] if m["mark"] == "good" else OKABE_ITO[5]
            text = (f"Run {cur['run']} marked <b style='color:{colour}' class='kd-mark' data-mark='{m['mark']}'>"
                    f"{m['mark'].upper()}</b> by <b>{html.escape(m['by'])}</b> {html.escape((m['at'] or '')[:19].replace('T', ' '))} UTC"
                    + (f": &ldquo;{html.escape(m['reason'])}&rdquo;" if m.get("reason") else ""))
        self._mark_info.object = text

    def _elog_file(self):
        """The e-log entry of the shown run (Markdown, plots embedded as PNG), for the download button."""
        import io

        cur = self._current()
        if cur is None:
            return io.StringIO("No run in the catalog.\n")
        return io.StringIO(self.backend.elog(cur["run"]))

    # ------------------------------------------------------------- actions
    def _act_on_run(self, action) -> bool:
        """Apply a form's ``action(run_row) -> message`` to the selected run and show the message.

        Refused with the reason shown instead (and False returned) when no run is selected or the
        action raises :class:`~kamcore.errors.KamcoreError`.
        """
        from kamcore.errors import KamcoreError

        cur = self._current()
        try:
            if cur is None:
                raise KamcoreError("no run selected")
            message = action(cur)
        except KamcoreError as exc:
            self._note_msg.object = error_html(exc)
            return False
        self._note_msg.object = message
        return True

    def _mark(self, mark: str) -> None:
        reason = (self._mark_reason.value_input or self._mark_reason.value or "").strip() or None

        def store(cur: dict) -> str:
            self.backend.mark_run(cur["run"], mark, by=(self.author or "").strip(), reason=reason)
            return f"Run {cur['run']}: mark {mark} stored."

        if self._act_on_run(store):
            self._mark_reason.param.update(value="", value_input="")
            self._signature = None  # redrawn by the session tick

    def _on_select(self, event) -> None:
        if event.new is not None and event.new != self.selection.run:
            self.selection.run = int(event.new)

    def _on_table_click(self, event) -> None:
        try:
            self.selection.run = int(self._table.value.iloc[event.row]["run"])
        except (IndexError, KeyError, TypeError, ValueError):
            pass

    def _step(self, d: int) -> None:
        cur = self._current()
        if cur is None:
            return
        nums = [r["run"] for r in self._runs]
        i = nums.index(cur["run"]) + d
        if 0 <= i < len(nums):
            self.selection.run = nums[i]

    def _add_note(self, kind: str) -> None:
        text = self._text.value_input or self._text.value  # value_input: typed but not yet committed
        if kind == "ack" and not (text or "").strip():
            text = "flags acknowledged"

        def store(cur: dict) -> str:
            self.backend.add_note(text or "", author=self.author, run=cur["run"], kind=kind)
            return f"Saved for run {cur['run']}."

        if self._act_on_run(store):
            self._text.param.update(value="", value_input="")  # value_input too: the next entry starts empty
            self._notes_sig = None
            self.refresh()

    def _ack_run(self) -> None:
        """Acknowledge the open alarms of the selected run with the acknowledgement's own text."""
        from kamcore.errors import KamcoreError

        text = self._ack_text.value_input if self._ack_text.value_input is not None else self._ack_text.value

        def ack(cur: dict) -> str:
            ids = [a["id"] for a in self.backend.alarms() if a["run"] == cur["run"] and a["status"] == "open"]
            if not ids:
                raise KamcoreError(f"run {cur['run']} has no open alarm")
            done = self.backend.ack_alarms(ids, by=(self.author or "").strip(), text=(text or "").strip())
            return f"Acknowledged {len(done)} alarm(s) of run {cur['run']}."

        if self._act_on_run(ack):
            self._ack_text.param.update(value="", value_input="")  # value_input too: the next entry starts empty
            self._notes_sig = None
            self._signature = None  # redrawn by the session tick (Bokeh models change only under the document lock)

    def _resolve_note(self, event) -> None:
        from kamcore.errors import KamcoreError

        try:
            if self._open_notes.value is None:
                raise KamcoreError("no open note selected")
            if not self.author.strip():
                raise KamcoreError("enter your name to resolve a note")
            self.backend.resolve_note(int(self._open_notes.value), by=self.author)
        except KamcoreError as exc:
            self._note_msg.object = error_html(exc)
            return
        self._notes_sig = None
        self.refresh()

    def __panel__(self):
        caption = pn.pane.HTML("<div class='kd-caption'><b>Run fits and flags.</b> Per-run template fits of the score histogram: background fraction, flags, high-background periods, and shift notes shared by every session.</div>", sizing_mode="stretch_width")
        nav = pn.Row(self._prev, self._select, self._next, self._last, self._ref_select,
                     sizing_mode="stretch_width")
        notes = pn.Column(self._mark_info, pn.Row(self._mark_reason, self._mark_good, self._mark_bad, self._mark_clear),
                          self._elog, self._notes, pn.Row(self._author, self._text, sizing_mode="stretch_width"),
                          pn.Row(self._add), pn.Row(self._ack_text, self._ack),
                          pn.Row(self._open_notes, self._resolve), self._note_msg,
                          sizing_mode="stretch_width")
        return pn.Column(caption, 
            nav, self._result,
            pn.Row(pn.pane.Bokeh(self._f_fig, sizing_mode="stretch_width"),
                   pn.pane.Bokeh(self._h_fig, sizing_mode="stretch_width"), sizing_mode="stretch_width"),
            pn.Row(pn.Column(self._periods, notes, sizing_mode="stretch_width"),
                   pn.Column(pn.pane.Markdown("**Runs** (newest first; click a row to select)"), self._table,
                             sizing_mode="stretch_width"), sizing_mode="stretch_width"),
            sizing_mode="stretch_width")

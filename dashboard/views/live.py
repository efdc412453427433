"""Live view: the newest event on the sphere and as 28 time slices, its proper times and score; the
current run filling up (event rate, score histogram); pause/resume.
"""

from __future__ import annotations

import html
import time

import numpy as np
import panel as pn
import param
from panel.viewable import Viewer

from ..plots import empty_hist, histogram_figure, html_div, slice_figure, sphere_figure
from ..selection import Selection
from .common import EventDisplay, sphere_data

__all__ = ["LiveView"]


class LiveView(Viewer):
    """The Live page (an importable component: ``LiveView(backend=Backend(...))`` in a notebook)."""

    backend = param.Parameter(doc="dashboard.backend.Backend")
    selection = param.ClassSelector(class_=Selection, doc="Shared selection of the session.")
    shown_seq = param.Integer(default=0, doc="Sequence number of the event on screen.")
    shown_wall_ns = param.Integer(default=0, doc="When the producer stored the event on screen (ns).")
    shown_address = param.String(default="", doc="'RUN:EVENT' of the event on screen.")
    shown_from = param.String(default="", doc="Where the event on screen was read: buffer, run file, live store.")

    def __init__(self, **params):
        params.setdefault("selection", Selection())
        super().__init__(**params)
        self.display = EventDisplay(getattr(self.backend, "input_config", None))
        self._sphere, self._hits, self._mapper = sphere_figure(
            "Hit PMTs (Mollweide, seen from inside)", self.display.pmt_x, self.display.pmt_y, self.display.outline)
        self._colorbar = self._sphere.select_one({"name": "kd-colorbar"})
        size = self.display.size
        self._slice_fig, self._slice_src, self._slice_mapper = slice_figure("Hit map, time slice", size)
        self._player = pn.widgets.Player(name="time slice", start=0, end=self.display.n_slices - 1, value=13,
                                         interval=400, loop_policy="loop", sizing_mode="stretch_width",
                                         show_value=True, show_loop_controls=False)
        self._player.param.watch(self._draw_slice, "value")
        # the lower row (proper times, run scores, event rate) is built after the page has loaded:
        # the first paint of a session needs only the event display (see __panel__)
        self._run_row = pn.Row(sizing_mode="stretch_width", min_height=260)
        self._tau_src = self._score_src = self._rate_src = None
        self._last_ev = None
        self._info_pane, self._info = html_div("<i>waiting for the first event ...</i>", min_height=60)
        self._color = pn.widgets.RadioButtonGroup.from_param(self.selection.param.color_by, name="colour by")
        self._pause = pn.widgets.Toggle(name="Pause", button_type="warning", value=self.selection.paused,
                                        width=110)
        self._pause.link(self.selection, value="paused", bidirectional=True)
        self._latest = pn.widgets.Button(name="Newest event", width=130)
        self._latest.on_click(lambda e: self.selection.param.update(event="", paused=False))
        self._maps = self._shown = None
        self.selection.param.watch(self._on_color, "color_by")
        self.selection.param.watch(self._on_pause, "paused")

    def _build_run_row(self) -> None:
        if self._tau_src is not None:
            return
        self._tau_fig, self._tau_src = histogram_figure("Proper hit times of the event", "proper time (ns)",
                                                        ["hits"], height=260, y_label="hits")
        self._score_fig, self._score_src = histogram_figure("Scores of the current run", "classifier score",
                                                            ["events", "this event"], height=260)
        wp = self.backend.working_point()
        if wp is not None:
            from bokeh.models import Label, Span

            from ..plots import ink

            self._score_fig.add_layout(Span(location=wp["threshold"], dimension="height", line_dash="dashed",
                                            line_color=ink(), line_width=2))
            self._score_fig.add_layout(Label(x=wp["threshold"], y=5, y_units="screen", x_offset=4,
                                             text=f"0vbb cut ({100 * wp['acceptance']:.0f}% acc.)",
                                             text_font_size="8pt", text_color=ink()))
        self._rate_fig, self._rate_src = histogram_figure("Event rate of the current run (wall clock)",
                                                          "seconds before now", ["rate"], height=260,
                                                          y_label="events / s")
        if self._last_ev is not None:
            self._draw_tau(self._last_ev)
            self._draw_run(self._last_ev)
        self._run_row.objects = [pn.pane.Bokeh(f, sizing_mode="stretch_width")
                                 for f in (self._tau_fig, self._score_fig, self._rate_fig)]

    # ------------------------------------------------------------------ data
    def refresh(self) -> bool:
        """Draw the selected event if it changed (the session tick calls this); True when redrawn.

        ``selection.event`` empty: the newest event; ``"RUN:EVENT"``: that event (PINNED), from the live
        buffer or, once it has left it, from the run's files (:meth:`dashboard.backend.Backend.event`).
        """
        from kamcore.errors import KamcoreError
        from kamcore.monitor import format_event_address, parse_event_address

        sel = self.selection
        want = (sel.event or "").strip()
        where = "buffer"
        if not want:
            ev = self.backend.buffer.event(None)
        elif want.isdigit():  # a live sequence number (links of earlier versions)
            ev = self.backend.buffer.event(int(want))
            if ev is None:
                self._info.text = (f"<b>Live event #{want}</b> is no longer in the live buffer; "
                                   "links now name the event as RUN:EVENT, which never expires.")
                return False
        else:
            try:
                addr = parse_event_address(want)
            except KamcoreError as exc:
                self._info.text = f"<span class='kd-error'>{html.escape(str(exc))}</span>"
                return False
            if want == self.shown_address and self.shown_from != "":
                if self._last_ev is not None:
                    self._draw_run(self._last_ev)
                return False
            ev, where = self.backend.event(*addr)
            if ev is None:
                self._info.text = f"<b>Event {html.escape(want)}</b> cannot be shown: {html.escape(where)}"
                return False
        if ev is None:
            return False
        seq = int(ev.seq[0])
        address = format_event_address(int(ev.events.run[0]), int(ev.events.event_id[0]))
        if address == self.shown_address and seq == self.shown_seq:
            self._draw_run(ev)  # the run keeps filling while we show the same event
            return False
        self.shown_from = where
        self._draw_event(ev)
        self._draw_run(ev)
        self.shown_seq, self.shown_wall_ns, self.shown_address = seq, int(ev.wall_ns[0]), address
        return True

    def _draw_event(self, ev) -> None:
        d = self.display
        self._shown = d.event(ev)  # hit PMTs, proper times, hit map: kamcore.monitor.display_event
        self._maps = self._shown.maps
        self._hits.data = sphere_data(d, self._shown, self.selection.color_by, self._mapper, colorbar=self._colorbar)
        self._draw_slice()
        self._slice_mapper.high = max(1.0, float(self._maps.max()))
        self._last_ev = ev
        self._draw_tau(ev)
        e = ev.events
        r = float(np.linalg.norm(e.vertex_cm[0])) if np.isfinite(e.vertex_cm[0]).all() else float("nan")
        att = "" if ev.attention is None else (
            f" &middot; peak attention in slice {int(np.argmax(ev.attention[0]))}")
        self._info.text = (
            f"<div style='font-size:1.05em'><b>Run {int(e.run[0])}</b>, event {int(e.event_id[0])} "
            f"<a class='kd-permalink' href='?view=live&amp;event={int(e.run[0])}:{int(e.event_id[0])}'>"
            f"[link {int(e.run[0])}:{int(e.event_id[0])}]</a> "
            + (f"(live #{int(ev.seq[0])})" if self.shown_from == "buffer" else
               f"<span class='kd-from'>(read from the {html.escape(self.shown_from)}: no longer in the live "
               f"buffer)</span>")
            + f" &middot; <b>score {float(ev.score[0]):.3f}</b> {self._working_point_text(float(ev.score[0]))}"
            f"{att}<br>"
            f"{e.hits_per_event[0]} hits, {float(e.q_pe.sum()):.0f} p.e., visible energy "
            f"{float(e.energy_mev[0]):.2f} MeV, reconstructed R = {r:.0f} cm &middot; "
            f"simulation truth: <code>{e.source[0]}</code></div>")

    def _working_point_text(self, score: float) -> str:
        """Where the score lies against the model's working point (cut at its 0vbb acceptance)."""
        wp = self.backend.working_point()
        if wp is None:
            return "(no working point in the model's results)"
        cut = wp["threshold"]
        rej = f", rejects {100 * wp['bi214_rejection']:.0f}% of Bi214" if wp.get("bi214_rejection") is not None else ""
        verdict = "passes" if score >= cut else "fails"
        return (f"<span class='kd-wp'>({verdict} the 0&nu;&beta;&beta; cut: score &ge; {cut:.3f} keeps "
                f"{100 * wp['acceptance']:.0f}% of 0&nu;&beta;&beta;{rej})</span>")

    def _draw_tau(self, ev) -> None:
        if self._tau_src is None:
            return
        edges = np.arange(-30.0, 60.0 + 1e-9, 1.5)
        h, _ = np.histogram(np.clip(ev.tau_ns, edges[0], edges[-1] - 1e-6), edges)
        self._tau_src.data = {**empty_hist(["hits"]), "left": edges[:-1], "right": edges[1:], "hits": h,
                              "hits_bottom": np.zeros_like(h)}

    def _draw_slice(self, *_):
        if self._maps is None:
            return
        k = int(self._player.value)
        m = self._maps[k]
        self._slice_src.data = {"image": [np.where(m > 0, m, np.nan).astype(np.float32)]}  # empty cells: background
        lo, hi = self.display.slice_edges[k], self.display.slice_edges[k + 1]
        if k == 0:  # the first and last slices also hold every earlier / later hit (kamcore.preprocess.time_slice)
            span = f"underflow: every hit before {hi:+.1f} ns"
        elif k == self.display.n_slices - 1:
            span = f"overflow: every hit after {lo:+.1f} ns"
        else:
            span = f"{lo:+.1f} to {hi:+.1f} ns"
        self._slice_fig.title.text = f"Hit map, time slice {k} ({span})"

    def _draw_run(self, ev) -> None:
        if self._score_src is None:
            return
        run = int(ev.events.run[0])
        scores, wall = self.backend.buffer.run_scores(run)
        edges = self.backend.templates.edges
        h = np.histogram(scores, edges)[0]
        mark = np.zeros_like(h)
        k = np.clip(np.searchsorted(edges, float(ev.score[0]), side="right") - 1, 0, len(h) - 1)
        mark[k] = 1
        self._score_src.data = {**empty_hist(["events", "this event"]), "left": edges[:-1], "right": edges[1:],
                                "events": h, "events_bottom": np.zeros_like(h), "this event": mark,
                                "this event_bottom": np.zeros_like(h)}
        self._score_fig.title.text = f"Scores of run {run} so far ({len(scores)} events)"
        if len(wall):
            age = (time.time_ns() - wall) / 1e9
            width = 5.0
            top = max(60.0, float(np.ceil(age.max() / width) * width))
            e = np.arange(-top, width / 2, width)
            counts = np.histogram(-age, e)[0] / width
            self._rate_src.data = {**empty_hist(["rate"]), "left": e[:-1], "right": e[1:], "rate": counts,
                                   "rate_bottom": np.zeros_like(counts)}

    def _on_color(self, *_):
        if self._shown is not None:
            self._hits.data = sphere_data(self.display, self._shown, self.selection.color_by, self._mapper,
                                          colorbar=self._colorbar)

    def _on_pause(self, event):
        if event.new and not self.selection.event:  # pin the event on screen (and in the URL)
            self.selection.event = self.shown_address
        elif not event.new:
            self.selection.event = ""

    def __panel__(self):
        pn.state.onload(self._build_run_row)  # at once in a notebook; after the first paint when served
        caption = pn.pane.HTML("<div class='kd-caption'><b>Live event display.</b> The newest event as it arrives: hit PMTs on the sphere, its 28 time slices, proper hit times and classifier score; below, the current run filling up.</div>", sizing_mode="stretch_width")
        controls = pn.Row(self._pause, self._latest, pn.pane.Markdown("**colour by**", margin=(12, 5, 0, 20)),
                          self._color, sizing_mode="stretch_width")
        return pn.Column(caption, 
            controls, self._info_pane,
            pn.Row(pn.pane.Bokeh(self._sphere, sizing_mode="stretch_width"),
                   pn.Column(pn.pane.Bokeh(self._slice_fig, sizing_mode="stretch_width"), self._player,
                             sizing_mode="stretch_width"), sizing_mode="stretch_width"),
            self._run_row, sizing_mode="stretch_width")

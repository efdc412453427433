"""Attention view: which time slices KamNet looked at.

* the selected event's hits per time slice (its scintillation time profile) as bars
  coloured by the attention of that slice (the KamNet paper's Fig. 6 style);
* the attention over time slices of the newest N events (heatmap, one row per event);
* the mean attention per source from the shipped held-out results, signal against
  each background, for comparison.

Attention is ``A_t = sum_{c, theta, phi} a_t`` of :class:`kamcore.nn.AttentionConvLSTM`;
shown as the fraction ``A_t / sum_t A_t`` per event.
"""

from __future__ import annotations

import numpy as np
import panel as pn
import param
from bokeh.models import ColorBar, ColumnDataSource, HoverTool, LinearColorMapper, Range1d
from bokeh.palettes import Viridis256
from panel.viewable import Viewer

from ..plots import OKABE_ITO, _base
from ..selection import Selection

__all__ = ["AttentionView"]


def _fractions(att: np.ndarray) -> np.ndarray:
    att = np.asarray(att, np.float64)
    s = att.sum(axis=-1, keepdims=True)
    return np.divide(att, s, out=np.zeros_like(att), where=s > 0)


class AttentionView(Viewer):
    """The Attention page (importable: ``AttentionView(backend=..., selection=...)``)."""

    backend = param.Parameter(doc="dashboard.backend.Backend")
    selection = param.ClassSelector(class_=Selection, doc="Shared selection of the session.")
    n_events = param.Integer(default=50, bounds=(1, 1000), doc="Events in the heatmap.")
    shown_seq = param.Integer(default=0)

    def __init__(self, **params):
        from .common import EventDisplay

        params.setdefault("selection", Selection())
        super().__init__(**params)
        self.n_events = self.backend.config.heatmap_events if self.backend is not None else self.n_events
        self.display = EventDisplay()
        self._edges = self.display.slice_edges
        T = len(self._edges) - 1
        self._T = T
        centres = 0.5 * (self._edges[1:] + self._edges[:-1])
        # event profile: bars coloured by attention
        self._mapper = LinearColorMapper(palette=Viridis256, low=0.0, high=2.0 / T)
        self._bar_src = ColumnDataSource({"x": centres, "top": np.zeros(T), "att": np.zeros(T),
                                          "slice": np.arange(T)})
        p = _base("Event time profile, bars coloured by attention", height=320)
        p.vbar(x="x", top="top", width=float(np.diff(self._edges)[0]) * 0.92, source=self._bar_src,
               fill_color={"field": "att", "transform": self._mapper}, line_color=None)
        p.add_tools(HoverTool(tooltips=[("slice", "@slice"), ("t", "@x{0.0} ns"), ("hits", "@top"),
                                        ("attention", "@att{0.000}")]))
        p.add_layout(ColorBar(color_mapper=self._mapper, width=10,
                              title=f"attention (uniform {1 / T:.4f})"),
                     "right")
        p.xaxis.axis_label = "proper hit time (ns), one bar per time slice"
        p.yaxis.axis_label = "hits"
        self._bar_fig = p
        # heatmap of the newest events
        self._heat_mapper = LinearColorMapper(palette=Viridis256, low=0.0, high=2.0 / T)
        self._heat_src = ColumnDataSource({"image": [np.zeros((1, T))], "dh": [1]})
        h = _base("Attention of the newest events", height=320, x_range=Range1d(0, T), y_range=Range1d(0, 1))
        h.image("image", source=self._heat_src, x=0, y=0, dw=T, dh="dh", color_mapper=self._heat_mapper)
        h.add_layout(ColorBar(color_mapper=self._heat_mapper, width=10, title="attention fraction"), "right")
        h.xaxis.axis_label = "time slice"
        h.yaxis.axis_label = "event (newest on top)"
        self._heat_fig = h
        # class averages from the shipped results
        c = _base("Mean attention per source (shipped held-out results)", height=320)
        c.xaxis.axis_label = "time slice"
        c.yaxis.axis_label = f"mean attention fraction (uniform: 1/{T} = {1 / T:.4f})"
        self._class_fig = c
        self._class_note = pn.pane.HTML("", sizing_mode="stretch_width")
        self._draw_classes()
        self._info = pn.pane.HTML("", sizing_mode="stretch_width")
        self._heat_seq = 0

    def _draw_classes(self) -> None:
        res = self.backend.results() if self.backend is not None else None
        profiles = (res or {}).get("attention_by_source") or {}  # kamcore evaluate: source -> (T,) mean
        sig = (res or {}).get("signal")
        drawn = 0
        order = sorted(profiles, key=lambda k: (k != sig, k))  # the signal first, drawn thick
        for i, name in enumerate(order):
            frac = _fractions(np.asarray(profiles[name], np.float64))
            self._class_fig.line(np.arange(len(frac)) + 0.5, frac, line_width=3.5 if name == sig else 1.5,
                                 color=OKABE_ITO[i % len(OKABE_ITO)], legend_label=str(name),
                                 line_dash="solid" if name == sig or i < 4 else "dashed")
            drawn += 1
        self._class_drawn = bool(drawn)
        if drawn:
            self._class_fig.legend.label_text_font_size = "8pt"
            self._class_fig.legend.click_policy = "hide"
            self._class_fig.add_layout(self._class_fig.legend[0], "right")  # inside, it hid the last time slices
            self._class_note.object = (f"<small>From <code>{(res or {}).get('command', '')}</code>: held-out "
                                       "simulated events the model never saw.</small>")
        else:
            self._class_note.object = ("<small>No per-source attention in the shipped results of "
                                       f"<code>{self.backend.model['name'] if self.backend else '?'}</code>.</small>")

    def refresh(self) -> bool:
        if self.backend is None:
            return False
        b, sel = self.backend, self.selection
        if not b.has_attention:
            self._info.object = (
                f"<div class='alert alert-info'>The classifier <code>{b.model['name']}</code> "
                f"({b.model_meta.get('model')}) has no attention layer: the bars below show the event's time "
                "profile only. Serve with <code>KAMDASH_MODEL=kamnet_cpu</code> (the shipped KamNet) to see "
                "which time slices the network attends to.</div>")
        want = sel.event or None
        ev = b.buffer.event(want)
        changed = False
        if ev is not None and int(ev.seq[0]) != self.shown_seq:
            counts = self.display.event(ev, maps=False).slice_counts  # hits per time slice (kamcore.monitor)
            att = _fractions(ev.attention[0]) if ev.attention is not None else np.full(self._T, 1.0 / self._T)
            self._bar_src.data = {"x": self._bar_src.data["x"], "top": counts, "att": att,
                                  "slice": np.arange(self._T)}
            lo, hi = float(att.min()), float(att.max())  # stretch: learned attention may sit close to 1/T
            self._mapper.update(low=lo, high=hi if hi > lo else lo + 1e-6)
            self._bar_fig.title.text = (f"Event {int(ev.events.event_id[0])} of run {int(ev.events.run[0])} "
                                        f"(live #{int(ev.seq[0])}, score {float(ev.score[0]):.3f}): time profile "
                                        "coloured by attention")
            self.shown_seq = int(ev.seq[0])
            changed = True
        if b.buffer.seq != self._heat_seq and b.has_attention:
            recent = b.buffer.latest(self.n_events)
            if len(recent) and recent.attention is not None:
                img = _fractions(recent.attention)
                self._heat_src.data = {"image": [img], "dh": [len(img)]}
                self._heat_fig.y_range.end = len(img)
                lo, hi = (float(np.percentile(img, 1)), float(np.percentile(img, 99))) if img.size else (0.0, 1.0)
                self._heat_mapper.update(low=lo, high=hi if hi > lo else lo + 1e-6)
            self._heat_seq = b.buffer.seq
            changed = True
        return changed

    def __panel__(self):
        caption = pn.pane.HTML("<div class='kd-caption'><b>Attention per time slice.</b> Which of the 28 time slices the classifier attended to: the selected event, the newest events, and the shipped per-source averages.</div>", sizing_mode="stretch_width")
        return pn.Column(caption, self._info,
                         pn.Row(pn.pane.Bokeh(self._bar_fig, sizing_mode="stretch_width"),
                                pn.pane.Bokeh(self._heat_fig, sizing_mode="stretch_width"),
                                sizing_mode="stretch_width"),
                         *([pn.pane.Bokeh(self._class_fig, sizing_mode="stretch_width")] if self._class_drawn else []),
                         self._class_note,
                         sizing_mode="stretch_width")

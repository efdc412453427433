"""Attention view: which time slices KamNet looked at.

* the selected event's hits per time slice (its scintillation time profile) as bars
  coloured by the attention of that slice (the KamNet paper's Fig. 6 style);
* the attention over time slices of the newest N events (heatmap, one row per event);
* the mean attention per source from the shipped held-out results, signal against
  each background, for comparison;
* a model selector when the producer runs companion KamNets beside the fits' model
  (``KAMDASH_COMPANIONS``, e.g. the KamNet trained on C10 beside the Bi214 one, as the
  paper's Fig. 6 compares them): every picture then shows the chosen model's attention.

Attention is the per-slice score ``S(t)`` of :class:`kamcore.nn.AttentionConvLSTM`
(fractions summing to 1 per event).  Colours show it as a deviation from uniform on one
fixed scale, ``log2(T S(t))`` from -2 (a quarter of uniform) to +2 (four times), so two
events, or two models, are compared by eye.  The selected event is addressed by
``RUN:EVENT`` (:class:`~dashboard.selection.Selection`): once it has left the live buffer
it is read back from its run and score files (attention included).
"""

from __future__ import annotations

import numpy as np
import panel as pn
import param
from bokeh.models import ColorBar, ColumnDataSource, HoverTool, LinearColorMapper, Range1d
from bokeh.palettes import RdBu11
from panel.viewable import Viewer

from ..plots import OKABE_ITO, _base
from ..selection import Selection

__all__ = ["AttentionView"]


def _fractions(att: np.ndarray) -> np.ndarray:
    att = np.asarray(att, np.float64)
    s = att.sum(axis=-1, keepdims=True)
    return np.divide(att, s, out=np.zeros_like(att), where=s > 0)


#: colour scale of attention: log2 of the fraction over uniform, clipped to +-LOG2_RANGE
LOG2_RANGE = 2.0
#: blue (below uniform) -> white (uniform) -> red (above); Bokeh's RdBu11 runs from blue to red
PALETTE = tuple(RdBu11)


def _log2_ratio(frac: np.ndarray) -> np.ndarray:
    """``log2(T a_t)`` of attention fractions ``(..., T)``, clipped to +-:data:`LOG2_RANGE` (0 = uniform)."""
    frac = np.asarray(frac, np.float64)
    t = frac.shape[-1]
    with np.errstate(divide="ignore"):
        out = np.log2(np.maximum(frac * t, 2.0 ** -LOG2_RANGE))
    return np.clip(out, -LOG2_RANGE, LOG2_RANGE)


class AttentionView(Viewer):
    """The Attention page (importable: ``AttentionView(backend=..., selection=...)``)."""

    backend = param.Parameter(doc="dashboard.backend.Backend")
    selection = param.ClassSelector(class_=Selection, doc="Shared selection of the session.")
    n_events = param.Integer(default=50, bounds=(1, 1000), doc="Events in the heatmap.")
    shown_seq = param.Integer(default=0)
    shown_address = param.String(default="", doc="RUN:EVENT of the event drawn.")
    model = param.String(default="", doc="Name of the classifier whose attention is shown (default: the fits').")

    def __init__(self, **params):
        from .common import EventDisplay

        params.setdefault("selection", Selection())
        super().__init__(**params)
        self.n_events = self.backend.config.heatmap_events if self.backend is not None else self.n_events
        self.display = EventDisplay(getattr(self.backend, "input_config", None))
        self._edges = self.display.slice_edges
        T = len(self._edges) - 1
        self._T = T
        centres = 0.5 * (self._edges[1:] + self._edges[:-1])
        # event profile: bars coloured by attention
        self._mapper = LinearColorMapper(palette=PALETTE, low=-LOG2_RANGE, high=LOG2_RANGE)
        self._bar_src = ColumnDataSource({"x": centres, "top": np.zeros(T), "att": np.zeros(T),
                                          "ratio": np.zeros(T), "slice": np.arange(T)})
        p = _base("Event time profile, bars coloured by attention", height=320)
        p.vbar(x="x", top="top", width=float(np.diff(self._edges)[0]) * 0.92, source=self._bar_src,
               fill_color={"field": "ratio", "transform": self._mapper}, line_color="#bbbbbb", line_width=0.5)
        p.add_tools(HoverTool(tooltips=[("slice", "@slice"), ("t", "@x{0.0} ns"), ("hits", "@top"),
                                        ("attention", "@att{0.0000}"), ("log2 vs uniform", "@ratio{+0.00}")]))
        p.add_layout(ColorBar(color_mapper=self._mapper, width=10,
                              title=f"attention: log2(fraction / uniform 1/{T})"),
                     "right")
        p.xaxis.axis_label = "proper hit time (ns), one bar per time slice"
        p.yaxis.axis_label = "hits"
        self._bar_fig = p
        # heatmap of the newest events
        self._heat_mapper = LinearColorMapper(palette=PALETTE, low=-LOG2_RANGE, high=LOG2_RANGE)
        self._heat_src = ColumnDataSource({"image": [np.zeros((1, T))], "dh": [1]})
        h = _base("Attention of the newest events", height=320, x_range=Range1d(0, T), y_range=Range1d(0, 1))
        h.image("image", source=self._heat_src, x=0, y=0, dw=T, dh="dh", color_mapper=self._heat_mapper)
        h.add_layout(ColorBar(color_mapper=self._heat_mapper, width=10,
                              title=f"attention: log2(fraction / uniform 1/{T})"), "right")
        h.xaxis.axis_label = "time slice"
        h.yaxis.axis_label = "event (newest on top)"
        self._heat_fig = h
        # class averages from the shipped results
        self._models = self.backend.attention_models() if self.backend is not None else []
        if not self.model:
            self.model = self._models[0] if self._models else ""
        self._chooser = pn.widgets.RadioButtonGroup(name="attention of", options=self._models or [""],
                                                    value=self.model, button_type="primary",
                                                    visible=len(self._models) > 1)
        self._chooser.link(self, value="model")
        self._class_note = pn.pane.HTML("", sizing_mode="stretch_width")
        self._class_pane = pn.pane.Bokeh(sizing_mode="stretch_width")
        self._draw_classes()
        self._info = pn.pane.HTML("", sizing_mode="stretch_width")
        self._heat_seq = 0
        self.param.watch(self._on_model, "model")

    def _on_model(self, *_) -> None:
        """Another model chosen: its class profiles now, its event and heatmap at the next refresh."""
        self._draw_classes()
        self.shown_seq, self.shown_address, self._heat_seq = 0, "", -1
        self.refresh()

    def attention_of(self, ev) -> np.ndarray | None:
        """``(N, T)`` attention of live events ``ev`` under the chosen model (None: not stored for them)."""
        if self.backend is None or not self.model or self.model == self.backend.model["name"]:
            return ev.attention
        return (ev.companions.get(self.model) or (None, None))[1]

    def _draw_classes(self) -> None:
        T = self._T
        c = _base(f"Mean attention per source of {self.model or 'the model'} (shipped held-out results)",
                  height=320)
        c.xaxis.axis_label = "time slice"
        c.yaxis.axis_label = f"mean attention fraction (uniform: 1/{T} = {1 / T:.4f})"
        self._class_fig = c
        res = self.backend.results(self.model or None) if self.backend is not None else None
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
                                       f"<code>{self.model or '?'}</code>.</small>")
        self._class_pane.object = c
        self._class_pane.visible = self._class_drawn

    def _selected(self):
        """``(LiveEvents or None, where, note)`` of the selection: the newest event, a live sequence number
        (links of earlier versions), or ``RUN:EVENT`` from the buffer or the run's files."""
        from kamcore.errors import KamcoreError
        from kamcore.monitor import parse_event_address

        b, want = self.backend, (self.selection.event or "").strip()
        if not want:
            return b.buffer.event(None), "buffer", ""
        if want.isdigit():
            ev = b.buffer.event(int(want))
            return ev, "buffer", ("" if ev is not None else f"Live event #{want} is no longer in the live buffer; "
                                  "links now name the event as RUN:EVENT, which never expires.")
        try:
            addr = parse_event_address(want)
        except KamcoreError as exc:
            return None, "", str(exc)
        if want == self.shown_address:
            return None, "", ""  # drawn already; a run-file read is not repeated every tick
        ev, where = b.event(*addr)
        return (ev, where, "") if ev is not None else (None, "", f"Event {want} cannot be shown: {where}")

    def refresh(self) -> bool:
        import html

        from kamcore.monitor import format_event_address

        if self.backend is None:
            return False
        b = self.backend
        has_attention = bool(self._models)  # the fits' model or a companion is a KamNet
        if not has_attention:
            self._info.object = (
                f"<div class='alert alert-info'>The classifier <code>{b.model['name']}</code> "
                f"({b.model_meta.get('model')}) has no attention layer: the bars below show the event's time "
                "profile only. Serve with <code>KAMDASH_MODEL=kamnet_bi214</code> (a shipped KamNet), or add one "
                "with <code>KAMDASH_COMPANIONS</code>, to see which time slices a network attends to.</div>")
        ev, where, note = self._selected()
        if note:
            self._info.object = f"<div class='alert alert-warning'>{html.escape(note)}</div>"
        changed = False
        address = "" if ev is None else format_event_address(int(ev.events.run[0]), int(ev.events.event_id[0]))
        if ev is not None and (address != self.shown_address or int(ev.seq[0]) != self.shown_seq):
            counts = self.display.event(ev, maps=False).slice_counts  # hits per time slice (kamcore.monitor)
            ev_att = self.attention_of(ev)
            att = _fractions(ev_att[0]) if ev_att is not None else np.full(self._T, 1.0 / self._T)
            if ev_att is None and has_attention and not note:
                note = (f"No attention of {self.model} is stored for this event (read from the {where}; the "
                        "producer stores a companion model's attention in the live buffer only).")
                self._info.object = f"<div class='alert alert-warning'>{html.escape(note)}</div>"
            self._bar_src.data = {"x": self._bar_src.data["x"], "top": counts, "att": att,
                                  "ratio": _log2_ratio(att), "slice": np.arange(self._T)}
            src = "" if where == "buffer" else f", read from the {where}"
            self._bar_fig.title.text = (f"Event {address}{src}, score {float(ev.score[0]):.3f}: attention of "
                                        f"{self.model}")
            self.shown_seq, self.shown_address = int(ev.seq[0]), address
            if has_attention and not note:
                self._info.object = ""
            changed = True
        if b.buffer.seq != self._heat_seq and has_attention:
            recent = b.buffer.latest(self.n_events)
            rec_att = self.attention_of(recent) if len(recent) else None
            img = _log2_ratio(_fractions(rec_att)) if rec_att is not None else np.zeros((1, self._T))
            self._heat_src.data = {"image": [img], "dh": [len(img)]}  # none stored for them: blank (uniform)
            self._heat_fig.y_range.end = len(img)
            self._heat_seq = b.buffer.seq
            changed = True
        return changed

    def __panel__(self):
        caption = pn.pane.HTML(
            "<div class='kd-caption'><b>Attention per time slice.</b> Which of the 28 time slices the classifier "
            "attended to: the selected event, the newest events, and the shipped per-source averages. Red slices "
            "weigh more than uniform, blue less; look for live events whose rows differ from the model's "
            "per-source profile below, and, with several models, for the slices where their profiles part "
            "(the paper's Bi214 KamNet looks where the gamma cascade lands, its C10 KamNet at the rising edge "
            "and the last slice).</div>", sizing_mode="stretch_width")
        return pn.Column(caption, self._chooser, self._info,
                         pn.Row(pn.pane.Bokeh(self._bar_fig, sizing_mode="stretch_width"),
                                pn.pane.Bokeh(self._heat_fig, sizing_mode="stretch_width"),
                                sizing_mode="stretch_width"),
                         self._class_pane, self._class_note,
                         sizing_mode="stretch_width")

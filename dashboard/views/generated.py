"""Real vs generated view: a Monte Carlo event and a generated event side by side on the sphere, and
the hit-time, charge, NHIT and total-charge distributions of both samples overlaid with their
histogram IoU and normalised Wasserstein distance.  Samples, distributions and metrics are one
:class:`kamcore.metrics.SampleComparison` (:func:`kamcore.metrics.compare_generator`), computed once
per server and cached by :meth:`dashboard.backend.Backend.compare_sample`.
"""

from __future__ import annotations

import html

import numpy as np
import panel as pn
import param
from panel.viewable import Viewer

from ..plots import empty_hist, histogram_figure, sphere_figure
from ..selection import Selection
from .common import EventDisplay, sphere_data

__all__ = ["GeneratedView"]

OBSERVABLES = {"time": ("Hit time", "proper hit time (ns)"), "charge": ("Hit charge", "charge (p.e.)"),
               "nhit": ("NHIT", "hits per event"), "total_charge": ("Total charge", "p.e. per event"),
               # the event's position (kamcore.metrics.VERTEX_QUANTITIES): where a generator without a vertex fails
               "centroid_r": ("Charge-centroid radius", "|c| (cm)"), "centroid_z": ("Charge-centroid z", "z (cm)")}
#: quantities kamcore compares that are listed in the table only (none today)
TABLE_ONLY: dict = {}


class GeneratedView(Viewer):
    """The Real-vs-generated page (importable: ``GeneratedView(backend=..., selection=...)``)."""

    backend = param.Parameter(doc="dashboard.backend.Backend")
    selection = param.ClassSelector(class_=Selection, doc="Shared selection of the session.")
    event_index = param.Integer(default=0, bounds=(0, None), doc="Which event of each sample is drawn.")

    def __init__(self, **params):
        params.setdefault("selection", Selection())
        super().__init__(**params)
        d = self.display = EventDisplay()
        self._mc_fig, self._mc_src, self._mc_map = sphere_figure("Monte Carlo event (Xe136 0vbb)", d.pmt_x, d.pmt_y,
                                                                 d.outline, height=300)
        self._gen_fig, self._gen_src, self._gen_map = sphere_figure("Generated event", d.pmt_x, d.pmt_y, d.outline,
                                                                    height=300)
        self._hists = {k: histogram_figure(t, x, ["Monte Carlo", "generated"], height=260, y_label="fraction")
                       for k, (t, x) in OBSERVABLES.items()}
        self._model = pn.widgets.RadioButtonGroup.from_param(self.selection.param.generator, name="generator")
        self._new = pn.widgets.Button(name="New samples", button_type="primary", width=130)
        self._new.on_click(lambda e: setattr(self.selection, "seed", self.selection.seed + 1))
        self._next = pn.widgets.Button(name="Next event pair", width=140)
        self._next.on_click(lambda e: setattr(self, "event_index", self.event_index + 1))
        self._table = pn.pane.HTML("", sizing_mode="stretch_width")
        self._status = pn.pane.HTML("", sizing_mode="stretch_width")
        self._drawn = None
        self.selection.param.watch(lambda e: self.refresh(force=True), ["generator", "seed", "color_by"])
        self.param.watch(lambda e: self._draw_events(), "event_index")

    def refresh(self, force: bool = False) -> bool:
        """Draw the sample of the selected generator and seed (computed once per server, then cached)."""
        from kamcore.errors import KamcoreError

        key = (self.selection.generator, self.selection.seed)
        if key == self._drawn and not force:
            return False
        try:
            self._status.object = "<i>sampling ...</i>"
            s = self.backend.compare_sample(*key)
        except KamcoreError as exc:
            self._status.object = (f"<div class='alert alert-warning'>{html.escape(str(exc))}</div>")
            self._drawn = key
            return False
        self._sample = s
        self._drawn = key
        self._draw_events()
        hists = s.histograms(50)  # unit-normalised, on the Monte Carlo range (kamcore.metrics.SampleComparison)
        for k, (fig, src) in self._hists.items():
            if k not in hists:
                continue
            edges, ha, hb = hists[k]
            z = np.zeros(len(ha))
            src.data = {**empty_hist(["Monte Carlo", "generated"]), "left": edges[:-1], "right": edges[1:],
                        "Monte Carlo": ha, "Monte Carlo_bottom": z, "generated": hb, "generated_bottom": z}
            m = s.metrics[k]
            fig.title.text = f"{OBSERVABLES[k][0]}: IoU {m['iou']:.3f}, WD {m['wd']:.3f}"
        meta = s.generator
        names = {**{k: t for k, (t, _) in OBSERVABLES.items()}, **TABLE_ONLY}
        rows = "".join(f"<tr><td>{html.escape(names.get(k, k))}</td><td>{m['iou']:.3f}</td><td>{m['wd']:.3f}</td>"
                       "</tr>" for k, m in s.metrics.items())
        self._table.object = (
            "<table class='table table-sm' style='max-width:420px'><tr><th>observable</th><th>IoU</th>"
            f"<th>Wasserstein</th></tr>{rows}</table><small>{len(s.mc)} Monte Carlo vs {len(s.generated)} "
            f"generated events (seed {self.selection.seed}); generator "
            f"<code>{html.escape(str(meta.get('model', self.selection.generator)))}</code> "
            f"{html.escape(str(meta.get('preset', '')))}. IoU 1 and WD 0 = identical distributions.</small>")
        self._status.object = ""
        return True

    def _draw_events(self) -> None:
        s = getattr(self, "_sample", None)
        if s is None:
            return
        i = self.event_index % max(min(len(s.mc), len(s.generated)), 1)
        mc, gen = s.mc.take([i]), s.generated.take([i])
        # hit PMTs with their proper times (time of flight and T0 for the Monte Carlo): kamcore.monitor
        d = self.display
        self._mc_src.data = sphere_data(d, d.event(mc, maps=False), self.selection.color_by, self._mc_map)
        self._gen_src.data = sphere_data(d, d.event(gen, maps=False), self.selection.color_by, self._gen_map)
        self._mc_fig.title.text = f"Monte Carlo event {i} (Xe136 0vbb, {mc.n_hits} hits)"
        self._gen_fig.title.text = f"Generated event {i} ({self.selection.generator.upper()}, {gen.n_hits} hits)"

    def __panel__(self):
        caption = pn.pane.HTML("<div class='kd-caption'><b>Real vs generated events.</b> Monte Carlo against generator output: one event of each on the sphere, the four distributions the generative paper scores and the charge centroid's radius and z (the event's position), with IoU and Wasserstein distance.</div>", sizing_mode="stretch_width")
        return pn.Column(caption, 
            pn.Row(pn.pane.Markdown("**generator**", margin=(12, 5, 0, 5)), self._model, self._new, self._next,
                   self._status, sizing_mode="stretch_width"),
            pn.Row(pn.pane.Bokeh(self._mc_fig, sizing_mode="stretch_width"),
                   pn.pane.Bokeh(self._gen_fig, sizing_mode="stretch_width"), sizing_mode="stretch_width"),
            pn.GridBox(*[pn.pane.Bokeh(f, sizing_mode="stretch_width") for f, _ in self._hists.values()], ncols=2,
                       sizing_mode="stretch_width"),
            self._table, sizing_mode="stretch_width")

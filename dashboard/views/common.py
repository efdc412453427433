"""Pieces the views share: the event display geometry (computed once per process) and hit data for the
sphere figure.  The numbers come from :mod:`kamcore` (PMT table, Mollweide projection, hit maps)."""

from __future__ import annotations

import functools

import numpy as np

__all__ = ["EventDisplay", "sphere_data"]


class EventDisplay:
    """PMT positions on the Mollweide plane and the hit-map geometry (one instance per process)."""

    def __new__(cls):
        return _display()

    @classmethod
    def _build(cls) -> "EventDisplay":
        from kamcore.geometry import default_pmt_table, mollweide_outline, mollweide_xy
        from kamcore.preprocess import HitMapConfig, time_slice_edges

        self = object.__new__(cls)
        self.pmts = default_pmt_table()
        self.pmt_x, self.pmt_y = mollweide_xy(self.pmts.theta, self.pmts.phi)
        self.outline = mollweide_outline()
        self.config = HitMapConfig()
        self.n_slices = self.config.n_time_bins
        self.size = 2 * self.config.bandwidth
        self.slice_edges = time_slice_edges(self.config)
        return self

    def hitmap(self, ev) -> np.ndarray:
        """``(T, 2b, 2b)`` hit map of the single event of LiveEvents/Events ``ev`` (kamcore.preprocess)."""
        from kamcore.preprocess import hitmaps

        events = getattr(ev, "events", ev)
        return hitmaps(events.take([0]), self.pmts, self.config)[0]


@functools.lru_cache(maxsize=1)
def _display() -> EventDisplay:
    return EventDisplay._build()


def sphere_data(display: EventDisplay, ev, color_by: str, mapper, tau_ns: np.ndarray | None = None,
                colorbar=None) -> dict:
    """Columns of the sphere figure's hit source for the first event of ``ev`` and rescale ``mapper``
    (and retitle ``colorbar`` with the unit: proper time in ns, charge in p.e.).

    ``ev`` is LiveEvents (proper times in ``ev.tau_ns``) or Events with ``tau_ns`` given.
    """
    from bokeh.palettes import Cividis256, Viridis256

    events = getattr(ev, "events", ev)
    tau = ev.tau_ns if tau_ns is None else tau_ns
    n = int(events.hits_per_event[0])
    pmt = events.pmt[:n].astype(np.int64)
    t = np.asarray(tau[:n], np.float64)
    q = events.q_pe[:n].astype(np.float64)
    # a PMT hit several times: show its first hit time and its summed charge
    order = np.lexsort((t, pmt))
    pmt, t, q = pmt[order], t[order], q[order]
    first = np.r_[True, pmt[1:] != pmt[:-1]]
    qsum = np.add.reduceat(q, np.flatnonzero(first)) if len(q) else q
    pmt, t = pmt[first], t[first]
    if color_by == "charge":
        value = qsum
        palette, low, high = Cividis256, 0.0, max(2.0, float(np.percentile(value, 98)) if len(value) else 2.0)
    else:
        value = t
        palette, low, high = Viridis256, -10.0, 30.0
    if colorbar is not None:
        title = "charge (p.e.)" if color_by == "charge" else "proper time (ns)"
        if colorbar.title != title:
            colorbar.title = title
    if mapper.palette[0] != palette[0]:  # assigning a palette validates all 256 colours: only on a switch
        mapper.palette = palette
    if (mapper.low, mapper.high) != (low, high):
        mapper.update(low=low, high=high)
    return {"x": display.pmt_x[pmt], "y": display.pmt_y[pmt], "value": value, "pmt": pmt, "t": t, "q": qsum}

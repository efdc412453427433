"""Pieces the views share: the event display geometry (computed once per process) and the columns of the
sphere figure.  The numbers come from :mod:`kamcore` (PMT table and Mollweide projection from
:mod:`kamcore.geometry`, per-PMT hits, proper times and hit maps from :func:`kamcore.monitor.display_event`)."""

from __future__ import annotations

import threading

import numpy as np

__all__ = ["EventDisplay", "sphere_data", "flow", "session_user", "session_params"]


class EventDisplay:
    """PMT positions on the Mollweide plane and the hit-map geometry of a hit-map configuration (the
    served model's ``kamcore.models.checkpoint_info(...).input``; default: ``HitMapConfig()``), one
    instance per configuration and process."""

    def __new__(cls, config=None):
        key = None if config is None else config.to_json()
        with _DISPLAYS_LOCK:
            if key not in _DISPLAYS:
                _DISPLAYS[key] = cls._build(config)
            return _DISPLAYS[key]

    @classmethod
    def _build(cls, config=None) -> "EventDisplay":
        from kamcore.geometry import default_pmt_table, mollweide_outline, mollweide_xy
        from kamcore.monitor import display_grid

        self = object.__new__(cls)
        self.pmts = default_pmt_table()
        self.pmt_x, self.pmt_y = mollweide_xy(self.pmts.theta, self.pmts.phi)
        self.outline = mollweide_outline()
        self.grid = display_grid(config)
        self.config = self.grid.config
        self.n_slices = self.grid.n_slices
        self.size = self.grid.size
        self.slice_edges = self.grid.slice_edges_ns
        return self

    def event(self, ev, *, maps: bool = True):
        """:func:`kamcore.monitor.display_event` of the first event of LiveEvents/Events ``ev`` on this grid."""
        from kamcore.monitor import display_event

        return display_event(ev, pmts=self.pmts, config=self.config, maps=maps)

    def hitmap(self, ev) -> np.ndarray:
        """``(T, 2b, 2b)`` hit map (hits per cell) of the first event of LiveEvents/Events ``ev``."""
        return self.event(ev).maps


#: hit-map configuration (JSON; None: the default) -> its EventDisplay, shared by every session
_DISPLAYS: dict = {}
_DISPLAYS_LOCK = threading.Lock()


def sphere_data(display: EventDisplay, ev, color_by: str, mapper, colorbar=None) -> dict:
    """Columns of the sphere figure's hit source for a :class:`kamcore.monitor.DisplayEvent` ``ev`` (one marker
    per hit PMT: its first proper time and summed charge) and rescale ``mapper`` (and retitle ``colorbar``
    with the unit: proper time in ns, charge in p.e.); the palette is the theme's (:func:`dashboard.plots.hit_palette`)."""
    from ..plots import hit_palette

    if color_by == "charge":
        value = ev.q_pe
        palette, low, high = hit_palette("charge"), 0.0, max(2.0, float(np.percentile(value, 98)) if len(value) else 2.0)
    else:
        value = ev.t_first_ns
        palette, low, high = hit_palette("time"), -10.0, 30.0
    if colorbar is not None:
        title = "charge (p.e.)" if color_by == "charge" else "proper time (ns)"
        if colorbar.title != title:
            colorbar.title = title
    if mapper.palette[0] != palette[0]:  # assigning a palette validates all 256 colours: only on a switch
        mapper.palette = palette
    if (mapper.low, mapper.high) != (low, high):
        mapper.update(low=low, high=high)
    pmt = ev.pmt
    return {"x": display.pmt_x[pmt], "y": display.pmt_y[pmt], "value": value, "pmt": pmt, "t": ev.t_first_ns,
            "q": ev.q_pe}


def flow(*objects, basis: int = 420, gap: int = 0, **kw):
    """A responsive row (Bootstrap-like): ``objects`` side by side, each at least ``basis`` px wide and sharing
    the rest; when the page is narrower than that (a phone), they stack in one column."""
    import panel as pn

    for o in objects:
        o.styles = {**(o.styles or {}), "flex": f"1 1 {basis}px", "min-width": f"min({basis}px, 100%)"}
    return pn.FlexBox(*objects, flex_wrap="wrap", gap=f"{gap}px", sizing_mode="stretch_width", **kw)


def session_user() -> str:
    """The user of the served session (basic auth / OAuth), ``""`` outside a server or without auth."""
    import panel as pn

    return (pn.state.user or "") if pn.state.curdoc is not None else ""


def session_params(params: dict, user: str = "user") -> dict:
    """A view's ``params`` with the session's defaults filled in, for ``Viewer.__init__``.

    ``selection`` is a new :class:`~dashboard.selection.Selection` unless one is shared, and the param
    named by ``user`` (``"user"``, ``"author"``) is the signed-in user (:func:`session_user`) unless it
    is given or nobody is signed in (then it keeps its default).
    """
    from ..selection import Selection

    params.setdefault("selection", Selection())
    if user not in params and session_user():
        params[user] = session_user()
    return params

"""What every view of a session follows: one :class:`Selection`, kept in the URL.

The view, run and event live in the page's query string
(``?view=runs&run=17``, ``?view=live&event=17:123``), so a link pasted into the
e-log reopens the same view; :meth:`Selection.sync_url` ties them to
``pn.state.location``.  An event is addressed by ``RUN:EVENT`` (run number and
event id in the run), which stays valid after the event has left the live buffer.
"""

from __future__ import annotations

import param

__all__ = ["Selection", "VIEWS", "GROUPS", "TABS", "tab_of", "page_of"]

#: view key -> page title (every key is a valid ``?view=``)
VIEWS = {"shift": "Shift", "live": "Live", "health": "Health", "attention": "Attention", "runs": "Runs",
         "generated": "Real vs generated", "studies": "Studies"}
#: pages grouped under one tab (their own sub-tabs): key -> (tab title, its pages); ``?view=<key>`` opens
#: the group's first page
GROUPS = {"analysis": ("Analysis", ("generated", "studies"))}
#: the tab bar: tab key -> title (a page, or a group of pages)
TABS = {"shift": "Shift", "live": "Live", "health": "Health", "attention": "Attention", "runs": "Runs",
        "analysis": "Analysis"}


def tab_of(view: str) -> str:
    """The tab that shows page ``view`` (a group's key for a grouped page)."""
    return next((g for g, (_, pages) in GROUPS.items() if view in pages), view)


def page_of(view: str) -> str:
    """The page ``?view=`` opens: a group key opens the group's first page."""
    return GROUPS[view][1][0] if view in GROUPS else view


class Selection(param.Parameterized):
    """The shared selection of one browser session."""

    view = param.Selector(default="live", objects=[*VIEWS, *GROUPS], doc=(
        "Page shown; a group key (``analysis``) stands for its first page and is replaced by it."))
    run = param.Integer(default=0, bounds=(0, None), doc="Run of the Runs view (0: the latest).")
    event = param.Parameter(default="", doc=(
        "Event shown, 'RUN:EVENT' (run number : event id); empty: follow the newest (PINNED otherwise). "
        "An integer (a live sequence number, as earlier versions used) is kept as its digits; 0 is empty."))
    paused = param.Boolean(default=False, doc="Live updates stopped for this session.")
    color_by = param.Selector(default="time", objects=["time", "charge"], doc="Colour of the hit maps.")
    generator = param.Selector(default="vae", objects=["vae", "gan"], doc="Generator of the Real vs generated view.")
    seed = param.Integer(default=1, bounds=(0, None), doc="Seed of the Real vs generated samples.")

    def __init__(self, **params):
        if "event" in params:
            params["event"] = self._as_text(params["event"])
        if "view" in params:
            params["view"] = page_of(params["view"])
        super().__init__(**params)
        self.param.watch(self._coerce_event, "event")
        self.param.watch(self._coerce_view, "view")

    @staticmethod
    def _as_text(value) -> str:
        if value is None or isinstance(value, str):
            return value or ""
        return str(int(value)) if int(value) else ""

    def _coerce_view(self, event) -> None:
        if event.new in GROUPS:
            self.view = page_of(event.new)

    def _coerce_event(self, event) -> None:
        if not isinstance(event.new, str):
            self.event = self._as_text(event.new)

    def sync_url(self) -> None:
        """Keep view, run, event, colour, generator and seed in the URL (served sessions only)."""
        import panel as pn

        if pn.state.location is not None:
            pn.state.location.sync(self, {"view": "view", "run": "run", "event": "event", "color_by": "color",
                                          "generator": "gen", "seed": "seed"})

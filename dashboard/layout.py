"""The served page: a template with a header (current run, LIVE / PAUSED badge, time of the last update),
one tab per view, a light/dark switch, and the selection in the URL.

:func:`create_app` builds one session's page; ``dashboard/app.py`` serves it.
"""

from __future__ import annotations

import datetime as dt
import html

import panel as pn

from .plots import html_div
from .selection import VIEWS, Selection

__all__ = ["create_app", "SessionTicker"]

THEME_JS = """
const url = new URL(window.location.href);
const dark = (url.searchParams.get('theme') || 'default') === 'dark';
url.searchParams.set('theme', dark ? 'default' : 'dark');
window.location.href = url.toString();
"""


class SessionTicker:
    """The per-session refresh: every ``poll_s`` redraw the visible view when new data arrived."""

    def __init__(self, backend, selection: Selection, views: dict, header):
        """``header``: the Bokeh ``Div`` of the page header (its ``text`` is redrawn every tick)."""
        self.backend, self.selection, self.views, self.header = backend, selection, views, header
        self.last_update_ns = 0
        self.shown = (0, 0)  # (seq, wall_ns) of the live event on screen
        self._runs_tick = 0

    def tick(self) -> None:
        """Redraw what changed; all of one tick's model changes leave as one patch message."""
        from panel.io.document import hold

        with hold():
            self._tick()

    def _tick(self) -> None:
        sel = self.selection
        if not sel.paused:
            view = self.views.get(sel.view)
            if sel.view == "runs":
                self._runs_tick += 1
                if self._runs_tick % 4 == 0 and view.refresh():
                    self.last_update_ns = dt.datetime.now().timestamp() * 1e9
            elif sel.view != "generated" and view is not None and view.refresh():
                self.last_update_ns = dt.datetime.now().timestamp() * 1e9
            live = self.views.get("live")
            if live is not None:
                self.shown = (live.shown_seq, live.shown_wall_ns)
        self.draw_header()

    def draw_header(self) -> None:
        b, sel = self.backend, self.selection
        ev = b.buffer.event(None)
        run = int(ev.events.run[0]) if ev is not None else None
        if sel.paused:
            badge = "<span class='kd-badge kd-paused'>PAUSED</span>"
        elif b.buffer.error:
            badge = "<span class='kd-badge kd-stale'>NO DATA</span>"
        else:
            badge = "<span class='kd-badge kd-live'>LIVE</span>"
        when = "&mdash;"
        if ev is not None:
            when = dt.datetime.fromtimestamp(int(ev.wall_ns[0]) / 1e9).strftime("%H:%M:%S")
        seq, wall = self.shown
        self.header.text = (
            f"<div class='kd-head'>{badge}<span class='kd-run'>Run {run if run is not None else '&mdash;'}</span>"
            f"<span class='kd-time'>last event {when}</span>"
            f"<span class='kd-producer'>{html.escape(b.producer_state)}</span>"
            f"<span class='kd-shown' data-seq='{seq}' data-wall-ns='{wall}'></span></div>")


CSS = """
.kd-head {display:flex; gap:18px; align-items:center; color:white; font-size:1.05em; white-space:nowrap}
.kd-badge {padding:3px 10px; border-radius:4px; font-weight:bold; letter-spacing:0.05em}
.kd-live {background:#009E73; color:white}
.kd-paused {background:#E69F00; color:black}
.kd-stale {background:#D55E00; color:white}
.kd-run {font-weight:bold}
.kd-producer {opacity:0.75; font-size:0.85em}
"""


def create_app(backend=None, selection: Selection | None = None):
    """One session's page (a ``BootstrapTemplate``); ``backend`` defaults to the process-wide one.

    Views are built when first shown (a session that only watches the Live page never pays
    for the others); the template carries ``ticker``, ``views`` and ``selection`` for tests
    and notebooks.
    """
    from .backend import Backend
    from .views import AttentionView, GeneratedView, LiveView, RunsView, StudiesView

    pn.extension("tabulator", raw_css=[CSS], notifications=False)
    backend = backend or Backend.instance()
    selection = selection or Selection()
    selection.sync_url()
    factories = {"live": LiveView, "attention": AttentionView, "runs": RunsView, "generated": GeneratedView,
                 "studies": StudiesView}
    views: dict = {}
    keys = list(VIEWS)
    holders = {k: pn.Column(sizing_mode="stretch_width") for k in keys}

    def ensure(key: str):
        if key not in views:
            views[key] = factories[key](backend=backend, selection=selection)
            holders[key].objects = [views[key]]
        return views[key]

    tabs = pn.Tabs(*[(VIEWS[k], holders[k]) for k in keys], dynamic=False, sizing_mode="stretch_width")
    tabs.active = keys.index(selection.view)

    def on_tab(event):
        selection.view = keys[event.new]

    def on_view(event):
        tabs.active = keys.index(event.new)
        ensure(event.new).refresh()
    tabs.param.watch(on_tab, "active")
    selection.param.watch(on_view, "view")
    ensure("live")
    ensure(selection.view).refresh()
    header_pane, header = html_div("", CSS, margin=(0, 10))
    ticker = SessionTicker(backend, selection, views, header)
    theme = pn.widgets.Button(name="light / dark", button_type="light", width=110, margin=(8, 10))
    theme.js_on_click(code=THEME_JS)
    template = pn.template.BootstrapTemplate(
        title="KamDash · KamLAND-Zen shift monitor", header=[pn.Row(header_pane, theme, sizing_mode="stretch_width")],
        main=[tabs], header_background="#0b3c5d", theme=pn.config.theme,
        # Panel's busy spinner follows a process-wide flag: every tick of any session would
        # redraw the spinner of every session (O(sessions^2) patches); the badge says LIVE instead
        busy_indicator=None)
    ticker.tick()
    if pn.state.curdoc is not None and pn.state.curdoc.session_context is not None:
        cb = pn.state.add_periodic_callback(ticker.tick, period=int(backend.config.poll_s * 1000))
        pn.state.on_session_destroyed(lambda ctx: cb.stop())
    template.ticker = ticker
    template.views = views
    template.selection = selection
    template.ensure_view = ensure
    return template

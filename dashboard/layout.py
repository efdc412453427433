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

    def __init__(self, backend, selection: Selection, views: dict, header, banner=None):
        """``header``: the Bokeh ``Div`` of the page header (its ``text`` is redrawn every tick);
        ``banner``: the Div of the red banner above the tabs (PRODUCER DOWN, STALE)."""
        self.backend, self.selection, self.views, self.header, self.banner = backend, selection, views, header, banner
        self.last_update_ns = 0
        self.shown = (0, 0)  # (seq, wall_ns) of the live event on screen
        self.shown_address = ""
        self.alarm_since: int | None = None  # newest alarm id when the page opened
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
                self.shown_address = live.shown_address
        self.draw_header()

    def draw_header(self) -> None:
        from .status import STATE_CLASSES, format_age, session_state

        b, sel = self.backend, self.selection
        feed = b.status()
        state = session_state(feed, paused=sel.paused, pinned=bool((sel.event or "").strip()))
        ev = b.buffer.event(None)
        run = int(ev.events.run[0]) if ev is not None else None
        badge = f"<span class='kd-badge {STATE_CLASSES[state]}' data-state='{state}'>{state}</span>"
        when = "no event yet"
        if feed.last_wall_ns is not None:
            clock = dt.datetime.fromtimestamp(feed.last_wall_ns / 1e9).strftime("%H:%M:%S")
            when = f"last event {format_age(feed.age_s)} ago ({clock})"
        seq, wall = self.shown
        addr = html.escape(self.shown_address)
        alarms = [a for a in b.alarms() if a["status"] == "open"]
        newest = max((a["id"] for a in alarms), default=0)
        if self.alarm_since is None:  # alarms raised before this page opened do not ring (they are listed)
            self.alarm_since = max((a["id"] for a in b.alarms()), default=0)
        top = max(alarms, key=lambda a: a["id"]) if alarms else None
        alarm_badge = (
            f"<a class='kd-alarm-badge{' kd-alarm-on' if alarms else ''}' href='?view=shift' "
            f"data-open='{len(alarms)}' data-newest='{newest}' data-since='{self.alarm_since}' "
            f"data-text='{html.escape(top['text'] if top else '', quote=True)}'>"
            f"{len(alarms)} open alarm{'' if len(alarms) == 1 else 's'}</a>")
        text = (
            f"<div class='kd-head'>{badge}<span class='kd-run'>Run {run if run is not None else '&mdash;'}</span>"
            f"<span class='kd-time'>{when}</span>"
            f"<span class='kd-producer'>{html.escape(b.producer_state)}</span>{alarm_badge}"
            f"<span class='kd-shown' data-seq='{seq}' data-wall-ns='{wall}' data-event='{addr}' "
            f"data-state='{state}'></span></div>")
        if text != self.header.text:
            self.header.text = text
        banner = ""
        if feed.down is not None:
            since = dt.datetime.fromtimestamp(feed.down["since_ns"] / 1e9).strftime("%H:%M:%S")
            banner = (f"<div class='kd-banner' role='alert'><b>PRODUCER DOWN</b> since {since}: "
                      f"{html.escape(feed.detail)}. No new events are scored or stored until it is back; "
                      f"the last event was stored {format_age(feed.age_s)} ago.</div>")
        elif feed.state == "STALE":
            banner = (f"<div class='kd-banner kd-banner-stale' role='alert'><b>STALE</b>: no event for "
                      f"{format_age(feed.age_s)} (limit {b.stale_s():g} s); {html.escape(feed.detail)}.</div>")
        if self.banner is not None and banner != self.banner.text:
            self.banner.text = banner
            self.banner.visible = bool(banner)


CSS = """
.kd-head {display:flex; gap:18px; align-items:center; color:white; font-size:1.05em; white-space:nowrap}
.kd-badge {padding:3px 10px; border-radius:4px; font-weight:bold; letter-spacing:0.05em}
.kd-live {background:#009E73; color:white}
.kd-replay {background:#56B4E9; color:black}
.kd-paused {background:#E69F00; color:black}
.kd-pinned {background:#F0E442; color:black}
.kd-stale {background:#D55E00; color:white}
.kd-down {background:#B00020; color:white; animation: kd-blink 1s step-start infinite}
.kd-nodata {background:#777777; color:white}
@keyframes kd-blink {50% {opacity:0.55}}
.kd-run {font-weight:bold}
.kd-producer {opacity:0.75; font-size:0.85em}
.kd-alarm-badge {color:white; text-decoration:none; padding:2px 8px; border-radius:4px; border:1px solid #ffffff66}
.kd-alarm-on {background:#D55E00; font-weight:bold}
"""

#: runs in the browser when the header changes: a new alarm (newer than the page and than the last one
#: rung) gives a browser notification (when the crew allowed them) and a beep, unless muted (stored in
#: the browser's localStorage, so a mute survives a reload)
ALARM_JS = """
// tabs as an ARIA tab list (Bokeh draws them in shadow roots): roles and the selected tab, at most once a second
const nowMs = Date.now();
if (!window._kdAriaT || nowMs - window._kdAriaT > 1000) {
  window._kdAriaT = nowMs;
  const walk = (root) => {
    for (const el of root.querySelectorAll('*')) {
      if (el.classList && el.classList.contains('bk-header') && el.querySelector('.bk-tab')) {
        el.setAttribute('role', 'tablist');
        for (const t of el.querySelectorAll('.bk-tab')) {
          const on = t.classList.contains('bk-active');
          t.setAttribute('role', 'tab');
          t.setAttribute('aria-selected', on ? 'true' : 'false');
          t.tabIndex = on ? 0 : -1;
        }
      }
      if (el.shadowRoot) { walk(el.shadowRoot); }
    }
  };
  walk(document);
}
const isMuted = window.localStorage.getItem('kd-muted') === '1';
if (mute.label !== (isMuted ? 'muted' : 'sound on')) { mute.label = isMuted ? 'muted' : 'sound on'; }
const doc = new DOMParser().parseFromString(cb_obj.text, 'text/html');
const m = doc.querySelector('.kd-alarm-badge');
if (!m) { return; }
const newest = parseInt(m.dataset.newest || '0');
if (window._kdAlarmSeen === undefined) { window._kdAlarmSeen = parseInt(m.dataset.since || '0'); }
if (newest <= window._kdAlarmSeen) { return; }
window._kdAlarmSeen = newest;
if (window.localStorage.getItem('kd-muted') === '1') { return; }
const text = m.dataset.text || 'new alarm';
if ('Notification' in window && Notification.permission === 'granted') {
  try { new Notification('KamDash alarm', {body: text, tag: 'kamdash-' + newest}); } catch (e) {}
}
try {
  const Ctx = window.AudioContext || window.webkitAudioContext;
  const ctx = new Ctx();
  const osc = ctx.createOscillator(), gain = ctx.createGain();
  osc.type = 'square'; osc.frequency.value = 880; gain.gain.value = 0.15;
  osc.connect(gain); gain.connect(ctx.destination);
  osc.start(); osc.stop(ctx.currentTime + 0.5);
} catch (e) {}
"""

MUTE_JS = """
const muted = window.localStorage.getItem('kd-muted') === '1';
window.localStorage.setItem('kd-muted', muted ? '0' : '1');
cb_obj.label = muted ? 'sound on' : 'muted';
"""

NOTIFY_JS = """
if ('Notification' in window) { Notification.requestPermission(); }
"""


#: the tab bar stays at the top while a page scrolls
TABS_CSS = """
:host > .bk-header, .bk-header {position: sticky; top: 0; z-index: 50; background: var(--background-color, white)}
"""

BANNER_CSS = """
.kd-banner {background:#B00020; color:white; padding:8px 14px; border-radius:4px; font-size:1.1em}
.kd-banner-stale {background:#D55E00}
"""


def create_app(backend=None, selection: Selection | None = None):
    """One session's page (a ``BootstrapTemplate``); ``backend`` defaults to the process-wide one.

    Views are built when first shown (a session that only watches the Live page never pays
    for the others); the template carries ``ticker``, ``views`` and ``selection`` for tests
    and notebooks.
    """
    from .backend import Backend
    from .views import AttentionView, GeneratedView, HealthView, LiveView, RunsView, ShiftView, StudiesView

    pn.extension("tabulator", raw_css=[CSS], notifications=False)
    backend = backend or Backend.instance()
    selection = selection or Selection()
    selection.sync_url()
    factories = {"shift": ShiftView, "live": LiveView, "health": HealthView, "attention": AttentionView, "runs": RunsView, "generated": GeneratedView,
                 "studies": StudiesView}
    views: dict = {}
    keys = list(VIEWS)
    holders = {k: pn.Column(sizing_mode="stretch_width") for k in keys}

    def ensure(key: str):
        if key not in views:
            views[key] = factories[key](backend=backend, selection=selection)
        return views[key]

    def show(key: str):
        """Only the shown page is in the layout: a hidden page would set the height of every page."""
        ensure(key)
        for k, h in holders.items():
            want = [views[k]] if k == key else []
            if h.objects != want:
                h.objects = want

    tabs = pn.Tabs(*[(VIEWS[k], holders[k]) for k in keys], dynamic=False, sizing_mode="stretch_width",
                   stylesheets=[TABS_CSS])
    tabs.active = keys.index(selection.view)

    def on_tab(event):
        selection.view = keys[event.new]

    def on_view(event):
        from panel.io.document import hold

        with hold():  # the new page's models and their first data leave as one patch message
            tabs.active = keys.index(event.new)
            show(event.new)
            views[event.new].refresh()
    tabs.param.watch(on_tab, "active")
    selection.param.watch(on_view, "view")
    ensure("live")  # the header follows the live event on every page
    show(selection.view)
    views[selection.view].refresh()
    header_pane, header = html_div("", CSS, margin=(0, 10))
    banner_pane, banner = html_div("", BANNER_CSS, margin=(0, 0, 6, 0), visible=False)
    ticker = SessionTicker(backend, selection, views, header, banner)
    theme = pn.widgets.Button(name="light / dark", button_type="light", width=110, margin=(8, 10))
    theme.js_on_click(code=THEME_JS)
    from bokeh.models import Button as BokehButton, CustomJS

    mute_b = BokehButton(label="sound on", button_type="light", width=90, css_classes=["kd-mute"])
    mute_b.js_on_click(CustomJS(code=MUTE_JS))
    notify_b = BokehButton(label="notify me", button_type="light", width=90, css_classes=["kd-notify"])
    notify_b.js_on_click(CustomJS(code=NOTIFY_JS))
    header.js_on_change("text", CustomJS(code=ALARM_JS, args={"mute": mute_b}))
    mute, notify = (pn.pane.Bokeh(x, margin=(8, 4)) for x in (mute_b, notify_b))
    template = pn.template.BootstrapTemplate(
        title="KamDash · KamLAND-Zen shift monitor", header=[pn.Row(header_pane, mute, notify, theme, sizing_mode="stretch_width")],
        main=[banner_pane, tabs], header_background="#0b3c5d", theme=pn.config.theme,
        # Panel's busy spinner follows a process-wide flag: every tick of any session would
        # redraw the spinner of every session (O(sessions^2) patches); the badge says LIVE instead
        busy_indicator=None)
    ticker.tick()
    if pn.state.curdoc is not None and pn.state.curdoc.session_context is not None:
        def start_ticking():
            # only once the browser has rendered the page: a patch that arrives while the client is
            # still building the document refers to models it does not know yet ("reference p123
            # isn't known") and can leave a view half-drawn
            cb = pn.state.add_periodic_callback(ticker.tick, period=int(backend.config.poll_s * 1000))
            pn.state.on_session_destroyed(lambda ctx: cb.stop())

        pn.state.onload(start_ticking)
    template.ticker = ticker
    template.views = views
    template.selection = selection
    template.ensure_view = ensure
    return template

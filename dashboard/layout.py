"""The served page: a template with a header (current run, LIVE / PAUSED badge, time of the last update),
one tab per view (Real vs generated and Studies as sub-tabs of one Analysis tab), a light/dark switch, and
the selection in the URL.  The page is responsive: the header and the tab bar wrap on a phone, whose
browser lays the page out at its own width (the template's meta viewport).

:func:`create_app` builds one session's page; ``dashboard/app.py`` serves it.
"""

from __future__ import annotations

import datetime as dt
import html

import panel as pn

from .plots import html_div
from .selection import GROUPS, TABS, VIEWS, Selection, page_of, tab_of

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
            f"<div class='kd-head'><span class='kd-sub'>KamLAND-Zen shift monitor</span>{badge}<span class='kd-run'>Run {run if run is not None else '&mdash;'}</span>"
            f"<span class='kd-time'>{when}</span>"
            f"{alarm_badge}<span class='kd-producer' title='{html.escape(b.producer_state, quote=True)}'>"
            f"{html.escape(b.producer_state)}</span>"
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
.kd-head {display:flex; flex-wrap:wrap; column-gap:14px; row-gap:4px; align-items:center; color:white;
          font-size:1.05em; min-width:0}
.kd-head > * {white-space:nowrap}
.kd-sub {opacity:0.8}
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
.kd-producer {opacity:0.75; font-size:0.85em; flex:0 1 auto; min-width:0; overflow:hidden; text-overflow:ellipsis}
.kd-alarm-badge {color:white; text-decoration:none; padding:2px 8px; border-radius:4px; border:1px solid #ffffff66}
.kd-alarm-on {background:#D55E00; font-weight:bold}
@media (max-width: 1599px) {.kd-sub {display:none}}
@media (max-width: 700px) {.kd-head {font-size:1em; column-gap:10px} .kd-producer {display:none}}
"""

#: page-wide colours of the theme, as CSS variables (they reach into the components' shadow roots): links
#: and secondary text readable on the light and on the dark background
THEME_VARS = {
    "default": ":root, :host {--kd-link:#0a58ca; --kd-muted:#555555}",
    "dark": ":root, :host {--kd-link:#8ab4f8; --kd-muted:#b8b8b8}",
}
PAGE_CSS = """
a {color: var(--kd-link)}
#header .title {white-space:nowrap}
@media (max-width: 700px) {
  #header .app-header {flex:1 1 100%}
  #header .title {font-size:1.3em}
  #header-items {width:100%}
}
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


#: the tab bar stays at the top while a page scrolls, and wraps onto a second line on a phone
TABS_CSS = """
:host > .bk-header, .bk-header {position: sticky; top: 0; z-index: 50;
  background: var(--panel-background-color, var(--background-color, white))}
.bk-headers-wrapper {flex-wrap: wrap; overflow-x: hidden}
"""

#: the sub-tabs of a group (Analysis): not sticky (the tab bar above is), set off as a group
SUBTABS_CSS = """
.bk-header {border-left: 4px solid var(--kd-link); padding-left: 6px}
.bk-headers-wrapper {flex-wrap: wrap; overflow-x: hidden}
"""

BANNER_CSS = """
.kd-banner {background:#B00020; color:white; padding:8px 14px; border-radius:4px; font-size:1.1em}
.kd-banner-stale {background:#D55E00}
"""

GROUP_CAPTION = {
    "analysis": ("<div class='kd-caption kd-group' data-group='analysis'><b>Analysis</b> &middot; offline work, "
                 "not the live feed: generated events against the Monte Carlo, and the results of the KamNet paper's "
                 "studies on our models (kamcore study).</div>"),
}


def create_app(backend=None, selection: Selection | None = None):
    """One session's page (a ``BootstrapTemplate``); ``backend`` defaults to the process-wide one.

    Views are built when first shown (a session that only watches the Live page never pays
    for the others); the template carries ``ticker``, ``views`` and ``selection`` for tests
    and notebooks.
    """
    from .backend import Backend
    from .views import AttentionView, GeneratedView, HealthView, LiveView, RunsView, ShiftView, StudiesView

    dark = pn.config.theme == "dark"
    pn.extension("tabulator", raw_css=[THEME_VARS["dark" if dark else "default"], PAGE_CSS], notifications=False)
    backend = backend or Backend.instance()
    selection = selection or Selection()
    selection.sync_url()
    loc = pn.state.location
    if loc is not None:
        def name_the_page():  # ?view=analysis: the link names the page it opened
            if loc.query_params.get("view") in GROUPS and selection.view in VIEWS:
                loc.update_query(view=selection.view)
        pn.state.onload(name_the_page)
    factories = {"shift": ShiftView, "live": LiveView, "health": HealthView, "attention": AttentionView, "runs": RunsView, "generated": GeneratedView,
                 "studies": StudiesView}
    views: dict = {}
    holders = {k: pn.Column(sizing_mode="stretch_width") for k in VIEWS}

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

    # the tab bar: one tab per page, the grouped pages (Analysis) as sub-tabs of one tab
    tab_keys = list(TABS)
    subtabs = {g: pn.Tabs(*[(VIEWS[k], holders[k]) for k in pages], dynamic=False, sizing_mode="stretch_width",
                          stylesheets=[SUBTABS_CSS])
               for g, (_, pages) in GROUPS.items()}
    contents = {k: (pn.Column(pn.pane.HTML(GROUP_CAPTION.get(k, ""), sizing_mode="stretch_width", margin=(2, 5)),
                              subtabs[k], sizing_mode="stretch_width") if k in GROUPS else holders[k])
                for k in tab_keys}
    tabs = pn.Tabs(*[(TABS[k], contents[k]) for k in tab_keys], dynamic=False, sizing_mode="stretch_width",
                   stylesheets=[TABS_CSS])

    def place(page: str) -> None:
        """Select the tab (and sub-tab) of ``page``: the sub-tab first, so the tab's watcher finds it set."""
        tab = tab_of(page)
        if tab in GROUPS:
            subtabs[tab].active = GROUPS[tab][1].index(page)
        tabs.active = tab_keys.index(tab)

    place(page_of(selection.view))

    def on_tab(event):
        key = tab_keys[event.new]
        selection.view = GROUPS[key][1][subtabs[key].active] if key in GROUPS else key

    def on_subtab(group):
        def _on(event):
            if tab_keys[tabs.active] == group:
                selection.view = GROUPS[group][1][event.new]
        return _on

    def on_view(event):
        from panel.io.document import hold

        page = event.new
        if page not in VIEWS:  # a group key: Selection replaces it by the group's first page
            return
        with hold():  # the new page's models and their first data leave as one patch message
            place(page)
            show(page)
            views[page].refresh()
    tabs.param.watch(on_tab, "active")
    for g, st in subtabs.items():
        st.param.watch(on_subtab(g), "active")
    selection.param.watch(on_view, "view")
    ensure("live")  # the header follows the live event on every page
    show(selection.view)
    views[selection.view].refresh()
    header_pane, header = html_div("", CSS, margin=(0, 10))
    banner_pane, banner = html_div("", BANNER_CSS, margin=(0, 0, 6, 0), visible=False)
    ticker = SessionTicker(backend, selection, views, header, banner)
    from bokeh.models import Button as BokehButton, CustomJS

    theme_b = BokehButton(label="light / dark", button_type="light", width=96, css_classes=["kd-theme"])
    theme_b.js_on_click(CustomJS(code=THEME_JS))

    mute_b = BokehButton(label="sound on", button_type="light", width=84, css_classes=["kd-mute"])
    mute_b.js_on_click(CustomJS(code=MUTE_JS))
    notify_b = BokehButton(label="notify me", button_type="light", width=86, css_classes=["kd-notify"])
    notify_b.js_on_click(CustomJS(code=NOTIFY_JS))
    header.js_on_change("text", CustomJS(code=ALARM_JS, args={"mute": mute_b}))
    mute, notify, theme = (pn.pane.Bokeh(x, margin=(4, 4)) for x in (mute_b, notify_b, theme_b))
    # the header wraps: at 1280 px everything is on one line, on a phone the state, run and alarms come
    # first and the buttons on a line of their own
    header_pane.styles = {"flex": "1 1 420px", "min-width": "0"}
    buttons = pn.Row(mute, notify, theme, styles={"flex": "0 0 auto"}, margin=0)
    template = pn.template.BootstrapTemplate(
        title="KamDash", header=[pn.FlexBox(header_pane, buttons, flex_wrap="wrap", align_items="center",
                                            sizing_mode="stretch_width")],
        main=[banner_pane, tabs], header_background="#0b3c5d", theme=pn.config.theme,
        # a phone lays the page out at its own width (without it, it shrinks a 980 px desktop page)
        meta_viewport="width=device-width, initial-scale=1",
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

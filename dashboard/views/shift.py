"""Shift view: the one screen a shift crew watches (fits 1280x720): feed state, open alarms (acknowledge with
your own text), the event rate of the runs against wall-clock time, the last run's state, the open flags,
and the thresholds (changed by experts only, logged in the catalog).

The shift workflow sits here too, compact: the shifter signs in (the logged-in user when the server has
basic auth or OAuth, else a typed name), ticks the shift checklist (:data:`kamcore.catalog.SHIFT_CHECKLIST`)
and signs the shift off; all stored in the catalog with who and when.

Alarms are raised in :mod:`kamcore.monitor.alarms` (flags, periods; the feed state by the server's
poller) and stored in the catalog, so every session shows the same list, and an acknowledgement made
in one session clears the alarm in all of them at their next tick.
"""

from __future__ import annotations

import datetime as dt
import html

import panel as pn
import param
from panel.viewable import Viewer

from ..plots import error_html, html_div
from ..selection import Selection
from .common import flow, session_params

__all__ = ["ShiftView", "alarm_list_html"]

KIND_TEXT = {"flag": "FLAG", "period": "PERIOD", "stale": "STALE", "producer_down": "PRODUCER DOWN"}

CSS = """
.kd-alarms {list-style:none; padding:0; margin:0}
.kd-alarm {padding:4px 8px; margin:3px 0; border-left:6px solid #D55E00; background:rgba(213,94,0,0.08)}
.kd-alarm.kd-acked {border-left-color:#009E73; background:rgba(0,158,115,0.06); opacity:0.85}
.kd-alarm-kind {font-weight:bold; margin-right:6px}
.kd-alarm-ack {font-size:0.9em; color:var(--kd-muted, #555)}
.kd-alarm-box {max-height:170px; overflow-y:auto}
.kd-state {font-size:1.6em; font-weight:bold; padding:4px 12px; border-radius:6px; display:inline-block}
.kd-summary td {padding:1px 10px 1px 0; vertical-align:top}
"""

#: a row of form fields that wraps on a phone (Panel's Row is a flex box that does not)
WRAP_CSS = ":host {flex-wrap: wrap}"


def _hhmm(iso: str | None) -> str:
    if not iso:
        return ""
    t = dt.datetime.fromisoformat(iso)
    return t.astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def alarm_list_html(alarms: list[dict], *, acked_shown: int = 5) -> str:
    """The alarm list: open alarms (newest first), then the last ``acked_shown`` acknowledged ones."""
    open_ = [a for a in alarms if a["status"] == "open"]
    acked = [a for a in alarms if a["status"] != "open"][:acked_shown]
    items = []
    for a in open_:
        items.append(f"<li class='kd-alarm kd-open' data-alarm='{a['id']}'><span class='kd-alarm-kind'>"
                     f"{KIND_TEXT.get(a['kind'], a['kind'].upper())}</span> {html.escape(a['text'])} "
                     f"<small>(raised {_hhmm(a['raised_at'])})</small></li>")
    for a in acked:
        items.append(f"<li class='kd-alarm kd-acked' data-alarm='{a['id']}'><span class='kd-alarm-kind'>"
                     f"{KIND_TEXT.get(a['kind'], a['kind'].upper())}</span> {html.escape(a['text'])}<br>"
                     f"<span class='kd-alarm-ack'>acknowledged by <b>{html.escape(a['acked_by'] or '')}</b> "
                     f"{_hhmm(a['acked_at'])}: &ldquo;{html.escape(a['ack_text'] or '')}&rdquo;</span></li>")
    head = (f"<b class='kd-alarm-count' data-open='{len(open_)}'>{len(open_)} open alarm"
            f"{'' if len(open_) == 1 else 's'}</b>")
    if not items:
        return head + "<div><i>No alarm so far.</i></div>"
    box = ("<div class='kd-alarm-box' style='max-height:170px;overflow-y:auto'><ul class='kd-alarms' "
           "style='list-style:none;padding:0;margin:0'>")
    return head + box + "".join(items) + "</ul></div>"


class ShiftView(Viewer):
    """The Shift page (importable: ``ShiftView(backend=..., selection=...)``)."""

    backend = param.Parameter(doc="dashboard.backend.Backend")
    selection = param.ClassSelector(class_=Selection, doc="Shared selection of the session.")
    user = param.String(default="", doc="The logged-in user (basic auth), if any.")

    def __init__(self, **params):
        super().__init__(**session_params(params))
        self._alarms_pane, self._alarms = html_div("", CSS, min_height=60)
        self._status_pane, self._status = html_div("", CSS, min_height=40)
        self._summary_pane, self._summary = html_div("", CSS, min_height=40)
        from bokeh.models import ColumnDataSource, HoverTool

        from ..plots import _base

        self._rate_src = ColumnDataSource({"t": [], "rate": [], "run": [], "color": []})
        f = _base("Event rate per run (wall clock, UTC)", height=180, x_axis_type="datetime")
        f.line("t", "rate", source=self._rate_src, color="#888888")
        r = f.scatter("t", "rate", source=self._rate_src, size=6, color="color")
        f.add_tools(HoverTool(renderers=[r], tooltips=[("run", "@run"), ("events / s", "@rate{0.00}")],
                              formatters={"@t": "datetime"}))
        f.yaxis.axis_label = "events / s"
        self._rate_fig = f
        self._status_sig = self._runs_sig = None
        self._ack_select = pn.widgets.Select(name="Alarm to acknowledge", options={}, sizing_mode="stretch_width")
        self._ack_name = pn.widgets.TextInput(name="Your name", value=self.user, placeholder="who acknowledges",
                                              width=180)
        self._ack_text = pn.widgets.TextInput(name="Acknowledgement", placeholder="what you checked or did",
                                              sizing_mode="stretch_width")
        self._ack = pn.widgets.Button(name="Acknowledge", button_type="warning", width=130, align="end")
        self._ack.on_click(self._on_ack)
        self._ack_msg = pn.pane.HTML("", sizing_mode="stretch_width")
        # thresholds (experts only)
        from kamcore.catalog import SETTINGS

        self._th = {}
        for key, (_, lo, hi, what) in SETTINGS.items():
            self._th[key] = pn.widgets.FloatInput(name=f"{key}: {what}", start=lo, end=hi, width=300,
                                                  css_classes=["kd-th-" + key.replace(".", "-")])
        self._save = pn.widgets.Button(name="Save thresholds", button_type="primary", width=150)
        self._save.on_click(self._on_save)
        self._th_msg = pn.pane.HTML("", sizing_mode="stretch_width")
        self._th_log = pn.pane.HTML("", sizing_mode="stretch_width")
        self._alarm_sig = None
        self._th_sig = None
        # shift workflow: sign-in, checklist, sign-off
        from kamcore.catalog import SHIFT_CHECKLIST

        self._shift_pane, self._shift_line = html_div("", CSS, min_height=20)
        self._shifter = pn.widgets.TextInput(name="Shifter", value=self.user, placeholder="your name", width=170,
                                             disabled=bool(self.user))
        self._sign_in = pn.widgets.Button(name="Sign in", button_type="primary", width=90, align="end")
        self._sign_in.on_click(self._on_sign_in)
        self._checks = {}
        for key, text in SHIFT_CHECKLIST:
            cb = pn.widgets.Checkbox(name=text, value=False, css_classes=["kd-check-" + key], disabled=True)
            cb.param.watch(lambda e, key=key: self._on_check(key, e.new), "value")
            self._checks[key] = cb
        self._off_comment = pn.widgets.TextInput(name="Sign-off comment", placeholder="hand-over notes",
                                                 sizing_mode="stretch_width")
        self._sign_off = pn.widgets.Button(name="Sign off the shift", button_type="warning", width=150, align="end")
        self._sign_off.on_click(self._on_sign_off)
        self._shift_msg = pn.pane.HTML("", sizing_mode="stretch_width")
        self._shift_sig = None
        self._setting_checks = False

    # ---------------------------------------------------------------- data
    def _current_thresholds(self) -> dict:
        b = self.backend
        st = b.settings()
        from kamcore.fit import FlagConfig

        defaults = {"stale_s": float(b.config.stale_s), "flag.n_sigma": FlagConfig().n_sigma,
                    "flag.min_pvalue": FlagConfig().min_pvalue}
        return {k: float(st[k]["value"]) if k in st else v for k, v in defaults.items()}

    def refresh(self) -> bool:
        """Redraw status, alarms, run trend, thresholds and the shift when they changed; True when redrawn."""
        changed = self._draw_status()
        changed = self._draw_runs() or changed
        changed = self._draw_shift() or changed
        return self._draw_alarms() or changed

    def _draw_shift(self) -> bool:
        from kamcore.catalog import SHIFT_CHECKLIST

        sh = self.backend.current_shift()
        sig = None if sh is None else (sh["id"], tuple(sorted(sh["checks"])))
        if sig == self._shift_sig and self._shift_line.text:
            return False
        self._shift_sig = sig
        if sh is None:
            self._shift_line.text = ("<span class='kd-shift' data-shift=''><b>Shift</b>: nobody signed in "
                                     "&middot; sign in below</span>")
        else:
            n = len(sh["checks"])
            self._shift_line.text = (
                f"<span class='kd-shift' data-shift='{sh['id']}' data-shifter='{html.escape(sh['shifter'], quote=True)}'>"
                f"<b>Shift</b> #{sh['id']}: <b>{html.escape(sh['shifter'])}</b> since {_hhmm(sh['signed_in_at'])[11:16]}"
                f" UTC &middot; checklist {n}/{len(SHIFT_CHECKLIST)}</span>")
        self._setting_checks = True
        try:
            for key, cb in self._checks.items():
                done = sh is not None and key in sh["checks"]
                cb.value = done
                cb.disabled = sh is None
                c = sh["checks"][key] if done else None
                cb.name = dict(SHIFT_CHECKLIST)[key] + (f" ({c['by']}, {_hhmm(c['at'])[11:16]})" if c else "")
        finally:
            self._setting_checks = False
        self._sign_off.disabled = sh is None
        return True

    def _name(self, widget) -> str:
        return (self.user or widget.value_input or widget.value or "").strip()

    def _on_sign_in(self, event=None) -> None:
        from kamcore.errors import KamcoreError

        try:
            sid = self.backend.start_shift(self._name(self._shifter))
        except KamcoreError as exc:
            self._shift_msg.object = error_html(exc)
            return
        self._shift_msg.object = f"Signed in: shift #{sid}."
        self._shift_sig = None

    def _on_check(self, key: str, value: bool) -> None:
        from kamcore.errors import KamcoreError

        if self._setting_checks:
            return
        sh = self.backend.current_shift()
        try:
            if sh is None:
                raise KamcoreError("sign in first")
            self.backend.check_item(sh["id"], key, by=self._name(self._shifter) or sh["shifter"], checked=value)
            self._shift_msg.object = ""  # an earlier refusal no longer applies
        except KamcoreError as exc:
            self._shift_msg.object = error_html(exc)
        self._shift_sig = None

    def _on_sign_off(self, event=None) -> None:
        from kamcore.errors import KamcoreError

        sh = self.backend.current_shift()
        comment = (self._off_comment.value_input or self._off_comment.value or "").strip() or None
        try:
            if sh is None:
                raise KamcoreError("nobody is signed in")
            self.backend.sign_off_shift(sh["id"], by=self._name(self._shifter) or sh["shifter"], comment=comment)
        except KamcoreError as exc:
            self._shift_msg.object = error_html(exc)
            return
        self._shift_msg.object = f"Shift #{sh['id']} signed off."
        self._off_comment.param.update(value="", value_input="")
        self._shift_sig = None

    def _draw_status(self) -> bool:
        from ..status import STATE_CLASSES, format_age, session_state

        b, sel = self.backend, self.selection
        feed = b.status()
        state = session_state(feed, paused=sel.paused, pinned=bool((sel.event or "").strip()))
        colours = {"kd-live": "#009E73", "kd-replay": "#56B4E9", "kd-paused": "#E69F00", "kd-pinned": "#F0E442",
                   "kd-stale": "#D55E00", "kd-down": "#B00020", "kd-nodata": "#777777"}
        fg = "black" if state in ("PAUSED", "PINNED", "REPLAYING HISTORY") else "white"
        text = (f"<span class='kd-state' style='background:{colours[STATE_CLASSES[state]]};color:{fg}'>{state}</span> "
                f"&nbsp;last event {format_age(feed.age_s)} ago &middot; STALE after {b.stale_s():g} s &middot; "
                f"<small>{html.escape(feed.detail)}</small>")
        if text == self._status_sig:
            return False
        self._status_sig = text
        self._status.text = text
        return True

    def _draw_runs(self) -> bool:
        from kamcore.catalog import acked_runs, run_state

        from .runs import STATE_COLOURS

        runs = self.backend.runs()
        alarms = self.backend.alarms()
        acked = acked_runs(alarms)
        sig = (len(runs), max((r["updated_at"] or "" for r in runs), default=None), tuple(sorted(acked)))
        if sig == self._runs_sig:
            return False
        self._runs_sig = sig
        done = [r for r in runs if r.get("start_ns") and r.get("stop_ns") and r.get("livetime_s")
                and r.get("status") == "ok"][-100:]
        self._rate_src.data = {
            "t": [(r["start_ns"] + r["stop_ns"]) / 2e6 for r in done],
            "rate": [(r["n_events"] or 0) / r["livetime_s"] for r in done], "run": [r["run"] for r in done],
            "color": [STATE_COLOURS[run_state(r, r["run"] in acked)] for r in done]}
        last = runs[-1] if runs else None
        if last is None:
            self._summary.text = "<i>No run in the catalog yet.</i>"
            return True
        st = run_state(last, last["run"] in acked)
        fit = last.get("fit") or {}
        f = fit.get("bkg_fraction")
        fs = "n/a" if f is None else f"{f:.3f} &plusmn; {fit.get('bkg_fraction_err') or 0:.3f}"
        from .runs import _utc

        open_flags = sorted({a["run"] for a in alarms if a["status"] == "open" and a["kind"] == "flag"})
        flags_txt = (", ".join(f"<a href='?view=runs&amp;run={r}'>run {r}</a>" for r in open_flags[-12:])
                     if open_flags else "none")
        self._summary.text = (
            "<table class='kd-summary'>"
            f"<tr><td><b>Last run</b></td><td><a href='?view=runs&amp;run={last['run']}'>run {last['run']}</a> "
            f"<span style='background:{STATE_COLOURS[st]};color:white;padding:1px 6px;border-radius:3px'>"
            f"{html.escape(st.upper())}</span> f_bkg {fs}, {last.get('n_events')} events, "
            f"{_utc(last.get('start_ns'))} &ndash; {_utc(last.get('stop_ns'))[11:]} UTC, live time "
            f"{last.get('livetime_s') or 0:.0f} s</td></tr>"
            f"<tr><td><b>Open flags</b></td><td class='kd-open-flags'>{flags_txt}</td></tr></table>")
        return True

    def _draw_alarms(self) -> bool:
        alarms = self.backend.alarms()
        sig = tuple((a["id"], a["status"]) for a in alarms)
        changed = False
        if sig != self._alarm_sig:
            self._alarm_sig = sig
            self._alarms.text = alarm_list_html(alarms)
            opts = {f"#{a['id']} {a['text'][:90]}": a["id"] for a in alarms if a["status"] == "open"}
            self._ack_select.options = opts
            if opts and self._ack_select.value not in opts.values():
                self._ack_select.value = next(iter(opts.values()))
            changed = True
        th_sig = (tuple(sorted((k, v["value"]) for k, v in self.backend.settings().items())),
                  len(self.backend.settings_log()))
        if th_sig != self._th_sig:
            self._th_sig = th_sig
            self._draw_thresholds()
            changed = True
        return changed

    def _draw_thresholds(self) -> None:
        b = self.backend
        expert = bool(self.user) and self.user in b.experts()
        for k, v in self._current_thresholds().items():
            self._th[k].value = v
            self._th[k].disabled = not expert
        self._save.disabled = not expert
        who = (f"You are <b>{html.escape(self.user)}</b>, an expert: you may change them."
               if expert else "Only experts (<code>KAMDASH_EXPERTS</code>, logged in with basic auth) may change "
                              "them" + (f"; you are {html.escape(self.user)}." if self.user else "."))
        self._th_msg.object = f"<small>{who}</small>"
        log = b.settings_log()[:8]
        rows = "".join(f"<li>{_hhmm(x['at'])}: <b>{html.escape(x['key'])}</b> {x['old']} &rarr; {x['value']} by "
                       f"{html.escape(x['by'])}</li>" for x in log)
        self._th_log.object = f"<small><b>Changes</b><ul>{rows}</ul></small>" if rows else ""

    # ------------------------------------------------------------- actions
    def _on_ack(self, event=None) -> None:
        from kamcore.errors import KamcoreError

        text = (self._ack_text.value_input if self._ack_text.value_input is not None else self._ack_text.value) or ""
        name = (self._ack_name.value_input if self._ack_name.value_input is not None else self._ack_name.value) or ""
        try:
            if self._ack_select.value is None:
                raise KamcoreError("no open alarm to acknowledge")
            done = self.backend.ack_alarms([int(self._ack_select.value)], by=name.strip(), text=text.strip())
        except KamcoreError as exc:
            self._ack_msg.object = error_html(exc)
            return
        self._ack_msg.object = f"Acknowledged alarm {', '.join(f'#{i}' for i in done)}."
        self._ack_text.param.update(value="", value_input="")  # value_input too: the next entry starts empty
        self._alarm_sig = None  # redrawn by the session tick (Bokeh models change only under the document lock)

    def _on_save(self, event=None) -> None:
        from kamcore.errors import KamcoreError

        cur = self._current_thresholds()
        try:
            for k, w in self._th.items():
                if w.value is not None and float(w.value) != cur[k]:
                    self.backend.set_setting(k, w.value, user=self.user)
        except KamcoreError as exc:
            self._th_msg.object = error_html(exc)
            return
        self._th_sig = None  # redrawn by the session tick

    def __panel__(self):
        caption = pn.pane.HTML("<div class='kd-caption'><b>Shift.</b> Feed state, open alarms and what was "
                               "acknowledged, event rate per run, the last run and the open flags.</div>",
                               sizing_mode="stretch_width", margin=(0, 5))
        ack = pn.Column(self._ack_select, flow(self._ack_name, self._ack_text, basis=170),
                        pn.Row(self._ack, self._ack_msg, sizing_mode="stretch_width"), sizing_mode="stretch_width")
        thresholds = pn.Card(*self._th.values(), self._save, self._th_msg, self._th_log, title="Alarm thresholds",
                             collapsed=True, sizing_mode="stretch_width")
        shift = pn.Card(pn.Row(self._shifter, self._sign_in), *self._checks.values(),
                        pn.Row(self._off_comment, self._sign_off, sizing_mode="stretch_width",
                               stylesheets=[WRAP_CSS]), self._shift_msg,
                        title="Shift sign-in, checklist and sign-off", collapsed=True, sizing_mode="stretch_width",
                        css_classes=["kd-shift-card"])
        left = pn.Column(self._alarms_pane, self._summary_pane, ack, sizing_mode="stretch_width")
        right = pn.Column(pn.pane.Bokeh(self._rate_fig, sizing_mode="stretch_width"), self._shift_pane, shift,
                          thresholds, sizing_mode="stretch_width")
        # side by side from ~860 px, one column on a phone: state, alarms, the last run and the open flags,
        # the acknowledge form, then the rate trend, the shift and the thresholds
        return pn.Column(caption, self._status_pane, flow(left, right, basis=420), sizing_mode="stretch_width")

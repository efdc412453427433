"""Shift view: the one screen a shift crew watches: feed state, open alarms (acknowledge with your own
text), the thresholds (changed by experts only, logged in the catalog).

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

from ..plots import OKABE_ITO, html_div
from ..selection import Selection

__all__ = ["ShiftView", "alarm_list_html"]

KIND_TEXT = {"flag": "FLAG", "period": "PERIOD", "stale": "STALE", "producer_down": "PRODUCER DOWN"}

CSS = """
.kd-alarms {list-style:none; padding:0; margin:0}
.kd-alarm {padding:4px 8px; margin:3px 0; border-left:6px solid #D55E00; background:rgba(213,94,0,0.08)}
.kd-alarm.kd-acked {border-left-color:#009E73; background:rgba(0,158,115,0.06); opacity:0.85}
.kd-alarm-kind {font-weight:bold; margin-right:6px}
.kd-alarm-ack {font-size:0.9em; color:#555}
"""


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
                     f"{KIND_TEXT.get(a['kind'], a['kind'].upper())}</span>{html.escape(a['text'])} "
                     f"<small>(raised {_hhmm(a['raised_at'])})</small></li>")
    for a in acked:
        items.append(f"<li class='kd-alarm kd-acked' data-alarm='{a['id']}'><span class='kd-alarm-kind'>"
                     f"{KIND_TEXT.get(a['kind'], a['kind'].upper())}</span>{html.escape(a['text'])}<br>"
                     f"<span class='kd-alarm-ack'>acknowledged by <b>{html.escape(a['acked_by'] or '')}</b> "
                     f"{_hhmm(a['acked_at'])}: &ldquo;{html.escape(a['ack_text'] or '')}&rdquo;</span></li>")
    head = (f"<b class='kd-alarm-count' data-open='{len(open_)}'>{len(open_)} open alarm"
            f"{'' if len(open_) == 1 else 's'}</b>")
    if not items:
        return head + "<div><i>No alarm so far.</i></div>"
    return head + "<ul class='kd-alarms'>" + "".join(items) + "</ul>"


class ShiftView(Viewer):
    """The Shift page (importable: ``ShiftView(backend=..., selection=...)``)."""

    backend = param.Parameter(doc="dashboard.backend.Backend")
    selection = param.ClassSelector(class_=Selection, doc="Shared selection of the session.")
    user = param.String(default="", doc="The logged-in user (basic auth), if any.")

    def __init__(self, **params):
        params.setdefault("selection", Selection())
        if "user" not in params:
            params["user"] = (pn.state.user or "") if pn.state.curdoc is not None else ""
        super().__init__(**params)
        self._alarms_pane, self._alarms = html_div("", CSS, min_height=80)
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

    # ---------------------------------------------------------------- data
    def _current_thresholds(self) -> dict:
        b = self.backend
        st = b.settings()
        from kamcore.fit import FlagConfig

        defaults = {"stale_s": float(b.config.stale_s), "flag.n_sigma": FlagConfig().n_sigma,
                    "flag.min_pvalue": FlagConfig().min_pvalue}
        return {k: float(st[k]["value"]) if k in st else v for k, v in defaults.items()}

    def refresh(self) -> bool:
        """Redraw the alarm list and thresholds when the catalog changed; True when redrawn."""
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
            self._ack_msg.object = f"<span style='color:{OKABE_ITO[5]}'>{html.escape(str(exc))}</span>"
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
            self._th_msg.object = f"<span style='color:{OKABE_ITO[5]}'>{html.escape(str(exc))}</span>"
            return
        self._th_sig = None  # redrawn by the session tick

    def __panel__(self):
        caption = pn.pane.HTML("<div class='kd-caption'><b>Shift.</b> Feed state, open alarms and what was "
                               "acknowledged, the alarm thresholds.</div>", sizing_mode="stretch_width")
        ack = pn.Column(self._ack_select, pn.Row(self._ack_name, self._ack_text, self._ack,
                                                 sizing_mode="stretch_width"),
                        self._ack_msg, sizing_mode="stretch_width")
        thresholds = pn.Column(pn.pane.Markdown("**Alarm thresholds**"), *self._th.values(), self._save,
                               self._th_msg, self._th_log, width=340)
        return pn.Column(caption, pn.Row(pn.Column(self._alarms_pane, ack, sizing_mode="stretch_width"),
                                         thresholds, sizing_mode="stretch_width"), sizing_mode="stretch_width")

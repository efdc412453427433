"""Alarms in a real browser (issue 19, part 2): a flagged run raises an alarm in two sessions at once,
acknowledging it in one clears it in both, stores the acknowledgement's own text and turns the run
"acknowledged" on the Runs page; a new alarm rings (browser notification + sound) unless muted; only an
expert (basic auth) may change the thresholds, and the change is logged in the catalog."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

from .conftest import serve, stop
from waiting import wait_for

pytestmark = [pytest.mark.browser, pytest.mark.timeout(600)]

#: records notifications and beeps instead of showing / playing them
RECORD_JS = """
window._kdNotes = [];
window._kdBeeps = 0;
class FakeNotification { constructor(title, opts) { window._kdNotes.push((opts || {}).body || title); } }
FakeNotification.permission = 'granted';
FakeNotification.requestPermission = () => Promise.resolve('granted');
window.Notification = FakeNotification;
class FakeAudio {
  constructor() { this.currentTime = 0; this.destination = {}; }
  createOscillator() { return {frequency: {}, connect() {}, start() { window._kdBeeps += 1; }, stop() {}}; }
  createGain() { return {gain: {}, connect() {}}; }
}
window.AudioContext = FakeAudio;
"""


def seed_catalog(url: str) -> int:
    """Eight fitted runs, run 7 with four times the background: flagged by the real fit and flags."""
    from dashboard.config import DashboardConfig
    from kamcore.catalog import Catalog
    from kamcore.fit import FlagConfig, Templates, fit_run, model_identity
    from kamcore.monitor import flag_stored_sequence

    cfg = DashboardConfig(model="cnn_cpu")
    templates = Templates.load(cfg.templates_path())
    ident = model_identity(cfg.model_path())
    fit_cfg = templates.fit_config(components=["Xe136_2vbb", "Bi214"], background=["Bi214"], constraints={})
    cat = Catalog(url)
    rng = np.random.default_rng(7)
    edges = templates.edges

    def sample(comp, n):
        p = templates.counts[comp] / templates.counts[comp].sum()
        k = rng.choice(len(p), n, p=p)
        return edges[k] + rng.random(n) * (edges[k + 1] - edges[k])

    t0 = time.time_ns() - 9 * 110 * 10**9
    for r in range(1, 9):
        n_sig, n_bkg = (100, 900) if r == 7 else (320, 80)
        scores = np.concatenate([sample("Xe136_2vbb", n_sig), sample("Bi214", n_bkg)])
        res = fit_run(scores, templates, fit_cfg, run=r)
        start = t0 + (r - 1) * 110 * 10**9
        cat.store_run_fit(r, res, run_fields={"path": f"/nowhere/run_{r:06d}.parquet", "start_ns": start,
                                              "stop_ns": start + 100 * 10**9, "livetime_s": 100.0,
                                              "n_events": len(scores), "status": "ok", "error": None},
                          model=ident, template_digest=templates.digest, config=fit_cfg)
    result = flag_stored_sequence(cat, model_digest=ident["digest"], template_digest=templates.digest,
                                  flag_config=FlagConfig())
    assert 7 in result.flagged_runs("high_background"), result.flags
    return 7


@pytest.fixture(scope="module")
def alarm_server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("alarms")
    url = f"sqlite:///{tmp / 'catalog.sqlite'}"
    run = seed_catalog(url)
    (tmp / "users.json").write_text(json.dumps({"expert1": "pw-expert", "shifter1": "pw-shifter"}))
    (tmp / "live").mkdir()
    proc, app = serve(tmp, env={"KAMDASH_MODEL": "cnn_cpu", "KAMDASH_PRODUCER": "external",
                                "KAMDASH_CATALOG": url, "KAMDASH_EXPERTS": "expert1"},
                      extra=["--liveness", "--basic-auth", str(tmp / "users.json"), "--cookie-secret", "kd-test-secret"])
    yield app, url, run
    stop(proc)


def _login(browser, app, user, password, *, record=False):
    ctx = browser.new_context(viewport={"width": 1500, "height": 1000})
    if record:
        ctx.add_init_script(RECORD_JS)
    page = ctx.new_page()
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(app + "?view=shift")
    page.locator("input[name='username']").fill(user)
    page.locator("input[name='password']").fill(password)
    page.locator("button[type='submit'], input[type='submit']").first.click()
    page.get_by_text("Shift.", exact=False).first.wait_for(timeout=60_000)
    return ctx, page, errors


def test_a_flagged_run_alarms_in_two_sessions_and_one_acknowledgement_clears_both(browser, alarm_server):
    from kamcore.catalog import Catalog

    app, url, run = alarm_server
    ca, a, err_a = _login(browser, app, "shifter1", "pw-shifter")
    cb, b, err_b = _login(browser, app, "expert1", "pw-expert")
    try:
        for p in (a, b):
            p.locator(".kd-alarm.kd-open", has_text=f"Run {run} flagged high background").first.wait_for(
                timeout=30_000)
            assert "open alarm" in p.locator(".kd-alarm-badge").first.inner_text()
        n_open = int(a.locator(".kd-alarm-count").first.get_attribute("data-open"))
        assert n_open >= 1
        text = f"convection after the calibration run, checked with the run coordinator {time.time_ns()}"
        alarm = next(x for x in Catalog(url).alarms(status="open") if x["run"] == run and x["kind"] == "flag")
        a.locator("select").first.select_option(value=None, label=next(
            o for o in a.locator("select").first.locator("option").all_inner_texts() if o.startswith(f"#{alarm['id']} ")))
        a.get_by_placeholder("who acknowledges").fill("A. Shifter")
        a.get_by_placeholder("what you checked or did").fill(text)
        a.get_by_role("button", name="Acknowledge").click()
        for p in (a, b):  # cleared in both sessions, with who and the text
            p.locator(".kd-alarm.kd-acked", has_text=text).first.wait_for(timeout=15_000)
            assert p.locator(".kd-alarm.kd-open", has_text=f"Run {run} flagged").count() == 0
            assert int(p.locator(".kd-alarm-count").first.get_attribute("data-open")) == n_open - 1
        stored = next(x for x in Catalog(url).alarms() if x["id"] == alarm["id"])
        assert stored["status"] == "acked" and stored["ack_text"] == text and stored["acked_by"] == "A. Shifter"
        assert [n["text"] for n in Catalog(url).notes(run=run) if n["kind"] == "ack"] == [text]
        b.goto(app + f"?view=runs&run={run}")
        b.get_by_text(f"Run {run}: background fraction", exact=False).first.wait_for(timeout=30_000)
        assert b.get_by_text("ACKNOWLEDGED", exact=True).count() >= 1
        assert err_a == [] and err_b == []
    finally:
        ca.close()
        cb.close()


def test_a_new_alarm_rings_unless_muted(browser, alarm_server):
    from kamcore.catalog import Catalog

    app, url, run = alarm_server
    ctx, p, errors = _login(browser, app, "shifter1", "pw-shifter", record=True)
    try:
        p.locator(".kd-alarm-badge").first.wait_for(timeout=30_000)
        p.wait_for_timeout(1500)
        assert p.evaluate("window._kdNotes") == []  # alarms older than the page are listed, not rung
        Catalog(url).raise_alarm(f"test:{time.time_ns()}", kind="stale", text="Feed STALE: test alarm one")
        wait_for(lambda: "Feed STALE: test alarm one" in p.evaluate("window._kdNotes"), 15, "a notification")
        assert p.evaluate("window._kdBeeps") == 1
        p.locator(".kd-mute button, button.kd-mute, .kd-mute").first.click()
        wait_for(lambda: p.evaluate("window.localStorage.getItem('kd-muted')") == "1", 5, "muted")
        Catalog(url).raise_alarm(f"test:{time.time_ns()}", kind="stale", text="Feed STALE: test alarm two")
        p.locator(".kd-alarm.kd-open", has_text="test alarm two").first.wait_for(timeout=15_000)
        p.wait_for_timeout(1000)
        assert p.evaluate("window._kdNotes") == ["Feed STALE: test alarm one"] and p.evaluate("window._kdBeeps") == 1
        assert errors == []
    finally:
        ctx.close()


def test_only_an_expert_changes_thresholds_and_the_change_is_logged(browser, alarm_server):
    from kamcore.catalog import Catalog

    app, url, run = alarm_server
    cs, s, _ = _login(browser, app, "shifter1", "pw-shifter")
    ce, e, errors = _login(browser, app, "expert1", "pw-expert")
    try:
        for p in (s, e):  # the thresholds are folded away on the Shift page
            p.get_by_text("Alarm thresholds", exact=True).first.click()
        s.get_by_text("Only experts", exact=False).first.wait_for(timeout=30_000)
        assert s.get_by_role("button", name="Save thresholds").is_disabled()
        e.get_by_text("an expert", exact=False).first.wait_for(timeout=30_000)
        assert s.locator(".kd-th-stale_s input").first.is_disabled()
        field = e.locator(".kd-th-stale_s input").first
        field.fill("45")
        field.press("Enter")
        e.get_by_role("button", name="Save thresholds").click()
        wait_for(lambda: Catalog(url).settings().get("stale_s"), 15, "the setting stored")
        st = Catalog(url).settings()["stale_s"]
        assert st["value"] == 45.0 and st["by"] == "expert1"
        assert Catalog(url).settings_log()[0]["by"] == "expert1"
        s.get_by_text("stale_s", exact=False).first.wait_for(timeout=15_000)
        e.locator("text=by expert1").first.wait_for(timeout=15_000)
        assert errors == []
    finally:
        cs.close()
        ce.close()

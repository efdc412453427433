"""Honest status in a real browser (issue 19, part 1): history replay shows REPLAYING HISTORY, ``kill -9`` of
the embedded producer shows PRODUCER DOWN within 10 s and LIVE again once the supervisor restarted it, a
stalled feed turns STALE after the configured seconds, and an event link still opens the event after it has
left the server's buffer (served from the run file), in the PINNED state."""

from __future__ import annotations

import json
import os
import re
import signal
import time

import pytest

from waiting import wait_for

from .conftest import serve, stop

pytestmark = [pytest.mark.browser, pytest.mark.timeout(600)]

STALE_S = 4


def _wait_for(cond, timeout_s: float, what: str):
    return wait_for(cond, timeout_s, what, poll_s=0.1)


@pytest.fixture(scope="module")
def status_server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("status")
    # a long history (REPLAYING can be seen), a small buffer (links outlive it in seconds, not 20 minutes),
    # the CNN (fast scoring), a short stale limit and a quick first restart
    proc, url = serve(tmp, env={"KAMDASH_MODEL": "cnn_cpu", "KAMDASH_HISTORY_RUNS": "10", "KAMDASH_RUN_LENGTH": "30",
                                "KAMDASH_RATE_HZ": "10", "KAMDASH_BUFFER_EVENTS": "40",
                                "KAMDASH_STALE_S": str(STALE_S), "KAMDASH_RESTART_S": "1"},
                      extra=["--liveness"])
    yield url, tmp / "live"
    stop(proc)


def _badge(p) -> str:
    loc = p.page.locator(".kd-badge")
    try:
        return loc.first.get_attribute("data-state", timeout=2000) or ""
    except Exception:  # noqa: BLE001 - between two redraws
        return ""


def _producer_pid(store) -> int | None:
    try:
        return int(json.loads((store / "producer.json").read_text())["pid"])
    except (OSError, ValueError, KeyError):
        return None


def test_history_replay_shows_replaying_then_live(status_server, open_page):
    url, store = status_server
    p = open_page(f"{url}?view=live")
    _wait_for(lambda: _badge(p) == "REPLAYING HISTORY", 120, "REPLAYING HISTORY during the history replay")
    assert "replaying 10 runs of history" in p.page.locator(".kd-producer").first.inner_text()
    _wait_for(lambda: _badge(p) == "LIVE", 240, "LIVE once the replay is over")
    assert "last event" in p.page.locator(".kd-time").first.inner_text()
    assert p.errors == [], p.errors


def test_event_link_opens_pinned_after_the_event_left_the_buffer(status_server, open_page):
    url, store = status_server
    a = open_page(f"{url}?view=live")
    _wait_for(lambda: _badge(a) == "LIVE", 240, "LIVE")
    marker = a.page.locator(".kd-shown")
    address = _wait_for(lambda: marker.first.get_attribute("data-event"), 30, "an event on screen")
    seq0 = int(marker.first.get_attribute("data-seq"))
    run, eid = map(int, address.split(":"))
    # 40 events in the buffer at 10 Hz: wait for 60 newer events, so the event (and its run, 30 events) is gone
    _wait_for(lambda: int(marker.first.get_attribute("data-seq") or 0) > seq0 + 60, 60, "60 newer events")
    b = open_page(f"{url}?view=live&event={address}")
    _wait_for(lambda: _badge(b) == "PINNED", 30, "PINNED")
    b.page.get_by_text("read from the run file", exact=False).first.wait_for(timeout=30_000)
    info = b.page.locator("div", has=b.page.locator(".kd-from")).last.inner_text()
    assert f"Run {run}, event {eid}" in info and f"[link {address}]" in info
    assert b.page.locator(".kd-shown").first.get_attribute("data-event") == address
    b.page.wait_for_timeout(2000)  # pinned: newer events do not replace it
    assert b.page.locator(".kd-shown").first.get_attribute("data-event") == address
    assert f"event={address}" in b.page.url.replace("%3A", ":")
    assert b.errors == [], b.errors


def test_kill_9_of_the_producer_shows_producer_down_then_live(status_server, open_page):
    url, store = status_server
    p = open_page(f"{url}?view=live")
    _wait_for(lambda: _badge(p) == "LIVE", 240, "LIVE")
    pid = _producer_pid(store)
    assert pid is not None
    t0 = time.monotonic()
    os.kill(pid, signal.SIGKILL)
    _wait_for(lambda: _badge(p) == "PRODUCER DOWN", 10, "PRODUCER DOWN within 10 s of kill -9")
    assert time.monotonic() - t0 < 10
    banner = p.page.locator(".kd-banner")
    banner.first.wait_for(timeout=5000)
    assert "killed by SIGKILL" in banner.first.inner_text()
    _wait_for(lambda: _badge(p) == "LIVE", 120, "LIVE after the supervisor restarted the producer")
    assert _producer_pid(store) not in (None, pid)
    _wait_for(lambda: p.page.locator(".kd-banner").count() == 0 or not p.page.locator(".kd-banner").first.is_visible(),
              10, "the banner to go")
    assert p.errors == [], p.errors


def test_a_stalled_feed_turns_stale_after_the_configured_seconds(status_server, open_page):
    url, store = status_server
    p = open_page(f"{url}?view=live")
    _wait_for(lambda: _badge(p) == "LIVE", 240, "LIVE")
    pid = _producer_pid(store)
    os.kill(pid, signal.SIGSTOP)  # alive but producing nothing: a hung DAQ or producer
    try:
        _wait_for(lambda: _badge(p) == "STALE", STALE_S + 6, f"STALE after {STALE_S} s")
        text = p.page.locator(".kd-banner").first.inner_text()
        m = re.search(r"no event for (\d+) s \(limit (\d+) s\)", text)
        assert m, text
        assert int(m.group(1)) >= STALE_S and int(m.group(2)) == STALE_S  # not before the limit
    finally:
        os.kill(pid, signal.SIGCONT)
    _wait_for(lambda: _badge(p) == "LIVE", 30, "LIVE once events flow again")
    assert p.errors == [], p.errors


def _shot(page, name: str):
    """Save a PNG for a person to look at: into $KAMDASH_SCREENSHOT_DIR when set."""
    d = os.environ.get("KAMDASH_SCREENSHOT_DIR")
    if d:
        page.screenshot(path=os.path.join(d, name))


def _scroll_overflow(page) -> int:
    """Pixels by which the page or any scrolling container of the page is taller than its view."""
    return page.evaluate("""() => {
        let worst = document.documentElement.scrollHeight - window.innerHeight;
        let who = 'document';
        const walk = (root) => { for (const el of root.querySelectorAll('*')) {
            const st = getComputedStyle(el);
            if ((st.overflowY === 'auto' || st.overflowY === 'scroll') && el.clientHeight > 300
                && !el.classList.contains('kd-alarm-box') && el.scrollHeight - el.clientHeight > worst) {
                worst = el.scrollHeight - el.clientHeight; who = el.tagName + '.' + el.className + '#' + el.id; }
            if (el.shadowRoot) { walk(el.shadowRoot); } } };
        walk(document);
        return [worst, who]; }""")


def test_the_shift_page_fits_1280x720_and_the_tabs_are_an_aria_tablist(status_server, browser):
    url, store = status_server
    page = browser.new_page(viewport={"width": 1280, "height": 720})
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        page.goto(f"{url}?view=shift")
        page.get_by_text("Shift.", exact=False).first.wait_for(timeout=60_000)
        page.locator(".kd-summary").first.wait_for(timeout=60_000)  # the last run and the open flags
        _wait_for(lambda: page.get_by_role("tab", name="Shift").count() == 1, 15, "ARIA tabs")
        assert page.get_by_role("tablist").count() >= 1
        assert page.get_by_role("tab", name="Shift").first.get_attribute("aria-selected") == "true"
        assert page.get_by_role("tab", name="Runs").first.get_attribute("aria-selected") == "false"
        page.wait_for_timeout(1500)
        assert page.locator(".kd-state").first.inner_text() in ("LIVE", "STALE", "REPLAYING HISTORY")
        assert page.locator(".kd-alarm-count").count() == 1
        _shot(page, "shift_1280.png")
        over, who = _scroll_overflow(page)
        assert over <= 1, f"the Shift page scrolls at 1280x720: {who} by {over} px"
        # the tab bar stays on screen while a long page scrolls
        page.get_by_role("tab", name="Runs").first.click()
        page.get_by_text("Run fits and flags", exact=False).first.wait_for(timeout=30_000)
        _wait_for(lambda: page.get_by_role("tab", name="Runs").first.get_attribute("aria-selected") == "true", 10,
                  "the selected tab")
        page.mouse.wheel(0, 2000)
        page.wait_for_timeout(800)
        box = page.get_by_role("tab", name="Runs").first.bounding_box()
        assert box is not None and 0 <= box["y"] < 720, box
        assert errors == [], errors
    finally:
        page.close()

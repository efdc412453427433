"""The header state and the producer supervisor, without a browser."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from dashboard.status import ProducerSupervisor, feed_status, format_age, session_state

S = 10**9


@pytest.mark.parametrize("producer, last, now, state", [
    ({"up": True, "mode": "live"}, 100 * S, 101 * S, "LIVE"),
    ({"up": True, "mode": "history"}, 100 * S, 101 * S, "REPLAYING HISTORY"),
    ({"up": True, "mode": "live"}, 100 * S, 131 * S, "STALE"),
    ({"up": True, "mode": "history"}, 100 * S, 131 * S, "STALE"),
    ({"up": True, "mode": "starting"}, None, 131 * S, "NO DATA"),
    ({"up": False, "down": {"since_ns": 0, "reason": "killed by SIGKILL"}}, 100 * S, 101 * S, "PRODUCER DOWN"),
    ({"up": False, "down": {"since_ns": 0, "reason": "killed by SIGKILL"}}, None, 101 * S, "PRODUCER DOWN"),
])
def test_feed_state(producer, last, now, state):
    s = feed_status(now_ns=now, last_wall_ns=last, stale_s=30.0, producer=producer)
    assert s.state == state
    assert s.age_s == (None if last is None else (now - last) / S)


def test_session_state_never_hides_a_feed_problem():
    live = feed_status(now_ns=2 * S, last_wall_ns=S, stale_s=30, producer={"up": True, "mode": "live"})
    stale = feed_status(now_ns=100 * S, last_wall_ns=S, stale_s=30, producer={"up": True, "mode": "live"})
    assert session_state(live, paused=True, pinned=True) == "PAUSED"
    assert session_state(live, paused=False, pinned=True) == "PINNED"
    assert session_state(live, paused=False, pinned=False) == "LIVE"
    assert session_state(stale, paused=True, pinned=True) == "STALE"
    assert format_age(59.9) == "59 s" and format_age(None) == "never"


def _child(status_path):
    """A stand-in producer: reports its pid to the status file, then sleeps."""
    code = (f"import json, os, time; open({str(status_path)!r}, 'w').write(json.dumps({{'pid': os.getpid(), "
            "'mode': 'live', 'state': 'live simulated feed'})); time.sleep(120)")
    return subprocess.Popen([sys.executable, "-c", code])


def _until(cond, timeout_s=10.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError("timed out")


def test_supervisor_restarts_a_killed_producer_with_backoff(tmp_path):
    status = tmp_path / "producer.json"
    sup = ProducerSupervisor(lambda: _child(status), status, backoff_s=(0.5, 1.0), stable_s=60)
    try:
        assert sup.start()
        first = sup.child.pid
        _until(lambda: sup.check()["mode"] == "live")
        assert sup.check()["up"] and sup.check()["down"] is None
        os.kill(first, signal.SIGKILL)
        down = _until(lambda: sup.check()["down"])
        assert down["reason"] == "killed by SIGKILL"
        assert "restart 1 in" in sup.check()["state"]
        # down until the new child has started *and* reported its own pid
        rep = _until(lambda: sup.check() if sup.check()["up"] else None)
        assert sup.child.pid != first and rep["mode"] == "live" and sup.restarts == 1
        assert json.loads(status.read_text())["pid"] == sup.child.pid
        # a second quick failure waits longer (the backoff doubles)
        t0 = time.monotonic()
        os.kill(sup.child.pid, signal.SIGKILL)
        _until(lambda: sup.check()["down"])
        _until(lambda: sup.check()["up"])
        assert time.monotonic() - t0 >= 0.9 and sup.restarts == 2
    finally:
        sup.stop()

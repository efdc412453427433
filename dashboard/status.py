"""What the header badge says, and the supervisor of the embedded producer.

Feed state (one per server process, :func:`feed_status`), first match wins:

* ``PRODUCER DOWN`` -- the embedded producer exited (or was killed) and its
  restart has not reported back yet (red banner with the exit and the next attempt);
* ``NO DATA`` -- no event has arrived yet (the producer is starting, or nothing produces);
* ``STALE`` -- the newest event was stored more than ``stale_s`` seconds ago;
* ``REPLAYING HISTORY`` -- the producer replays runs of the past at full speed;
* ``LIVE`` -- events arrive.

A session adds its own (:func:`session_state`): ``PAUSED`` (the crew pressed Pause)
and ``PINNED`` (a permalink or a chosen event is shown instead of the newest).  A
feed problem (``PRODUCER DOWN``, ``STALE``) wins over them: a paused page must not
hide that the detector feed stopped.

>>> s = feed_status(now_ns=10**10, last_wall_ns=10**10 - 5 * 10**9, stale_s=30, producer={"up": True, "mode": "live"})
>>> s.state, round(s.age_s)
('LIVE', 5)
>>> feed_status(now_ns=10**11, last_wall_ns=10**10, stale_s=30, producer={"up": True, "mode": "live"}).state
'STALE'
>>> session_state(s, paused=False, pinned=True)
'PINNED'
"""

from __future__ import annotations

import dataclasses
import json
import logging
import signal
import time
from pathlib import Path
from typing import Callable

__all__ = ["FeedStatus", "feed_status", "session_state", "ProducerSupervisor", "STATE_CLASSES", "format_age"]

log = logging.getLogger(__name__)

#: badge text -> CSS class of the header badge
STATE_CLASSES = {"LIVE": "kd-live", "REPLAYING HISTORY": "kd-replay", "PAUSED": "kd-paused", "PINNED": "kd-pinned",
                 "STALE": "kd-stale", "PRODUCER DOWN": "kd-down", "NO DATA": "kd-nodata"}


@dataclasses.dataclass(frozen=True)
class FeedStatus:
    """The feed state of a server process at one moment.

    Attributes
    ----------
    state : ``"LIVE" | "REPLAYING HISTORY" | "STALE" | "PRODUCER DOWN" | "NO DATA"``
    age_s : seconds since the newest event was stored (None: no event yet)
    last_wall_ns : when the newest event was stored, ns since the epoch (None: no event yet)
    detail : one line about the producer
    down : for ``PRODUCER DOWN``: ``{"since_ns", "reason", "restart_in_s", "restarts"}``, else None
    """

    state: str
    age_s: float | None
    last_wall_ns: int | None
    detail: str
    down: dict | None = None


def feed_status(*, now_ns: int, last_wall_ns: int | None, stale_s: float, producer: dict) -> FeedStatus:
    """The feed state (module docstring) from the newest event's store time and the producer's report.

    ``producer``: ``{"up": bool, "mode": "starting"|"history"|"live"|"external", "state": text, "down": dict}``
    (:meth:`ProducerSupervisor.check`, or ``{"up": True, "mode": "external"}`` for an external producer).
    """
    age = None if last_wall_ns is None else max(0.0, (now_ns - int(last_wall_ns)) / 1e9)
    detail = str(producer.get("state", ""))
    if producer.get("down"):
        return FeedStatus("PRODUCER DOWN", age, last_wall_ns, detail, dict(producer["down"]))
    if age is None:
        return FeedStatus("NO DATA", None, None, detail)
    if age > stale_s:
        return FeedStatus("STALE", age, last_wall_ns, detail)
    if producer.get("mode") == "history":
        return FeedStatus("REPLAYING HISTORY", age, last_wall_ns, detail)
    return FeedStatus("LIVE", age, last_wall_ns, detail)


def session_state(feed: FeedStatus, *, paused: bool, pinned: bool) -> str:
    """The badge of one session: the feed state, or PAUSED / PINNED when the feed is not in trouble."""
    if feed.state in ("PRODUCER DOWN", "STALE"):
        return feed.state
    if paused:
        return "PAUSED"
    if pinned:
        return "PINNED"
    return feed.state


def format_age(age_s: float | None) -> str:
    """``"4 s"``, ``"3 min 5 s"``, ``"2 h 10 min"``; ``"never"`` for None.

    >>> format_age(4.2), format_age(185), format_age(7800)
    ('4 s', '3 min 5 s', '2 h 10 min')
    """
    if age_s is None:
        return "never"
    s = int(age_s)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60} s"
    return f"{s // 3600} h {(s % 3600) // 60} min"


def _exit_reason(code: int) -> str:
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"killed by {name}"
    return f"exited with code {code}"


class ProducerSupervisor:
    """Keeps the embedded producer child running: restarts it with exponential backoff after it exits.

    Parameters
    ----------
    start : callable returning a new ``subprocess.Popen`` of the producer (or None when the store is
        held by another producer: nothing to supervise)
    status_path : the producer's ``producer.json`` (its ``pid`` tells that a restarted child is back)
    backoff_s : waits before restart attempts 1, 2, ... (the last one repeats)
    stable_s : a child that ran this long resets the backoff
    clock : monotonic seconds
    """

    def __init__(self, start: Callable, status_path, *, backoff_s=(2.0, 4.0, 8.0, 16.0, 32.0, 60.0),
                 stable_s: float = 120.0, clock: Callable[[], float] = time.monotonic):
        self._start, self.status_path = start, Path(status_path)
        self.backoff_s, self.stable_s, self._clock = tuple(backoff_s), float(stable_s), clock
        self.child = None
        self.restarts = 0  #: restarts done
        self._failures = 0  # consecutive short-lived children
        self._started_at = 0.0
        self._down: dict | None = None  # set from the exit until the new child reports
        self._next_start: float | None = None

    def start(self) -> bool:
        """Start the child; False when another producer holds the store."""
        self.child = self._start()
        self._started_at = self._clock()
        return self.child is not None

    def stop(self) -> None:
        child, self.child = self.child, None
        if child is not None and child.poll() is None:
            child.terminate()
            try:
                child.wait(10)
            except Exception:  # noqa: BLE001
                child.kill()

    def _report(self) -> dict | None:
        try:
            return json.loads(self.status_path.read_text())
        except (OSError, ValueError):
            return None

    def check(self) -> dict:
        """Look at the child (restart it when due); returns ``{"up", "mode", "state", "down", "pid"}``."""
        now = self._clock()
        child = self.child
        if child is not None and self._down is None:
            code = child.poll()
            if code is not None:
                ran = now - self._started_at
                self._failures = 0 if ran >= self.stable_s else self._failures + 1
                wait = self.backoff_s[min(max(self._failures - 1, 0), len(self.backoff_s) - 1)]
                self._down = {"since_ns": time.time_ns(), "reason": _exit_reason(code), "restarts": self.restarts}
                self._next_start = now + wait
                log.warning("embedded producer %s after %.0f s; restart in %.0f s", self._down["reason"], ran, wait)
        if self._down is not None:
            if self._next_start is not None and now >= self._next_start:
                self._next_start = None
                self.restarts += 1
                self._down["restarts"] = self.restarts
                if not self.start():
                    self._down = None  # someone else produces into the store now
                    return {"up": True, "mode": "external", "state": "external producer", "down": None}
            rep = self._report()
            alive = self.child is not None and self.child.poll() is None
            if alive and self._next_start is None and rep is not None and rep.get("pid") == self.child.pid:
                log.info("embedded producer back (pid %d, restart %d)", self.child.pid, self.restarts)
                self._down = None
            elif not alive and self._next_start is None:  # the restarted child died too: count it
                self._down = None
                return self.check()
            else:
                down = dict(self._down)
                down["restart_in_s"] = None if self._next_start is None else max(0.0, self._next_start - now)
                state = (f"embedded producer {down['reason']}; "
                         + (f"restart {self.restarts + 1} in {down['restart_in_s']:.0f} s"
                            if down["restart_in_s"] is not None else f"restart {self.restarts} starting"))
                return {"up": False, "mode": "down", "state": state, "down": down, "pid": None}
        rep = self._report() or {}
        if self.child is None:
            return {"up": True, "mode": "external", "state": "external producer", "down": None}
        if rep.get("pid") != self.child.pid:
            return {"up": True, "mode": "starting", "state": "embedded producer starting", "down": None,
                    "pid": self.child.pid}
        return {"up": True, "mode": rep.get("mode", "live"), "state": "embedded producer: " + str(rep.get("state")),
                "down": None, "pid": self.child.pid}

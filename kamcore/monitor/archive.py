"""One event by its address ``(run, event id)`` after it has left the live store: from the run file and its score file.

A live event is known to the shift crew by its run number and event id (what an
e-log link holds).  While it is among the newest events it is read from the live
store; afterwards :func:`load_event` reads it from the closed run's file (hits,
vertex, energy) and score file (score, attention) and computes its proper times
exactly as the producer did (:func:`kamcore.preprocess.proper_times`), so the
event display is the same either way.

:func:`parse_event_address` reads the address form of a permalink, ``"RUN:EVENT"``.

>>> parse_event_address("17:123")
(17, 123)
>>> parse_event_address("")
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np

from ..errors import ConfigError, EventFileError
from .store import LiveEvents

__all__ = ["load_event", "parse_event_address", "format_event_address"]

_ADDRESS = re.compile(r"\s*(\d+)\s*:\s*(\d+)\s*")


def parse_event_address(text: str) -> tuple[int, int] | None:
    """``"RUN:EVENT"`` -> ``(run, event_id)``; ``""`` -> None; anything else: one-line ConfigError."""
    if text is None or not str(text).strip():
        return None
    m = _ADDRESS.fullmatch(str(text))
    if m is None:
        raise ConfigError(f"event address must be RUN:EVENT (e.g. 17:123), got {text!r}")
    return int(m.group(1)), int(m.group(2))


def format_event_address(run: int, event_id: int) -> str:
    """Inverse of :func:`parse_event_address`.

    >>> format_event_address(17, 123)
    '17:123'
    """
    return f"{int(run)}:{int(event_id)}"


def load_event(run_file: str | os.PathLike, event_id: int, *, run: int | None = None, pmts=None) -> LiveEvents:
    """Event ``event_id`` of a closed run as :class:`LiveEvents` (one event; ``seq = 0``, ``wall_ns`` = its
    detector time stamp).

    Parameters
    ----------
    run_file : path of the run's event file (its score file ``<stem>.scores.parquet`` lies next to it)
    event_id : the event's id in the run
    run : the run number the caller expects (checked when given)
    pmts : PMTTable, optional (default :func:`kamcore.geometry.default_pmt_table`)

    Raises
    ------
    EventFileError
        The run or score file cannot be read, or does not hold that event (the message names the file).
    """
    from ..geometry import default_pmt_table
    from ..io import open_events, read_scores
    from ..preprocess import proper_times
    from ..runs.files import score_path

    path = Path(run_file)
    events = open_events(path)
    pos = np.flatnonzero(events.event_id == int(event_id))
    if run is not None:
        pos = pos[events.run[pos] == int(run)]
    if not len(pos):
        where = f"run {run}, " if run is not None else ""
        raise EventFileError(f"{path}: no event with {where}event id {event_id}")
    ev = events.take(pos[:1])
    sp = score_path(path)
    scores = read_scores(sp)
    k = np.flatnonzero((scores["event_id"] == int(event_id)) & (scores["run"] == int(ev.run[0])))
    if not len(k):
        raise EventFileError(f"{sp}: no score for run {int(ev.run[0])}, event {event_id}")
    att = scores.get("attention")
    tau = proper_times(ev, pmts or default_pmt_table())[0] if ev.n_hits else np.zeros(0, np.float32)
    return LiveEvents(ev, np.zeros(1, np.int64), np.asarray(scores["score"][k[:1]], np.float32),
                      None if att is None else np.asarray(att[k[:1]], np.float32), np.asarray(tau, np.float32),
                      ev.timestamp_ns.astype(np.int64))

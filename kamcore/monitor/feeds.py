"""Feeds of the live producer: where events come from.

A feed has one method, ``batches(stop)``, yielding :class:`FeedBatch` until it
runs dry or ``stop`` (a :class:`threading.Event`) is set:

* :class:`SimulatedFeed` -- a simulated DAQ stream paced on the wall clock
  (see :mod:`kamcore.monitor.config` for the time scale and convection periods);
  each run is simulated with :func:`kamcore.runs.simulate_run` (the run
  selection and event mix of ``kamcore runs simulate``) and released in batches
  at ``rate_hz``; the last batch of a run has ``closes_run=True``.
* :class:`DirectoryFeed` -- finished run files ``run_*.parquet`` that a DAQ
  writes into a directory; one batch per file (``closes_run=True``, ``path``
  set).  Hidden and temporary files are ignored; a file is taken only when it
  has not changed for ``settle_s``.  A file that cannot be read becomes a batch
  with ``error`` set and no events (the producer marks it bad in the catalog).
  Files the catalog already holds (ok, or bad and not rewritten since) are
  skipped, so a restarted producer neither redoes nor loses runs.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import threading
import time
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from ..events import Events
from .config import MonitorConfig

__all__ = ["FeedBatch", "SimulatedFeed", "DirectoryFeed"]

log = logging.getLogger(__name__)


@dataclasses.dataclass
class FeedBatch:
    """A batch of events of one run.

    Attributes
    ----------
    events : Events or None
        None when the run file could not be read (``error`` set).
    run : int or None
        Run number (None for an unreadable file without a number in its name).
    closes_run : bool
        The run is complete after this batch.
    path : Path or None
        The run file (directory feed); None when the producer must write it.
    error : str or None
        Why the run file was rejected.
    truth : dict or None
        Simulated feed: the run's truth (:func:`kamcore.runs.simulate_run`).
    """

    events: Events | None
    run: int | None
    closes_run: bool = False
    path: Path | None = None
    error: str | None = None
    truth: dict | None = None


def _run_number(name: str) -> int | None:
    import re

    m = re.fullmatch(r"run_0*(\d+)\.parquet", name)
    return int(m.group(1)) if m else None


class SimulatedFeed:
    """A real-time simulated DAQ stream (see module docstring)."""

    def __init__(self, config: MonitorConfig | None = None, *, clock: Callable[[], float] = time.monotonic):
        self.config = (config or MonitorConfig()).validate()
        self._clock = clock
        self._rng = np.random.default_rng(np.random.SeedSequence([int(self.config.seed), 7]))
        self._left = 0  # runs left in the current convection period
        self._t0_ns: int | None = None  # detector start time of the first run

    def __repr__(self) -> str:
        c = self.config
        return f"SimulatedFeed(rate_hz={c.rate_hz}, run_length={c.run_length}, seed={c.seed})"

    def _strength(self) -> float:
        c = self.config
        if self._left == 0 and self._rng.random() < c.convection_probability:
            self._left = int(self._rng.integers(1, c.convection_max_length + 1))
        if self._left:
            self._left -= 1
            return float(c.convection_strength)
        return 1.0

    def run_config(self, run: int):
        """The :class:`~kamcore.runs.RunSimConfig` of run ``run`` (time-compressed).

        Runs follow each other in detector time: run ``first_run + k`` starts ``k`` run
        durations after the feed's first run, which starts when it is first asked for.
        """
        from ..runs import RunSimConfig

        ref = RunSimConfig()
        duration = max(1.0, ref.run_duration_s * self.config.run_length / ref.events_per_run)
        if self._t0_ns is None:
            self._t0_ns = time.time_ns()
        start = self._t0_ns + int(round((run - self.config.first_run) * duration * 1e9))
        return RunSimConfig(events_per_run=float(self.config.run_length), first_run=int(run),
                            run_duration_s=duration, start_time_ns=start)

    def batches(self, stop: threading.Event) -> Iterator[FeedBatch]:
        """Paced batches of consecutive runs.

        The next run is simulated in a background thread while the current one is
        released, so a run boundary does not stall the stream (the order of the
        convection draws, and so every run, is the same as without prefetching).
        """
        from concurrent.futures import ThreadPoolExecutor

        from ..geometry import default_pmt_table
        from ..runs import simulate_run

        c = self.config
        pmts = default_pmt_table()
        size = c.batch_size()

        def make(run: int, strength: float):
            return simulate_run(run, seed=c.seed, config=self.run_config(run), strength=strength, pmts=pmts)

        run = c.first_run
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="kamcore-feed") as pool:
            strength = self._strength()
            pending = pool.submit(make, run, strength)
            t_next = self._clock()
            while not stop.is_set():
                ev, truth = pending.result()
                log.info("simulated run %d: %d events, strength %g", run, len(ev), strength)
                strength = self._strength()
                pending = pool.submit(make, run + 1, strength)  # the next run, while this one is released
                n = len(ev)
                starts = list(range(0, n, size)) or [0]
                for a in starts:
                    part = ev.take(slice(a, a + size))
                    t_next += max(len(part), 1) / c.rate_hz
                    if stop.wait(max(0.0, t_next - self._clock())):
                        pending.cancel()
                        return
                    last = a == starts[-1]
                    yield FeedBatch(part, run, closes_run=last, truth=truth if last else None)
                t_next = max(t_next, self._clock() - 1.0)  # after slow simulation, do not burst to catch up
                run += 1


class DirectoryFeed:
    """Finished run files written into a directory by a DAQ (see module docstring).

    Parameters
    ----------
    directory : str or os.PathLike
    config : MonitorConfig, optional
        ``poll_interval_s`` and ``settle_s``.
    done : callable, optional
        ``done(path, mtime_ns) -> bool``: the file was already processed (the
        producer asks its catalog).
    once : bool
        Stop after one scan that finds nothing new (tests, batch catch-up).
    """

    def __init__(self, directory: str | os.PathLike, config: MonitorConfig | None = None, *,
                 done: Callable[[Path, int], bool] | None = None, once: bool = False):
        from ..errors import ConfigError

        self.directory = Path(directory)
        if not self.directory.is_dir():
            raise ConfigError(f"{self.directory}: the directory feed needs an existing directory of run files")
        self.config = config or MonitorConfig(feed=str(directory))
        self._done = done or (lambda p, m: False)
        self.once = once
        self._seen: dict[str, int] = {}  # file name -> mtime_ns when handled

    def __repr__(self) -> str:
        return f"DirectoryFeed({str(self.directory)!r})"

    def _candidates(self) -> list[Path]:
        now = time.time_ns()
        out = []
        for p in sorted(self.directory.glob("run_*.parquet")):
            if p.name.startswith(".") or _run_number(p.name) is None or not p.is_file():
                continue  # temp files of atomic writers are hidden or do not match run_NNN.parquet
            try:
                st = p.stat()
            except OSError:
                continue
            if self._seen.get(p.name) == st.st_mtime_ns:
                continue
            if now - st.st_mtime_ns < self.config.settle_s * 1e9:
                continue  # still being written
            if self._done(p, st.st_mtime_ns):
                self._seen[p.name] = st.st_mtime_ns
                continue
            out.append(p)
        return out

    def batches(self, stop: threading.Event) -> Iterator[FeedBatch]:
        from ..errors import KamcoreError
        from ..io import open_events
        from ..runs import run_info

        while not stop.is_set():
            new = self._candidates()
            for p in new:
                if stop.is_set():
                    return
                mtime = p.stat().st_mtime_ns
                self._seen[p.name] = mtime
                try:
                    ev = open_events(p)
                    run = run_info(ev, str(p))["run"]
                except KamcoreError as exc:
                    log.warning("%s; run skipped", exc)
                    yield FeedBatch(None, _run_number(p.name), closes_run=True, path=p,
                                    error=" ".join(str(exc).split()))
                    continue
                yield FeedBatch(ev, int(run), closes_run=True, path=p)
            if not new and self.once:
                return
            stop.wait(self.config.poll_interval_s)

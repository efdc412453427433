"""Feeds of the live producer: where events come from.

A feed has one method, ``batches(stop)``, yielding :class:`FeedBatch` until it
runs dry or ``stop`` (a :class:`threading.Event`) is set:

* :class:`SimulatedFeed` -- a simulated DAQ stream on the wall clock (see
  :mod:`kamcore.monitor.config` for the run times and convection periods); each
  run is simulated with :func:`kamcore.runs.simulate_run` (the run selection and
  event mix of ``kamcore runs simulate``).  Run ``first_run + k`` starts at
  ``start + k (T_run + gap_s)`` and lasts ``T_run = run_length / rate_hz``; its
  events carry times inside it.  In real time (``realtime=True``) an event is
  released once the wall clock has passed its time stamp and the last batch of a
  run (``closes_run=True``) once the run has stopped, so no stored run or event
  lies in the future, as with a DAQ; ``realtime=False`` (a history replay, whose
  runs lie in the past) releases them at once.  ``dead_pmts`` / ``hot_pmts`` of the
  configuration silence PMTs or make them fire noise hits in every run
  (:func:`kamcore.monitor.health.inject_pmt_faults`, seeded per run).
* :class:`DirectoryFeed` -- finished run files ``run_*.parquet`` that a DAQ
  writes into a directory; one batch per file (``closes_run=True``, ``path``
  set).  Hidden and temporary files are ignored.  Files the catalog already
  holds (ok, or bad and not rewritten since) are skipped, so a restarted
  producer neither redoes nor loses runs.

Half-written and bad files (the rule)
-------------------------------------
A DAQ that writes in place exposes a file while it grows.  A file is read only
when its size and modification time have not changed for ``settle_s``
(default 2 s).  If it then cannot be read:

* **incomplete** -- it has no Parquet footer yet (shorter than 12 bytes, or it
  starts with the magic ``PAR1`` but does not end with it: a Parquet writer
  writes the footer last).  The batch has ``file_status="incomplete"`` (the
  producer records the run as ``incomplete`` with the reason) and the file is
  read again as soon as it changes; a file that becomes valid is picked up and
  closed like any other.  An incomplete file unchanged for ``incomplete_s``
  (default 300 s; its age is its modification time, so this holds across
  restarts) is marked ``bad_file``: the writer died.
* **bad** -- anything else that cannot be read (not Parquet, corrupt pages,
  wrong schema or values: the one-line error of :func:`kamcore.io.open_events`).
  The batch has ``file_status="bad_file"``; the file is read again only when
  it is rewritten (new modification time).

Either way the feed goes on with the next file.
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

from ..errors import one_line
from ..events import Events
from .config import MonitorConfig

__all__ = ["FeedBatch", "SimulatedFeed", "DirectoryFeed", "parquet_footer_missing"]

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
    file_status : str
        With ``error``: ``"bad_file"`` or ``"incomplete"`` (no Parquet footer yet; retried).
    """

    events: Events | None
    run: int | None
    closes_run: bool = False
    path: Path | None = None
    error: str | None = None
    truth: dict | None = None
    file_status: str = "bad_file"


def _run_number(name: str) -> int | None:
    import re

    m = re.fullmatch(r"run_0*(\d+)\.parquet", name)
    return int(m.group(1)) if m else None


class SimulatedFeed:
    """A real-time simulated DAQ stream (see module docstring)."""

    def __init__(self, config: MonitorConfig | None = None, *, clock: Callable[[], int] = time.time_ns):
        self.config = (config or MonitorConfig()).validate()
        self._clock = clock  # wall clock, ns since the epoch (event times are compared with it)
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

    @property
    def run_duration_s(self) -> float:
        """Live time of one run, s: ``run_length / rate_hz``."""
        return self.config.run_duration_s()

    def run_config(self, run: int):
        """The :class:`~kamcore.runs.RunSimConfig` of run ``run``.

        Run ``first_run + k`` starts ``k (T_run + gap_s)`` after the feed's start
        (``MonitorConfig.start_ns``, else the wall clock when a run is first asked for).
        """
        from ..runs import RunSimConfig

        c = self.config
        if self._t0_ns is None:
            self._t0_ns = int(c.start_ns) or int(self._clock())
        return RunSimConfig(events_per_run=float(c.run_length), first_run=int(c.first_run),
                            run_duration_s=self.run_duration_s, gap_s=float(c.gap_s), start_time_ns=self._t0_ns)

    def fit_config(self, base):
        """``base`` (a :class:`~kamcore.fit.FitConfig`) with the constraint rates of this feed's runs.

        The runs hold ``run_length * composition[k]`` events of source ``k`` per ``T_run``
        on average (:meth:`kamcore.runs.RunSimConfig.expected_rates_per_hour`), so a fit that
        scales the rates by the run's real live time needs these rates; the relative
        uncertainties of ``base`` are kept.
        """
        from ..fit import FitConfig

        rates = self.run_config(self.config.first_run).expected_rates_per_hour()
        cons = {k: [float(rates[k]), float(v[1])] for k, v in base.constraints.items() if k in rates}
        values = {k: v for k, v in base.param.values().items() if k != "name"}
        return FitConfig(**{**values, "constraints": cons}).validate()

    def batches(self, stop: threading.Event) -> Iterator[FeedBatch]:
        """Paced batches of consecutive runs.

        The next run is simulated in a background thread while the current one is
        released, so a run boundary does not stall the stream (the order of the
        convection draws, and so every run, is the same as without prefetching).
        The thread is joined when the generator ends, ``stop`` is set or it is closed
        (``close()``; a simulation in progress is finished first, one not yet begun is dropped).
        """
        from concurrent.futures import ThreadPoolExecutor

        from ..geometry import default_pmt_table
        from ..runs import simulate_run

        c = self.config
        pmts = default_pmt_table()
        size = c.batch_size()

        dead, hot = c.faulty_pmts()

        def make(run: int, strength: float):
            ev, truth = simulate_run(run, seed=c.seed, config=self.run_config(run), strength=strength, pmts=pmts)
            if dead or hot:
                from .health import inject_pmt_faults

                rng = np.random.default_rng(np.random.SeedSequence([int(c.seed), int(run), 11]))
                ev = inject_pmt_faults(ev, dead=dead, hot=hot, hot_rate=float(c.hot_rate), rng=rng)
                truth = {**truth, "dead_pmts": dead, "hot_pmts": hot}
            return ev, truth

        run = c.first_run
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kamcore-feed")

        def wait_until(t_ns: int) -> bool:
            """Wait for the wall clock to pass ``t_ns`` (real time only); True when stopped meanwhile."""
            if not c.realtime:
                return stop.is_set()
            while True:
                left = (t_ns - self._clock()) / 1e9
                if left <= 0:
                    return stop.is_set()
                if stop.wait(min(left, 1.0)):
                    return True

        try:
            strength = self._strength()
            pending = pool.submit(make, run, strength)
            while not stop.is_set():
                ev, truth = pending.result()
                log.info("simulated run %d: %d events, strength %g", run, len(ev), strength)
                strength = self._strength()
                pending = pool.submit(make, run + 1, strength)  # the next run, while this one is released
                n = len(ev)
                starts = list(range(0, n, size)) or [0]
                for a in starts:
                    part = ev.take(slice(a, a + size))
                    last = a == starts[-1]
                    # an event leaves the DAQ once it happened; a run closes once it stopped
                    due = truth["stop_ns"] if last else int(part.timestamp_ns[-1])
                    if wait_until(due):
                        pending.cancel()
                        return
                    yield FeedBatch(part, run, closes_run=last, truth=truth if last else None)
                run += 1
        finally:
            pool.shutdown(wait=True, cancel_futures=True)


def parquet_footer_missing(path: str | os.PathLike) -> bool:
    """True when ``path`` looks like a Parquet file still being written: shorter than 12 bytes, or starting
    with ``PAR1`` without ending with it (the footer and its closing magic are written last)."""
    with open(path, "rb") as f:
        head = f.read(4)
        size = f.seek(0, os.SEEK_END)
        if size < 12:
            return head in (b"", b"PAR1"[: len(head)])
        f.seek(-4, os.SEEK_END)
        tail = f.read(4)
    return head == b"PAR1" and tail != b"PAR1"


class DirectoryFeed:
    """Finished run files written into a directory by a DAQ (see module docstring).

    Parameters
    ----------
    directory : str or os.PathLike
    config : MonitorConfig, optional
        ``poll_interval_s``, ``settle_s`` and ``incomplete_s``.
    done : callable, optional
        ``done(path, mtime_ns) -> bool``: the file was already processed (the
        producer asks its catalog).
    once : bool
        Stop after one scan that finds nothing new (tests, batch catch-up).
    clock : callable
        Wall-clock time in ns (compared with file modification times).
    """

    def __init__(self, directory: str | os.PathLike, config: MonitorConfig | None = None, *,
                 done: Callable[[Path, int], bool] | None = None, once: bool = False,
                 clock: Callable[[], int] = time.time_ns):
        from ..errors import ConfigError

        self.directory = Path(directory)
        if not self.directory.is_dir():
            raise ConfigError(f"{self.directory}: the directory feed needs an existing directory of run files")
        self.config = config or MonitorConfig(feed=str(directory))
        self._done = done or (lambda p, m: False)
        self.once = once
        self._clock = clock
        self._seen: dict[str, tuple[int, int]] = {}  # file name -> (size, mtime_ns) when handled for good
        self._incomplete: dict[str, tuple[int, int]] = {}  # file name -> (size, mtime_ns) reported incomplete

    def __repr__(self) -> str:
        return f"DirectoryFeed({str(self.directory)!r})"

    def _candidates(self) -> list[tuple[Path, tuple[int, int], bool]]:
        """``(path, (size, mtime_ns), timed_out)`` of the files to read now."""
        now = self._clock()
        out = []
        for p in sorted(self.directory.glob("run_*.parquet")):
            if p.name.startswith(".") or _run_number(p.name) is None or not p.is_file():
                continue  # temp files of atomic writers are hidden or do not match run_NNN.parquet
            try:
                st = p.stat()
            except OSError:
                continue
            sig = (st.st_size, st.st_mtime_ns)
            if self._seen.get(p.name) == sig:
                continue
            age_s = (now - st.st_mtime_ns) / 1e9
            if age_s < self.config.settle_s:
                continue  # still being written
            timed_out = False
            if self._incomplete.get(p.name) == sig:
                if age_s < self.config.incomplete_s:
                    continue  # reported incomplete and unchanged: wait for the writer
                timed_out = True
            elif self._done(p, st.st_mtime_ns):
                self._seen[p.name] = sig
                continue
            out.append((p, sig, timed_out))
        return out

    def _read(self, p: Path, sig: tuple[int, int], timed_out: bool) -> FeedBatch:
        from ..errors import KamcoreError
        from ..io import open_events
        from ..runs import run_info

        try:
            if timed_out:
                raise KamcoreError(f"{p}: no Parquet footer, unchanged for {self.config.incomplete_s:g} s "
                                   "(truncated: the writer stopped)")
            ev = open_events(p)
            run = run_info(ev, str(p))["run"]
        except (KamcoreError, OSError) as exc:
            error = one_line(exc, None)
            try:
                incomplete = not timed_out and parquet_footer_missing(p)
            except OSError:
                incomplete = False
            if incomplete:
                self._incomplete[p.name] = sig
                log.info("%s: no Parquet footer yet (%d bytes); read again when it changes", p, sig[0])
                return FeedBatch(None, _run_number(p.name), closes_run=True, path=p, file_status="incomplete",
                                 error=f"{p}: incomplete, no Parquet footer yet ({sig[0]} bytes; still being "
                                       f"written? read again when it changes, bad after "
                                       f"{self.config.incomplete_s:g} s unchanged)")
            self._seen[p.name] = sig
            self._incomplete.pop(p.name, None)
            log.warning("%s; run skipped", error)
            return FeedBatch(None, _run_number(p.name), closes_run=True, path=p, error=error)
        self._seen[p.name] = sig
        self._incomplete.pop(p.name, None)
        return FeedBatch(ev, int(run), closes_run=True, path=p)

    def batches(self, stop: threading.Event) -> Iterator[FeedBatch]:
        while not stop.is_set():
            new = self._candidates()
            for p, sig, timed_out in new:
                if stop.is_set():
                    return
                yield self._read(p, sig, timed_out)
            if not new and self.once:
                return
            stop.wait(self.config.poll_interval_s)

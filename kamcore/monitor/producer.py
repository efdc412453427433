"""The live producer: follow a feed, score every event, fill the live store, close runs into the catalog.

For every :class:`~kamcore.monitor.feeds.FeedBatch`:

1. the events are scored by the classifier on hit maps made as its checkpoint records
   (:meth:`kamcore.models.Model.predict`: score ``(N,)``, attention ``(N, T)`` for KamNet);
2. the events, proper times, scores and attention are appended to the
   :class:`~kamcore.monitor.store.LiveStore`; the first batch of a run
   replaces whatever events of that run the store holds (``replace_runs``);
3. when the batch closes its run, the run file (simulated feed only) and its
   score file are written, the run is fitted with the templates and stored in
   the catalog, and the whole stored sequence of (model, templates) is flagged
   again (:mod:`kamcore.monitor.closing`, the steps of ``kamcore runs fit``).
   A bad run file is marked ``bad_file`` in the catalog and skipped; a run file
   still being written is marked ``incomplete`` and read again when it changes
   (the rule: :mod:`kamcore.monitor.feeds`).

Crash safety (a producer killed at any moment, ``kill -9`` included): files
are written atomically (temporary name, then rename), the run row and its fit
are one catalog transaction, and flags are replaced as a set in another.  On
start the producer deletes the temporary files that dead writers left behind
and flags the stored sequence again (a kill between the fit and the flags),
and the feed resumes after what the catalog holds: nothing committed is redone
or lost; the run that was being closed (or was open) is closed again, and its
events replace those the killed producer had put in the live store, so the store
holds each ``(run, event_id)`` once.

The producer is the one writer of the store and (for these runs) the catalog.
It stops after ``max_runs`` closed runs, after ``duration_s``, or when
:meth:`Producer.stop` is called (SIGINT/SIGTERM in :meth:`Producer.run` with
``handle_signals=True``); a run still open then is not closed.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
import signal
import threading
import time
from pathlib import Path

import numpy as np

from ..errors import ConfigError, KamcoreError
from .closing import close_run, flag_stored_sequence, mark_bad_file, write_run_scores
from .config import MonitorConfig
from .feeds import DirectoryFeed, FeedBatch, SimulatedFeed
from .store import LiveStore

__all__ = ["Producer", "ProducerStats", "make_feed", "remove_stale_temp_files"]

log = logging.getLogger(__name__)


@dataclasses.dataclass
class ProducerStats:
    """What a :meth:`Producer.run` did."""

    events: int = 0
    runs_closed: int = 0
    bad_files: int = 0
    incomplete_files: int = 0
    runs: list = dataclasses.field(default_factory=list)
    seconds: float = 0.0
    stopped_by: str = ""


def _catalog_done(catalog):
    """``done(path, mtime_ns)`` for :class:`DirectoryFeed`: the catalog holds the file, ok or bad and unchanged."""
    import datetime as dt

    cache = {"t": -1.0, "by_path": {}}

    def done(path: Path, mtime_ns: int) -> bool:
        if time.monotonic() - cache["t"] > 1.0:  # one catalog query per directory scan, not per file
            cache["by_path"] = {r["path"]: r for r in catalog.list_runs()}
            cache["t"] = time.monotonic()
        r = cache["by_path"].get(str(path.resolve()))
        if r is not None:
            if r["status"] == "ok":
                return True
            if r["status"] == "bad_file" and r["updated_at"]:
                t = dt.datetime.fromisoformat(r["updated_at"]).timestamp() * 1e9
                return mtime_ns <= t  # rewritten since it was marked bad: try again
        return False
    return done


def make_feed(config: MonitorConfig, catalog=None, *, once: bool = False):
    """The feed of ``config.feed``: :class:`SimulatedFeed` for ``"sim"``, else :class:`DirectoryFeed`.

    With a catalog, the simulated feed continues after the highest run number stored (a restart does not
    overwrite runs), and the directory feed skips the files the catalog already holds.
    """
    if config.feed == "sim":
        if catalog is not None:
            last = max((r["run"] for r in catalog.list_runs()), default=config.first_run - 1)
            if last >= config.first_run:
                log.info("catalog holds runs up to %d: the simulated feed starts at run %d", last, last + 1)
                config = MonitorConfig(**{**{k: v for k, v in config.param.values().items() if k != "name"},
                                          "first_run": last + 1})
        return SimulatedFeed(config)
    return DirectoryFeed(config.feed, config, done=_catalog_done(catalog) if catalog is not None else None,
                         once=once)


_TEMP = re.compile(r"\.(?P<name>.+)\.(?P<pid>\d+)\.[0-9a-f]{8}\.tmp")  # kamcore.io.atomic_output's names


def remove_stale_temp_files(directory, *, only: str | None = None) -> int:
    """Delete the temporary files of :func:`kamcore.io.atomic_output` in ``directory`` whose writing process
    is gone (killed in the middle of a write); returns how many.

    ``only``: a regular expression the final file name must match (e.g. score files only, in a directory
    where a DAQ writes its own files).
    """
    n = 0
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return 0
    for e in entries:
        m = _TEMP.fullmatch(e.name)
        if m is None or (only is not None and not re.fullmatch(only, m["name"])) \
                or not e.is_file(follow_symlinks=False):
            continue
        try:
            os.kill(int(m["pid"]), 0)
            continue  # the writer is alive
        except ProcessLookupError:
            pass
        except (PermissionError, OverflowError, ValueError):
            continue  # another user's process, or not a pid
        try:
            os.unlink(e.path)
            n += 1
        except OSError:
            pass
    if n:
        log.info("%s: deleted %d temporary file(s) of killed writers", directory, n)
    return n


class Producer:
    """Follow ``feed`` and write ``store`` and ``catalog`` (see module docstring).

    Parameters
    ----------
    feed : SimulatedFeed or DirectoryFeed (anything with ``batches(stop)``)
    store : LiveStore
        Opened ``writable=True``.
    catalog : kamcore.catalog.Catalog
    model : str, os.PathLike or kamcore.models.Model
        Classifier checkpoint (a path or a shipped name, :func:`kamcore.models.load_model`) or the model
        already loaded; must be the model the templates were made with (:meth:`Templates.check_model`).
    templates : kamcore.fit.Templates
    runs_dir : str or os.PathLike
        Where the simulated feed's run files and score files go.
    fit_config : FitConfig, optional
        Default ``templates.fit_config()``; with a :class:`SimulatedFeed` its constraint rates are
        replaced by the feed's (:meth:`SimulatedFeed.fit_config`).
    flag_config : FlagConfig, optional
    command : str, optional
        Recorded with each fit.
    device : str
    companions : sequence of str, os.PathLike or kamcore.models.Model
        Other classifiers run on every event beside ``model`` (the paper's KamNets trained on other
        backgrounds); their scores and attention go into the live store
        (:attr:`~kamcore.monitor.store.LiveEvents.companions`, keyed by model name), not into the fits.
    """

    def __init__(self, feed, store: LiveStore, catalog, model, templates, *, runs_dir=None, fit_config=None,
                 flag_config=None, command: str | None = None, device: str = "cpu", companions=()):
        from ..fit import FlagConfig
        from ..geometry import default_pmt_table
        from ..models import Model, load_model

        if not store.writable:
            raise ConfigError(f"{store}: the producer needs the store opened writable=True")
        self.feed, self.store, self.catalog, self.templates = feed, store, catalog, templates
        self.model = model if isinstance(model, Model) else load_model(model, device=device)
        templates.check_model(self.model)
        self.ident = dict(self.model.identity)
        self.companions = [m if isinstance(m, Model) else load_model(m, device=device) for m in companions]
        names = [m.name for m in self.companions]
        if self.model.name in names or len(set(names)) != len(names):
            raise ConfigError(f"companion models must differ from the model ({self.model.name}) and from each "
                              f"other, got {names}")
        self.runs_dir = Path(runs_dir) if runs_dir is not None else store.path.with_name(store.path.name + ".runs")
        self.fit_config = fit_config or templates.fit_config()
        if hasattr(feed, "fit_config"):  # a simulated feed knows its runs' rates (SimulatedFeed.fit_config)
            self.fit_config = feed.fit_config(self.fit_config)
        self.flag_config = flag_config or FlagConfig()
        self.command = command
        self.device = device
        self.pmts = default_pmt_table()
        self._stop = threading.Event()
        self._open: list[tuple] = []  # (events, scores, attention) of the run being filled
        self.stopped_by = ""

    def __repr__(self) -> str:
        return f"Producer({self.feed!r} -> {self.store!r}, {self.catalog!r})"

    def stop(self, reason: str = "stop") -> None:
        """Ask :meth:`run` to return after the current batch."""
        self.stopped_by = self.stopped_by or reason
        self._stop.set()

    # ------------------------------------------------------------ one batch
    def score(self, events):
        """Scores ``(N,) float32`` and attention ``(N, T) float32`` or None of ``events``."""
        return self.model.predict(events, pmts=self.pmts, device=self.device)

    def score_companions(self, events) -> dict:
        """``{name: (score, attention or None)}`` of ``events`` under every companion model."""
        return {m.name: m.predict(events, pmts=self.pmts, device=self.device) for m in self.companions}

    def handle(self, batch: FeedBatch, stats: ProducerStats) -> None:
        """Score, store and (when it closes a run) close one batch."""
        from ..events import Events

        if batch.error is not None:
            mark_bad_file(self.catalog, batch.path, batch.run, batch.error, status=batch.file_status)
            if batch.file_status == "incomplete":
                stats.incomplete_files += 1
            else:
                stats.bad_files += 1
            return
        scores, att = self.score(batch.events)
        self.store.append(batch.events, score=scores, attention=att, replace_runs=not self._open,
                          companions=self.score_companions(batch.events))
        stats.events += len(batch.events)
        self._open.append((batch.events, scores, att))
        if not batch.closes_run:
            return
        parts, self._open = self._open, []
        events = Events.concat([p[0] for p in parts])
        scores = np.concatenate([p[1] for p in parts])
        att = np.concatenate([p[2] for p in parts]) if all(p[2] is not None for p in parts) else None
        self._close(batch, events, scores, att, stats)

    def _close(self, batch: FeedBatch, events, scores, att, stats: ProducerStats) -> None:
        from ..io import write_events
        from ..runs import run_file_name, run_info

        path = batch.path
        try:
            if path is None:
                self.runs_dir.mkdir(parents=True, exist_ok=True)
                path = write_events(events, self.runs_dir / run_file_name(batch.run))
            info = run_info(events, str(path))
            write_run_scores(path, events, scores, att, self.ident)
        except (KamcoreError, OSError) as exc:
            log.warning("%s: run %s not closed: %s", path, batch.run, exc)
            mark_bad_file(self.catalog, path or self.runs_dir / run_file_name(batch.run), batch.run, str(exc))
            stats.bad_files += 1
            return
        res = close_run(self.catalog, path, scores, info, self.templates, self.fit_config, model=self.ident,
                        command=self.command)
        self._flag()
        stats.runs_closed += 1
        stats.runs.append(int(info["run"]))
        log.info("run %d closed: %d events, fit %s, f_bkg = %s", info["run"], len(scores), res.status,
                 res.bkg_fraction)

    def recover(self) -> int:
        """After a crash: delete the temporary files of killed producers (in the runs and store directories;
        in a feed directory only those of score files), flag the stored sequence again; returns the number of
        files deleted."""
        n = sum(remove_stale_temp_files(d) for d in {self.runs_dir, self.store.path})
        if isinstance(self.feed, DirectoryFeed):  # the DAQ's directory: only the score files the producer writes
            n += remove_stale_temp_files(self.feed.directory, only=r"run_.*\.scores\.parquet")
        self._flag()
        return n

    def _flag(self) -> None:
        """Flag the stored sequence with the thresholds experts set in the catalog, and raise its alarms."""
        from .alarms import flag_config, sync_alarms

        d, t = self.ident["digest"], self.templates.digest
        flag_stored_sequence(self.catalog, model_digest=d, template_digest=t,
                             flag_config=flag_config(self.catalog, self.flag_config))
        sync_alarms(self.catalog, model_digest=d, template_digest=t)

    # ---------------------------------------------------------------- loop
    def run(self, *, max_runs: int | None = None, duration_s: float | None = None,
            handle_signals: bool = False) -> ProducerStats:
        """Follow the feed until it ends, ``max_runs`` runs are closed, ``duration_s`` passed, or :meth:`stop`."""
        stats = ProducerStats()
        t0 = time.monotonic()
        self.recover()
        timer = None
        if duration_s is not None:
            timer = threading.Timer(duration_s, self.stop, args=("duration",))
            timer.daemon = True
            timer.start()
        old = {}
        if handle_signals and threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                old[sig] = signal.signal(sig, lambda s, f: self.stop(signal.Signals(s).name))
        batches = self.feed.batches(self._stop)
        try:
            for batch in batches:
                self.handle(batch, stats)
                if max_runs is not None and stats.runs_closed + stats.bad_files >= max_runs:
                    self.stop("max_runs")
                if self._stop.is_set():
                    break
            else:
                self.stopped_by = self.stopped_by or "feed ended"
        finally:
            # No thread of this run may outlive it, on errors and Ctrl-C too.  The timer holds the producer
            # (``self.stop``): a timer thread still ending when the command returns could drop the last
            # reference and free the model's tensors while the interpreter finalises; torch releases the GIL
            # there, and a thread taking it back during finalisation is ended with pthread_exit, whose
            # unwinding through torch's C++ frames calls std::terminate ("terminate called without an
            # active exception", SIGABRT).  So: join the timer, and close the feed's generator here (the
            # simulated feed joins its prefetch thread) rather than whenever it is garbage-collected.
            if timer is not None:
                timer.cancel()
            try:
                if hasattr(batches, "close"):
                    batches.close()
            finally:
                if timer is not None:
                    timer.join()
                for sig, h in old.items():
                    signal.signal(sig, h)
        if self._open:
            log.info("stopped with run %s open (%d events stored, run not closed)", self._open[0][0].run[:1],
                     sum(len(p[0]) for p in self._open))
            self._open = []
        stats.seconds = time.monotonic() - t0
        stats.stopped_by = self.stopped_by
        return stats

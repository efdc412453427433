"""One producer session, as ``kamcore monitor`` runs it: an optional history replay, then the feed.

:func:`run_monitor` is the body of ``kamcore monitor``.  With ``history_runs`` and a
simulated feed it first replays that many runs at full speed, with timestamps that end
now (the runs lie back to back before this moment), when the catalog holds no fit of
this (model, templates) yet -- so a dashboard started on an empty catalog has a run
history at once; the live feed then continues with seed ``seed + 1`` so it does not
repeat the history's runs.

A server that starts the producer as its child (the dashboard's embedded producer)
follows it through two things:

* a status file (:func:`write_status`): ``{"state": text, "mode": "starting" | "history"
  | "live", "pid", "updated_ns"}``, written atomically at each change of phase; the pid
  tells the server that a restarted child has come back;
* the parent's pid (:func:`follow_parent`): when the server is gone, the producer stops and
  the process exits (the store is consistent after every append, nothing to flush).
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from pathlib import Path
from typing import Callable

from .config import MonitorConfig

__all__ = ["run_monitor", "write_status", "follow_parent", "STATUS_MODES"]

log = logging.getLogger(__name__)

#: the ``mode`` values of a status file
STATUS_MODES = ("starting", "history", "live")


def write_status(path, state: str, mode: str) -> None:
    """Write the status file ``path`` (module docstring) atomically; ``mode`` is one of :data:`STATUS_MODES`."""
    from ..io import atomic_output

    with atomic_output(Path(path)) as tmp:
        with open(tmp, "w") as f:
            json.dump({"state": state, "mode": mode, "pid": os.getpid(), "updated_ns": time.time_ns()}, f)


def follow_parent(pid: int, on_gone: Callable[[], None], *, poll_s: float = 1.0) -> threading.Thread:
    """Start a daemon thread that calls ``on_gone()`` and ends the process (exit status 0) once this process's
    parent is no longer ``pid`` (the parent exited and the process was re-parented)."""
    def watch():
        while True:
            time.sleep(poll_s)
            if os.getppid() != pid:
                log.info("parent process %d gone: stopping", pid)
                try:
                    on_gone()
                finally:
                    os._exit(0)

    t = threading.Thread(target=watch, name="kamcore-follow-parent", daemon=True)
    t.start()
    return t


def _merge(total, part):
    total.events += part.events
    total.runs_closed += part.runs_closed
    total.bad_files += part.bad_files
    total.incomplete_files += part.incomplete_files
    total.runs.extend(part.runs)
    total.seconds += part.seconds
    total.stopped_by = part.stopped_by
    return total


def run_monitor(config: MonitorConfig, store, catalog, model_path, templates, *, history_runs: int = 0,
                status_path=None, parent_pid: int | None = None, max_runs: int | None = None,
                duration_s: float | None = None, started: Callable | None = None, **producer_kw):
    """Follow the feed of ``config`` into ``store`` and ``catalog`` (module docstring); returns the
    :class:`~kamcore.monitor.ProducerStats` of the session (history and feed together).

    Parameters
    ----------
    config : MonitorConfig (validated)
    store : LiveStore opened ``writable=True``
    catalog : kamcore.catalog.Catalog
    model_path, templates : the classifier (checkpoint path, shipped name or a loaded
        :class:`kamcore.models.Model`; loaded once for the whole session) and its :class:`~kamcore.fit.Templates`
    history_runs : simulated feed: runs replayed at full speed first (when the catalog has no fit of this
        model and these templates)
    status_path : the status file to keep (None: none)
    parent_pid : stop and exit once the parent process is no longer this pid (None: never)
    max_runs, duration_s : stop the feed after that many closed (or bad) runs, after that many seconds
    started : called with each :class:`~kamcore.monitor.Producer` before it runs
    producer_kw : passed to :class:`~kamcore.monitor.Producer` (``runs_dir``, ``fit_config``, ``flag_config``,
        ``command``, ``device``)
    """
    from ..models import Model, load_model
    from .producer import Producer, ProducerStats, make_feed
    from .feeds import SimulatedFeed

    def status(state: str, mode: str) -> None:
        if status_path is not None:
            write_status(status_path, state, mode)

    current: list = []
    if parent_pid:
        follow_parent(int(parent_pid), lambda: [p.stop("parent gone") for p in current])
    status("producer starting", "starting")
    model = model_path if isinstance(model_path, Model) else load_model(model_path,
                                                                        device=producer_kw.get("device", "cpu"))
    templates.check_model(model)  # before any history or feed starts
    total = ProducerStats()
    values = {k: v for k, v in config.param.values().items() if k != "name"}
    command = producer_kw.pop("command", None)
    if history_runs and config.feed == "sim":
        fitted = catalog.list_runs(model_digest=model.identity["digest"], template_digest=templates.digest)
        if not any(r["fit"] for r in fitted):
            first = max((r["run"] for r in catalog.list_runs()), default=config.first_run - 1) + 1
            # the history ran before now: its runs end a run's length before this moment, back to back
            span_ns = int(round(history_runs * (config.run_duration_s() + config.gap_s) * 1e9))
            hist = SimulatedFeed(MonitorConfig(**{**values, "first_run": max(first, config.first_run),
                                                  "batch_events": config.run_length, "realtime": False,
                                                  "start_ns": time.time_ns() - span_ns}))
            status(f"replaying {history_runs} runs of history", "history")
            prod = Producer(hist, store, catalog, model, templates,
                            command=None if command is None else f"{command} (history)", **producer_kw)
            current.append(prod)
            if started is not None:
                started(prod)
            _merge(total, prod.run(max_runs=history_runs, handle_signals=True))
            current.clear()
            if prod.stopped_by != "max_runs":
                return total
    if history_runs and config.feed == "sim":
        values["seed"] = config.seed + 1  # the live feed does not repeat the history's runs
    feed = make_feed(MonitorConfig(**values), catalog)
    status(f"live simulated feed, {config.rate_hz:g} Hz" if config.feed == "sim" else f"following {config.feed}",
           "live")
    prod = Producer(feed, store, catalog, model, templates, command=command, **producer_kw)
    current.append(prod)
    if started is not None:
        started(prod)
    return _merge(total, prod.run(max_runs=max_runs, duration_s=duration_s, handle_signals=True))

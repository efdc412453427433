"""The server side shared by every browser session of one ``panel serve`` process.

One :class:`Backend` per process (:meth:`Backend.instance`): the data-access layer
(:class:`dashboard.data.DataAccess`: model, templates, catalog reads, live buffer, sample
comparisons, all cached and shared) plus the two things that run in the background:

* **poller** -- one thread reads new events from the live store every ``poll_s`` into the
  bounded in-memory buffer (``buffer_events``), looks at the producer and raises the alarms
  of new flags, periods and feed problems; sessions only read the buffer, so per-session
  work is a few array slices;
* **producer** -- with ``producer="embedded"`` the server starts ``kamcore monitor`` (the
  live producer of :mod:`kamcore.monitor` on its simulated feed, with a history replay on a
  catalog without fits of this model) as a child process, once per deployment: the live
  store's writer lock decides, so a second serve process (or a running ``kamcore monitor``)
  leaves it to whoever holds the store.  A :class:`~dashboard.status.ProducerSupervisor`
  restarts the child with backoff when it exits (PRODUCER DOWN in the meantime); the child
  exits when the server goes away.

Sessions never write the live store or fit runs: they read, add notes and draw.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time

from kamcore.errors import ConfigError

from .config import DashboardConfig
from .data import DataAccess, LiveBuffer

__all__ = ["Backend", "LiveBuffer"]

log = logging.getLogger(__name__)


def producer_command(config: DashboardConfig, *, parent_pid: int | None = None) -> list[str]:
    """The ``kamcore monitor`` arguments of the embedded producer of ``config`` (simulated feed into the
    store and catalog this server reads, its status in ``<store>/producer.json``)."""
    store = config.store_path()
    argv = ["monitor", "--feed", "sim", "--model", str(config.model_path()),
            "--templates", str(config.templates_path()), "--store", str(store),
            "--rate", f"{config.rate_hz!r}", "--run-length", str(config.run_length),
            "--seed", str(config.seed), "--history-runs", str(config.history_runs),
            "--poll-interval-s", f"{config.poll_s!r}", "--store-events", str(max(config.buffer_events, 500)),
            "--convection-probability", "0.12", "--convection-strength", "3.0",
            "--status-file", str(store / "producer.json")]
    if config.catalog:
        argv += ["--catalog", config.catalog]
    for path in config.companion_paths():
        argv += ["--companion", str(path)]
    if config.dead_pmts:
        argv += ["--dead-pmts", config.dead_pmts]
    if config.hot_pmts:
        argv += ["--hot-pmts", config.hot_pmts]
    if parent_pid:
        argv += ["--parent-pid", str(parent_pid)]
    return argv


class Backend(DataAccess):
    """Everything one server process shares between sessions (module docstring)."""

    _instance: "Backend | None" = None
    _instance_lock = threading.Lock()

    def __init__(self, config: DashboardConfig | None = None, *, start: bool = True):
        super().__init__(config)
        self._stop = threading.Event()
        self._pid = os.getpid()
        self.producer_state = "external producer"  #: shown in the header
        #: the producer's report (:meth:`dashboard.status.ProducerSupervisor.check`)
        self.producer: dict = {"up": True, "mode": "external", "state": "external producer", "down": None}
        self.supervisor = None
        self._alarm_sync = 0.0
        self._feed_state = ""
        self._threads: list[threading.Thread] = []
        if start:
            self.start()

    @classmethod
    def instance(cls) -> "Backend":
        """The process-wide backend, created (and started) on first use from the environment."""
        with cls._instance_lock:
            # a forked server process (``panel serve --num-procs``) inherits no threads: start its own
            if cls._instance is None or cls._instance._pid != os.getpid():
                cls._instance = cls()
                atexit.register(cls._instance.stop)
            return cls._instance

    def __repr__(self) -> str:
        return (f"Backend(model={self.model['name']}@{self.model['digest']}, store={str(self.store_path)!r}, "
                f"catalog={self.catalog.url!r}, producer={self.producer_state!r})")

    # ------------------------------------------------------------ threads
    def start(self) -> None:
        """Start the poller and, for ``producer="embedded"``, the producer (idempotent)."""
        if self._threads:
            return
        if self.config.producer == "embedded":
            self._start_producer()
        t = threading.Thread(target=self._poll_loop, name="kamdash-poller", daemon=True)
        t.start()
        self._threads.append(t)

    def stop(self) -> None:
        """Stop the producer and the poller (at server exit)."""
        self._stop.set()
        if self.supervisor is not None:
            self.supervisor.stop()
        for t in self._threads:
            t.join(timeout=5.0)

    def _poll_loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.buffer.poll()
                self._read_status()
                self._sync_alarms()
            except Exception:  # noqa: BLE001 - the poller must survive anything a file can do
                log.exception("live-store poll failed")
            self._stop.wait(self.config.poll_s)

    # ------------------------------------------------------------ producer
    def _start_producer(self) -> None:
        """Start the embedded producer under a :class:`~dashboard.status.ProducerSupervisor` unless someone
        already produces into the store.

        A child process (``kamcore monitor``) rather than a thread: scoring and fitting would otherwise
        hold this process's GIL and delay every session.  The store's writer lock decides who produces;
        the child exits when this process goes away (``--parent-pid``).  When it exits otherwise (a crash,
        ``kill -9``), the supervisor starts it again with backoff.
        """
        from .status import ProducerSupervisor

        self.supervisor = ProducerSupervisor(self._spawn_producer, self.store_path / "producer.json",
                                             backoff_s=self.config.restart_backoff())
        if self.supervisor.start():
            self.producer_state = "embedded producer starting"
            self.producer = {"up": True, "mode": "starting", "state": self.producer_state, "down": None}
        else:
            self.supervisor = None

    def _spawn_producer(self):
        """A new ``kamcore monitor`` child, or None when another process holds the store's writer lock."""
        import subprocess
        import sys

        from kamcore.monitor import LiveStore

        try:
            LiveStore(self.store_path, writable=True).close()  # free? (the child takes the lock for good)
        except ConfigError as exc:  # another serve process or 'kamcore monitor' produces: read only
            log.info("not producing: %s", exc)
            self.producer_state = "external producer"
            return None
        env = dict(os.environ, OMP_NUM_THREADS="1")
        argv = [sys.executable, "-m", "kamcore", *producer_command(self.config, parent_pid=os.getpid())]
        with open(self.store_path / "producer.log", "ab") as out:
            child = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        if self.config.producer_nice and hasattr(os, "setpriority"):
            try:  # from here, not a preexec_fn: this process has threads
                os.setpriority(os.PRIO_PROCESS, child.pid, os.getpriority(os.PRIO_PROCESS, 0) + self.config.producer_nice)
            except OSError as exc:
                log.warning("embedded producer: could not lower its priority: %s", exc)
        return child

    def _read_status(self) -> None:
        if self.supervisor is None:
            return
        self.producer = self.supervisor.check()
        self.producer_state = self.producer["state"]

    def status(self, now_ns: int | None = None):
        """The feed state now (:func:`dashboard.status.feed_status`), shared by every session."""
        from .status import feed_status

        return feed_status(now_ns=time.time_ns() if now_ns is None else now_ns,
                           last_wall_ns=self.buffer.newest_wall_ns(), stale_s=self.stale_s(),
                           producer=self.producer)

    # ------------------------------------------------------------ alarms
    def _sync_alarms(self) -> None:
        """Raise the alarms of new flags and periods, and of the feed turning STALE or PRODUCER DOWN."""
        from kamcore.monitor import raise_feed_alarm, sync_alarms

        now = time.monotonic()
        if now - self._alarm_sync >= 2.0:
            self._alarm_sync = now
            new = sync_alarms(self.catalog, model_digest=self.model["digest"], template_digest=self.templates.digest,
                              runs=self.runs(), periods=self.periods())
            if new:
                self._cache.clear()
        st = self.status()
        if st.state != self._feed_state and st.state in ("STALE", "PRODUCER DOWN"):
            since = st.down["since_ns"] if st.down else st.last_wall_ns
            if since is not None:
                _, created = raise_feed_alarm(self.catalog, st.state, since_ns=int(since), detail=st.detail)
                if created:
                    self._cache.clear()
        self._feed_state = st.state

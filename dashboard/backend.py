"""The server side shared by every browser session of one ``panel serve`` process.

One :class:`Backend` per process (:meth:`Backend.instance`):

* **producer** -- with ``producer="embedded"`` the backend starts the live
  producer of :mod:`kamcore.monitor` in a thread, once per deployment: the
  live store's writer lock decides, so a second serve process (or a running
  ``kamcore monitor``) leaves it to whoever holds the store.  On an empty
  catalog it first simulates ``history_runs`` runs at full speed, so the Runs
  view has a history; then it follows the real-time simulated feed.
* **live buffer** -- one poller thread reads new events from the live store
  every ``poll_s`` into a bounded in-memory buffer (``buffer_events``); sessions
  only read that buffer, so per-session work is a few array slices.
* **catalog** -- run, period and note reads are cached for ``poll_s`` seconds and
  shared by all sessions; notes written by one session are visible to all.
* **models** -- the classifier's metadata and the generators are loaded once.

Sessions never write the live store or fit runs: they read, add notes and draw.
"""

from __future__ import annotations

import atexit
import os
import logging
import threading
import time
from collections import deque
from pathlib import Path

import numpy as np

from kamcore.errors import ConfigError, KamcoreError

from .config import DashboardConfig, resolve_asset

__all__ = ["Backend", "LiveBuffer"]

log = logging.getLogger(__name__)


class LiveBuffer:
    """The newest live events in memory, read from a :class:`kamcore.monitor.LiveStore` by :meth:`poll`.

    Parameters
    ----------
    store_path : path of the live-store directory (may not exist yet)
    max_events : events kept (oldest batches dropped first)
    """

    def __init__(self, store_path, max_events: int = 1000):
        self.store_path = Path(store_path)
        self.max_events = int(max_events)
        self._parts: deque = deque()
        self._n = 0
        self._lock = threading.Lock()
        self.seq = 0  #: newest sequence number held
        self.polled_ns = 0  #: wall time of the last successful poll
        self.error: str | None = None  #: last read error (one line), None when fine

    def poll(self) -> int:
        """Read events newer than :attr:`seq`; returns how many arrived."""
        from kamcore.monitor import LiveStore

        if not (self.store_path / "index.json").exists():
            return 0
        try:
            new = LiveStore(self.store_path).since(self.seq)
            self.error = None
        except KamcoreError as exc:
            self.error = str(exc)
            return 0
        self.polled_ns = time.time_ns()
        if not len(new):
            return 0
        with self._lock:
            self._parts.append(new)
            self._n += len(new)
            while len(self._parts) > 1 and self._n - len(self._parts[0]) >= self.max_events:
                self._n -= len(self._parts.popleft())
            self.seq = int(new.seq[-1])
        return len(new)

    def latest(self, n: int | None = None):
        """The newest ``n`` events held (all when None), oldest first, as one LiveEvents."""
        from kamcore.monitor import LiveEvents

        with self._lock:
            parts = list(self._parts)
        if n is not None:
            keep, have = [], 0
            for p in reversed(parts):
                if have >= n:
                    break
                keep.insert(0, p)
                have += len(p)
            parts = keep
        out = LiveEvents.concat(parts)
        if n is not None and len(out) > n:
            out = out.take(slice(len(out) - n, None))
        return out

    def event(self, seq: int | None = None):
        """The event with sequence number ``seq`` (newest when None or 0), or None when not held."""
        with self._lock:
            parts = list(self._parts)
        if not parts:
            return None
        if not seq:
            last = parts[-1]
            return last.take(len(last) - 1)
        for p in reversed(parts):
            if len(p) and p.seq[0] <= seq <= p.seq[-1]:
                i = p.find(int(seq))
                return None if i is None else p.take(i)
        return None

    def run_scores(self, run: int) -> tuple[np.ndarray, np.ndarray]:
        """Scores ``(N,)`` and arrival (wall-clock) times ``(N,)`` ns of run ``run``'s events held."""
        with self._lock:
            parts = list(self._parts)
        s, t = [], []
        for p in parts:
            m = p.events.run == run
            if m.any():
                s.append(p.score[m])
                t.append(p.wall_ns[m])
        if not s:
            return np.zeros(0, np.float32), np.zeros(0, np.int64)
        return np.concatenate(s), np.concatenate(t)

    def __len__(self) -> int:
        return self._n


class _TTLCache:
    """Small thread-safe cache: ``get(key, compute)`` recomputes after ``ttl_s``; at most ``max_items``."""

    def __init__(self, ttl_s: float, max_items: int = 64):
        from collections import OrderedDict

        self.ttl_s, self.max_items = ttl_s, max_items
        self._d: OrderedDict = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key, compute):
        now = time.monotonic()
        with self._lock:
            hit = self._d.get(key)
            if hit is not None and now - hit[0] < self.ttl_s:
                self._d.move_to_end(key)
                return hit[1]
        value = compute()
        with self._lock:
            self._d[key] = (now, value)
            self._d.move_to_end(key)
            while len(self._d) > self.max_items:
                self._d.popitem(last=False)
        return value

    def clear(self) -> None:
        with self._lock:
            self._d.clear()


class Backend:
    """Everything one server process shares between sessions (module docstring)."""

    _instance: "Backend | None" = None
    _instance_lock = threading.Lock()

    def __init__(self, config: DashboardConfig | None = None, *, start: bool = True):
        from kamcore.catalog import Catalog
        from kamcore.fit import Templates, model_identity
        from kamcore.train import checkpoint_paths

        self.config = cfg = config or DashboardConfig.from_env()
        self.model_path = cfg.model_path()
        meta_path = checkpoint_paths(self.model_path)[1]
        if not meta_path.exists():
            raise ConfigError(f"{meta_path}: classifier checkpoint not found (KAMDASH_MODEL={cfg.model!r})")
        import json

        self.model_meta = json.loads(meta_path.read_text())
        self.model = model_identity(self.model_path, self.model_meta)
        self.templates_path = cfg.templates_path()
        self.templates = Templates.load(self.templates_path)
        if self.templates.model["digest"] != self.model["digest"]:
            raise ConfigError(f"{self.templates_path}: templates were made with model "
                              f"{self.templates.model['name']}@{self.templates.model['digest']}, not "
                              f"{self.model['name']}@{self.model['digest']}")
        self.catalog = Catalog(cfg.catalog or None)
        self.store_path = cfg.store_path()
        self.buffer = LiveBuffer(self.store_path, cfg.buffer_events)
        self._cache = _TTLCache(max(cfg.poll_s, 0.5))
        self._cache_long = _TTLCache(600.0, max_items=8)
        self._generators: dict = {}
        self._gen_lock = threading.Lock()
        self._stop = threading.Event()
        self._pid = os.getpid()
        self.producer_state = "external producer"  #: shown in the header
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
        child = getattr(self, "_child", None)
        if child is not None and child.poll() is None:
            child.terminate()
            try:
                child.wait(10)
            except Exception:  # noqa: BLE001
                child.kill()
        for t in self._threads:
            t.join(timeout=5.0)

    def _poll_loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.buffer.poll()
                self._read_status()
            except Exception:  # noqa: BLE001 - the poller must survive anything a file can do
                log.exception("live-store poll failed")
            self._stop.wait(self.config.poll_s)

    def _start_producer(self) -> None:
        """Start the embedded producer in a child process unless someone already produces into the store.

        A child process (``python -m dashboard.producer``) rather than a thread: scoring and
        fitting would otherwise hold this process's GIL and delay every session.  The store's
        writer lock decides who produces; the child exits when this process goes away.
        """
        import json
        import subprocess
        import sys

        from kamcore.monitor import LiveStore

        try:
            LiveStore(self.store_path, writable=True).close()  # free? (the child takes the lock for good)
        except ConfigError as exc:  # another serve process or 'kamcore monitor' produces: read only
            log.info("not producing: %s", exc)
            self.producer_state = "external producer"
            return
        env = dict(os.environ, KAMDASH_PRODUCER_CONFIG=self.config.to_json(),
                   KAMDASH_PARENT_PID=str(os.getpid()), OMP_NUM_THREADS="1")
        log_path = self.store_path / "producer.log"
        with open(log_path, "ab") as out:
            self._child = subprocess.Popen([sys.executable, "-m", "dashboard.producer"], env=env, stdout=out,
                                           stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self.producer_state = "embedded producer starting"
        self._status_path = self.store_path / "producer.json"
        _ = json  # status is read in _poll_loop

    def _read_status(self) -> None:
        import json

        child = getattr(self, "_child", None)
        if child is None:
            return
        code = child.poll()
        if code is not None:
            self.producer_state = f"embedded producer exited (code {code}, see {self.store_path / 'producer.log'})"
            return
        try:
            st = json.loads(self._status_path.read_text())
            self.producer_state = f"embedded producer: {st.get('state', '?')}"
        except (OSError, ValueError):
            pass

    # ------------------------------------------------------------ catalog
    def runs(self) -> list[dict]:
        """Runs of the catalog with their fit by this model and templates (cached, shared)."""
        return self._cache.get("runs", lambda: self.catalog.list_runs(
            model_digest=self.model["digest"], template_digest=self.templates.digest))

    def periods(self) -> list[dict]:
        return self._cache.get("periods", lambda: self.catalog.periods(
            model_digest=self.model["digest"], template_digest=self.templates.digest))

    def notes(self, run: int | None = None) -> list[dict]:
        return self._cache.get(("notes", run), lambda: self.catalog.notes(run=run))

    def add_note(self, text: str, *, author: str, run: int | None = None, kind: str = "note") -> int:
        """Store a shift note (or an acknowledgement) for every session to see."""
        note = self.catalog.add_note(text, author=author, run=run, kind=kind)
        self._cache.clear()
        return note

    def resolve_note(self, note_id: int, *, by: str) -> None:
        self.catalog.resolve_note(note_id, by=by)
        self._cache.clear()

    def run_scores(self, run: dict) -> np.ndarray:
        """Scores of a closed run from its score file (cached); empty when the file is gone."""
        from kamcore.io import read_scores
        from kamcore.runs.files import score_path

        def load():
            try:
                return read_scores(score_path(run["path"]))["score"].astype(np.float64)
            except (KamcoreError, OSError, TypeError) as exc:
                log.info("run %s: no scores (%s)", run.get("run"), exc)
                return np.zeros(0)
        return self._cache.get(("scores", run["run"], run.get("updated_at")), load)

    # ------------------------------------------------------------ models
    @property
    def has_attention(self) -> bool:
        """The classifier reports attention per time slice (KamNet)."""
        return self.model_meta.get("model") == "kamnet"

    def results(self) -> dict | None:
        """The classifier's shipped held-out results (``kamcore evaluate``: per-source rejection, mean
        attention), or None when this model has none."""
        import json

        def load():
            name = self.model["name"]
            for file in (f"{name}_results.json", "classifier_results.json"):
                try:
                    doc = json.loads(Path(resolve_asset(file, "")).read_text())
                except (OSError, ValueError):
                    continue
                entry = doc.get("models", {}).get(name)
                if entry is not None:
                    return {"command": doc.get("command"), "signal": doc.get("signal"), **entry}
            return None
        return self._cache.get("results", load)

    def generator(self, kind: str):
        """The ``"vae"`` or ``"gan"`` generator (loaded once), or raise ConfigError naming the file."""
        from kamcore.train import checkpoint_paths, load_model

        if kind not in ("vae", "gan"):
            raise ConfigError(f"generator must be 'vae' or 'gan', got {kind!r}")
        with self._gen_lock:
            if kind not in self._generators:
                path = resolve_asset(getattr(self.config, kind))
                if not checkpoint_paths(path)[1].exists():
                    raise ConfigError(f"{checkpoint_paths(path)[1]}: {kind.upper()} checkpoint not found")
                self._generators[kind] = load_model(path, kinds=(kind,))
            return self._generators[kind]

    def compare_sample(self, kind: str, seed: int) -> dict:
        """Monte Carlo and ``kind``-generated Xe136_0vbb events of one seed, their observables and metrics.

        Cached per (kind, seed) and shared by sessions.  Returns ``{"mc", "gen"`` (Events),
        ``"obs_mc", "obs_gen"`` (:func:`kamcore.metrics.event_observables`), ``"metrics"``
        (``{observable: {"iou", "wd"}}``, :func:`kamcore.metrics.histogram_iou` and
        :func:`kamcore.metrics.normalised_wasserstein`), ``"model"`` (checkpoint metadata)}.
        """
        def compute():
            from kamcore.metrics import event_observables, histogram_iou, normalised_wasserstein
            from kamcore.sim import simulate
            from kamcore.train.generative import generate_events

            model, meta = self.generator(kind)
            n = self.config.generated_events
            mc = simulate("Xe136_0vbb", n, seed=int(seed), energy_window_mev=(2.0, 3.0), max_radius_cm=157.0)
            gen = generate_events(model, n, seed=int(seed))
            om, og = event_observables(mc), event_observables(gen)
            metrics = {k: {"iou": histogram_iou(om[k], og[k]), "wd": normalised_wasserstein(om[k], og[k])}
                       for k in om}
            return {"mc": mc, "gen": gen, "obs_mc": om, "obs_gen": og, "metrics": metrics, "model": meta}
        return self._cache_long.get((kind, int(seed)), compute)

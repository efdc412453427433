"""The data-access layer of a dashboard server: what every session reads, cached and shared.

:class:`DataAccess` holds, per server process:

* **model** -- the classifier's checkpoint info (:func:`kamcore.models.checkpoint_info`: its
  JSON and identity, no weights loaded) and its score templates, checked to be of that model
  (:meth:`kamcore.fit.Templates.check_model`); the shipped held-out results and working point;
* **live buffer** -- :class:`LiveBuffer`, the newest events of the live store in memory
  (filled by the server's poller, :class:`dashboard.backend.Backend`);
* **catalog** -- runs, periods, notes, alarms and thresholds, cached for ``poll_s`` seconds and
  shared by all sessions; the notes, acknowledgements and thresholds a session writes are
  seen by all at their next tick;
* **health** -- the detector health of each closed run (PMT occupancy, hot and dead PMTs; made by the
  producer, :mod:`kamcore.monitor.health`), the trends against wall-clock time, the KS compatibility
  of a run with the curated reference run (:func:`kamcore.monitor.compare_runs`, cached per pair);
* **shift workflow** -- good / bad marks, the curated reference run, the shift with its checklist and
  sign-off (written through :class:`kamcore.catalog.Catalog`, who and when stored there), and the e-log
  entry of a run (:func:`kamcore.monitor.run_elog`);
* **samples** -- Monte Carlo against generated events (:func:`kamcore.metrics.compare_generator`),
  computed once per (generator, seed) and cached; the generators are loaded once.

Everything drawn is computed by :mod:`kamcore` (the producer, ``kamcore monitor``, computes
scores, fits and flags; this layer reads them).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from pathlib import Path

import numpy as np

from kamcore.errors import ConfigError, KamcoreError

from .config import DashboardConfig, resolve_asset

__all__ = ["DataAccess", "LiveBuffer"]

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
        if len(new) > self.max_events:  # a first poll reads the whole store: keep only what the buffer holds
            new = new.take(slice(len(new) - self.max_events, None))
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

    def event(self, seq: int | str | None = None):
        """The event with sequence number ``seq`` (newest when None or 0), or None when not held.

        ``seq`` may also be an event address ``"RUN:EVENT"`` (:attr:`dashboard.selection.Selection.event`);
        a bare number in a string is a sequence number (links of earlier versions).
        """
        if isinstance(seq, str):
            from kamcore.monitor import parse_event_address

            if seq.strip().isdigit():
                seq = int(seq)
            else:
                try:
                    addr = parse_event_address(seq)
                except KamcoreError:
                    return None
                return None if addr is None else self.find(*addr)
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

    def find(self, run: int, event_id: int):
        """The newest held event with address ``(run, event_id)``, or None."""
        with self._lock:
            parts = list(self._parts)
        for p in reversed(parts):
            m = np.flatnonzero((p.events.run == run) & (p.events.event_id == event_id))
            if len(m):
                return p.take(int(m[-1]))
        return None

    def newest_wall_ns(self) -> int | None:
        """When the newest held event was stored (ns since the epoch), None when none is held."""
        with self._lock:
            if not self._parts:
                return None
            return int(self._parts[-1].wall_ns[-1])

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

    def pop(self, key) -> None:
        with self._lock:
            self._d.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._d.clear()


class DataAccess:
    """The reads (and the crew's notes, acknowledgements and thresholds) of one server process (module
    docstring).  Starts no thread: :class:`dashboard.backend.Backend` adds the poller and the producer."""

    def __init__(self, config: DashboardConfig | None = None):
        from kamcore.catalog import Catalog
        from kamcore.fit import Templates
        from kamcore.models import checkpoint_info

        self.config = cfg = config or DashboardConfig.from_env()
        self.model_path = cfg.model_path()
        try:
            info = checkpoint_info(self.model_path)
        except KamcoreError as exc:
            raise ConfigError(f"{exc} (KAMDASH_MODEL={cfg.model!r})") from None
        self.model_meta = info.meta
        self.model = info.identity
        #: the companion classifiers the producer also runs: name -> their checkpoint's meta (kind, config)
        self.companions: dict[str, dict] = {}
        for path in cfg.companion_paths():
            try:
                c = checkpoint_info(path)
            except KamcoreError as exc:
                raise ConfigError(f"{exc} (KAMDASH_COMPANIONS={cfg.companions!r})") from None
            self.companions[c.identity["name"]] = c.meta
        #: the hit maps the model reads (grid, time slices, vertex method): the pages draw events on them
        self.input_config = info.input
        self.templates_path = cfg.templates_path()
        self.templates = Templates.load(self.templates_path)
        self.templates.check_model(self.model, where=self.templates_path)
        self.catalog = Catalog(cfg.catalog or None)
        self.store_path = cfg.store_path()
        self.buffer = LiveBuffer(self.store_path, cfg.buffer_events)
        self._cache = _TTLCache(max(cfg.poll_s, 0.5))
        self._cache_long = _TTLCache(600.0, max_items=8)
        self._generators: dict = {}
        self._gen_lock = threading.Lock()

    # ------------------------------------------------------------ alarms and thresholds
    def alarms(self) -> list[dict]:
        """The newest 200 alarms (open and acknowledged), newest first (cached, shared)."""
        return self._cache.get("alarms", lambda: self.catalog.alarms(limit=200))

    def ack_alarms(self, ids, *, by: str, text: str) -> list[int]:
        """Acknowledge alarms (who, now, own text); every session sees it at its next tick."""
        done = self.catalog.ack_alarms(ids, by=by, text=text)
        self._cache.clear()
        return done

    def settings(self) -> dict:
        return self._cache.get("settings", self.catalog.settings)

    def settings_log(self) -> list[dict]:
        return self._cache.get("settings_log", self.catalog.settings_log)

    def experts(self) -> set[str]:
        """User names (basic-auth) allowed to change thresholds."""
        return {x.strip() for x in self.config.experts.split(",") if x.strip()}

    def set_setting(self, key: str, value, *, user: str | None) -> None:
        """Change a threshold as ``user`` (must be an expert; ConfigError otherwise), logged in the catalog."""
        if not user or user not in self.experts():
            raise ConfigError(f"only experts ({', '.join(sorted(self.experts())) or 'none configured: KAMDASH_EXPERTS'}) "
                              f"may change thresholds; you are {user or 'not logged in'}")
        self.catalog.set_setting(key, value, by=user)
        self._cache.clear()

    def stale_s(self) -> float:
        """Seconds without an event after which the feed is STALE (the expert setting, else the config)."""
        st = self.settings().get("stale_s")
        return float(st["value"]) if st else float(self.config.stale_s)

    def flag_config(self):
        """The :class:`kamcore.fit.FlagConfig` the producer flags with: defaults and the experts' thresholds
        (:func:`kamcore.monitor.flag_config`; cached, shared)."""
        from kamcore.monitor import flag_config

        return self._cache.get("flag_config", lambda: flag_config(self.catalog))

    # ------------------------------------------------------------ events
    def event(self, run: int, event_id: int):
        """Event ``(run, event_id)``: from the live buffer, else the closed run's files
        (:func:`kamcore.monitor.load_event`), else the live store on disk; ``(LiveEvents, where)`` with
        ``where`` in ``"buffer" | "run file" | "live store"``, or ``(None, reason)``."""
        ev = self.buffer.find(run, event_id)
        if ev is not None:
            return ev, "buffer"

        def load():
            from kamcore.monitor import LiveStore, load_event

            row = next((r for r in self.runs() if r["run"] == run), None)
            if row is not None and row.get("path") and row.get("status") == "ok":
                try:
                    return load_event(row["path"], event_id, run=run), "run file"
                except (KamcoreError, OSError) as exc:
                    return None, " ".join(str(exc).split())
            try:
                held = LiveStore(self.store_path).latest(10**9)
            except (KamcoreError, OSError) as exc:
                return None, f"run {run} is not closed and the live store cannot be read ({exc})"
            m = np.flatnonzero((held.events.run == run) & (held.events.event_id == event_id))
            if len(m):
                return held.take(int(m[-1])), "live store"
            return None, (f"run {run} has no event {event_id} in the catalog's run file or the live store"
                          if row is None or row.get("status") == "ok" else
                          f"run {run}: {row.get('status')} ({row.get('error')})")
        key = ("event", int(run), int(event_id))
        res = self._cache_long.get(key, load)
        if res[0] is None:  # not (yet) found: ask again next time
            self._cache_long.pop(key)
        return res

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

    # ------------------------------------------------------------ health
    def health_summaries(self) -> dict[int, dict]:
        """Per-run health without per-PMT arrays (:meth:`kamcore.catalog.Catalog.health_summaries`; cached)."""
        return self._cache.get("health", self.catalog.health_summaries)

    def run_health(self, run: int) -> dict | None:
        """The stored health of run ``run`` with its per-PMT counts and z (cached until it is rewritten)."""
        summ = self.health_summaries().get(int(run))
        if summ is None:
            return None
        return self._cache_long.get(("health", int(run), summ["updated_at"]), lambda: self.catalog.run_health(run))

    def trends(self) -> dict:
        """Columns of the trend plots (:func:`kamcore.monitor.run_trends`) of the catalog's runs."""
        from kamcore.monitor import run_trends

        return self._cache.get("trends", lambda: run_trends(self.runs(), self.health_summaries()))

    def compatibility(self, run: dict, reference: dict) -> dict:
        """KS p-values of score, Nhit and energy of ``run`` against ``reference`` (catalog rows), cached per pair."""
        from kamcore.monitor import compare_runs

        key = ("ks", run["run"], run.get("updated_at"), reference["run"], reference.get("updated_at"))
        return self._cache_long.get(key, lambda: compare_runs(run, reference))

    # ------------------------------------------------------------ shift workflow
    def curated_reference(self) -> dict | None:
        """The curated reference run choice (who, when, why), or None (cached)."""
        return self._cache.get("curated_reference", self.catalog.curated_reference)

    def set_reference_run(self, run: int | None, *, by: str, reason: str | None = None) -> None:
        self.catalog.set_reference_run(run, by=by, reason=reason)
        self._cache.clear()

    def run_marks(self, run: int) -> list[dict]:
        return self._cache.get(("marks", int(run)), lambda: self.catalog.run_marks(run=int(run), limit=20))

    def mark_run(self, run: int, mark: str, *, by: str, reason: str | None = None) -> None:
        self.catalog.mark_run(run, mark, by=by, reason=reason)
        self._cache.clear()

    def current_shift(self) -> dict | None:
        return self._cache.get("shift", self.catalog.current_shift)

    def start_shift(self, shifter: str) -> int:
        sid = self.catalog.start_shift(shifter)
        self._cache.clear()
        return sid

    def check_item(self, shift_id: int, item: str, *, by: str, checked: bool = True) -> None:
        self.catalog.check_item(shift_id, item, by=by, checked=checked)
        self._cache.clear()

    def sign_off_shift(self, shift_id: int, *, by: str, comment: str | None = None) -> None:
        self.catalog.sign_off_shift(shift_id, by=by, comment=comment)
        self._cache.clear()

    def elog(self, run: int) -> str:
        """The Markdown e-log entry of run ``run`` with its plots embedded (:func:`kamcore.monitor.run_elog`)."""
        from kamcore.monitor import run_elog

        return run_elog(self.catalog, run, model_digest=self.model["digest"], template_digest=self.templates.digest,
                        templates=self.templates, plots="embed").markdown

    # ------------------------------------------------------------ models
    @property
    def has_attention(self) -> bool:
        """The classifier reports attention per time slice (KamNet)."""
        return self.model_meta.get("model") == "kamnet"

    def attention_models(self) -> list[str]:
        """Names of the classifiers whose attention the live events carry: the fits' model (when it is a
        KamNet), then the companions that are."""
        first = [self.model["name"]] if self.has_attention else []
        return first + [n for n, meta in self.companions.items() if meta.get("model") == "kamnet"]

    def results(self, model: str | None = None) -> dict | None:
        """The shipped held-out results (``kamcore evaluate``: per-source rejection, mean attention) of the
        classifier named ``model`` (default: the fits' model), or None when it has none."""
        import json

        name = model or self.model["name"]

        def load():
            for file in (f"{name}_results.json", "classifier_results.json"):
                try:
                    doc = json.loads(Path(resolve_asset(file, "")).read_text())
                except (OSError, ValueError):
                    continue
                entry = doc.get("models", {}).get(name)
                if entry is not None:
                    return {"command": doc.get("command"), "signal": doc.get("signal"), **entry}
            return None
        return self._cache.get(("results", name), load)

    def working_point(self) -> dict | None:
        """The classifier's working point from its held-out results: ``{"threshold", "acceptance",
        "bi214_rejection"}`` (the score cut keeping ``acceptance`` of 0vbb, ``kamcore evaluate``), or None."""
        res = self.results()
        if not res or res.get("threshold") is None:
            return None
        bi = (res.get("sources") or {}).get("Bi214") or {}
        return {"threshold": float(res["threshold"]), "acceptance": float(res.get("acceptance", 0.9)),
                "bi214_rejection": bi.get("rejection")}

    def generator(self, kind: str):
        """The ``"vae"`` or ``"gan"`` :class:`kamcore.models.Generator` (loaded once), or raise a KamcoreError
        naming the file."""
        from kamcore.models import load_generator

        if kind not in ("vae", "gan"):
            raise ConfigError(f"generator must be 'vae' or 'gan', got {kind!r}")
        with self._gen_lock:
            if kind not in self._generators:
                self._generators[kind] = load_generator(resolve_asset(getattr(self.config, kind)), kinds=(kind,))
            return self._generators[kind]

    def compare_sample(self, kind: str, seed: int):
        """Monte Carlo and ``kind``-generated Xe136_0vbb events of one seed, their distributions and metrics:
        a :class:`kamcore.metrics.SampleComparison` (:func:`kamcore.metrics.compare_generator`), cached per
        (kind, seed) and shared by sessions."""
        from kamcore.metrics import compare_generator

        def compute():
            return compare_generator(self.generator(kind), self.config.generated_events, seed=int(seed))
        return self._cache_long.get((kind, int(seed)), compute)

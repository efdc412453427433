"""The live store: the latest events, their scores and attention, in a directory that readers poll.

Layout of the directory (one writer, any number of readers, no locks needed to read):

* ``chunk_<first seq>.npz`` -- one appended batch of ``n`` events, written
  atomically (temporary name + rename); ``chunk_<first seq>_<seq>.npz`` is a
  chunk rewritten without a replaced run (below).  Arrays (``N`` events, ``H`` hits):
  ``seq`` (N,) int64, ``run`` (N,) int32, ``event_id`` (N,) int64,
  ``timestamp_ns`` (N,) int64 (detector time), ``wall_ns`` (N,) int64 (when the
  producer stored it), ``source`` (N,) str, ``energy_mev`` (N,) float32,
  ``vertex_cm`` (N, 3) float32, ``score`` (N,) float32, ``attention``
  (N, T) float32 (absent for models without attention), for each companion
  classifier ``companion_score__<name>`` (N,) and ``companion_attention__<name>``
  (N, T) (:attr:`LiveEvents.companions`), ``offsets`` (N+1,)
  int64, ``pmt`` (H,) int16, ``t_ns`` (H,) float32 (raw hit times, ns),
  ``tau_ns`` (H,) float32 (proper times: hit time - time of flight - T0, ns,
  :func:`kamcore.preprocess.proper_times`), ``q_pe`` (H,) float32.
* ``index.json`` -- ``{"format", "version", "seq", "max_events", "chunks":
  [{"file", "first_seq", "last_seq", "n"}], "updated_ns"}``, rewritten
  atomically after each chunk.  ``seq`` is the sequence number of the last
  stored event; it only increases (event ``k`` ever stored has ``seq = k``,
  starting at 1), also across restarts of the producer.
* ``.writer.lock`` -- held (``fcntl.flock``) by the one producer.

A run stored again replaces itself: ``append(..., replace_runs=True)`` removes
the held events of the batch's runs in the same index write that adds the batch
(chunks left with other events are rewritten under a new name, emptied ones are
dropped).  The producer does this with the first batch of every run, so a run
closed again after a ``kill -9`` (or re-simulated after a restart) is held once:
no ``(run, event_id)`` is in the store twice.

Bounds: after an append the oldest chunks are dropped while the rest still hold
``max_events`` events, so the directory holds fewer than ``max_events +
batch`` events; a dropped file is deleted one append later, so a reader that
has just read the index still finds it.  Readers load only the chunks they need.

>>> import tempfile
>>> from kamcore.events import Events
>>> ev = Events.from_columns(offsets=[0, 1, 3], pmt=[3, 4, 5], t_ns=[1.0, 2.0, 3.0], q_pe=[1.0, 1.0, 2.0])
>>> with tempfile.TemporaryDirectory() as d:
...     with LiveStore(d, max_events=3, writable=True) as w:
...         for _ in range(3):
...             _ = w.append(ev, score=[0.2, 0.9])
...     r = LiveStore(d)
...     r.seq, len(r.latest(10)), r.since(5).seq.tolist()
(6, 4, [6])
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import re
import time
from pathlib import Path

import numpy as np

from ..errors import ConfigError, EventFileError
from ..events import Events

__all__ = ["LiveStore", "LiveEvents"]

log = logging.getLogger(__name__)

_INDEX = "index.json"
_LOCK = ".writer.lock"
_FORMAT = "kamdash.live"
_VERSION = 1


@dataclasses.dataclass
class LiveEvents:
    """Events read from a :class:`LiveStore` with what the producer computed for them.

    Attributes
    ----------
    events : Events
        Hits (``pmt``, raw ``t_ns``, ``q_pe``), run, event id, timestamp, source, energy, vertex.
    seq : (N,) int64, store sequence numbers (increasing)
    score : (N,) float32, classifier score
    attention : (N, T) float32 or None
    tau_ns : (H,) float32, proper hit times (ns), aligned with ``events.t_ns``
    wall_ns : (N,) int64, wall-clock time the producer stored each event, ns since the epoch
    companions : dict
        ``{model name: (score (N,) float32, attention (N, T) float32 or None)}`` of the companion
        classifiers the producer also ran (e.g. the KamNet trained on C10 beside the Bi214 one, whose
        scores feed the fits); only names every event of these has.
    """

    events: Events
    seq: np.ndarray
    score: np.ndarray
    attention: np.ndarray | None
    tau_ns: np.ndarray
    wall_ns: np.ndarray
    companions: dict = dataclasses.field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.seq)

    def take(self, idx) -> "LiveEvents":
        """The events at positions ``idx`` (int array, slice or int), with their hits and proper times."""
        pos = np.arange(len(self))[idx]
        pos = np.atleast_1d(pos).astype(np.int64)
        off = self.events.offsets
        hits = np.concatenate([np.arange(off[i], off[i + 1]) for i in pos]) if len(pos) else np.zeros(0, np.int64)
        return LiveEvents(self.events.take(pos), self.seq[pos], self.score[pos],
                          None if self.attention is None else self.attention[pos], self.tau_ns[hits],
                          self.wall_ns[pos], {k: (sc[pos], None if a is None else a[pos])
                                              for k, (sc, a) in self.companions.items()})

    def find(self, seq: int) -> int | None:
        """Position of the event with sequence number ``seq``, or None when it is not held."""
        i = int(np.searchsorted(self.seq, seq))
        return i if i < len(self.seq) and self.seq[i] == seq else None

    @classmethod
    def concat(cls, parts) -> "LiveEvents":
        """Join batches in order (attention only when every part has it)."""
        parts = [p for p in parts if len(p)]
        if not parts:
            return _empty()
        if len(parts) == 1:
            return parts[0]
        att = [p.attention for p in parts]
        return cls(Events.concat([p.events for p in parts]), np.concatenate([p.seq for p in parts]),
                   np.concatenate([p.score for p in parts]),
                   None if any(a is None for a in att) else np.concatenate(att),
                   np.concatenate([p.tau_ns for p in parts]), np.concatenate([p.wall_ns for p in parts]),
                   _join_companions([p.companions for p in parts]))


def _join_companions(parts: list[dict]) -> dict:
    """The companions every part has, joined in order (attention only when every part has it)."""
    names = set(parts[0]).intersection(*parts[1:]) if parts else set()
    out = {}
    for k in sorted(names):
        atts = [p[k][1] for p in parts]
        out[k] = (np.concatenate([p[k][0] for p in parts]),
                  None if any(a is None for a in atts) else np.concatenate(atts))
    return out


#: a companion's name as stored (chunk keys ``companion_score__<name>``, ``companion_attention__<name>``)
_COMPANION_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")
_CS, _CA = "companion_score__", "companion_attention__"


def _per_event(score, attention, n: int, what: str = ""):
    """``score`` as ``(n,) float32`` and ``attention`` as ``(n, T) float32`` (or None), or a ConfigError."""
    score = np.asarray(score, np.float32)
    if score.shape != (n,):
        raise ConfigError(f"LiveStore.append: {what}score must have shape ({n},), got {score.shape}")
    if attention is not None:
        attention = np.asarray(attention, np.float32)
        if attention.ndim != 2 or attention.shape[0] != n:
            raise ConfigError(f"LiveStore.append: {what}attention must have shape ({n}, T), got {attention.shape}")
    return score, attention


def _empty() -> LiveEvents:
    return LiveEvents(Events.empty(), np.zeros(0, np.int64), np.zeros(0, np.float32), None,
                      np.zeros(0, np.float32), np.zeros(0, np.int64))


class LiveStore:
    """The latest events of the live producer (see module docstring).

    Parameters
    ----------
    path : str or os.PathLike
        The store directory.
    max_events : int, optional
        Writer only: events kept (default: the value in the index, else 2000).
    writable : bool
        Open as the one writer: creates the directory, takes the writer lock
        (:class:`~kamcore.errors.ConfigError` if another producer holds it) and
        continues the sequence numbers of an existing index.
    """

    def __init__(self, path: str | os.PathLike, *, max_events: int | None = None, writable: bool = False):
        self.path = Path(path)
        self.writable = bool(writable)
        self._lock_fd: int | None = None
        self._retired: list[str] = []
        self._chunk_runs: dict[str, np.ndarray] = {}  # writer: chunk file -> the runs it holds
        if writable:
            try:
                self.path.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise ConfigError(f"{self.path}: cannot create the live store ({exc.strerror})") from None
            self._lock()
            idx = self._read_index()
            if max_events is not None and max_events < 1:
                raise ConfigError(f"LiveStore max_events must be >= 1, got {max_events}")
            self._index = {"format": _FORMAT, "version": _VERSION, "seq": int(idx["seq"]),
                           "max_events": int(max_events or idx.get("max_events") or 2000),
                           "chunks": list(idx["chunks"]), "updated_ns": idx.get("updated_ns")}
            self._sweep()

    def __repr__(self) -> str:
        return f"LiveStore({str(self.path)!r}{', writable' if self.writable else ''})"

    # ---------------------------------------------------------------- writer
    def _lock(self) -> None:
        import fcntl

        fd = os.open(self.path / _LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise ConfigError(f"{self.path}: another producer writes this live store (lock {_LOCK} is held)") from None
        self._lock_fd = fd

    def close(self) -> None:
        """Release the writer lock (readers need not close)."""
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def __enter__(self) -> "LiveStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _sweep(self) -> None:
        """Delete chunk files the index does not list (left by a crash or retired earlier)."""
        listed = {c["file"] for c in self._index["chunks"]}
        for p in self.path.glob("chunk_*.npz"):
            if p.name not in listed:
                with contextlib.suppress(OSError):
                    p.unlink()

    def append(self, events: Events, *, score, attention=None, tau_ns=None, wall_ns: int | None = None,
               replace_runs: bool = False, companions: dict | None = None) -> int:
        """Store a batch of ``N`` events with their scores ``(N,)`` (and attention ``(N, T)``); returns the last seq.

        ``tau_ns`` ``(H,)`` are the proper hit times (computed here when None).  With ``replace_runs`` the
        events of the batch's runs that the store already holds are removed in the same index write (a run
        stored again; see module docstring).  ``companions``: ``{model name: (score (N,), attention (N, T)
        or None)}`` of other classifiers run on the same events (:attr:`LiveEvents.companions`).
        """
        from ..geometry import default_pmt_table
        from ..preprocess import proper_times

        if not self.writable:
            raise ConfigError(f"{self}: opened read-only; open with writable=True to append")
        n = len(events)
        score, attention = _per_event(score, attention, n)
        if n == 0:
            return self.seq
        if tau_ns is None:
            tau_ns = proper_times(events, default_pmt_table())[0] if events.n_hits else np.zeros(0, np.float32)
        first = self._index["seq"] + 1
        seq = np.arange(first, first + n, dtype=np.int64)
        arrays = {"seq": seq, "run": events.run.astype(np.int32), "event_id": events.event_id.astype(np.int64),
                  "timestamp_ns": events.timestamp_ns.astype(np.int64),
                  "wall_ns": np.full(n, time.time_ns() if wall_ns is None else wall_ns, np.int64),
                  "source": np.asarray(events.source, dtype=str), "energy_mev": events.energy_mev.astype(np.float32),
                  "vertex_cm": events.vertex_cm.astype(np.float32), "score": score,
                  "offsets": events.offsets.astype(np.int64), "pmt": events.pmt.astype(np.int16),
                  "t_ns": events.t_ns.astype(np.float32), "tau_ns": np.asarray(tau_ns, np.float32),
                  "q_pe": events.q_pe.astype(np.float32)}
        if attention is not None:
            arrays["attention"] = attention
        for name, (c_score, c_att) in (companions or {}).items():
            if not isinstance(name, str) or not _COMPANION_NAME.fullmatch(name):
                raise ConfigError(f"LiveStore.append: companion model name {name!r} is not a plain name")
            arrays[_CS + name], c_att = _per_event(c_score, c_att, n, f"companion {name} ")
            if c_att is not None:
                arrays[_CA + name] = c_att
        chunks, replaced = self._index["chunks"], []
        if replace_runs:
            chunks, replaced = self._without_runs(np.unique(arrays["run"]), tag=int(seq[-1]))
        chunks = chunks + [self._write_chunk(f"chunk_{first:012d}.npz", arrays)]
        total = sum(c["n"] for c in chunks)
        dropped = []
        while len(chunks) > 1 and total - chunks[0]["n"] >= self._index["max_events"]:
            total -= chunks[0]["n"]
            dropped.append(chunks.pop(0)["file"])
        self._index.update(seq=int(seq[-1]), chunks=chunks, updated_ns=time.time_ns())
        self._write_index()
        for old in self._retired:  # retired one append ago: no reader of the current index needs them
            with contextlib.suppress(OSError):
                (self.path / old).unlink()
        self._retired = dropped + replaced
        for old in self._retired:
            self._chunk_runs.pop(old, None)
        return int(seq[-1])

    def _write_chunk(self, name: str, arrays: dict) -> dict:
        """Write one chunk file atomically; returns its index entry."""
        from ..io import atomic_output

        with atomic_output(self.path / name) as tmp:
            with open(tmp, "wb") as f:
                np.savez(f, **arrays)
        self._chunk_runs[name] = np.unique(arrays["run"])
        return {"file": name, "first_seq": int(arrays["seq"][0]), "last_seq": int(arrays["seq"][-1]),
                "n": len(arrays["seq"])}

    def _without_runs(self, runs: np.ndarray, *, tag: int) -> tuple[list[dict], list[str]]:
        """The index chunks without the events of ``runs``, and the files they replace (not yet deleted).

        A chunk holding other events too is written again as ``chunk_<first seq>_<tag>.npz``.
        """
        chunks, replaced, removed = [], [], 0
        for c in self._index["chunks"]:
            name = c["file"]
            if name not in self._chunk_runs:
                with np.load(self.path / name, allow_pickle=False) as z:
                    self._chunk_runs[name] = np.unique(z["run"])
            if not np.isin(self._chunk_runs[name], runs).any():
                chunks.append(c)
                continue
            arrays = self._read_chunk(name)
            keep = ~np.isin(arrays["run"], runs)
            removed += int((~keep).sum())
            replaced.append(name)
            if keep.any():
                kept = _keep_events(arrays, keep)
                chunks.append(self._write_chunk(f"chunk_{int(kept['seq'][0]):012d}_{tag:012d}.npz", kept))
        if removed:
            log.info("%s: run(s) %s stored again: %d held event(s) of them replaced", self.path,
                     ", ".join(map(str, runs.tolist())), removed)
        return chunks, replaced

    def _write_index(self) -> None:
        from ..io import atomic_output

        with atomic_output(self.path / _INDEX) as tmp:
            Path(tmp).write_text(json.dumps(self._index))

    # ---------------------------------------------------------------- readers
    def _read_index(self) -> dict:
        p = self.path / _INDEX
        try:
            idx = json.loads(p.read_text())
        except FileNotFoundError:
            return {"seq": 0, "chunks": [], "max_events": None}
        except (OSError, ValueError) as exc:
            raise EventFileError(f"{p}: cannot read the live-store index ({exc})") from None
        if idx.get("format") != _FORMAT:
            raise EventFileError(f"{p}: not a live-store index (format {idx.get('format')!r}, want {_FORMAT!r})")
        return idx

    @property
    def seq(self) -> int:
        """Sequence number of the newest stored event (0 when empty)."""
        return int(self._index["seq"]) if self.writable else int(self._read_index()["seq"])

    def index(self) -> dict:
        """The current index (see module docstring)."""
        return dict(self._index) if self.writable else self._read_index()

    def since(self, seq: int) -> LiveEvents:
        """Stored events with sequence number > ``seq``, oldest first (those still kept)."""
        return self._load(lambda chunks: [c for c in chunks if c["last_seq"] > seq], lambda s: s > seq)

    def latest(self, n: int) -> LiveEvents:
        """The newest ``n`` stored events (fewer if the store holds fewer), oldest first."""
        if n <= 0:
            return _empty()

        def pick(chunks):
            out, have = [], 0
            for c in reversed(chunks):
                if have >= n:
                    break
                out.insert(0, c)
                have += c["n"]
            return out

        def keep(s):
            m = np.zeros(len(s), bool)
            m[max(len(s) - n, 0):] = True
            return m
        return self._load(pick, keep)

    def _load(self, pick, keep) -> LiveEvents:
        for attempt in range(5):  # a chunk may vanish between reading the index and opening it
            try:
                parts = [self._read_chunk(c["file"]) for c in pick(self._read_index()["chunks"])]
                break
            except FileNotFoundError:
                time.sleep(0.01 * (attempt + 1))
        else:
            raise EventFileError(f"{self.path}: live-store chunks keep disappearing while read (is the writer "
                                 "dropping faster than readers poll?)")
        if not parts:
            return _empty()
        seq = np.concatenate([p["seq"] for p in parts])
        idx = np.flatnonzero(keep(seq))
        return _select(parts, idx)

    def _read_chunk(self, name: str) -> dict:
        p = self.path / name
        try:
            with np.load(p, allow_pickle=False) as z:
                return {k: z[k] for k in z.files}
        except FileNotFoundError:
            raise
        except (OSError, ValueError) as exc:
            raise EventFileError(f"{p}: cannot read live-store chunk ({exc})") from None


_HIT_ARRAYS = ("pmt", "t_ns", "tau_ns", "q_pe")


def _keep_events(arrays: dict, keep: np.ndarray) -> dict:
    """Chunk ``arrays`` reduced to the events where ``keep`` ``(N,) bool`` is True (their hits, new offsets)."""
    counts = np.diff(arrays["offsets"])
    hits = np.repeat(keep, counts)
    out = {k: v[hits] if k in _HIT_ARRAYS else v[keep] for k, v in arrays.items() if k != "offsets"}
    out["offsets"] = np.concatenate([[0], np.cumsum(counts[keep])]).astype(np.int64)
    return out


def _select(parts: list[dict], idx: np.ndarray) -> LiveEvents:
    """Concatenate chunk dicts and take events ``idx``."""
    offsets, pmt, t, tau, q = [np.zeros(1, np.int64)], [], [], [], []
    base = 0
    for p in parts:
        offsets.append(p["offsets"][1:] + base)
        base += int(p["offsets"][-1])
        pmt.append(p["pmt"]), t.append(p["t_ns"]), tau.append(p["tau_ns"]), q.append(p["q_pe"])
    cat = {k: np.concatenate([p[k] for p in parts]) for k in
           ("seq", "run", "event_id", "timestamp_ns", "wall_ns", "source", "energy_mev", "vertex_cm", "score")}
    att = np.concatenate([p["attention"] for p in parts]) if all("attention" in p for p in parts) else None
    names = set.intersection(*[{k[len(_CS):] for k in p if k.startswith(_CS)} for p in parts])
    companions = {}
    for k in sorted(names):
        has_att = all(_CA + k in p for p in parts)
        companions[k] = (np.concatenate([p[_CS + k] for p in parts])[idx],
                         np.concatenate([p[_CA + k] for p in parts])[idx] if has_att else None)
    ev = Events.from_columns(offsets=np.concatenate(offsets), pmt=np.concatenate(pmt), t_ns=np.concatenate(t),
                             q_pe=np.concatenate(q), run=cat["run"], event_id=cat["event_id"],
                             timestamp_ns=cat["timestamp_ns"], source=cat["source"].astype(object),
                             energy_mev=cat["energy_mev"], vertex_cm=cat["vertex_cm"])
    taus = np.concatenate(tau)
    sel = ev.take(idx)
    hit_idx = np.concatenate([np.arange(ev.offsets[i], ev.offsets[i + 1]) for i in idx]) if len(idx) else \
        np.zeros(0, np.int64)
    return LiveEvents(sel, cat["seq"][idx], cat["score"][idx], None if att is None else att[idx],
                      taus[hit_idx].astype(np.float32), cat["wall_ns"][idx], companions)

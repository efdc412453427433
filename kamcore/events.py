"""The columnar event container every kamcore stage passes around.

A batch of ``N`` events with ``H`` PMT hits in all is stored as flat arrays in
Arrow's list layout (DESIGN 4):

* ``offsets`` ``(N+1,) int64`` -- hits of event ``i`` are ``offsets[i]:offsets[i+1]``
* ``pmt`` ``(H,) int16`` -- PMT id, ``0 <= pmt < P``
* ``t_ns`` ``(H,) float32`` -- raw hit time, ns (first photo-electron)
* ``q_pe`` ``(H,) float32`` -- hit charge, photo-electrons

plus one value per event (run, event id, timestamp, source, visible energy,
reconstructed and true vertex) and, for simulated events, the truth of every
energy deposit in the same layout (``deposit_offsets`` with ``(D,)`` arrays).
Readers (:mod:`kamcore.io`) and the Monte Carlo (:mod:`kamcore.sim`) return
:class:`Events`; nothing downstream sees pyarrow or uproot objects.

>>> ev = Events.empty()
>>> len(ev), ev.n_hits
(0, 0)
"""

from __future__ import annotations

import dataclasses
from typing import Any, Iterable, Sequence

import numpy as np

from .errors import EventDataError

__all__ = ["Events", "segment_sum"]

#: per-event columns: name -> dtype (vertex columns are (N, 3))
EVENT_FIELDS: dict[str, Any] = {
    "run": np.int32,
    "event_id": np.int64,
    "timestamp_ns": np.int64,
    "source": object,
    "energy_mev": np.float32,
    "vertex_cm": np.float32,
    "true_vertex_cm": np.float32,
}
HIT_FIELDS: dict[str, Any] = {"pmt": np.int16, "t_ns": np.float32, "q_pe": np.float32}
DEPOSIT_FIELDS: dict[str, Any] = {
    "deposit_xyz_cm": np.float32,
    "deposit_t_ns": np.float32,
    "deposit_e_mev": np.float32,
}


def segment_take(offsets: np.ndarray, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Gather list segments ``idx`` from a list layout without a Python loop.

    Returns the new offsets ``(len(idx)+1,) int64`` and the flat positions of
    the selected elements in the old value arrays.
    """
    starts = offsets[:-1][idx]
    lengths = offsets[1:][idx] - starts
    new_offsets = np.zeros(len(idx) + 1, dtype=np.int64)
    np.cumsum(lengths, out=new_offsets[1:])
    total = int(new_offsets[-1])
    # position within each segment = global index - segment start in the output
    seg = np.repeat(np.arange(len(idx)), lengths)
    flat = starts[seg] + (np.arange(total, dtype=np.int64) - new_offsets[:-1][seg])
    return new_offsets, flat


def _merge_attrs(parts: list[dict]) -> dict:
    """``attrs`` of concatenated batches (see :meth:`Events.concat`)."""
    out: dict = {}
    keys = list(dict.fromkeys(k for p in parts for k in p))
    for k in keys:
        values = [p.get(k) for p in parts]
        same = all(k in p for p in parts) and all(v == values[0] for v in values[1:])
        out[k] = values[0] if same else values
    return out


def segment_sum(values: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Sums of ``values`` (``(H, ...)``) over the segments ``offsets[i]:offsets[i+1]``; 0 for empty ones.

    Contiguous segments make this a streaming ``np.add.reduceat`` (no scattered writes).

    >>> segment_sum(np.array([1.0, 2.0, 3.0]), np.array([0, 2, 2, 3]))
    array([3., 0., 3.])
    """
    n = len(offsets) - 1
    out = np.zeros((n, *values.shape[1:]), dtype=np.result_type(values.dtype, np.float64))
    nonempty = offsets[1:] > offsets[:-1]
    if nonempty.any():
        out[nonempty] = np.add.reduceat(values, offsets[:-1][nonempty], axis=0)
    return out


@dataclasses.dataclass(eq=False)
class Events:
    """A batch of detector events in columnar form.

    Parameters
    ----------
    offsets : (N+1,) int64
        Hit offsets per event.
    pmt, t_ns, q_pe : (H,) int16, float32 (ns), float32 (p.e.)
        Flat hit columns.
    run : (N,) int32
    event_id : (N,) int64
    timestamp_ns : (N,) int64
        Trigger time, ns since the Unix epoch.
    source : (N,) object (str)
        Source name (Monte Carlo isotope, ``"data"`` for detector data,
        ``"generated:<model>"`` for generator output).
    energy_mev : (N,) float32
        Visible energy, MeV (truth for Monte Carlo, ``EnergyA2`` for ROOT files).
    vertex_cm : (N, 3) float32
        Reconstructed vertex, cm; NaN where not reconstructed yet.
    true_vertex_cm : (N, 3) float32
        Primary decay vertex, cm; NaN for detector data.
    deposit_offsets : (N+1,) int64
        Offsets into the deposit truth arrays (all zeros when there is no truth).
    deposit_xyz_cm : (D, 3) float32
    deposit_t_ns : (D,) float32
    deposit_e_mev : (D,) float32
        Truth of every energy deposit: position (cm), time after the decay (ns)
        and visible energy (MeV).
    attrs : dict
        Free-form metadata kept with the file (schema version, Monte Carlo
        configuration as JSON, PMT table digest, ...).
    """

    offsets: np.ndarray
    pmt: np.ndarray
    t_ns: np.ndarray
    q_pe: np.ndarray
    run: np.ndarray
    event_id: np.ndarray
    timestamp_ns: np.ndarray
    source: np.ndarray
    energy_mev: np.ndarray
    vertex_cm: np.ndarray
    true_vertex_cm: np.ndarray
    deposit_offsets: np.ndarray
    deposit_xyz_cm: np.ndarray
    deposit_t_ns: np.ndarray
    deposit_e_mev: np.ndarray
    attrs: dict = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        self.offsets = np.ascontiguousarray(self.offsets, dtype=np.int64)
        self.deposit_offsets = np.ascontiguousarray(self.deposit_offsets, dtype=np.int64)
        for name, dt in HIT_FIELDS.items():
            setattr(self, name, np.ascontiguousarray(getattr(self, name), dtype=dt))
        for name, dt in DEPOSIT_FIELDS.items():
            setattr(self, name, np.ascontiguousarray(getattr(self, name), dtype=dt))
        for name, dt in EVENT_FIELDS.items():
            setattr(self, name, np.ascontiguousarray(getattr(self, name), dtype=dt))
        self.deposit_xyz_cm = self.deposit_xyz_cm.reshape(-1, 3)
        self.vertex_cm = self.vertex_cm.reshape(-1, 3)
        self.true_vertex_cm = self.true_vertex_cm.reshape(-1, 3)
        n = len(self.offsets) - 1
        if n < 0 or self.offsets[0] != 0 or np.any(np.diff(self.offsets) < 0):
            raise EventDataError("offsets must start at 0 and be non-decreasing")
        h = int(self.offsets[-1])
        for name in HIT_FIELDS:
            if len(getattr(self, name)) != h:
                raise EventDataError(f"hit column {name!r} has {len(getattr(self, name))} values, offsets say {h}")
        for name in EVENT_FIELDS:
            if len(getattr(self, name)) != n:
                raise EventDataError(f"event column {name!r} has {len(getattr(self, name))} rows, expected {n}")
        if len(self.deposit_offsets) != n + 1:
            raise EventDataError(f"deposit_offsets has {len(self.deposit_offsets)} values, expected {n + 1}")
        d = int(self.deposit_offsets[-1])
        for name in DEPOSIT_FIELDS:
            if len(getattr(self, name)) != d:
                raise EventDataError(f"deposit column {name!r} has {len(getattr(self, name))} rows, expected {d}")

    # ------------------------------------------------------------------ build
    @classmethod
    def empty(cls) -> "Events":
        """An empty batch (no events, no hits)."""
        return cls.from_columns(offsets=np.zeros(1, np.int64), pmt=[], t_ns=[], q_pe=[])

    @classmethod
    def from_columns(cls, *, offsets, pmt, t_ns, q_pe, deposit_offsets=None, **per_event) -> "Events":
        """Build from the hit columns; missing per-event columns get defaults.

        Defaults: run 0, event ids ``0..N-1``, timestamp 0, source ``"unknown"``,
        energy and vertices NaN, no deposit truth.
        """
        offsets = np.asarray(offsets, dtype=np.int64)
        n = len(offsets) - 1
        nan3 = np.full((n, 3), np.nan, np.float32)
        cols = {
            "run": np.zeros(n, np.int32),
            "event_id": np.arange(n, dtype=np.int64),
            "timestamp_ns": np.zeros(n, np.int64),
            "source": np.full(n, "unknown", dtype=object),
            "energy_mev": np.full(n, np.nan, np.float32),
            "vertex_cm": nan3,
            "true_vertex_cm": nan3.copy(),
            "deposit_xyz_cm": np.zeros((0, 3), np.float32),
            "deposit_t_ns": np.zeros(0, np.float32),
            "deposit_e_mev": np.zeros(0, np.float32),
        }
        attrs = per_event.pop("attrs", {})
        unknown = set(per_event) - set(cols)
        if unknown:
            raise TypeError(f"unknown Events columns: {sorted(unknown)}")
        for k, v in per_event.items():
            if v is not None:
                cols[k] = np.asarray(v) if k != "source" else np.asarray(v, dtype=object)
        if deposit_offsets is None:
            deposit_offsets = np.zeros(n + 1, np.int64)
        return cls(offsets=offsets, pmt=pmt, t_ns=t_ns, q_pe=q_pe, deposit_offsets=deposit_offsets,
                   attrs=dict(attrs), **cols)

    @classmethod
    def concat(cls, parts: Iterable["Events"]) -> "Events":
        """Concatenate batches in order.

        ``attrs`` are merged: a key with the same value in every part keeps it; a key
        whose values differ (or that some parts lack) becomes the list of the parts'
        values in order, ``None`` where a part lacks it -- e.g. the ``sim_request`` of
        every file of a training set is kept, and ``time_reference`` is no longer
        ``"proper"`` unless every part is.

        >>> a = Events.empty(); a.attrs.update(x=1, y="a")
        >>> b = Events.empty(); b.attrs.update(x=1, y="b", z=2)
        >>> Events.concat([a, b]).attrs
        {'x': 1, 'y': ['a', 'b'], 'z': [None, 2]}
        """
        parts = list(parts)
        if not parts:
            return cls.empty()
        if len(parts) == 1:
            return parts[0]

        def cat_offsets(name: str) -> np.ndarray:
            out = [np.zeros(1, np.int64)]
            base = 0
            for p in parts:
                o = getattr(p, name)
                out.append(o[1:] + base)
                base += int(o[-1])
            return np.concatenate(out)

        kw = {name: np.concatenate([getattr(p, name) for p in parts])
              for name in (*HIT_FIELDS, *EVENT_FIELDS, *DEPOSIT_FIELDS)}
        return cls(offsets=cat_offsets("offsets"), deposit_offsets=cat_offsets("deposit_offsets"),
                   attrs=_merge_attrs([p.attrs for p in parts]), **kw)

    # ---------------------------------------------------------------- access
    def __len__(self) -> int:
        return len(self.offsets) - 1

    @property
    def n_hits(self) -> int:
        """Total number of hits ``H``."""
        return int(self.offsets[-1])

    @property
    def hits_per_event(self) -> np.ndarray:
        """``(N,) int64`` number of hit PMTs per event."""
        return np.diff(self.offsets)

    @property
    def has_truth(self) -> bool:
        """True when deposit truth is stored (simulated events)."""
        return bool(self.deposit_offsets[-1] > 0)

    def event_index(self) -> np.ndarray:
        """``(H,) int64`` the event number (0..N-1) of every hit."""
        return np.repeat(np.arange(len(self), dtype=np.int64), self.hits_per_event)

    def take(self, idx: Sequence[int] | np.ndarray | slice) -> "Events":
        """A new batch with the events ``idx`` (indices, boolean mask or slice)."""
        idx = np.arange(len(self))[idx] if isinstance(idx, slice) else np.asarray(idx)
        if idx.dtype == bool:
            idx = np.flatnonzero(idx)
        idx = idx.astype(np.int64, copy=False)
        offsets, hsel = segment_take(self.offsets, idx)
        doffsets, dsel = segment_take(self.deposit_offsets, idx)
        kw = {name: getattr(self, name)[hsel] for name in HIT_FIELDS}
        kw.update({name: getattr(self, name)[idx] for name in EVENT_FIELDS})
        kw.update({name: getattr(self, name)[dsel] for name in DEPOSIT_FIELDS})
        return Events(offsets=offsets, deposit_offsets=doffsets, attrs=dict(self.attrs), **kw)

    def __getitem__(self, idx) -> "Events":
        if isinstance(idx, (int, np.integer)):
            i = int(idx)
            if not -len(self) <= i < len(self):
                raise IndexError(f"event {i} out of range for {len(self)} events")
            idx = [i % len(self)]
        return self.take(idx)

    def hits(self, i: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(pmt, t_ns, q_pe)`` views of event ``i``."""
        a, b = self.offsets[i], self.offsets[i + 1]
        return self.pmt[a:b], self.t_ns[a:b], self.q_pe[a:b]

    def deposits(self, i: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(xyz_cm (D_i, 3), t_ns (D_i,), e_mev (D_i,))`` truth of event ``i``."""
        a, b = self.deposit_offsets[i], self.deposit_offsets[i + 1]
        return self.deposit_xyz_cm[a:b], self.deposit_t_ns[a:b], self.deposit_e_mev[a:b]

    def deposit_spread_cm(self) -> np.ndarray:
        """``(N,) float64`` energy-weighted RMS distance of deposits from their centroid, cm.

        Zero for a single point-like deposit; of order the gamma mean free path for
        multi-vertex events.  NaN for events without truth.
        """
        n = len(self)
        counts = np.diff(self.deposit_offsets)
        ev = np.repeat(np.arange(n), counts)
        w = self.deposit_e_mev.astype(np.float64)
        wsum = np.bincount(ev, w, minlength=n)
        xyz = self.deposit_xyz_cm.astype(np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            c = np.stack([np.bincount(ev, w * xyz[:, k], minlength=n) for k in range(3)], 1) / wsum[:, None]
            d2 = ((xyz - c[ev]) ** 2).sum(1)
            out = np.sqrt(np.bincount(ev, w * d2, minlength=n) / wsum)
        out[counts == 0] = np.nan
        return out

    def validate(self, n_pmts: int, *, name: str = "events") -> "Events":
        """Check hit contents; raise :class:`EventDataError` naming ``name`` and the problem."""
        if self.n_hits:
            lo, hi = int(self.pmt.min()), int(self.pmt.max())
            if lo < 0 or hi >= n_pmts:
                bad = lo if lo < 0 else hi
                raise EventDataError(f"{name}: PMT id {bad} out of range 0..{n_pmts - 1}")
            for col in ("t_ns", "q_pe"):
                v = getattr(self, col)
                if not np.isfinite(v).all():
                    k = int(np.flatnonzero(~np.isfinite(v))[0])
                    ev = int(np.searchsorted(self.offsets, k, side="right") - 1)
                    raise EventDataError(f"{name}: non-finite {col} ({v[k]}) in event {ev}")
        return self

    def equals(self, other: "Events") -> bool:
        """Exact equality of every column (NaN equal to NaN); ``attrs`` are ignored."""
        names = ("offsets", "deposit_offsets", *HIT_FIELDS, *EVENT_FIELDS, *DEPOSIT_FIELDS)
        for name in names:
            a, b = getattr(self, name), getattr(other, name)
            if a.shape != b.shape or a.dtype != b.dtype:
                return False
            if a.dtype == object:
                if not (a == b).all():
                    return False
            elif not np.array_equal(a, b, equal_nan=np.issubdtype(a.dtype, np.floating)):
                return False
        return True

    def __repr__(self) -> str:
        src = sorted(set(self.source.tolist()))
        return f"Events(n={len(self)}, hits={self.n_hits}, sources={src[:5]}{'...' if len(src) > 5 else ''})"

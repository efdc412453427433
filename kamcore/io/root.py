"""KamLAND-style ROOT files, read and written with uproot (DESIGN 4).

One entry of the tree is one event.  Branches (``N`` entries):

===============  ==========================  ======  =========================================  ===================
branch           ROOT type (as written)      unit    meaning                                    :class:`Events` field
===============  ==========================  ======  =========================================  ===================
``pmtlist``      ``int32_t[]``               --      PMT id of every hit                        ``pmt`` (int16)
``pmtt``         ``float[]``                 ns      raw hit time                               ``t_ns``
``pmtq``         ``float[]``                 p.e.    hit charge                                 ``q_pe``
``nhit``         ``int32_t``                 --      counter of the three lists (written only)  ``hits_per_event``
``x, y, z``      ``float``                   cm      reconstructed vertex                       ``vertex_cm``
``EnergyA2``     ``float``                   MeV     reconstructed energy                       ``energy_mev``
``T0``           ``float``                   ns      event time offset of the reconstruction    (not kept, below)
``run``          ``int32_t``                 --      run number                                 ``run``
``EventNumber``  ``int64_t``                 --      event number                               ``event_id``
``source``       ``char*``                   --      source name; ``"data"`` when absent        ``source``
===============  ==========================  ======  =========================================  ===================

The reader accepts any integer type for ``pmtlist``, ``run`` and
``EventNumber`` and any numeric type for the others, and converts to the
:class:`Events` dtypes (a value that does not fit is an error, not a wrap-around).
Timestamps, true vertices and deposit truth have no KamLAND branch: they are
not written, and read back as the defaults of :meth:`Events.from_columns`.
``T0`` is read for validation of the layout but not returned, since
:class:`Events` has no column for it yet; :func:`write_root` writes NaN.
:attr:`Events.attrs` is kept as JSON in a ``TObjString`` named
``kamdash_attrs`` next to the tree.

Nothing is skipped: the tree is read whole or refused with one error.  Entries
without hits are ordinary events (``hits_per_event`` 0), and so are entries with
every PMT hit.

uproot is imported on first use, so ``import kamcore.io`` stays fast.

>>> import tempfile
>>> from kamcore.events import Events
>>> ev = Events.from_columns(offsets=[0, 2, 2, 3], pmt=[5, 7, 1], t_ns=[1.5, 2.0, 3.25],
...                          q_pe=[1.0, 0.5, 2.0], energy_mev=[2.5, 1.0, 3.0],
...                          vertex_cm=[[0, 0, 10], [1, 2, 3], [-5, 0, 0]], source=["data"] * 3)
>>> with tempfile.TemporaryDirectory() as d:
...     path = write_root(ev, f"{d}/run.root")
...     back = read_root(f"{path}:events")
>>> back.equals(ev)
True
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import EventDataError, EventFileError, KamcoreError, SchemaError
from ..events import Events
from ..errors import one_line
from ._common import ROOT_MAGIC, atomic_output, attrs_to_json, default_n_pmts, read_magic, split_object_path

__all__ = ["read_root", "write_root", "KAMLAND_BRANCHES"]

#: branches a KamLAND-style event tree must have
KAMLAND_BRANCHES = ("pmtlist", "pmtt", "pmtq", "x", "y", "z", "EnergyA2", "T0", "run", "EventNumber")
_TREE_CLASSES = ("TTree", "TNtuple", "ROOT::RNTuple")
_ATTRS_KEY = "kamdash_attrs"
_COUNTER = "nhit"
_HEADER_BYTES = 20


def _uproot():
    import uproot

    return uproot


# ---------------------------------------------------------------------- read
def _list_trees(f) -> dict[str, str]:
    """``{name: classname}`` of every tree-like object (highest cycle, any subdirectory)."""
    out: dict[str, str] = {}
    for key, cls in f.classnames().items():
        if cls in _TREE_CLASSES:
            out.setdefault(key.rsplit(";", 1)[0], cls)
    return out


def _names(names: list[str], limit: int = 12) -> str:
    """``"a, b, c"``, shortened to ``limit`` names so that a message stays readable."""
    if not names:
        return "none"
    more = f", ... ({len(names)} in all)" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


def _find_tree(f, path: Path, tree: str | None):
    trees = _list_trees(f)
    if tree is not None:
        name = tree.rsplit(";", 1)[0]
        if name not in trees:
            raise SchemaError(f"{path}: no TTree {tree!r} (trees: {_names(sorted(trees))})")
        obj = f[name]
        missing = [b for b in KAMLAND_BRANCHES if b not in obj.keys()]
        if missing:
            raise SchemaError(f"{path}: tree {name!r} lacks branch(es) {', '.join(missing)} "
                              f"(has {_names(obj.keys())})")
        return name, obj
    found, lacking = [], []
    for name in sorted(trees):
        obj = f[name]
        missing = [b for b in KAMLAND_BRANCHES if b not in obj.keys()]
        if missing:
            lacking.append(f"{name!r} lacks {', '.join(missing)}")
        else:
            found.append((name, obj))
    if len(found) == 1:
        return found[0]
    if found:
        raise SchemaError(f"{path}: several trees have the KamLAND branches ({', '.join(n for n, _ in found)}); "
                          f"pass tree= or 'file.root:tree'")
    detail = "; ".join(lacking) if lacking else "the file has no TTree"
    raise SchemaError(f"{path}: no TTree with branches {', '.join(KAMLAND_BRANCHES)} ({detail})")


class _Converter:
    """awkward -> numpy for one tree, with errors naming file, tree and branch."""

    def __init__(self, path: Path, tree: str, obj):
        self.where = f"{path}: tree {tree!r}"
        self.obj = obj

    def _typename(self, branch: str) -> str:
        try:
            return str(self.obj[branch].typename)
        except Exception:  # noqa: BLE001 - only used to decorate a message
            return "?"

    def jagged(self, branch: str, arr, kind: str) -> tuple[np.ndarray, np.ndarray]:
        """``(counts (N,) int64, flat values)`` of a variable-length list branch."""
        import awkward as ak

        try:
            counts = ak.to_numpy(ak.num(arr, axis=1)).astype(np.int64, copy=False)
            flat = ak.to_numpy(ak.flatten(arr, axis=1))
        except (ValueError, TypeError, np.exceptions.AxisError):
            flat = None
        if flat is None or flat.ndim != 1 or flat.dtype.kind not in kind:
            raise SchemaError(f"{self.where}: branch {branch!r} has type {self._typename(branch)}, "
                              f"expected a variable-length list of {'integers' if kind == 'iu' else 'numbers'}")
        return counts, flat

    def scalar(self, branch: str, arr, kind: str) -> np.ndarray:
        import awkward as ak

        try:
            out = ak.to_numpy(arr)
        except (ValueError, TypeError):
            out = None
        if out is None or out.ndim != 1 or out.dtype.kind not in kind:
            raise SchemaError(f"{self.where}: branch {branch!r} has type {self._typename(branch)}, "
                              f"expected one {'integer' if kind == 'iu' else 'number'} per entry")
        return out

    def fit(self, branch: str, values: np.ndarray, dtype: Any, lo: int | None = None, hi: int | None = None) -> np.ndarray:
        """Integer ``values`` as ``dtype``, refusing values outside ``[lo, hi]`` (default: the dtype's range)."""
        info = np.iinfo(dtype)
        lo = info.min if lo is None else lo
        hi = info.max if hi is None else hi
        if values.size:
            vmin, vmax = int(values.min()), int(values.max())
            if vmin < lo or vmax > hi:
                bad = vmin if vmin < lo else vmax
                raise EventDataError(f"{self.where}: branch {branch!r} value {bad} out of range {lo}..{hi}")
        return values.astype(dtype, copy=False)


def read_root(path: str | os.PathLike, tree: str | None = None, *, n_pmts: int | None = None) -> Events:
    """Read a KamLAND-style ROOT event tree.

    Parameters
    ----------
    path : str or os.PathLike
        The ROOT file, or ``"file.root:tree"`` (``"file.root:dir/tree"``).
    tree : str, optional
        Tree name; default: the part after ``:`` in ``path``, else the single
        tree of the file that has all of :data:`KAMLAND_BRANCHES`.
    n_pmts : int, optional
        Number of PMTs ``P`` for the PMT-id check; default: the PMT table in use.

    Returns
    -------
    Events
        ``N`` events (one per entry): hits from ``pmtlist``/``pmtt``/``pmtq``
        (int16, float32 ns, float32 p.e.), ``vertex_cm`` ``(N, 3) float32``
        from ``x, y, z``, ``energy_mev`` from ``EnergyA2``, ``run``,
        ``event_id`` from ``EventNumber``, ``source`` from the ``source``
        branch or ``"data"``.  ``attrs`` from ``kamdash_attrs`` when present.

    Raises
    ------
    EventFileError
        Missing file, not a ROOT file, truncated or unreadable.
    SchemaError
        No (or no unique) tree with the KamLAND branches, missing branches in
        the named tree, or a branch of the wrong kind.
    EventDataError
        Hit lists of different lengths, PMT id out of range, non-finite hit
        time or charge, values that do not fit the :class:`Events` dtypes.
    """
    file_path, tree_in_path = split_object_path(path)
    tree = tree if tree is not None else tree_in_path
    _check_header(file_path)
    uproot = _uproot()
    try:
        with uproot.open(file_path) as f:
            name, obj = _find_tree(f, file_path, tree)
            branches = list(KAMLAND_BRANCHES) + (["source"] if "source" in obj.keys() else [])
            arrays = obj.arrays(branches, library="ak", how=dict)
            attrs = _read_attrs(f, file_path)
    except KamcoreError:
        raise
    except Exception as exc:  # noqa: BLE001 - uproot's decoder raises anything on a damaged file
        raise EventFileError(f"{file_path}: not a readable ROOT file ({one_line(exc)})") from None
    return _to_events(file_path, name, obj, arrays, attrs, default_n_pmts() if n_pmts is None else n_pmts)


def _check_header(path: Path) -> None:
    """Magic bytes and file length against the header's ``fEND`` (catches truncated copies)."""
    head = read_magic(path, _HEADER_BYTES)
    if head[:4] != ROOT_MAGIC:
        raise EventFileError(f"{path}: not a ROOT file (starts with {head[:4]!r})")
    if len(head) < _HEADER_BYTES:
        raise EventFileError(f"{path}: truncated ROOT file ({len(head)} bytes, shorter than the header)")
    # header: "root", fVersion (int32), fBEGIN (int32), fEND (int32, int64 when fVersion > 1000000), big-endian
    version = int.from_bytes(head[4:8], "big", signed=True)
    end = int.from_bytes(head[12:20] if version > 1_000_000 else head[12:16], "big")
    size = path.stat().st_size
    if size < end:
        raise EventFileError(f"{path}: truncated ROOT file ({size} bytes, header says {end})")


def _read_attrs(f, path: Path) -> dict:
    if _ATTRS_KEY not in f:
        return {}
    try:
        attrs = json.loads(str(f[_ATTRS_KEY]))
    except (ValueError, RecursionError) as exc:  # RecursionError: absurdly deep nesting
        raise SchemaError(f"{path}: {_ATTRS_KEY} is not valid JSON ({one_line(exc)})") from None
    if not isinstance(attrs, dict):
        raise SchemaError(f"{path}: {_ATTRS_KEY} is a JSON {type(attrs).__name__}, expected an object")
    return attrs


def _to_events(path: Path, name: str, obj, arrays: dict, attrs: dict, n_pmts: int) -> Events:
    c = _Converter(path, name, obj)
    counts = {}
    counts["pmtlist"], pmt = c.jagged("pmtlist", arrays["pmtlist"], "iu")
    counts["pmtt"], t_ns = c.jagged("pmtt", arrays["pmtt"], "iuf")
    counts["pmtq"], q_pe = c.jagged("pmtq", arrays["pmtq"], "iuf")
    for other in ("pmtt", "pmtq"):
        if not np.array_equal(counts["pmtlist"], counts[other]):
            i = int(np.flatnonzero(counts["pmtlist"] != counts[other])[0])
            raise EventDataError(f"{c.where}: hit lists disagree in entry {i}: pmtlist has "
                                 f"{counts['pmtlist'][i]} values, {other} has {counts[other][i]}")
    pmt = c.fit("pmtlist", pmt, np.int16, 0, n_pmts - 1)
    offsets = np.zeros(len(counts["pmtlist"]) + 1, np.int64)
    np.cumsum(counts["pmtlist"], out=offsets[1:])
    xyz = np.stack([c.scalar(b, arrays[b], "iuf") for b in ("x", "y", "z")], axis=1)
    c.scalar("T0", arrays["T0"], "iuf")
    kw: dict[str, Any] = {
        "run": c.fit("run", c.scalar("run", arrays["run"], "iu"), np.int32),
        "event_id": c.fit("EventNumber", c.scalar("EventNumber", arrays["EventNumber"], "iu"), np.int64),
        "energy_mev": c.scalar("EnergyA2", arrays["EnergyA2"], "iuf").astype(np.float32, copy=False),
        "vertex_cm": xyz.astype(np.float32, copy=False),
    }
    n = len(offsets) - 1
    if "source" in arrays:
        src = arrays["source"].tolist()
        if not all(isinstance(s, str) for s in src):
            raise SchemaError(f"{c.where}: branch 'source' has type {c._typename('source')}, expected strings")
        kw["source"] = src
    else:
        kw["source"] = np.full(n, "data", dtype=object)
    try:
        ev = Events.from_columns(offsets=offsets, pmt=pmt, t_ns=t_ns.astype(np.float32, copy=False),
                                 q_pe=q_pe.astype(np.float32, copy=False), attrs=attrs, **kw)
    except EventDataError as exc:
        raise EventDataError(f"{c.where}: {exc}") from None
    return ev.validate(n_pmts, name=f"{path}:{name}")


# --------------------------------------------------------------------- write
def _jagged(offsets: np.ndarray, values: np.ndarray):
    import awkward as ak

    return ak.Array(ak.contents.ListOffsetArray(ak.index.Index64(offsets), ak.contents.NumpyArray(values)))


def write_root(events: Events, path: str | os.PathLike, tree: str = "events", *, n_pmts: int | None = None) -> Path:
    """Write ``events`` as a KamLAND-style TTree, atomically (temporary file + rename).

    Parameters
    ----------
    events : Events
        ``N`` events, ``H`` hits.  Contents are not checked unless ``n_pmts``
        is given; :func:`read_root` always checks.
    path : str or os.PathLike
        Destination ``*.root``; its directory must exist.  Replaced if present.
    tree : str
        Name of the TTree.
    n_pmts : int, optional
        If given, check the events with :meth:`Events.validate` against ``P =
        n_pmts`` PMTs first, so that a file that would not read back is never
        written.

    Returns
    -------
    pathlib.Path
        ``path``.  The file holds the branches of the module table (``T0``
        NaN), the ``source`` branch, and ``kamdash_attrs``.

    Raises
    ------
    EventDataError
        Invalid hit contents (with ``n_pmts``) or attributes that are not
        JSON-serialisable.
    EventFileError
        The file cannot be written.
    """
    import awkward as ak

    uproot = _uproot()
    path = Path(path)
    if n_pmts is not None:
        events.validate(n_pmts, name=str(path))
    attrs = attrs_to_json(events.attrs, path)
    ev, n = events, len(events)
    data = {
        "pmtlist": _jagged(ev.offsets, ev.pmt.astype(np.int32)),
        "pmtt": _jagged(ev.offsets, ev.t_ns),
        "pmtq": _jagged(ev.offsets, ev.q_pe),
        "x": ev.vertex_cm[:, 0].copy(),
        "y": ev.vertex_cm[:, 1].copy(),
        "z": ev.vertex_cm[:, 2].copy(),
        "EnergyA2": ev.energy_mev,
        "T0": np.full(n, np.nan, np.float32),
        "run": ev.run,
        "EventNumber": ev.event_id,
        "source": ak.from_numpy(np.asarray(ev.source, dtype=str)),
    }
    with atomic_output(path) as tmp:
        try:
            with uproot.recreate(tmp) as f:
                f.mktree(tree, data, counter_name=lambda _: _COUNTER)
                f[_ATTRS_KEY] = attrs
        except OSError as exc:
            raise EventFileError(f"{path}: cannot write ({one_line(exc)})") from exc
    return path

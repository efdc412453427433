"""Run files as Parquet: one row per event, hits as Arrow list columns (DESIGN 4).

:class:`~kamcore.events.Events` already stores hits in Arrow's list layout
(flat values plus ``(N+1,) int64`` offsets), so writing wraps its buffers with
:meth:`pyarrow.LargeListArray.from_arrays` without copying, and reading hands
back numpy views of the decoded Arrow buffers.  Arrays returned by
:func:`read_events` and :func:`iter_events` may therefore be read-only; copy
one before modifying it in place.

Schema version 1 (``N`` events, ``H`` hits, ``D`` energy deposits):

==================  ===========================================  ====  ==============================================
column              Arrow type                                   unit  meaning
==================  ===========================================  ====  ==============================================
``pmt``             ``large_list<int16>``                        --    PMT id of every hit, ``0 <= pmt < P``
``t_ns``            ``large_list<float32>``                      ns    raw hit time (first photo-electron)
``q_pe``            ``large_list<float32>``                      p.e.  hit charge
``run``             ``int32``                                    --    run number
``event_id``        ``int64``                                    --    event number within the run
``timestamp_ns``    ``int64``                                    ns    trigger time since the Unix epoch
``source``          ``dictionary<int32, string>``                --    isotope, ``"data"``, ``"generated:<model>"``
``energy_mev``      ``float32``                                  MeV   visible energy (NaN when unknown)
``vertex_cm``       ``fixed_size_list<float32>[3]``              cm    reconstructed vertex x, y, z (NaN if unknown)
``true_vertex_cm``  ``fixed_size_list<float32>[3]``              cm    primary decay vertex (NaN for detector data)
``deposit_xyz_cm``  ``large_list<fixed_size_list<float32>[3]>``  cm    position of every energy deposit (truth)
``deposit_t_ns``    ``large_list<float32>``                      ns    deposit time after the decay (truth)
``deposit_e_mev``   ``large_list<float32>``                      MeV   deposit visible energy (truth)
==================  ===========================================  ====  ==============================================

The three hit lists of an event have the same length, and so have the three
deposit lists.  No column holds nulls; missing values are NaN.  Each field
carries its unit as field metadata (``unit``).  Schema metadata:

* ``kamdash.schema_version`` -- ``"1"``; readers refuse newer versions.
* ``kamdash.attrs`` -- JSON of :attr:`Events.attrs` (e.g. ``sim_config`` as a
  JSON string, ``pmt_table_digest``).
* ``kamdash.writer`` -- ``"kamcore <version>"``, for debugging.

Files are written with one row group per ``row_group_size`` events (default
10,000) and page CRC checksums, which :func:`read_events` verifies, so a
corrupted page is reported instead of silently decoded.

Nothing is skipped: a file is read whole or refused with one error.  Events
without hits are ordinary events (``hits_per_event`` 0, an empty hit map), and
so are events with every PMT hit; negative charges are kept as written.  Only
:func:`iter_events` hands out the batches before a damaged row group, and its
error names the event range where reading stopped.

>>> import tempfile, numpy as np
>>> from kamcore.events import Events
>>> ev = Events.from_columns(offsets=[0, 2, 2, 3], pmt=[5, 7, 1], t_ns=[1.5, 2.0, 3.25],
...                          q_pe=[1.0, 0.5, 2.0], source=["C10", "C10", "data"])
>>> with tempfile.TemporaryDirectory() as d:
...     path = write_events(ev, f"{d}/run.parquet")
...     back = read_events(path)
>>> back.equals(ev), back.source.tolist()
(True, ['C10', 'C10', 'data'])
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Collection, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ..errors import ConfigError, EventDataError, EventFileError, KamcoreError, SchemaError
from ..events import Events
from ..errors import one_line
from ._common import atomic_output, attrs_to_json, check_readable, default_n_pmts

__all__ = ["write_events", "read_events", "iter_events", "SCHEMA", "SCHEMA_VERSION"]

#: current version of the layout below; bumped on any incompatible change
SCHEMA_VERSION = 1
#: versions this module can read
SUPPORTED_SCHEMA_VERSIONS = (1,)

_XYZ = pa.list_(pa.float32(), 3)


def _field(name: str, type_: pa.DataType, unit: str = "") -> pa.Field:
    return pa.field(name, type_, nullable=False, metadata={"unit": unit} if unit else None)


#: the Arrow schema of a version-1 event file (without the file-level metadata)
SCHEMA = pa.schema([
    _field("pmt", pa.large_list(pa.int16())),
    _field("t_ns", pa.large_list(pa.float32()), "ns"),
    _field("q_pe", pa.large_list(pa.float32()), "p.e."),
    _field("run", pa.int32()),
    _field("event_id", pa.int64()),
    _field("timestamp_ns", pa.int64(), "ns"),
    _field("source", pa.dictionary(pa.int32(), pa.string())),
    _field("energy_mev", pa.float32(), "MeV"),
    _field("vertex_cm", _XYZ, "cm"),
    _field("true_vertex_cm", _XYZ, "cm"),
    _field("deposit_xyz_cm", pa.large_list(_XYZ), "cm"),
    _field("deposit_t_ns", pa.large_list(pa.float32()), "ns"),
    _field("deposit_e_mev", pa.large_list(pa.float32()), "MeV"),
])

_HIT_COLUMNS = ("pmt", "t_ns", "q_pe")
_DEPOSIT_COLUMNS = ("deposit_xyz_cm", "deposit_t_ns", "deposit_e_mev")

_META_VERSION = b"kamdash.schema_version"
_META_ATTRS = b"kamdash.attrs"
_META_WRITER = b"kamdash.writer"

# what a damaged or foreign file makes pyarrow raise
_ARROW_ERRORS = (pa.ArrowException, OSError, ValueError)


# --------------------------------------------------------------------- write
def _list(offsets: np.ndarray, values: pa.Array) -> pa.LargeListArray:
    return pa.LargeListArray.from_arrays(pa.array(offsets, pa.int64()), values)


def _xyz(a: np.ndarray) -> pa.FixedSizeListArray:
    return pa.FixedSizeListArray.from_arrays(pa.array(a.reshape(-1)), 3)


def _events_to_table(events: Events) -> pa.Table:
    """The Arrow table of ``events`` in the version-1 layout (numeric buffers are not copied).

    Parameters
    ----------
    events : Events
        ``N`` events with ``H`` hits and ``D`` deposits.

    Returns
    -------
    pyarrow.Table
        ``N`` rows with the columns of :data:`SCHEMA`, schema metadata included.
    """
    ev, off, doff = events, events.offsets, events.deposit_offsets
    cols = {
        "pmt": _list(off, pa.array(ev.pmt)),
        "t_ns": _list(off, pa.array(ev.t_ns)),
        "q_pe": _list(off, pa.array(ev.q_pe)),
        "run": pa.array(ev.run),
        "event_id": pa.array(ev.event_id),
        "timestamp_ns": pa.array(ev.timestamp_ns),
        "source": pa.array(ev.source, pa.string()).dictionary_encode(),
        "energy_mev": pa.array(ev.energy_mev),
        "vertex_cm": _xyz(ev.vertex_cm),
        "true_vertex_cm": _xyz(ev.true_vertex_cm),
        "deposit_xyz_cm": _list(doff, _xyz(ev.deposit_xyz_cm)),
        "deposit_t_ns": _list(doff, pa.array(ev.deposit_t_ns)),
        "deposit_e_mev": _list(doff, pa.array(ev.deposit_e_mev)),
    }
    from .._version import __version__

    meta = {
        _META_VERSION: str(SCHEMA_VERSION).encode(),
        _META_ATTRS: attrs_to_json(ev.attrs, "<memory>").encode(),
        _META_WRITER: f"kamcore {__version__}".encode(),
    }
    return pa.Table.from_arrays([cols[n] for n in SCHEMA.names], schema=SCHEMA.with_metadata(meta))


def write_events(
    events: Events,
    path: str | os.PathLike,
    *,
    compression: str | None = "zstd",
    row_group_size: int = 10_000,
    n_pmts: int | None = None,
) -> Path:
    """Write ``events`` to the Parquet file ``path``, atomically.

    The file is written to a hidden temporary file in the same directory and
    renamed into place only when complete; on any error the temporary file is
    removed and an existing ``path`` is left as it was.

    Parameters
    ----------
    events : Events
        The events to store (``N`` events, ``H`` hits).  Contents are not
        checked unless ``n_pmts`` is given; :func:`read_events` always checks.
    path : str or os.PathLike
        Destination, conventionally ``*.parquet``.  Its directory must exist.
    compression : str or None
        Parquet codec (``"zstd"``, ``"snappy"``, ``"gzip"``, ``"lz4"``,
        ``"brotli"``) or None for none.
    row_group_size : int
        Events per row group; :func:`iter_events` reads one row group at a time.
    n_pmts : int, optional
        If given, check the events with :meth:`Events.validate` against ``P =
        n_pmts`` PMTs first, so that a file that would not read back is never
        written.  (The writer cannot know which PMT table made the events.)

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    EventDataError
        Invalid hit contents (with ``n_pmts``), non-string sources, or
        attributes that are not JSON-serialisable.
    EventFileError
        The file cannot be written (missing directory, disk full, ...).
    ConfigError
        Unknown ``compression`` or a non-positive ``row_group_size``.
    """
    path = Path(path)
    if compression is not None and compression.lower() != "none":
        try:
            ok = pa.Codec.is_available(compression)
        except ValueError:
            ok = False
        if not ok:
            raise ConfigError(f"compression {compression!r} is not available; "
                              "use zstd, snappy, gzip, lz4, brotli or None")
    if int(row_group_size) < 1:
        raise ConfigError(f"row_group_size must be >= 1, got {row_group_size}")
    if n_pmts is not None:
        events.validate(n_pmts, name=str(path))
    attrs_to_json(events.attrs, path)  # fail with the file name before anything is written
    try:
        table = _events_to_table(events)
    except pa.ArrowException as exc:
        raise EventDataError(f"{path}: cannot convert events to Arrow ({one_line(exc)})") from None
    if table.column("source").null_count:
        raise EventDataError(f"{path}: Events.source holds {table.column('source').null_count} non-string value(s)")
    with atomic_output(path) as tmp:
        try:
            pq.write_table(table, tmp, compression=compression, row_group_size=int(row_group_size),
                           use_dictionary=["source"], write_page_checksum=True)
        except (pa.ArrowException, OSError) as exc:
            raise EventFileError(f"{path}: cannot write ({one_line(exc)})") from exc
    return path


# ---------------------------------------------------------------------- read
def _compatible(found: pa.DataType, want: pa.DataType) -> bool:
    """Whether ``found`` can be cast losslessly in kind to ``want`` (ints to ints, floats to floats)."""
    if pa.types.is_dictionary(want):  # the source column: any string encoding will do
        if pa.types.is_dictionary(found):
            found = found.value_type
        return pa.types.is_string(found) or pa.types.is_large_string(found)
    if pa.types.is_large_list(want):
        return ((pa.types.is_list(found) or pa.types.is_large_list(found))
                and _compatible(found.value_type, want.value_type))
    if pa.types.is_fixed_size_list(want):
        return (pa.types.is_fixed_size_list(found) and found.list_size == want.list_size
                and _compatible(found.value_type, want.value_type))
    if pa.types.is_integer(want):
        return pa.types.is_integer(found)
    if pa.types.is_floating(want):
        return pa.types.is_floating(found)
    return found.equals(want)


class _Reader:
    """Schema checks and Arrow -> numpy conversion for one open file."""

    def __init__(self, path: Path, pf: pq.ParquetFile, columns: Collection[str] | None):
        self.path = path
        self.pf = pf
        schema = pf.schema_arrow
        self.attrs = self._check_metadata(schema.metadata or {})
        self.columns = self._select(columns)
        missing = [c for c in self.columns if c not in schema.names]
        if missing:
            raise SchemaError(f"{path}: missing column(s) {', '.join(map(repr, missing))} required by schema "
                              f"version {SCHEMA_VERSION} (file has {', '.join(schema.names) or 'no columns'})")
        for name in self.columns:
            found, want = schema.field(name).type, SCHEMA.field(name).type
            if not _compatible(found, want):
                raise SchemaError(f"{path}: column {name!r} has type {found}, expected {want}")

    def _check_metadata(self, meta: dict[bytes, bytes]) -> dict:
        path = self.path
        raw = meta.get(_META_VERSION)
        if raw is None:
            raise SchemaError(f"{path}: no kamdash.schema_version in the Parquet metadata "
                              f"(not a KamDash event file?); supported versions: {SUPPORTED_SCHEMA_VERSIONS}")
        text = raw.decode("utf-8", "replace")
        # ASCII digits only: str.isdigit() also accepts e.g. "\u00b2", which int() refuses
        if not (text.isascii() and text.isdigit()) or int(text[-18:]) < 1:
            raise SchemaError(f"{path}: unknown schema version {text[:40]!r} "
                              f"(supported: {SUPPORTED_SCHEMA_VERSIONS})")
        version = int(text) if len(text.lstrip("0")) <= 18 else None  # None: more digits than any version
        if version is None or version > max(SUPPORTED_SCHEMA_VERSIONS):
            raise SchemaError(f"{path}: schema version {text[:40]} is newer than this kamcore reads "
                              f"(supported: {SUPPORTED_SCHEMA_VERSIONS}); upgrade kamcore")
        if version not in SUPPORTED_SCHEMA_VERSIONS:
            raise SchemaError(f"{path}: schema version {text} is no longer read "
                              f"(supported: {SUPPORTED_SCHEMA_VERSIONS}); convert it with an older kamcore")
        try:
            attrs = json.loads(meta.get(_META_ATTRS, b"{}").decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:  # RecursionError: absurdly deep nesting
            raise SchemaError(f"{path}: kamdash.attrs metadata is not valid JSON ({one_line(exc)})") from None
        if not isinstance(attrs, dict):
            raise SchemaError(f"{path}: kamdash.attrs metadata is a JSON {type(attrs).__name__}, expected an object")
        return attrs

    @staticmethod
    def _select(columns: Collection[str] | None) -> list[str]:
        if columns is None:
            return list(SCHEMA.names)
        if isinstance(columns, str):
            columns = [columns]
        unknown = [c for c in columns if c not in SCHEMA.names]
        if unknown:
            raise ConfigError(f"unknown event column(s) {unknown}; choose from {SCHEMA.names}")
        want = set(columns) | set(_HIT_COLUMNS)
        if want & set(_DEPOSIT_COLUMNS):  # the deposit lists share one offsets array
            want |= set(_DEPOSIT_COLUMNS)
        return [n for n in SCHEMA.names if n in want]

    # -- conversion of one column (a single Arrow array) to numpy
    def _numeric(self, name: str, arr: pa.Array, want: pa.DataType) -> np.ndarray:
        if arr.null_count:
            raise EventDataError(f"{self.path}: column {name!r} has {arr.null_count} null value(s)")
        if not arr.type.equals(want):
            try:
                arr = arr.cast(want)
            except pa.ArrowException as exc:
                raise SchemaError(f"{self.path}: column {name!r} does not fit {want} ({one_line(exc)})") from None
        return arr.to_numpy(zero_copy_only=False)

    def _list(self, name: str, arr: pa.Array) -> tuple[np.ndarray, np.ndarray]:
        """``(offsets (N+1,) int64, flat values)`` of a list column."""
        if arr.null_count:
            raise EventDataError(f"{self.path}: column {name!r} has {arr.null_count} null list(s)")
        off = arr.offsets.to_numpy()
        values = arr.values.slice(int(off[0]), int(off[-1] - off[0]))
        if off[0]:
            off = off - off[0]
        want = SCHEMA.field(name).type.value_type
        if pa.types.is_fixed_size_list(want):
            return off, self._xyz(name, values)
        return off.astype(np.int64, copy=False), self._numeric(name, values, want)

    def _xyz(self, name: str, arr: pa.Array) -> np.ndarray:
        if arr.null_count:
            raise EventDataError(f"{self.path}: column {name!r} has {arr.null_count} null vector(s)")
        return self._numeric(name, arr.flatten(), pa.float32()).reshape(-1, 3)

    def _source(self, arr: pa.Array) -> np.ndarray:
        if arr.null_count:
            raise EventDataError(f"{self.path}: column 'source' has {arr.null_count} null value(s)")
        if pa.types.is_dictionary(arr.type):
            return _objects(arr.dictionary.to_pylist())[arr.indices.to_numpy(zero_copy_only=False)]
        return _objects(arr.to_pylist())

    def _same_lengths(self, names: tuple[str, ...], offsets: dict[str, np.ndarray]) -> None:
        first = names[0]
        for other in names[1:]:
            if not np.array_equal(offsets[first], offsets[other]):
                a, b = np.diff(offsets[first]), np.diff(offsets[other])
                i = int(np.flatnonzero(a != b)[0]) if len(a) == len(b) else 0
                raise EventDataError(f"{self.path}: list columns disagree in event {i}: "
                                     f"{first!r} has {a[i]} values, {other!r} has {b[i]}")

    def to_events(self, arrays: dict[str, pa.Array], n_pmts: int, name: str) -> Events:
        """Build :class:`Events` from one array per selected column and validate it."""
        kw: dict[str, Any] = {}
        offsets: dict[str, np.ndarray] = {}
        for col in self.columns:
            arr = arrays[col]
            if col in _HIT_COLUMNS or col in _DEPOSIT_COLUMNS:
                offsets[col], kw[col] = self._list(col, arr)
            elif col == "source":
                kw[col] = self._source(arr)
            elif col.endswith("vertex_cm"):
                kw[col] = self._xyz(col, arr)
            else:
                kw[col] = self._numeric(col, arr, SCHEMA.field(col).type)
        self._same_lengths(_HIT_COLUMNS, offsets)
        if "deposit_t_ns" in offsets:
            self._same_lengths(_DEPOSIT_COLUMNS, offsets)
            kw["deposit_offsets"] = offsets["deposit_xyz_cm"]
        try:
            ev = Events.from_columns(offsets=offsets["pmt"], attrs=dict(self.attrs), **kw)
        except EventDataError as exc:
            raise EventDataError(f"{self.path}: {exc}") from None
        return ev.validate(n_pmts, name=name)


def _objects(items: list) -> np.ndarray:
    """``(len(items),) object`` array (never a 2-D array of characters)."""
    out = np.empty(len(items), dtype=object)
    out[:] = items
    return out


def _open(path: Path) -> pq.ParquetFile:
    check_readable(path)
    try:
        return pq.ParquetFile(path, page_checksum_verification=True)
    except _ARROW_ERRORS as exc:
        raise EventFileError(f"{path}: not a readable Parquet file ({one_line(exc)})") from None


def _single(chunked: pa.ChunkedArray) -> pa.Array:
    """One contiguous array from the row-group chunks (no copy when there is one chunk)."""
    if chunked.num_chunks == 1:
        return chunked.chunk(0)
    return chunked.combine_chunks()


def read_events(
    path: str | os.PathLike,
    *,
    columns: Collection[str] | None = None,
    n_pmts: int | None = None,
) -> Events:
    """Read a whole Parquet event file.

    Parameters
    ----------
    path : str or os.PathLike
        A file written by :func:`write_events` (schema version 1).
    columns : collection of str, optional
        Per-event or deposit columns to read (names of :data:`SCHEMA`); the
        hit columns ``pmt, t_ns, q_pe`` are always read, any deposit column
        brings the other two, and columns not read get the defaults of
        :meth:`Events.from_columns`.  Default: all.
    n_pmts : int, optional
        Number of PMTs ``P`` for the PMT-id check; default: the PMT table in use.

    Returns
    -------
    Events
        Arrays identical (values and dtypes, NaNs included) to those written;
        they may be read-only views of Arrow memory.  ``attrs`` is the stored
        ``kamdash.attrs``.

    Raises
    ------
    EventFileError
        Missing file, not Parquet, truncated or corrupt.
    SchemaError
        Missing or unsupported ``kamdash.schema_version``, missing column, or
        a column of the wrong type.
    EventDataError
        Hit (or deposit) lists of different lengths in one event, nulls, PMT
        id out of range, non-finite time or charge.
    """
    path = Path(path)
    with _open(path) as pf:
        reader = _Reader(path, pf, columns)
        try:
            table = pf.read(columns=reader.columns, use_threads=True)
            arrays = {c: _single(table.column(c)) for c in reader.columns}
        except KamcoreError:
            raise
        except _ARROW_ERRORS as exc:
            raise EventFileError(f"{path}: corrupt or truncated Parquet file ({one_line(exc)})") from None
        return reader.to_events(arrays, default_n_pmts() if n_pmts is None else n_pmts, str(path))


def iter_events(
    path: str | os.PathLike,
    batch_size: int = 10_000,
    *,
    columns: Collection[str] | None = None,
    n_pmts: int | None = None,
) -> Iterator[Events]:
    """Stream a Parquet event file in batches of at most ``batch_size`` events.

    Memory stays bounded by about one row group.  The schema is checked when
    the iterator is created, before the first batch; each batch is validated
    as it is read, and an error names the file and the batch's event range.

    Parameters
    ----------
    path : str or os.PathLike
        A file written by :func:`write_events`.
    batch_size : int
        Maximum events per yielded batch.
    columns, n_pmts
        As in :func:`read_events`.

    Yields
    ------
    Events
        Consecutive batches; :meth:`Events.concat` of all of them equals
        :func:`read_events` of the file.

    Raises
    ------
    EventFileError, SchemaError, EventDataError
        As :func:`read_events`.
    """
    if int(batch_size) < 1:
        raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
    path = Path(path)
    pf = _open(path)
    try:
        reader = _Reader(path, pf, columns)
    except BaseException:
        pf.close()
        raise
    return _iter(pf, reader, int(batch_size), default_n_pmts() if n_pmts is None else n_pmts)


def _iter(pf: pq.ParquetFile, reader: _Reader, batch_size: int, n_pmts: int) -> Iterator[Events]:
    path = reader.path
    start = 0
    with pf:
        batches = pf.iter_batches(batch_size=batch_size, columns=reader.columns)
        while True:
            try:
                batch = next(batches, None)
            except _ARROW_ERRORS as exc:
                raise EventFileError(f"{path}: corrupt or truncated Parquet file near event {start} "
                                     f"({one_line(exc)})") from None
            if batch is None:
                return
            stop = start + batch.num_rows
            arrays = {c: batch.column(c) for c in reader.columns}
            yield reader.to_events(arrays, n_pmts, f"{path} [events {start}:{stop}]")
            start = stop

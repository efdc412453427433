"""Event files: the only place kamcore opens them (STYLE 3).

Two formats, both returning :class:`~kamcore.events.Events`:

* Parquet run files in the columnar layout of DESIGN 4
  (:mod:`kamcore.io.parquet`: :func:`write_events`, :func:`read_events`,
  :func:`iter_events`);
* KamLAND-style ROOT trees (:mod:`kamcore.io.root`: :func:`read_root`,
  :func:`write_root`).

:func:`open_events` picks the reader from the file's first bytes (``PAR1`` or
``root``), not from its extension.  Every failure is a
:class:`~kamcore.errors.EventFileError` (or its subclass
:class:`~kamcore.errors.SchemaError`) or an
:class:`~kamcore.errors.EventDataError` with a one-line message naming the file.

>>> import tempfile
>>> from kamcore.events import Events
>>> ev = Events.from_columns(offsets=[0, 1], pmt=[3], t_ns=[0.5], q_pe=[1.25])
>>> with tempfile.TemporaryDirectory() as d:
...     a = open_events(write_events(ev, f"{d}/run.dat"))
...     b = open_events(write_root(ev, f"{d}/run.dat2"))
>>> a.equals(ev), b.pmt.tolist(), b.source.tolist()
(True, [3], ['unknown'])
"""

from __future__ import annotations

import os

from ..errors import EventFileError
from ..events import Events
from ._common import PARQUET_MAGIC, ROOT_MAGIC, atomic_output, file_sha256, read_magic, split_object_path
from .parquet import SCHEMA, SCHEMA_VERSION, iter_events, read_events, write_events
from .root import KAMLAND_BRANCHES, read_root, write_root
from .scores import read_scores, write_scores

__all__ = [
    "file_sha256",
    "open_events",
    "read_events",
    "write_events",
    "iter_events",
    "read_root",
    "write_root",
    "SCHEMA",
    "SCHEMA_VERSION",
    "KAMLAND_BRANCHES",
    "write_scores",
    "read_scores",
    "atomic_output",
]


def open_events(path: str | os.PathLike, *, n_pmts: int | None = None) -> Events:
    """Read an event file of either format, chosen by its magic bytes.

    Parameters
    ----------
    path : str or os.PathLike
        A Parquet file (starts with ``b"PAR1"``) or a ROOT file (starts with
        ``b"root"``); for ROOT, ``"file.root:tree"`` selects the tree.
    n_pmts : int, optional
        Number of PMTs ``P`` for the PMT-id check; default: the PMT table in use.

    Returns
    -------
    Events
        As :func:`read_events` or :func:`read_root`.

    Raises
    ------
    EventFileError
        Missing file, or neither Parquet nor ROOT; and everything the chosen
        reader raises.
    """
    file_path, tree = split_object_path(path)
    magic = read_magic(file_path)
    if magic == PARQUET_MAGIC:
        if tree is not None:
            raise EventFileError(f"{file_path}: is a Parquet file; ':{tree}' selects a tree only in ROOT files")
        return read_events(file_path, n_pmts=n_pmts)
    if magic == ROOT_MAGIC:
        return read_root(file_path, tree, n_pmts=n_pmts)
    raise EventFileError(f"{file_path}: not a Parquet or ROOT file (starts with {magic!r})")

"""Helpers shared by the Parquet and ROOT readers and writers.

Everything here is private to :mod:`kamcore.io`: path checks that turn the
operating system's errors into one-line :class:`~kamcore.errors.EventFileError`
messages, the magic-byte sniffer, and the atomic-write context manager.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import stat
import uuid
from pathlib import Path
from typing import Iterator

import numpy as np

from ..errors import EventDataError, EventFileError, one_line

PARQUET_MAGIC = b"PAR1"
ROOT_MAGIC = b"root"


def split_object_path(path: str | os.PathLike) -> tuple[Path, str | None]:
    """Split ``"file.root:dir/tree"`` into ``(Path("file.root"), "dir/tree")``.

    A path that exists as given is never split (a file name may contain ``:``).
    """
    s = os.fspath(path)
    if isinstance(path, str) and ":" in s and not os.path.exists(s):
        head, _, tail = s.rpartition(":")
        if head and tail:
            return Path(head), tail
    return Path(s), None


def check_readable(path: Path) -> Path:
    """Raise :class:`EventFileError` unless ``path`` is an existing, readable regular file.

    A FIFO or a device is refused before it is opened (reading a FIFO without a
    writer would block forever).
    """
    try:
        st = path.stat()
    except FileNotFoundError:
        raise EventFileError(f"{path}: no such file") from None
    except OSError as exc:  # name too long, symlink loop, not a directory in the path, ...
        raise EventFileError(f"{path}: cannot open ({exc.strerror or one_line(exc)})") from None
    if stat.S_ISDIR(st.st_mode):
        raise EventFileError(f"{path}: is a directory, not an event file")
    if not stat.S_ISREG(st.st_mode):
        raise EventFileError(f"{path}: not a regular file (a FIFO, socket or device)")
    if not os.access(path, os.R_OK):
        raise EventFileError(f"{path}: permission denied")
    return path


def read_magic(path: Path, n: int = 4) -> bytes:
    """The first ``n`` bytes of ``path`` (fewer for a shorter file)."""
    check_readable(path)
    try:
        with open(path, "rb") as f:
            return f.read(n)
    except OSError as exc:
        raise EventFileError(f"{path}: cannot read ({exc.strerror or one_line(exc)})") from None


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success fsync it and rename it into place.

    The temporary file lives in the same directory (so :func:`os.replace` is an
    atomic rename on POSIX) under a hidden, unique name.  If the body raises
    anything, the temporary file is removed and ``path`` is left untouched,
    so a reader never sees a half-written file and an existing good file is
    never clobbered by a failed write.
    """
    path = Path(path)
    if not path.parent.is_dir():
        raise EventFileError(f"{path}: cannot write, directory {path.parent} does not exist")
    if path.is_dir():
        raise EventFileError(f"{path}: cannot write, it is a directory")
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        yield tmp
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def default_n_pmts() -> int:
    """Number of PMTs of the table in use (:func:`kamcore.geometry.pmt.default_pmt_table`)."""
    from ..geometry.pmt import default_pmt_table

    return len(default_pmt_table())


def _json_default(obj: object) -> object:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"{type(obj).__name__} is not JSON-serialisable")


def attrs_to_json(attrs: dict, path: str | os.PathLike) -> str:
    """``Events.attrs`` as JSON (numpy scalars and arrays become numbers and lists).

    Raises :class:`EventDataError` naming ``path`` when a value cannot be stored.
    """
    try:
        return json.dumps(attrs, default=_json_default)
    except (TypeError, ValueError) as exc:
        raise EventDataError(f"{path}: Events.attrs cannot be stored as JSON ({one_line(exc)})") from None


def file_sha256(path: str | os.PathLike) -> str:
    """SHA-256 (hex) of a file's bytes, read in blocks."""
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()

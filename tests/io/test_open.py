"""kamcore.io.open_events: format chosen by magic bytes, not by the extension."""

from __future__ import annotations

import numpy as np
import pytest

import kamcore.io
from kamcore.errors import EventFileError, SchemaError
from kamcore.io import open_events, read_events, write_events, write_root


def test_public_names():
    assert set(kamcore.io.__all__) >= {"open_events", "read_events", "write_events", "iter_events",
                                       "read_root", "write_root"}
    for name in kamcore.io.__all__:
        assert hasattr(kamcore.io, name), name


def test_dispatch_ignores_extension(events, tmp_path):
    pq_as_root = write_events(events, tmp_path / "looks_like.root")
    root_as_pq = write_root(events, tmp_path / "looks_like.parquet")
    a, b = open_events(pq_as_root), open_events(root_as_pq)
    assert a.equals(events)
    assert np.array_equal(b.pmt, events.pmt) and np.array_equal(b.t_ns, events.t_ns)
    assert np.array_equal(b.vertex_cm, events.vertex_cm, equal_nan=True)


def test_root_tree_suffix(events, tmp_path):
    path = write_root(events, tmp_path / "run.root", tree="kl")
    assert len(open_events(f"{path}:kl")) == len(events)


def test_tree_suffix_on_parquet(events, tmp_path, expect_error):
    path = write_events(events, tmp_path / "run.parquet")
    with expect_error(EventFileError, path, "is a Parquet file"):
        open_events(f"{path}:events")


def test_file_name_with_colon_is_not_split(events, tmp_path):
    path = write_events(events, tmp_path / "run:7.parquet")
    assert open_events(str(path)).equals(events)


@pytest.mark.parametrize(("content", "shown"), [(b"hello world\n", "b'hell'"), (b"", "b''"), (b"PA", "b'PA'")])
def test_unknown_format(tmp_path, expect_error, content, shown):
    path = tmp_path / "mystery.parquet"
    path.write_bytes(content)
    with expect_error(EventFileError, path, f"not a Parquet or ROOT file \\(starts with {shown}\\)") as info:
        open_events(path)
    assert not isinstance(info.value, SchemaError)


def test_missing_file(tmp_path, expect_error):
    path = tmp_path / "gone.root"
    with expect_error(EventFileError, path, "no such file"):
        open_events(path)


def test_errors_pass_through(events, tmp_path, expect_error):
    good = write_events(events, tmp_path / "good.parquet")
    half = tmp_path / "half.bin"
    half.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with expect_error(EventFileError, half, "not a readable Parquet file"):
        open_events(half)
    assert read_events(good).equals(open_events(good))


@pytest.mark.parametrize("reader", [open_events, read_events, kamcore.io.read_root, kamcore.io.read_scores])
def test_fifo_is_refused_without_blocking(tmp_path, expect_error, reader):
    """A named pipe without a writer would block open() forever (found while fuzzing 'never a hang')."""
    import os

    path = tmp_path / "daq.parquet"
    os.mkfifo(path)
    with expect_error(EventFileError, path, "not a regular file"):
        reader(path)


def test_name_too_long(tmp_path, expect_error):
    """The OSError of stat() (ENAMETOOLONG) is an EventFileError naming the file."""
    path = tmp_path / ("x" * 300 + ".parquet")
    with expect_error(EventFileError, path, "cannot open \\(File name too long\\)"):
        open_events(path)

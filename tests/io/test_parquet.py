"""kamcore.io.parquet: exact round trips, streaming, schema checks, atomic writes."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import kamcore.io.parquet as kpq
from kamcore.errors import ConfigError, EventDataError, EventFileError, SchemaError
from kamcore.events import Events
from kamcore.io import SCHEMA, SCHEMA_VERSION, iter_events, read_events, write_events

ALL_COLUMNS = [f.name for f in dataclasses.fields(Events)]


def assert_same(a: Events, b: Events) -> None:
    for name in ALL_COLUMNS:
        if name == "attrs":
            continue
        x, y = getattr(a, name), getattr(b, name)
        assert x.dtype == y.dtype, name
        assert x.shape == y.shape, name
        if x.dtype.kind == "f":
            # bit-exact, NaNs included
            assert np.array_equal(x.view(np.uint32), y.view(np.uint32)), name
        else:
            assert np.array_equal(x, y), name
    assert a.equals(b)


# ----------------------------------------------------------------- round trip
def test_round_trip_exact(events, tmp_path):
    path = write_events(events, tmp_path / "run.parquet")
    assert path == tmp_path / "run.parquet"
    back = read_events(path)
    assert_same(events, back)
    assert back.attrs == events.attrs
    assert np.isnan(back.vertex_cm).any() and np.isnan(back.energy_mev).any()
    assert (back.hits_per_event == 0).any()


def test_round_trip_several_row_groups(make_events, tmp_path):
    ev = make_events(n_events=250, seed=3)
    path = write_events(ev, tmp_path / "run.parquet", row_group_size=64)
    assert pq.ParquetFile(path).metadata.num_row_groups == 4
    assert_same(ev, read_events(path))


@pytest.mark.parametrize("n_events", [0, 1])
def test_round_trip_zero_and_one_event(make_events, tmp_path, n_events):
    ev = make_events(n_events=n_events)
    back = read_events(write_events(ev, tmp_path / "run.parquet"))
    assert len(back) == n_events
    assert_same(ev, back)


def test_round_trip_events_without_hits_or_truth(tmp_path):
    ev = Events.from_columns(offsets=np.zeros(4, np.int64), pmt=[], t_ns=[], q_pe=[])
    back = read_events(write_events(ev, tmp_path / "empty.parquet"))
    assert_same(ev, back)
    assert back.n_hits == 0 and not back.has_truth and back.attrs == {}


def test_round_trip_empty_batch(tmp_path):
    assert_same(Events.empty(), read_events(write_events(Events.empty(), tmp_path / "e.parquet")))


@pytest.mark.parametrize("compression", [None, "snappy", "gzip"])
def test_compressions(events, tmp_path, compression):
    assert_same(events, read_events(write_events(events, tmp_path / "r.parquet", compression=compression)))


def test_numpy_attrs_become_json(events, tmp_path):
    events.attrs = {"n": np.int64(3), "w": np.arange(3), "nested": {"a": [1.5, None]}}
    back = read_events(write_events(events, tmp_path / "r.parquet"))
    assert back.attrs == {"n": 3, "w": [0, 1, 2], "nested": {"a": [1.5, None]}}


# --------------------------------------------------------------------- layout
def test_file_schema_and_metadata(events, tmp_path):
    path = write_events(events, tmp_path / "run.parquet")
    schema = pq.read_schema(path)
    for field in SCHEMA:
        assert schema.field(field.name).type == field.type, field.name
    meta = schema.metadata
    assert meta[b"kamdash.schema_version"] == str(SCHEMA_VERSION).encode() == b"1"
    assert json.loads(meta[b"kamdash.attrs"]) == events.attrs
    assert meta[b"kamdash.writer"].startswith(b"kamcore ")
    assert schema.field("t_ns").metadata == {b"unit": b"ns"}


def test_schema_covers_every_events_column():
    """A column added to Events must be added to the file schema (and its version thought about)."""
    layout = {"offsets", "deposit_offsets", "attrs"}
    assert set(SCHEMA.names) == set(ALL_COLUMNS) - layout


def test_hit_lists_share_the_events_offsets(events):
    table = kpq._events_to_table(events)
    pmt = table.column("pmt").chunk(0)
    assert np.array_equal(pmt.offsets.to_numpy(), events.offsets)
    # zero copy: the Arrow buffer is the numpy buffer
    assert pmt.values.buffers()[1].address == events.pmt.ctypes.data
    assert table.column("t_ns").chunk(0).values.buffers()[1].address == events.t_ns.ctypes.data


# ------------------------------------------------------------------ streaming
def test_iter_events_concat_equals_read(make_events, tmp_path):
    ev = make_events(n_events=230, seed=5)
    path = write_events(ev, tmp_path / "run.parquet", row_group_size=100)
    parts = list(iter_events(path, batch_size=40))
    assert all(1 <= len(p) <= 40 for p in parts)
    assert sum(len(p) for p in parts) == 230
    assert_same(ev, Events.concat(parts))
    assert all(p.attrs == ev.attrs for p in parts)


def test_iter_events_empty_file(tmp_path):
    path = write_events(Events.empty(), tmp_path / "e.parquet")
    assert list(iter_events(path)) == []


def test_iter_events_checks_schema_before_first_batch(events, tmp_path, expect_error):
    path = tmp_path / "v9.parquet"
    table = pq.read_table(write_events(events, tmp_path / "good.parquet"))
    pq.write_table(table.replace_schema_metadata({**table.schema.metadata, b"kamdash.schema_version": b"9"}), path)
    with expect_error(SchemaError, path, "schema version 9 is newer"):
        iter_events(path)


def test_iter_events_names_batch_range(events, tmp_path, expect_error):
    bad = tmp_path / "bad.parquet"
    _write_modified(events, tmp_path, bad, "t_ns", _hits(events, _with_value(events.t_ns, -1, np.nan)))
    with expect_error(EventDataError, bad, r"\[events 30:40\]: non-finite t_ns"):
        list(iter_events(bad, batch_size=10))


# -------------------------------------------------------------------- columns
def test_read_selected_columns(events, tmp_path):
    path = write_events(events, tmp_path / "run.parquet")
    back = read_events(path, columns=["energy_mev", "run"])
    assert np.array_equal(back.pmt, events.pmt) and np.array_equal(back.offsets, events.offsets)
    assert np.array_equal(back.energy_mev, events.energy_mev, equal_nan=True)
    assert np.array_equal(back.run, events.run)
    assert (back.source == "unknown").all() and not back.has_truth
    both = read_events(path, columns=["deposit_t_ns"])  # brings the other deposit lists
    assert np.array_equal(both.deposit_xyz_cm, events.deposit_xyz_cm)
    assert np.array_equal(both.deposit_offsets, events.deposit_offsets)


def test_unknown_column_request(events, tmp_path):
    path = write_events(events, tmp_path / "run.parquet")
    with pytest.raises(ConfigError, match="unknown event column.*'nhit'"):
        read_events(path, columns=["nhit"])


# --------------------------------------------------------------- bad files
def _write_modified(events, tmp_path, dest, column, array):
    """Write ``events`` with ``column`` replaced by ``array`` (bypassing the writer's checks)."""
    good = write_events(events, tmp_path / "good.parquet")
    table = pq.read_table(good)
    i = table.schema.get_field_index(column)
    table = table.set_column(i, pa.field(column, array.type), array)
    pq.write_table(table, dest)
    return dest


def _with_value(values: np.ndarray, k: int, v) -> np.ndarray:
    out = values.copy()
    out[k] = v
    return out


def _hits(events, values, offsets=None):
    off = events.offsets if offsets is None else offsets
    return pa.LargeListArray.from_arrays(pa.array(off), pa.array(values))


def test_missing_file(tmp_path, expect_error):
    path = tmp_path / "nope.parquet"
    with expect_error(EventFileError, path, "no such file"):
        read_events(path)


def test_directory(tmp_path, expect_error):
    with expect_error(EventFileError, tmp_path, "is a directory"):
        read_events(tmp_path)


def test_text_file(tmp_path, expect_error):
    path = tmp_path / "notes.parquet"
    path.write_text("run 1234 was fine\n" * 20)
    with expect_error(EventFileError, path, "not a readable Parquet file") as info:
        read_events(path)
    assert not isinstance(info.value, SchemaError)
    assert info.value.__suppress_context__  # re-raised from None


def test_truncated_file(make_events, tmp_path, expect_error):
    good = write_events(make_events(n_events=200), tmp_path / "good.parquet", row_group_size=50)
    data = good.read_bytes()
    path = tmp_path / "half.parquet"
    path.write_bytes(data[: len(data) // 2])
    with expect_error(EventFileError, path, "not a readable Parquet file"):
        read_events(path)


def test_corrupted_page_detected(make_events, tmp_path, expect_error):
    good = write_events(make_events(n_events=200), tmp_path / "good.parquet", compression=None)
    data = bytearray(good.read_bytes())
    data[len(data) // 3] ^= 0xFF
    path = tmp_path / "flipped.parquet"
    path.write_bytes(bytes(data))
    with expect_error(EventFileError, path, "corrupt or truncated Parquet file"):
        read_events(path)


@pytest.mark.parametrize(
    ("version", "pattern"),
    [(b"2", "schema version 2 is newer than this kamcore reads"), (b"one", "unknown schema version 'one'"),
     # found by tests/io/test_fuzz_readers.py: str.isdigit() accepts these, int() refused them (ValueError leaked)
     ("\u00b2".encode(), "unknown schema version '\u00b2'"), (b"9" * 5000, "schema version 9{40} is newer")],
)
def test_wrong_schema_version(events, tmp_path, expect_error, version, pattern):
    table = pq.read_table(write_events(events, tmp_path / "good.parquet"))
    path = tmp_path / "future.parquet"
    pq.write_table(table.replace_schema_metadata({**table.schema.metadata, b"kamdash.schema_version": version}), path)
    with expect_error(SchemaError, path, pattern):
        read_events(path)


def test_deeply_nested_attrs(events, tmp_path, expect_error):
    """Found by the fuzz: JSON nested beyond the recursion limit raised RecursionError."""
    table = pq.read_table(write_events(events, tmp_path / "good.parquet"))
    path = tmp_path / "deep.parquet"
    deep = b"[" * 100_000 + b"]" * 100_000
    pq.write_table(table.replace_schema_metadata({**table.schema.metadata, b"kamdash.attrs": deep}), path)
    with expect_error(SchemaError, path, "kamdash.attrs metadata is not valid JSON"):
        read_events(path)


def test_foreign_parquet_without_version(tmp_path, expect_error):
    path = tmp_path / "foreign.parquet"
    pq.write_table(pa.table({"a": [1, 2, 3]}), path)
    with expect_error(SchemaError, path, "no kamdash.schema_version"):
        read_events(path)


def test_missing_column(events, tmp_path, expect_error):
    table = pq.read_table(write_events(events, tmp_path / "good.parquet"))
    path = tmp_path / "no_energy.parquet"
    pq.write_table(table.drop_columns(["energy_mev"]), path)
    with expect_error(SchemaError, path, "missing column.*'energy_mev'"):
        read_events(path)


def test_wrong_column_type(events, tmp_path, expect_error):
    path = _write_modified(events, tmp_path, tmp_path / "strrun.parquet", "run",
                           pa.array([str(r) for r in events.run]))
    with expect_error(SchemaError, path, "column 'run' has type string, expected int32"):
        read_events(path)


def test_compatible_types_are_converted(events, tmp_path):
    """Plain lists, wider ints/floats and undictionaried strings (as other writers make them) read fine."""
    good = write_events(events, tmp_path / "good.parquet")
    table = pq.read_table(good)
    table = table.set_column(0, "pmt", pa.ListArray.from_arrays(pa.array(events.offsets.astype(np.int32)),
                                                                 pa.array(events.pmt.astype(np.int64))))
    table = table.set_column(3, "run", pa.array(events.run.astype(np.int64)))
    table = table.set_column(6, "source", pa.array(events.source.tolist(), pa.large_string()))
    table = table.set_column(7, "energy_mev", pa.array(events.energy_mev.astype(np.float64)))
    pq.write_table(table, tmp_path / "wide.parquet")
    assert_same(events, read_events(tmp_path / "wide.parquet"))


def test_value_that_does_not_fit(events, tmp_path, expect_error):
    path = _write_modified(events, tmp_path, tmp_path / "bigrun.parquet", "run",
                           pa.array(np.full(len(events), 2**40, np.int64)))
    with expect_error(SchemaError, path, "column 'run' does not fit int32"):
        read_events(path)


def test_hit_lists_disagree(events, tmp_path, expect_error):
    off = events.offsets.copy()
    k = int(np.flatnonzero(events.hits_per_event > 1)[0])
    off[k + 1] -= 1  # one hit moves from event k to event k+1 in t_ns only
    path = _write_modified(events, tmp_path, tmp_path / "skew.parquet", "t_ns", _hits(events, events.t_ns, off))
    with expect_error(EventDataError, path, f"list columns disagree in event {k}: 'pmt' has"):
        read_events(path)


def test_pmt_id_out_of_range(events, tmp_path, expect_error):
    path = _write_modified(events, tmp_path, tmp_path / "pmt.parquet", "pmt",
                           _hits(events, _with_value(events.pmt, 3, 1879)))
    with expect_error(EventDataError, path, "PMT id 1879 out of range 0..1878"):
        read_events(path)
    assert len(read_events(path, n_pmts=2000)) == len(events)


@pytest.mark.parametrize(("column", "value"), [("t_ns", np.nan), ("q_pe", np.inf)])
def test_non_finite_hits(events, tmp_path, expect_error, column, value):
    values = _with_value(getattr(events, column), 0, value)
    path = _write_modified(events, tmp_path, tmp_path / "nan.parquet", column, _hits(events, values))
    with expect_error(EventDataError, path, f"non-finite {column}"):
        read_events(path)


def test_null_values(events, tmp_path, expect_error):
    energy = pa.array([None] + events.energy_mev[1:].tolist(), pa.float32())
    path = _write_modified(events, tmp_path, tmp_path / "null.parquet", "energy_mev", energy)
    with expect_error(EventDataError, path, "column 'energy_mev' has 1 null"):
        read_events(path)


# --------------------------------------------------------------------- write
def test_write_validates_on_request(events, tmp_path, expect_error):
    events.pmt[0] = -1
    path = tmp_path / "bad.parquet"
    with expect_error(EventDataError, path, "PMT id -1 out of range"):
        write_events(events, path, n_pmts=1879)
    assert list(tmp_path.iterdir()) == []
    write_events(events, path)  # unchecked by default; the reader is the gatekeeper
    with expect_error(EventDataError, path, "PMT id -1 out of range"):
        read_events(path)


def test_write_unserialisable_attrs(events, tmp_path, expect_error):
    events.attrs["table"] = object()
    path = tmp_path / "bad.parquet"
    with expect_error(EventDataError, path, "attrs cannot be stored as JSON"):
        write_events(events, path)
    assert list(tmp_path.iterdir()) == []


def test_write_into_missing_directory(events, tmp_path, expect_error):
    path = tmp_path / "no" / "run.parquet"
    with expect_error(EventFileError, path, "does not exist"):
        write_events(events, path)


def test_write_bad_options(events, tmp_path):
    with pytest.raises(ConfigError, match="compression 'lzma9'"):
        write_events(events, tmp_path / "r.parquet", compression="lzma9")
    with pytest.raises(ConfigError, match="row_group_size must be >= 1, got 0"):
        write_events(events, tmp_path / "r.parquet", row_group_size=0)


def test_failed_write_leaves_nothing_and_keeps_old_file(events, make_events, tmp_path, monkeypatch):
    path = write_events(events, tmp_path / "run.parquet")
    before = path.read_bytes()
    real_write = pq.write_table

    def crash_mid_write(table, where, **kw):
        real_write(table.slice(0, 3), where, **kw)  # a partial file exists on disk...
        raise RuntimeError("disk on fire")  # ...when the writer dies

    monkeypatch.setattr(kpq.pq, "write_table", crash_mid_write)
    with pytest.raises(RuntimeError, match="disk on fire"):
        write_events(make_events(n_events=7, seed=9), path)
    assert [p.name for p in tmp_path.iterdir()] == ["run.parquet"]  # no temp file left
    assert path.read_bytes() == before
    with pytest.raises(RuntimeError):
        write_events(events, tmp_path / "new.parquet")
    assert [p.name for p in tmp_path.iterdir()] == ["run.parquet"]


def test_arrow_write_error_is_event_file_error(events, tmp_path, monkeypatch, expect_error):
    def full_disk(table, where, **kw):
        with open(where, "wb") as f:
            f.write(b"PAR1")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(kpq.pq, "write_table", full_disk)
    path = tmp_path / "run.parquet"
    with expect_error(EventFileError, path, "cannot write"):
        write_events(events, path)
    assert list(tmp_path.iterdir()) == []


def test_overwrite_replaces(events, make_events, tmp_path):
    path = write_events(events, tmp_path / "run.parquet")
    other = make_events(n_events=5, seed=1)
    write_events(other, path)
    assert_same(other, read_events(path))


# ------------------------------------------------------------------ property
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    counts=st.lists(st.integers(0, 6), max_size=12),
    bits=st.lists(st.integers(0, 2**32 - 1), min_size=64, max_size=64),
)
def test_round_trip_any_float_bits(tmp_path, counts, bits):
    """Every float32 bit pattern outside the hit columns (NaN payloads, -0.0, inf) survives exactly."""
    n = len(counts)
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    h = int(offsets[-1])
    pool = np.array(bits, np.uint32).view(np.float32)
    pick = np.resize(pool, 4 * n)
    ev = Events.from_columns(
        offsets=offsets, pmt=np.arange(h) % 1879, t_ns=np.linspace(-5, 5, h), q_pe=np.ones(h),
        energy_mev=pick[:n], vertex_cm=pick[n:].reshape(n, 3), true_vertex_cm=pick[n:][::-1].reshape(n, 3),
        source=[chr(0x3b1 + i % 3) * (i % 4) for i in range(n)],  # unicode and empty names
    )
    back = read_events(write_events(ev, tmp_path / "p.parquet"))
    assert_same(ev, back)


def test_sliced_arrow_arrays_convert(events, tmp_path):
    """Arrow arrays with a non-zero offset (slices) map to the right hits and deposits."""
    path = write_events(events, tmp_path / "run.parquet")
    table = pq.read_table(path).slice(7, 20)
    with pq.ParquetFile(path) as pf:
        reader = kpq._Reader(path, pf, None)
        arrays = {c: table.column(c).chunk(0) for c in reader.columns}
        assert arrays["pmt"].offset == 7
        part = reader.to_events(arrays, 1879, str(path))
    assert_same(events[7:27], part)

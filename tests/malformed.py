"""Malformed event and model files for the fuzz tests (hypothesis strategies and file builders).

Used by ``tests/io/test_fuzz_readers.py``, ``tests/train/test_fuzz_checkpoint.py`` and
``tests/cli/test_fuzz_cli.py``.  Three families:

* **content cases** -- a small valid batch of events (empty events and, optionally, one event
  with all 1879 PMTs hit) written as Parquet or as a KamLAND-style ROOT tree, with zero or
  more *defects* applied to the file's columns, types or metadata.  Each defect knows whether
  it breaks the file (then the reader must refuse it, with a message matching the defect's
  pattern) or is an accepted variant (wider types, plain lists, extra columns);
* **byte mutations** -- truncation, bit flips, zeroed or random ranges, insertions and
  deletions applied to the bytes of a good file (the reader may accept the result only if it
  is valid events);
* **model cases** -- a small checkpoint whose JSON or safetensors file is damaged.

Everything is deterministic given hypothesis' draws, small (kB), and fast to write.
"""

from __future__ import annotations

import dataclasses
import json
import re
import struct
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import strategies as st
from synthetic import random_events

from kamcore.events import Events

N_PMTS = 1879

#: what every refusal may look like on top of its defect's pattern: nothing else is accepted
ONE_LINE = re.compile(r"^[^\n]+$")


# ------------------------------------------------------------------------------- events
def full_event(seed: int) -> Events:
    """One event in which every one of the 1879 PMTs is hit once (valid physics)."""
    rng = np.random.default_rng(seed)
    return Events.from_columns(offsets=[0, N_PMTS], pmt=rng.permutation(N_PMTS), t_ns=rng.normal(100, 20, N_PMTS),
                               q_pe=rng.gamma(2, 0.6, N_PMTS), run=[7], event_id=[10_000], source=["Bi214"],
                               energy_mev=[30.0], vertex_cm=[[0.0, 0.0, 0.0]], true_vertex_cm=[[0.0, 0.0, 0.0]],
                               deposit_offsets=[0, 1], deposit_xyz_cm=[[0.0, 0.0, 0.0]], deposit_t_ns=[0.0],
                               deposit_e_mev=[30.0], attrs={"note": "synthetic"})


@st.composite
def event_batches(draw, max_events: int = 5) -> Events:
    """A valid batch: 0..max_events events (the first has no hits), optionally one with all PMTs hit."""
    n = draw(st.integers(0, max_events)) if draw(st.integers(0, 7)) == 0 else draw(st.integers(2, max_events))
    seed = draw(st.integers(0, 2**16))
    ev = random_events(n, seed=seed, max_hits=draw(st.sampled_from([2, 8, 40]))) if n else Events.empty()
    if draw(st.integers(0, 3)) == 0:
        ev = Events.concat([ev, full_event(seed)]) if n else full_event(seed)
    return ev


# ------------------------------------------------------------------------------ defects
@dataclasses.dataclass
class Defect:
    """One change to a file; ``pattern`` is None for an accepted variant, else what the refusal must say."""

    name: str
    pattern: str | None


@dataclasses.dataclass
class Case:
    """A content case: the events, the defects applied, and the expected verdict."""

    events: Events
    defects: list[Defect]

    @property
    def valid(self) -> bool:
        return all(d.pattern is None for d in self.defects)

    @property
    def pattern(self) -> str:
        """Regular expression the refusal must match (any of the breaking defects)."""
        return "|".join(f"(?:{d.pattern})" for d in self.defects if d.pattern is not None)

    def __repr__(self) -> str:  # shown by hypothesis on failure
        return (f"Case({len(self.events)} events, {self.events.n_hits} hits, "
                f"defects={[(d.name, d.pattern) for d in self.defects]})")


BAD_PMT_IDS = [-1, -2, -32768, N_PMTS, N_PMTS + 1, 32767, 40_000, -70_000, 2**31 - 1, -(2**31), 2**40]
NON_FINITE = [np.nan, np.inf, -np.inf]
#: schema-version texts: only ASCII digits meaning 1 are version 1
VERSION_TEXTS = ["0", "2", "10", "1.0", " 1", "1\n", "-1", "+1", "", "\u00b2", "\u0661", "\uff11", "one",
                 "9" * 40, "01", "1", "001"]
#: kamdash.attrs / kamdash_attrs texts: (text, accepted)
ATTRS_TEXTS = [
    ('{"note": "ok", "n": [1, 2.5, null]}', True), ("{}", True), ('{"x": NaN, "y": 1e999}', True),
    ("[1, 2]", False), ("null", False), ('"text"', False), ("{", False), ("", False), ("{'a': 1}", False),
    ("[" * 50_000 + "]" * 50_000, False), ('{"a": ' + "[" * 50_000 + "]" * 50_000 + "}", False),
]


def version_accepted(text: str) -> bool:
    return re.fullmatch(r"[0-9]+", text) is not None and int(text) == 1


def _defect_kinds(draw, kinds: list[str], max_defects: int) -> list[str]:
    """No defect in about one case out of six, else 1..max_defects different ones."""
    if draw(st.integers(0, 5)) == 0:
        return []
    return draw(st.lists(st.sampled_from(kinds), min_size=1, max_size=max_defects, unique=True))


# ---------------------------------------------------------------------- Parquet content
def _large_list(offsets: np.ndarray, values: pa.Array) -> pa.Array:
    return pa.LargeListArray.from_arrays(pa.array(offsets, pa.int64()), values)


def _set(table: pa.Table, name: str, array: pa.Array) -> pa.Table:
    i = table.schema.get_field_index(name)
    return table.set_column(i, pa.field(name, array.type), array)


def _with_null(arr: pa.Array, k: int) -> pa.Array:
    mask = np.zeros(len(arr), bool)
    mask[k] = True
    return pa.array(arr.to_pylist(), arr.type, mask=mask) if not pa.types.is_dictionary(arr.type) else \
        pa.array([None if i == k else v for i, v in enumerate(arr.to_pylist())], pa.string())


@st.composite
def parquet_cases(draw, max_defects: int = 3) -> tuple[Case, pa.Table, dict]:
    """``(case, table, write options)``: a version-1 table with 0..max_defects defects."""
    from kamcore.io.parquet import _events_to_table

    ev = draw(event_batches())
    table = _events_to_table(ev)
    meta = dict(table.schema.metadata)
    n, h = len(ev), ev.n_hits
    defects: list[Defect] = []
    kinds = ["pmt", "nonfinite", "overflow_float", "version", "no_version", "attrs", "drop", "retype", "benign",
             "nulls", "skew", "deposit_skew", "run_overflow", "extra_column", "negative_charge"]
    touched: set[str] = set()  # each column is changed at most once, so no defect undoes another

    def free(col: str) -> bool:
        if col in touched:
            return False
        touched.add(col)
        return True

    for kind in _defect_kinds(draw, kinds, max_defects):
        if kind == "pmt" and h and free("pmt"):
            pmt = ev.pmt.astype(np.int64)
            pmt[draw(st.integers(0, h - 1))] = draw(st.sampled_from(BAD_PMT_IDS))
            fits16 = pmt.min() >= -(2**15) and pmt.max() < 2**15
            typ = draw(st.sampled_from([pa.int16(), pa.int32(), pa.int64()] if fits16 else [pa.int64()]))
            table = _set(table, "pmt", _large_list(ev.offsets, pa.array(pmt).cast(typ)))
            defects.append(Defect(kind, r"PMT id -?\d+ out of range 0\.\.1878|column 'pmt' does not fit int16"))
        elif kind == "nonfinite" and h:
            col = draw(st.sampled_from(["t_ns", "q_pe"]))
            if not free(col):
                continue
            vals = getattr(ev, col).astype(np.float64)
            vals[draw(st.integers(0, h - 1))] = draw(st.sampled_from(NON_FINITE))
            typ = draw(st.sampled_from([pa.float32(), pa.float64()]))
            table = _set(table, col, _large_list(ev.offsets, pa.array(vals).cast(typ)))
            defects.append(Defect(kind, rf"non-finite {col} \((nan|inf|-inf)\) in event \d+"))
        elif kind == "overflow_float" and h:
            col = draw(st.sampled_from(["t_ns", "q_pe"]))
            if not free(col):
                continue
            vals = getattr(ev, col).astype(np.float64)
            vals[draw(st.integers(0, h - 1))] = draw(st.sampled_from([1e300, -1e300, 3.5e38]))
            table = _set(table, col, _large_list(ev.offsets, pa.array(vals)))
            defects.append(Defect(kind, rf"non-finite {col}|column '{col}' does not fit float"))
        elif kind == "version":
            text = draw(st.sampled_from(VERSION_TEXTS))
            raw = text.encode() if draw(st.integers(0, 5)) else b"\xff\xfe1"
            meta[b"kamdash.schema_version"] = raw
            ok = raw == text.encode() and version_accepted(text)
            defects.append(Defect(kind, None if ok else r"schema version"))
        elif kind == "no_version":
            meta.pop(b"kamdash.schema_version", None)
            defects.append(Defect(kind, r"no kamdash\.schema_version"))
        elif kind == "attrs":
            text, ok = draw(st.sampled_from(ATTRS_TEXTS))
            meta[b"kamdash.attrs"] = text.encode() if draw(st.integers(0, 5)) else b"\xff" + text.encode()
            ok = ok and meta[b"kamdash.attrs"] == text.encode()
            defects.append(Defect(kind, None if ok else r"kamdash\.attrs"))
        elif kind == "drop":
            col = draw(st.sampled_from(table.column_names))
            if not free(col):
                continue
            table = table.drop_columns([col])
            defects.append(Defect(kind, rf"missing column\(s\) .*'{col}'"))
        elif kind == "retype":
            col, arr = draw(st.sampled_from(_retypes(ev)))
            if not free(col):
                continue
            table = _set(table, col, arr)
            defects.append(Defect(kind, rf"column '{col}' has type"))
        elif kind == "benign":
            col, arr = draw(st.sampled_from(_benign(ev)))
            if not free(col):
                continue
            table = _set(table, col, arr)
            defects.append(Defect(kind, None))
        elif kind == "nulls" and n:
            col = draw(st.sampled_from(["run", "event_id", "energy_mev", "source", "pmt", "vertex_cm"]))
            if not free(col):
                continue
            table = _set(table, col, _with_null(table.column(col).combine_chunks(), draw(st.integers(0, n - 1))))
            defects.append(Defect(kind, rf"column '{col}' has 1 null"))
        elif kind == "skew" and h and n >= 2:
            col = draw(st.sampled_from(["t_ns", "q_pe", "pmt"]))
            if not free(col):
                continue
            off = ev.offsets.copy()
            movable = np.flatnonzero(np.diff(off)[:-1] > 0) + 1  # boundaries after a non-empty event
            if not len(movable):
                continue
            off[draw(st.sampled_from(movable.tolist()))] -= 1  # one hit moves to the next event, in col only
            values = getattr(ev, col)
            table = _set(table, col, _large_list(off, pa.array(values)))
            defects.append(Defect(kind, r"list columns disagree in event \d+"))
        elif kind == "deposit_skew" and n and ev.deposit_offsets[-1]:
            col = draw(st.sampled_from(["deposit_t_ns", "deposit_e_mev"]))
            if not free(col):
                continue
            vals = getattr(ev, col)
            off = ev.deposit_offsets.copy()
            off[-1] -= 1
            table = _set(table, col, _large_list(off, pa.array(vals[:-1])))
            defects.append(Defect(kind, r"list columns disagree in event \d+"))
        elif kind == "run_overflow" and n and free("run"):
            col, typ, big = draw(st.sampled_from([("run", pa.int64(), 2**40), ("run", pa.int64(), -(2**40)),
                                                  ("event_id", pa.uint64(), 2**63 + 5)]))
            if not free(col):
                continue
            vals = pa.array([big] * n, typ)
            table = _set(table, col, vals)
            defects.append(Defect(kind, rf"column '{col}' does not fit"))
        elif kind == "extra_column":
            table = table.append_column("detector_temperature_k", pa.array(np.full(n, 291.0)))
            defects.append(Defect(kind, None))
        elif kind == "negative_charge" and h and free("q_pe"):
            q = ev.q_pe.copy()
            q[draw(st.integers(0, h - 1))] = -1.5  # unphysical but finite: read as is
            table = _set(table, "q_pe", _large_list(ev.offsets, pa.array(q)))
            ev.q_pe[:] = q
            defects.append(Defect(kind, None))
    table = table.replace_schema_metadata(meta)
    options = {"compression": draw(st.sampled_from([None, "zstd", "snappy"])),
               "row_group_size": draw(st.sampled_from([1, 2, 10_000])),
               "use_dictionary": draw(st.booleans())}
    return Case(ev, defects), table, options


def _retypes(ev: Events) -> list[tuple[str, pa.Array]]:
    """Incompatible column types (the reader must name the column and both types)."""
    n, off = len(ev), ev.offsets
    return [
        ("run", pa.array([str(r) for r in ev.run])),
        ("run", pa.array(ev.run.astype(np.float64))),
        ("energy_mev", pa.array(np.arange(n, dtype=np.int32))),
        ("event_id", pa.array([True] * n)),
        ("pmt", _large_list(off, pa.array(ev.pmt.astype(np.float32)))),
        ("t_ns", _large_list(off, pa.array([str(v) for v in ev.t_ns], pa.string()))),
        ("q_pe", pa.array(np.zeros(n, np.float32))),
        ("pmt", pa.array(np.zeros(n, np.int16))),
        ("vertex_cm", pa.FixedSizeListArray.from_arrays(pa.array(np.zeros(2 * n, np.float32)), 2)),
        ("vertex_cm", pa.array(np.zeros(n, np.float32))),
        ("source", pa.array(np.arange(n))),
        ("timestamp_ns", pa.array([b"x"] * n, pa.binary())),
        ("deposit_xyz_cm", _large_list(ev.deposit_offsets, pa.array(np.zeros(int(ev.deposit_offsets[-1]), np.float32)))),
    ]


def _benign(ev: Events) -> list[tuple[str, pa.Array]]:
    """Types other writers produce that the reader converts (values unchanged)."""
    off32 = ev.offsets.astype(np.int32)
    return [
        ("pmt", pa.ListArray.from_arrays(pa.array(off32), pa.array(ev.pmt.astype(np.int64)))),
        ("pmt", _large_list(ev.offsets, pa.array(ev.pmt.astype(np.uint16)))),
        ("t_ns", pa.ListArray.from_arrays(pa.array(off32), pa.array(ev.t_ns.astype(np.float64)))),
        ("run", pa.array(ev.run.astype(np.int64))),
        ("event_id", pa.array(ev.event_id.astype(np.int32)) if np.abs(ev.event_id).max(initial=0) < 2**31
         else pa.array(ev.event_id)),
        ("source", pa.array(ev.source.tolist(), pa.large_string())),
        ("energy_mev", pa.array(ev.energy_mev.astype(np.float64))),
    ]


def write_parquet_case(table: pa.Table, options: dict, path: Path) -> Path:
    pq.write_table(table, path, write_page_checksum=True, **options)
    return path


# ------------------------------------------------------------------------- ROOT content
def _jagged(offsets, values):
    import awkward as ak

    return ak.Array(ak.contents.ListOffsetArray(ak.index.Index64(np.asarray(offsets, np.int64)),
                                                ak.contents.NumpyArray(np.asarray(values))))


def kamland_branches(ev: Events) -> dict:
    """Branches as a KamLAND file holds them (int32 PMT ids, doubles elsewhere)."""
    return {
        "pmtlist": _jagged(ev.offsets, ev.pmt.astype(np.int32)),
        "pmtt": _jagged(ev.offsets, ev.t_ns.astype(np.float64)),
        "pmtq": _jagged(ev.offsets, ev.q_pe.astype(np.float64)),
        "x": ev.vertex_cm[:, 0].astype(np.float64),
        "y": ev.vertex_cm[:, 1].astype(np.float64),
        "z": ev.vertex_cm[:, 2].astype(np.float64),
        "EnergyA2": ev.energy_mev.astype(np.float64),
        "T0": np.zeros(len(ev)),
        "run": ev.run.astype(np.int32),
        "EventNumber": ev.event_id.astype(np.int64),
    }


@st.composite
def root_cases(draw, max_defects: int = 2) -> tuple[Case, dict]:
    """``(case, {"trees": {name: branches}, "attrs": text or None})`` with 0..max_defects defects."""
    ev = draw(event_batches(max_events=4))
    br = kamland_branches(ev)
    n, h = len(ev), ev.n_hits
    trees = {"events": br}
    attrs = None
    defects: list[Defect] = []
    kinds = ["pmt", "nonfinite", "missing", "flat", "jagged_scalar", "bool_pmt", "skew", "run_overflow",
             "event_overflow", "attrs", "source_numbers", "extra_tree", "second_kamland_tree", "benign", "no_tree"]
    touched: set[str] = set()  # each branch is changed at most once, so no defect undoes another

    def free(col: str) -> bool:
        if col in touched or col not in br:
            return False
        touched.add(col)
        return True

    for kind in _defect_kinds(draw, kinds, max_defects):
        if kind == "pmt" and h and free("pmtlist"):
            pmt = ev.pmt.astype(np.int64)
            pmt[draw(st.integers(0, h - 1))] = draw(st.sampled_from(BAD_PMT_IDS))
            typ = np.int64 if np.abs(pmt).max() >= 2**31 else draw(st.sampled_from([np.int32, np.int64]))
            br["pmtlist"] = _jagged(ev.offsets, pmt.astype(typ))
            defects.append(Defect(kind, r"branch 'pmtlist' value -?\d+ out of range 0\.\.1878"))
        elif kind == "nonfinite" and h:
            col, field = draw(st.sampled_from([("pmtt", "t_ns"), ("pmtq", "q_pe")]))
            if not free(col):
                continue
            vals = getattr(ev, field).astype(draw(st.sampled_from([np.float32, np.float64])))
            vals[draw(st.integers(0, h - 1))] = draw(st.sampled_from(NON_FINITE))
            br[col] = _jagged(ev.offsets, vals)
            defects.append(Defect(kind, rf"non-finite {field}"))
        elif kind == "missing":
            col = draw(st.sampled_from(sorted(br)))
            if not free(col):
                continue
            del br[col]
            defects.append(Defect(kind, rf"lacks.*\b{col}\b"))
        elif kind == "flat":
            col = draw(st.sampled_from(["pmtlist", "pmtt", "pmtq"]))
            if not free(col):
                continue
            br[col] = np.zeros(n, np.int32)
            defects.append(Defect(kind, rf"branch '{col}' has type .*expected a variable-length list"))
        elif kind == "jagged_scalar":
            col = draw(st.sampled_from(["x", "EnergyA2", "T0", "run", "EventNumber"]))
            if not free(col):
                continue
            br[col] = _jagged(ev.offsets, np.zeros(h, np.int32))
            defects.append(Defect(kind, rf"branch '{col}' has type .*expected one"))
        elif kind == "bool_pmt" and free("pmtlist"):
            br["pmtlist"] = _jagged(ev.offsets, np.ones(h, bool))
            defects.append(Defect(kind, r"branch 'pmtlist' has type .*expected a variable-length list of integers"))
        elif kind == "skew" and h and n >= 2:
            col = draw(st.sampled_from(["pmtt", "pmtq"]))
            if not free(col):
                continue
            off = ev.offsets.copy()
            movable = np.flatnonzero(np.diff(off)[:-1] > 0) + 1
            if not len(movable):
                continue
            off[draw(st.sampled_from(movable.tolist()))] -= 1
            br[col] = _jagged(off, getattr(ev, "t_ns" if col == "pmtt" else "q_pe"))
            defects.append(Defect(kind, r"hit lists disagree in entry \d+"))
        elif kind == "run_overflow" and n:
            br["run"] = np.full(n, draw(st.sampled_from([2**31, -(2**31) - 1, 2**40])), np.int64)
            defects.append(Defect(kind, r"branch 'run' value -?\d+ out of range"))
        elif kind == "event_overflow" and n and free("EventNumber"):
            br["EventNumber"] = np.full(n, 2**63 + 7, np.uint64)
            defects.append(Defect(kind, r"branch 'EventNumber' value \d+ out of range"))
        elif kind == "attrs":
            text, ok = draw(st.sampled_from(ATTRS_TEXTS))
            attrs = text
            defects.append(Defect(kind, None if ok else r"kamdash_attrs"))
        elif kind == "source_numbers" and n:
            br["source"] = np.arange(n, dtype=np.int32)
            defects.append(Defect(kind, r"branch 'source' has type .*expected strings"))
        elif kind == "extra_tree":
            trees["calib"] = {"gain": np.ones(3), "pmt": np.arange(3, dtype=np.int32)}
            defects.append(Defect(kind, None))
        elif kind == "second_kamland_tree":
            trees["events2"] = dict(br)
            defects.append(Defect(kind, r"several trees have the KamLAND branches|lacks"))
        elif kind == "benign":
            col = draw(st.sampled_from(["pmtlist16", "pmtt32", "run16", "x32"]))
            if not free({"pmtlist16": "pmtlist", "pmtt32": "pmtt", "run16": "run", "x32": "x"}[col]):
                continue
            if col == "pmtlist16":
                br["pmtlist"] = _jagged(ev.offsets, ev.pmt.astype(np.int16))
            elif col == "pmtt32":
                br["pmtt"] = _jagged(ev.offsets, ev.t_ns)
            elif col == "run16" and (np.abs(ev.run) < 2**15).all():
                br["run"] = ev.run.astype(np.int16)
            elif col == "x32":
                br["x"] = ev.vertex_cm[:, 0].copy()
            defects.append(Defect(kind, None))
        elif kind == "no_tree":
            trees = {}
            defects.append(Defect(kind, r"no TTree"))
    return Case(ev, defects), {"trees": trees, "attrs": attrs}


def write_root_case(spec: dict, path: Path) -> Path:
    import uproot

    with uproot.recreate(path) as f:
        for name, data in spec["trees"].items():
            f.mktree(name, data)
        if spec["attrs"] is not None:
            f["kamdash_attrs"] = spec["attrs"]
        if not spec["trees"]:
            f["note"] = "no trees here"
    return path


# ------------------------------------------------------------------------ byte mutations
@st.composite
def byte_mutations(draw, max_ops: int = 3) -> list[tuple]:
    """1..max_ops operations ``(op, where, arg)``; ``where`` is a fraction of the length or ``-k`` from the end
    (the Parquet footer and ROOT's directory sit at the end, so the last bytes are favoured)."""
    where = st.one_of(st.floats(0, 1, allow_nan=False), st.integers(-300, -1), st.integers(0, 200))
    op = st.one_of(
        st.tuples(st.just("truncate"), where, st.just(0)),
        st.tuples(st.just("flip"), where, st.integers(1, 255)),
        st.tuples(st.just("zero"), where, st.integers(1, 512)),
        st.tuples(st.just("random"), where, st.binary(min_size=1, max_size=64)),
        st.tuples(st.just("insert"), where, st.binary(min_size=1, max_size=64)),
        st.tuples(st.just("delete"), where, st.integers(1, 256)),
        st.tuples(st.just("append"), st.just(0), st.binary(min_size=1, max_size=64)),
    )
    return draw(st.lists(op, min_size=1, max_size=max_ops))


def mutate(data: bytes, ops: list[tuple]) -> bytes:
    """Apply :func:`byte_mutations` operations to ``data``."""
    b = bytearray(data)
    for op, where, arg in ops:
        n = len(b)
        if n == 0:
            break
        if isinstance(where, float):
            i = min(int(where * n), n - 1)
        else:
            i = max(n + where, 0) if where < 0 else min(where, n - 1)
        if op == "truncate":
            del b[i:]
        elif op == "flip":
            b[i] ^= arg
        elif op == "zero":
            b[i:i + arg] = bytes(len(b[i:i + arg]))
        elif op == "random":
            b[i:i + len(arg)] = arg
        elif op == "insert":
            b[i:i] = arg
        elif op == "delete":
            del b[i:i + arg]
        elif op == "append":
            b.extend(arg)
    return bytes(b)


# ------------------------------------------------------------------------------ huge files
def sparse_file(path: Path, size: int, head: bytes = b"", tail: bytes = b"") -> Path:
    """A file of ``size`` bytes that occupies only ``head`` and ``tail`` on disk (a hole in between)."""
    with open(path, "wb") as f:
        f.write(head)
        f.truncate(size)
        if tail:
            f.seek(size - len(tail))
            f.write(tail)
    return path


def parquet_footer_claiming(data: bytes, length: int) -> bytes:
    """``data`` (a Parquet file) with the footer length field set to ``length`` (e.g. far more than the file)."""
    return data[:-8] + struct.pack("<I", length & 0xFFFFFFFF) + b"PAR1"


def root_header_claiming(data: bytes, end: int) -> bytes:
    """``data`` (a ROOT file) whose header says the file ends at ``end`` (the ``fEND`` field)."""
    version = int.from_bytes(data[4:8], "big", signed=True)
    if version > 1_000_000:
        return data[:12] + end.to_bytes(8, "big") + data[20:]
    return data[:12] + (end & 0x7FFFFFFF).to_bytes(4, "big") + data[16:]


# ------------------------------------------------------------------------------- models
#: replacement values for one configuration entry (ints, lists, wrong kinds); huge ones must not be built
CONFIG_VALUES = [-1, 0, 1, 3, 2**20, 2**40, 10**30, 2.5, float("nan"), "3", "", None, True, [], [0], [-4], [2**31],
                 [2.5], ["a"], [[1]], {"a": 1}]


@st.composite
def json_defects(draw, doc: dict) -> tuple[bytes | None, str]:
    """``(new JSON bytes or None to delete the file, pattern of the refusal)``; pattern ``""``: the change
    may be harmless (a value the configuration accepts, a key that takes its default), so loading may
    succeed -- but if it fails, it fails with a one-line :class:`ModelFileError` like every other."""
    kind = draw(st.sampled_from(["truncate", "garbage", "not_object", "kind", "config_type", "config_value",
                                 "config_unknown", "config_missing", "missing", "deep"]))
    text = json.dumps(doc)
    if kind == "truncate":
        return text.encode()[: draw(st.integers(0, len(text) - 1))], r"not a model configuration"
    if kind == "garbage":
        return draw(st.binary(max_size=40)) + b"\xff", r"not a model configuration"
    if kind == "not_object":
        return json.dumps(draw(st.sampled_from([[1, 2], "cnn", 3, None]))).encode(), r"unknown model kind"
    if kind == "kind":
        other = draw(st.sampled_from(["kamnet", "cnn", "vae", "gan", "pickle", "", 5, None, ["cnn"], {"a": 1}]))
        if other == doc["model"]:
            return text.encode(), ""
        return json.dumps({**doc, "model": other}).encode(), r"unknown model kind|holds '\w+' weights"
    if kind == "config_type":
        cfg = draw(st.sampled_from([[1, 2], "x", 3, None, True]))
        return json.dumps({**doc, "config": cfg}).encode(), r"invalid \w+ configuration"
    if kind == "config_value":
        key = draw(st.sampled_from(sorted(doc["config"])))
        value = draw(st.sampled_from(CONFIG_VALUES))
        if value == doc["config"][key] and type(value) is type(doc["config"][key]):
            return text.encode(), ""
        return json.dumps({**doc, "config": {**doc["config"], key: value}}).encode(), ""
    if kind == "config_unknown":
        return json.dumps({**doc, "config": {**doc["config"], "wings": 2}}).encode(), r"invalid \w+ configuration"
    if kind == "config_missing":
        key = draw(st.sampled_from(sorted(doc["config"])))
        cfg = {k: v for k, v in doc["config"].items() if k != key}
        return json.dumps({**doc, "config": cfg}).encode(), ""
    if kind == "missing":
        return None, r"model configuration not found"
    # deep: nesting beyond Python's recursion limit
    return ('{"model": "cnn", "config": ' + "[" * 100_000 + "]" * 100_000 + "}").encode(), (
        r"not a model configuration")


def safetensors_tensors(data: bytes) -> tuple[dict, dict[str, list]]:
    """``(metadata, {name: [dtype, shape, raw bytes]})`` of a safetensors file."""
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    body = data[8 + n:]
    meta = header.pop("__metadata__", {})
    return meta, {k: [v["dtype"], list(v["shape"]), body[v["data_offsets"][0]:v["data_offsets"][1]]]
                  for k, v in header.items()}


def safetensors_file(meta: dict, tensors: dict[str, list]) -> bytes:
    """A well-formed safetensors file of ``tensors`` (``{name: [dtype, shape, raw bytes]}``, contents unchecked)."""
    header: dict = {"__metadata__": meta} if meta else {}
    body = b""
    for name, (dtype, shape, raw) in sorted(tensors.items()):
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(body), len(body) + len(raw)]}
        body += raw
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + body

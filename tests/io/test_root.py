"""kamcore.io.root: KamLAND-style trees through uproot."""

from __future__ import annotations

import awkward as ak
import numpy as np
import pytest
import uproot

from kamcore.errors import EventDataError, EventFileError, SchemaError
from kamcore.events import Events
from kamcore.io import KAMLAND_BRANCHES, read_root, write_root


def jagged(offsets, values):
    return ak.Array(ak.contents.ListOffsetArray(ak.index.Index64(np.asarray(offsets, np.int64)),
                                                ak.contents.NumpyArray(np.asarray(values))))


def kamland_branches(ev: Events, **override):
    """Branches as a KamLAND file might hold them: int32 PMT ids, doubles for the rest."""
    data = {
        "pmtlist": jagged(ev.offsets, ev.pmt.astype(np.int32)),
        "pmtt": jagged(ev.offsets, ev.t_ns.astype(np.float64)),
        "pmtq": jagged(ev.offsets, ev.q_pe.astype(np.float64)),
        "x": ev.vertex_cm[:, 0].astype(np.float64),
        "y": ev.vertex_cm[:, 1].astype(np.float64),
        "z": ev.vertex_cm[:, 2].astype(np.float64),
        "EnergyA2": ev.energy_mev.astype(np.float64),
        "T0": np.zeros(len(ev)),
        "run": ev.run.astype(np.int32),
        "EventNumber": np.arange(len(ev), dtype=np.int32),
    }
    data.update(override)
    return {k: v for k, v in data.items() if v is not None}


def make_root(path, trees: dict[str, dict]):
    with uproot.recreate(path) as f:
        for name, data in trees.items():
            f.mktree(name, data)
    return path


def assert_kamland_fields_equal(a: Events, b: Events):
    for name in ("offsets", "pmt", "t_ns", "q_pe", "run", "event_id", "energy_mev", "vertex_cm"):
        x, y = getattr(a, name), getattr(b, name)
        assert x.dtype == y.dtype and x.shape == y.shape, name
        assert np.array_equal(x, y, equal_nan=x.dtype.kind == "f"), name


# ----------------------------------------------------------------- round trip
def test_round_trip(events, tmp_path):
    path = write_root(events, tmp_path / "run.root")
    back = read_root(path)
    assert_kamland_fields_equal(events, back)
    assert np.array_equal(back.source, events.source)
    assert back.attrs == events.attrs
    # no KamLAND branch for these: defaults
    assert (back.timestamp_ns == 0).all() and np.isnan(back.true_vertex_cm).all() and not back.has_truth


def test_written_layout(events, tmp_path):
    path = write_root(events, tmp_path / "run.root", tree="T")
    with uproot.open(path) as f:
        assert f.classnames()["T;1"] == "TTree"
        tree = f["T"]
        assert set(KAMLAND_BRANCHES) <= set(tree.keys())
        types = tree.typenames()
        assert types["pmtlist"] == "int32_t[]" and types["pmtt"] == "float[]" and types["pmtq"] == "float[]"
        assert np.array_equal(tree["nhit"].array(library="np"), events.hits_per_event)
        assert np.isnan(tree["T0"].array(library="np")).all()


@pytest.mark.parametrize("n_events", [0, 1])
def test_round_trip_zero_and_one_event(make_events, tmp_path, n_events):
    ev = make_events(n_events=n_events)
    back = read_root(write_root(ev, tmp_path / "run.root"))
    assert len(back) == n_events
    assert_kamland_fields_equal(ev, back)


def test_round_trip_events_without_hits(tmp_path):
    ev = Events.from_columns(offsets=np.zeros(3, np.int64), pmt=[], t_ns=[], q_pe=[])
    assert_kamland_fields_equal(ev, read_root(write_root(ev, tmp_path / "empty.root")))


def test_kamland_types_and_default_source(events, tmp_path):
    """Doubles and int32 as a KamLAND file has them; no ``source`` branch means detector data."""
    path = make_root(tmp_path / "kl.root", {"T": kamland_branches(events)})
    back = read_root(path)
    assert back.pmt.dtype == np.int16 and back.t_ns.dtype == np.float32 and back.vertex_cm.dtype == np.float32
    assert np.array_equal(back.t_ns, events.t_ns)  # float32 -> double -> float32 is exact
    assert np.array_equal(back.vertex_cm, events.vertex_cm, equal_nan=True)
    assert (back.source == "data").all()
    assert back.attrs == {}


def test_tree_selection(events, tmp_path):
    kl = kamland_branches(events)
    path = make_root(tmp_path / "two.root", {"meta": {"a": np.arange(3)}, "T": kl})
    assert len(read_root(path)) == len(events)  # the only tree with the branches
    assert len(read_root(f"{path}:T")) == len(events)
    assert len(read_root(path, tree="T")) == len(events)
    assert len(read_root(path, tree="T;1")) == len(events)


def test_tree_in_subdirectory(events, tmp_path):
    path = tmp_path / "dir.root"
    with uproot.recreate(path) as f:
        f.mktree("reco/T", kamland_branches(events))
    assert len(read_root(path)) == len(events)
    assert len(read_root(f"{path}:reco/T")) == len(events)


def test_rntuple_is_read_too(events, tmp_path):
    path = tmp_path / "rn.root"
    with uproot.recreate(path) as f:
        f["T"] = kamland_branches(events)  # uproot >= 5.7 writes an RNTuple here
    back = read_root(path)
    for name in ("offsets", "pmt", "t_ns", "q_pe", "vertex_cm", "energy_mev"):
        assert np.array_equal(getattr(back, name), getattr(events, name), equal_nan=True), name


# --------------------------------------------------------------- bad files
def test_missing_file(tmp_path, expect_error):
    path = tmp_path / "nope.root"
    with expect_error(EventFileError, path, "no such file"):
        read_root(path)


def test_text_file(tmp_path, expect_error):
    path = tmp_path / "notes.root"
    path.write_text("not a ROOT file at all\n")
    with expect_error(EventFileError, path, "not a ROOT file \\(starts with b'not '\\)") as info:
        read_root(path)
    assert not isinstance(info.value, SchemaError)


def test_corrupt_basket(make_events, tmp_path, expect_error):
    good = write_root(make_events(n_events=300), tmp_path / "good.root")
    data = bytearray(good.read_bytes())
    mid = len(data) // 2
    data[mid : mid + 100] = bytes(100)
    path = tmp_path / "zeroed.root"
    path.write_bytes(bytes(data))
    with expect_error(EventFileError, path, "not a readable ROOT file") as info:
        read_root(path)
    assert info.value.__suppress_context__  # uproot's error re-raised from None


@pytest.mark.parametrize("keep", [0.5, 0.9, 60, 10])
def test_truncated_file(make_events, tmp_path, expect_error, keep):
    good = write_root(make_events(n_events=300), tmp_path / "good.root")
    data = good.read_bytes()
    path = tmp_path / "cut.root"
    path.write_bytes(data[: int(len(data) * keep) if keep < 1 else keep])
    with expect_error(EventFileError, path, "truncated ROOT file"):
        read_root(path)


def test_no_kamland_tree(tmp_path, expect_error):
    path = make_root(tmp_path / "other.root", {"T": {"a": np.arange(3), "x": np.zeros(3)}})
    with expect_error(SchemaError, path, "no TTree with branches .*'T' lacks pmtlist, pmtt, pmtq, y, z"):
        read_root(path)


def test_named_tree_missing_branches(events, tmp_path, expect_error):
    path = make_root(tmp_path / "nopmtq.root", {"T": kamland_branches(events, pmtq=None, T0=None)})
    with expect_error(SchemaError, path, "tree 'T' lacks branch\\(es\\) pmtq, T0"):
        read_root(path, tree="T")
    with expect_error(SchemaError, path, "'T' lacks pmtq, T0"):
        read_root(path)


def test_named_tree_absent(events, tmp_path, expect_error):
    path = make_root(tmp_path / "t.root", {"T": kamland_branches(events)})
    with expect_error(SchemaError, path, "no TTree 'events' \\(trees: T\\)"):
        read_root(f"{path}:events")


def test_ambiguous_trees(events, tmp_path, expect_error):
    kl = kamland_branches(events)
    path = make_root(tmp_path / "two.root", {"A": kl, "B": kl})
    with expect_error(SchemaError, path, "several trees .*A, B"):
        read_root(path)
    assert len(read_root(path, tree="B")) == len(events)


@pytest.mark.parametrize(("text", "pattern"), [("[1, 2]", "is a JSON list"), ("{", "is not valid JSON"),
                                               ("[" * 100_000 + "]" * 100_000, "is not valid JSON")])
def test_bad_attrs(events, tmp_path, expect_error, text, pattern):
    """kamdash_attrs that is not a JSON object; deep nesting raised RecursionError (found by the fuzz)."""
    path = tmp_path / "attrs.root"
    with uproot.recreate(path) as f:
        f.mktree("T", kamland_branches(events))
        f["kamdash_attrs"] = text
    with expect_error(SchemaError, path, "kamdash_attrs " + pattern):
        read_root(path)


def test_hit_lists_disagree(events, tmp_path, expect_error):
    off = events.offsets.copy()
    k = int(np.flatnonzero(events.hits_per_event > 1)[0])
    off[k + 1] -= 1
    path = make_root(tmp_path / "skew.root", {"T": kamland_branches(events, pmtq=jagged(off, events.q_pe))})
    with expect_error(EventDataError, path, f"hit lists disagree in entry {k}: pmtlist has"):
        read_root(path)


def test_pmt_id_out_of_range(events, tmp_path, expect_error):
    pmt = events.pmt.astype(np.int32)
    pmt[4] = 70000  # would wrap around in int16
    path = make_root(tmp_path / "pmt.root", {"T": kamland_branches(events, pmtlist=jagged(events.offsets, pmt))})
    with expect_error(EventDataError, path, "'pmtlist' value 70000 out of range 0..1878"):
        read_root(path)


def test_nan_time(events, tmp_path, expect_error):
    t = events.t_ns.astype(np.float64)
    t[2] = np.nan
    path = make_root(tmp_path / "nan.root", {"T": kamland_branches(events, pmtt=jagged(events.offsets, t))})
    with expect_error(EventDataError, path, "non-finite t_ns"):
        read_root(path)


def test_wrong_branch_kind(events, tmp_path, expect_error):
    path = make_root(tmp_path / "flat.root", {"T": kamland_branches(events, pmtlist=np.zeros(len(events), np.int32))})
    with expect_error(SchemaError, path, "branch 'pmtlist' has type int32_t, expected a variable-length list"):
        read_root(path)


# --------------------------------------------------------------------- write
def test_write_validates_on_request(events, tmp_path, expect_error):
    events.q_pe[1] = np.inf
    path = tmp_path / "bad.root"
    with expect_error(EventDataError, path, "non-finite q_pe"):
        write_root(events, path, n_pmts=1879)
    assert list(tmp_path.iterdir()) == []
    write_root(events, path)
    with expect_error(EventDataError, path, "non-finite q_pe"):
        read_root(path)


def test_failed_write_leaves_nothing_and_keeps_old_file(events, make_events, tmp_path, monkeypatch):
    path = write_root(events, tmp_path / "run.root")
    before = path.read_bytes()
    real_mktree = uproot.writing.writable.WritableDirectory.mktree

    def crash_mid_write(self, name, data, *args, **kw):
        real_mktree(self, name, {"x": data["x"]}, *args, **kw)  # part of the file is written...
        raise RuntimeError("killed")  # ...when the writer dies

    monkeypatch.setattr(uproot.writing.writable.WritableDirectory, "mktree", crash_mid_write)
    with pytest.raises(RuntimeError, match="killed"):
        write_root(make_events(n_events=5, seed=2), path)
    assert [p.name for p in tmp_path.iterdir()] == ["run.root"]
    assert path.read_bytes() == before

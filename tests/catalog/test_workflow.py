"""The shift workflow in the catalog: good / bad marks, the curated reference run, shifts with their
checklist and sign-off (each with who and when), run health; round trips on SQLite."""

from __future__ import annotations

import datetime as dt

import pytest

from kamcore.catalog import SHIFT_CHECKLIST, Catalog, checklist_keys
from kamcore.errors import ConfigError


@pytest.fixture
def cat(tmp_path):
    c = Catalog(f"sqlite:///{tmp_path / 'cat.sqlite'}")
    for r in (1, 2, 3):
        c.upsert_run(r, n_events=100, status="ok", start_ns=r * 10**12, stop_ns=r * 10**12 + 10**11,
                     livetime_s=100.0)
    c.upsert_run(4, status="bad_file", error="not Parquet")
    return c


def _recent(iso: str) -> bool:
    t = dt.datetime.fromisoformat(iso)
    return abs((dt.datetime.now(dt.timezone.utc) - t).total_seconds()) < 60


def test_good_and_bad_marks_with_who_and_when(cat, tmp_path):
    cat.mark_run(1, "good", by="alice", reason="clean")
    cat.mark_run(2, "bad", by="bob", reason="HV trip")
    cat.mark_run(1, "bad", by="carol")
    again = Catalog(f"sqlite:///{tmp_path / 'cat.sqlite'}")  # a second process sees the same
    runs = {r["run"]: r for r in again.list_runs()}
    assert runs[1]["mark"] == "bad" and runs[2]["mark"] == "bad" and runs[3]["mark"] is None
    assert runs[2]["good"] is False and runs[3]["good"] is False
    marks = again.run_marks(run=1)
    assert [(m["mark"], m["by"]) for m in marks] == [("bad", "carol"), ("good", "alice")]
    assert marks[1]["reason"] == "clean" and _recent(marks[0]["at"])
    cat.mark_run(1, "none", by="carol")
    assert {r["run"]: r for r in cat.list_runs()}[1]["mark"] is None
    cat.mark_run(3, "good", by="dave")
    assert {r["run"]: r for r in cat.list_runs()}[3]["good"] is True
    with pytest.raises(ConfigError, match="'good', 'bad' or 'none'"):
        cat.mark_run(1, "great", by="x")
    with pytest.raises(ConfigError, match="who marks"):
        cat.mark_run(1, "good", by=" ")
    with pytest.raises(ConfigError, match="no run 99"):
        cat.mark_run(99, "good", by="x")


def test_the_curated_reference_run(cat):
    assert cat.curated_reference() is None
    cat.set_reference_run(2, by="alice", reason="quiet, all PMTs on")
    ref = cat.curated_reference()
    assert ref["run"] == 2 and ref["by"] == "alice" and ref["reason"] == "quiet, all PMTs on" and _recent(ref["at"])
    cat.set_reference_run(3, by="bob")
    assert cat.curated_reference()["run"] == 3
    cat.set_reference_run(None, by="carol", reason="back to automatic")
    assert cat.curated_reference() is None
    assert [c["run"] for c in cat.reference_choices()] == [None, 3, 2]
    with pytest.raises(ConfigError, match="its file is bad_file"):
        cat.set_reference_run(4, by="x")
    with pytest.raises(ConfigError, match="no run 77"):
        cat.set_reference_run(77, by="x")
    with pytest.raises(ConfigError, match="needs a name"):
        cat.set_reference_run(1, by="")


def test_shift_sign_in_checklist_and_sign_off(cat, tmp_path):
    assert cat.current_shift() is None
    sid = cat.start_shift("alice")
    assert cat.start_shift("alice") == sid  # signing in again: the same shift
    with pytest.raises(ConfigError, match="still open: sign it off first"):
        cat.start_shift("bob")
    keys = checklist_keys()
    assert len(keys) == len(SHIFT_CHECKLIST) >= 4
    for k in keys[:-1]:
        cat.check_item(sid, k, by="alice")
    cat.check_item(sid, keys[0], by="alice", checked=False)
    cat.check_item(sid, keys[0], by="alice")
    with pytest.raises(ConfigError, match=f"checklist item\\(s\\) {keys[-1]} not ticked"):
        cat.sign_off_shift(sid, by="alice")
    cat.check_item(sid, keys[-1], by="bob")
    cat.sign_off_shift(sid, by="alice", comment="quiet night")
    sh = Catalog(f"sqlite:///{tmp_path / 'cat.sqlite'}").shifts()[0]
    assert sh["shifter"] == "alice" and not sh["open"] and sh["signed_off_by"] == "alice"
    assert sh["comment"] == "quiet night" and _recent(sh["signed_in_at"]) and _recent(sh["signed_off_at"])
    assert set(sh["checks"]) == set(keys) and sh["checks"][keys[-1]]["by"] == "bob"
    with pytest.raises(ConfigError, match="already signed off"):
        cat.sign_off_shift(sid, by="alice")
    with pytest.raises(ConfigError, match="checklist is closed"):
        cat.check_item(sid, keys[0], by="alice")
    bob = cat.start_shift("bob")  # the hand-over: a new shift once the old one is signed off
    assert bob != sid and cat.current_shift()["shifter"] == "bob"
    with pytest.raises(ConfigError, match="unknown checklist item"):
        cat.check_item(bob, "coffee", by="bob")
    with pytest.raises(ConfigError, match="needs a name"):
        cat.start_shift("  ")


def test_run_health_round_trip(cat):
    h = {"run": 2, "n_events": 100, "counts": [3] * 1879, "expected": [0.03] * 1879, "z": [0.0] * 1879,
         "dead": [17], "hot": [40, 41], "status": "ok", "reference": "neighbours", "mean_nhit": 312.5,
         "energy_peak_mev": 2.41, "config": {"z_dead": 5.0}}
    cat.store_health(2, h)
    back = cat.run_health(2)
    assert back["dead"] == [17] and back["hot"] == [40, 41] and back["counts"] == h["counts"]
    s = cat.health_summaries()
    assert set(s) == {2} and s[2]["mean_nhit"] == 312.5 and s[2]["hot"] == [40, 41] and "counts" not in s[2]
    cat.store_health(2, {**h, "dead": [], "energy_peak_mev": float("nan")})
    assert cat.run_health(2)["dead"] == [] and cat.health_summaries()[2]["energy_peak_mev"] is None
    assert cat.run_health(3) is None

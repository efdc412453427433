"""Run catalog on SQLite: round trip, upsert-not-duplicate, flag/period replacement, notes."""

import numpy as np
import pytest
from sqlalchemy import func, select

from kamcore.catalog import Catalog, CatalogError, Fit, Flag, PeriodRow, Run, default_catalog_url
from kamcore.errors import ConfigError
from kamcore.fit import FitConfig, FlagConfig, RunFit, flag_sequence

MODEL = {"name": "m", "kind": "cnn", "digest": "aaaa"}


def _fit(run, f, err=0.04, valid=True):
    return RunFit(run, 400, ["Xe136_2vbb", "Bi214"], {"Xe136_2vbb": 400 * (1 - f), "Bi214": 400 * f},
                  {"Xe136_2vbb": 10.0, "Bi214": 10.0}, np.eye(2) * 100.0, f, err, 12.0, 18, 0.88, valid,
                  "ok" if valid else "invalid", 80, 0.01)


def _count(cat, model):
    with cat._session() as s:
        return s.execute(select(func.count()).select_from(model)).scalar_one()


@pytest.fixture
def cat(tmp_path):
    c = Catalog(tmp_path / "sub" / "catalog.sqlite")
    yield c
    c.close()


def test_round_trip_and_upsert_does_not_duplicate(cat, tmp_path):
    cfg = FitConfig()
    for r in (1, 2, 3):
        cat.upsert_run(r, path=f"/data/run_{r}.parquet", start_ns=r * 10**9, stop_ns=r * 10**9 + 5, livetime_s=86400.0,
                       n_events=400)
        cat.store_fit(r, _fit(r, 0.40), model=MODEL, template_digest="t1", config=cfg, command="kamcore runs fit")
    # re-running the same fit updates the row
    cat.store_fit(2, _fit(2, 0.45), model=MODEL, template_digest="t1", config=cfg)
    cat.upsert_run(2, n_events=401)
    assert _count(cat, Run) == 3 and _count(cat, Fit) == 3
    # another template version is a new entry in the run's fit history
    cat.store_fit(2, _fit(2, 0.50), model=MODEL, template_digest="t2", config=cfg)
    assert _count(cat, Fit) == 4
    hist = cat.fit_history(2)
    assert [h["template_digest"] for h in hist] == ["t1", "t2"]
    assert [h["bkg_fraction"] for h in hist] == [0.45, 0.50]
    assert hist[0]["config"]["method"] == "da" and hist[0]["result"]["yields"]["Bi214"] == pytest.approx(180.0)
    runs = cat.list_runs(template_digest="t1")
    assert [(r["run"], r["n_events"], r["fit"]["bkg_fraction"]) for r in runs] == [(1, 400, 0.40), (2, 401, 0.45),
                                                                                   (3, 400, 0.40)]
    assert runs[0]["start_ns"] == 10**9 and runs[0]["fit"]["command"] == "kamcore runs fit"
    # a second connection to the same file sees the same catalog
    again = Catalog(f"sqlite:///{tmp_path / 'sub' / 'catalog.sqlite'}")
    assert [r["run"] for r in again.list_runs()] == [1, 2, 3]
    again.close()


def test_flags_and_periods_are_replaced_as_a_set(cat):
    fc, flc = FitConfig(), FlagConfig()
    f = [0.40] * 10 + [0.70] * 4 + [0.40] * 10
    runs = list(range(100, 124))
    for r, x in zip(runs, f):
        cat.store_fit(r, _fit(r, x), model=MODEL, template_digest="t1", config=fc)
    res = flag_sequence(runs, np.array(f), np.full(24, 0.04), config=flc)
    assert res.periods
    cat.store_flags(res, model_digest="aaaa", template_digest="t1", config=flc)
    cat.store_flags(res, model_digest="aaaa", template_digest="t1", config=flc)  # idempotent
    n_flags, n_periods = _count(cat, Flag), _count(cat, PeriodRow)
    assert n_flags == 4 and n_periods == len(res.periods)
    rep = cat.report(template_digest="t1")
    flagged = [r["run"] for r in rep["runs"] if r["flags"]]
    assert flagged == [110, 111, 112, 113]
    assert {p["first_run"] for p in rep["periods"]} <= {110, 109}
    # the period disappears when a new flagging no longer finds it
    quiet = flag_sequence(runs, np.full(24, 0.40), np.full(24, 0.04), config=flc)
    cat.store_flags(quiet, model_digest="aaaa", template_digest="t1", config=flc)
    assert _count(cat, Flag) == 0 and _count(cat, PeriodRow) == 0


def test_notes_and_acknowledgements(cat):
    cat.upsert_run(5)
    a = cat.add_note("convection after the deck work", author="shifter A", run=5)
    b = cat.add_note("seen, vetoing", author="run coordinator", run=5, kind="ack")
    c = cat.add_note("general remark", author="shifter B")
    cat.resolve_note(a, by="shifter C")
    notes = cat.notes(run=5)
    assert [n["id"] for n in notes] == [b, a]
    assert notes[1]["status"] == "resolved" and notes[1]["resolved_by"] == "shifter C"
    assert notes[1]["resolved_at"] is not None and notes[0]["kind"] == "ack"
    assert [n["id"] for n in cat.notes(status="open")] == [c, b]
    assert notes[0]["created_at"].endswith("+00:00")
    with pytest.raises(ConfigError, match="no note with id 99"):
        cat.resolve_note(99, by="x")
    with pytest.raises(ConfigError, match="needs an author"):
        cat.add_note("text", author=" ")
    with pytest.raises(ConfigError, match="no period with id 7"):
        cat.add_note("text", author="a", period_id=7)


def test_good_marks(cat):
    cat.mark_good([1, 2])
    cat.mark_good([2], good=False)
    assert [(r["run"], r["good"]) for r in cat.list_runs()] == [(1, True), (2, False)]


def test_default_url_honours_xdg_and_env(monkeypatch, tmp_path):
    monkeypatch.delenv("KAMDASH_CATALOG", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert default_catalog_url() == f"sqlite:///{tmp_path / 'xdg' / 'kamdash' / 'catalog.sqlite'}"
    c = Catalog()
    assert (tmp_path / "xdg" / "kamdash" / "catalog.sqlite").exists()
    c.close()
    monkeypatch.setenv("KAMDASH_CATALOG", "sqlite://")
    assert default_catalog_url() == "sqlite://"


def test_bad_urls_are_one_line_errors(tmp_path):
    with pytest.raises(ConfigError, match="not a database URL"):
        Catalog("://nowhere")
    with pytest.raises(CatalogError, match="nosuchdb"):
        Catalog("nosuchdb://host/db")
    (tmp_path / "notadb.sqlite").write_text("this is not a database" * 100)
    with pytest.raises(CatalogError, match="notadb.sqlite"):
        Catalog(tmp_path / "notadb.sqlite")


def test_a_new_sqlite_catalog_gets_all_its_tables_or_none(tmp_path, monkeypatch):
    """Creating the tables is one transaction: a failure (or a kill) half-way leaves no table, not some
    (Python's sqlite3 committed each CREATE TABLE on its own: a monitor killed while starting once left a
    catalog with 'runs' and without 'fits')."""
    import sqlite3

    from sqlalchemy import event

    from kamcore.catalog.models import Base
    from kamcore.errors import CatalogError

    last = Base.metadata.sorted_tables[-1]

    def boom(*_, **__):
        raise RuntimeError("killed half-way")
    event.listen(last, "before_create", boom)
    try:
        with pytest.raises((CatalogError, RuntimeError)):
            Catalog(tmp_path / "c.sqlite")
    finally:
        event.remove(last, "before_create", boom)
    con = sqlite3.connect(tmp_path / "c.sqlite")
    assert con.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall() == []
    con.close()
    cat = Catalog(tmp_path / "c.sqlite")  # the next start creates them all
    assert cat.list_runs() == []

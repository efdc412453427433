"""The run catalog on a real PostgreSQL server (``$KAMDASH_TEST_POSTGRES_URL``, started by ``.ci/run``), and the
one-transaction close on both databases."""

import threading

import numpy as np
import pytest
from sqlalchemy import func, select

from kamcore.catalog import Catalog, Fit, Run
from kamcore.fit import FitConfig, FlagConfig, RunFit, flag_sequence

MODEL = {"name": "m", "kind": "cnn", "digest": "aaaa"}


def _fit(run, f, err=0.04):
    return RunFit(run, 400, ["Xe136_2vbb", "Bi214"], {"Xe136_2vbb": 400 * (1 - f), "Bi214": 400 * f},
                  {"Xe136_2vbb": 10.0, "Bi214": 10.0}, np.eye(2) * 100.0, f, err, 12.0, 18, 0.88, True, "ok", 80,
                  0.01)


def _count(cat, model):
    with cat._session() as s:
        return s.execute(select(func.count()).select_from(model)).scalar_one()


@pytest.mark.postgres
def test_round_trip_flags_notes_on_postgres(postgres_url):
    # a URL without a driver uses psycopg (version 3)
    cat = Catalog(postgres_url.replace("postgresql+psycopg://", "postgresql://"))
    assert cat.engine.dialect.name == "postgresql" and cat.engine.dialect.driver == "psycopg"
    cfg, fl = FitConfig(), FlagConfig()
    fs = [0.40, 0.41, 0.39, 0.80, 0.82, 0.40]
    for r, f in enumerate(fs, start=1):
        cat.store_run_fit(r, _fit(r, f), run_fields={"path": f"/d/run_{r}.parquet", "start_ns": r * 10**18,
                                                     "stop_ns": r * 10**18 + 5, "livetime_s": 86400.0,
                                                     "n_events": 400, "status": "ok", "error": None},
                          model=MODEL, template_digest="t1", config=cfg, command="kamcore monitor")
    cat.store_run_fit(2, _fit(2, 0.45), run_fields={"n_events": 401}, model=MODEL, template_digest="t1", config=cfg)
    cat.upsert_run(7, path="/d/run_7.parquet", status="bad_file", error="run_7.parquet: not Parquet")
    assert _count(cat, Run) == 7 and _count(cat, Fit) == 6
    res = flag_sequence(list(range(1, 7)), np.array(fs), np.full(6, 0.03), config=fl)
    cat.store_flags(res, model_digest="aaaa", template_digest="t1", config=fl)
    cat.store_flags(res, model_digest="aaaa", template_digest="t1", config=fl)  # replaced, not duplicated
    runs = {r["run"]: r for r in cat.list_runs(model_digest="aaaa", template_digest="t1")}
    assert runs[2]["n_events"] == 401 and runs[2]["fit"]["bkg_fraction"] == 0.45
    assert runs[1]["start_ns"] == 10**18  # BIGINT ns
    assert runs[7]["status"] == "bad_file" and runs[7]["fit"] is None
    assert {f["kind"] for f in runs[4]["flags"]} == {"high_background"}
    periods = cat.periods()
    assert {(p["first_run"], p["last_run"]) for p in periods} == {(4, 5)}
    assert len({p["method"] for p in periods}) == len(periods)  # one row per method
    assert runs[1]["updated_at"].endswith("+00:00")
    nid = cat.add_note("HV trip", author="A. Shifter", run=4)
    cat.resolve_note(nid, by="B. Expert")
    assert cat.notes(run=4)[0]["status"] == "resolved"
    cat.close()


def _failing_close(cat):
    bad_model = {"name": "m"}  # no digest: fails after the run row was written inside the transaction
    with pytest.raises(KeyError):
        cat.store_run_fit(9, _fit(9, 0.4), run_fields={"n_events": 400, "status": "ok"}, model=bad_model,
                          template_digest="t1", config=FitConfig())
    assert [r["run"] for r in cat.list_runs()] == []  # neither the run nor its fit


def test_a_failed_close_writes_nothing_on_sqlite(tmp_path):
    _failing_close(Catalog(tmp_path / "c.sqlite"))


@pytest.mark.postgres
def test_a_failed_close_writes_nothing_on_postgres(postgres_url):
    _failing_close(Catalog(postgres_url))


@pytest.mark.postgres
def test_processes_opening_a_new_catalog_at_once_create_the_tables_once(postgres_url):
    errors = []
    barrier = threading.Barrier(6)

    def open_it():
        try:
            barrier.wait()
            Catalog(postgres_url).upsert_run(1, n_events=3)
        except Exception as exc:  # noqa: BLE001 - collected and shown
            errors.append(repr(exc))

    threads = [threading.Thread(target=open_it) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert [r["run"] for r in Catalog(postgres_url).list_runs()] == [1]

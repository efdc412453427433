"""Batch scoring: serial and Dask give identical score files, up-to-date files are kept, bad runs are skipped.

A tiny untrained CNN (the cpu preset made small, as tests/cli/test_runs_cli.py)
and three short simulated runs.  One local cluster of 2 worker processes is
started (the slow part: each worker imports torch); the scheduler-address path
uses an in-process cluster, which starts in well under a second.
"""

import filecmp
import shutil
import sys

import numpy as np
import psutil
import pytest

from kamcore.errors import ClusterError, ConfigError, MissingDependencyError
from kamcore.io import read_scores
from kamcore.runs import RunSimConfig, find_run_files, load_run_scores, score_path, score_runs, simulate_runs
from kamcore.runs.batch import _worker_model


@pytest.fixture(scope="module")
def setup(copy_tiny_cnn, tmp_path_factory):
    d = tmp_path_factory.mktemp("batch")
    copy_tiny_cnn(d)
    simulate_runs(3, d / "runs", seed=5, config=RunSimConfig(events_per_run=10))
    return d


def _copy(setup, dest, corrupt: str | None = None):
    shutil.copytree(setup / "runs", dest)
    if corrupt:
        raw = (dest / corrupt).read_bytes()
        (dest / corrupt).write_bytes(raw[: len(raw) // 2])  # half-written by the DAQ
    return find_run_files(dest)


def _same_score_files(a, b):
    for f in a:
        sa, sb = score_path(f), score_path(b[0].parent / f.name)
        assert filecmp.cmp(sa, sb, shallow=False), f"{sa.name} differs"
        ra, rb = read_scores(sa), read_scores(sb)
        np.testing.assert_array_equal(ra["score"], rb["score"])
        assert ra["meta"] == rb["meta"]


def _children():
    """Child processes of this one, except multiprocessing's resource tracker (it lives as long as we do)."""
    return [p for p in psutil.Process().children(recursive=True)
            if "resource_tracker" not in " ".join(p.cmdline())]


def test_serial_and_local_cluster_write_identical_score_files(setup, tmp_path):
    before = {p.pid for p in _children()}
    a = _copy(setup, tmp_path / "a", corrupt="run_000002.parquet")
    b = _copy(setup, tmp_path / "b", corrupt="run_000002.parquet")
    ser = score_runs(a, setup / "m", workers=0)
    dist = score_runs(b, setup / "m", workers=2, threads_per_worker=1)
    for res in (ser, dist):
        assert [r.status for r in res.runs] == ["scored", "bad", "scored"]
        assert "run_000002.parquet" in res.runs[1].error and "\n" not in res.runs[1].error
        assert res.events_scored == sum(r.n_events for r in res.runs) > 0
        assert not score_path(res.runs[1].run_file).exists()
    assert ser.n_workers == 0 and ser.where == "serial (1 torch thread)" and ser.startup_s > 0
    assert dist.n_workers == 2 and dist.where.startswith("local cluster of 2 worker process(es) x 1 thread")
    _same_score_files([a[0], a[2]], b)
    # the cluster and its worker processes are gone
    assert {p.pid for p in _children()} <= before


def test_existing_scheduler_loads_the_model_once_per_worker(setup, tmp_path):
    from distributed import LocalCluster

    a = _copy(setup, tmp_path / "a")
    b = _copy(setup, tmp_path / "b")
    score_runs(a, setup / "m", workers=0)
    _worker_model.cache_clear()
    # an in-process cluster: its worker runs the tasks in this process, so the cache can be inspected
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None) as cluster:
        res = score_runs(b, setup / "m", scheduler=cluster.scheduler_address)
    info = _worker_model.cache_info()
    _worker_model.cache_clear()
    assert [r.status for r in res.runs] == ["scored"] * 3 and res.n_workers == 1
    assert res.where == f"scheduler {cluster.scheduler_address} (1 worker(s))"
    assert info.misses == 1 and info.hits == 3  # loaded by the warm-up task, reused by the three runs
    _same_score_files(a, b)


def test_up_to_date_score_files_are_kept_and_changed_runs_rescored(setup, tmp_path):
    files = _copy(setup, tmp_path / "r")
    first = score_runs(files, setup / "m", workers=0)
    digest = first.model["digest"]
    assert all(load_run_scores(f, digest) is not None for f in files)
    assert load_run_scores(files[0], "0" * 16) is None  # another model
    again = score_runs(files, setup / "m", workers=0)
    assert [r.status for r in again.runs] == ["current"] * 3 and again.events_scored == 0
    assert [r.n_events for r in again.runs] == [r.n_events for r in first.runs]
    # run 3 rewritten (here: with run 1's bytes): its score file is stale
    files[2].write_bytes(files[0].read_bytes())
    assert load_run_scores(files[2], digest) is None
    third = score_runs(files, setup / "m", workers=0)
    assert [r.status for r in third.runs] == ["current", "current", "scored"]
    forced = score_runs(files, setup / "m", workers=0, rescore=True)
    assert [r.status for r in forced.runs] == ["scored"] * 3


def test_option_scheduler_and_dependency_errors(setup, tmp_path, monkeypatch):
    files = find_run_files(setup / "runs")
    with pytest.raises(ConfigError, match="workers must be >= 0"):
        score_runs(files, setup / "m", workers=-1)
    with pytest.raises(ConfigError, match="threads_per_worker must be >= 1"):
        score_runs(files, setup / "m", threads_per_worker=0)
    with pytest.raises(ConfigError, match="give one of the two"):
        score_runs(files, setup / "m", workers=2, scheduler="tcp://127.0.0.1:8786")
    with pytest.raises(ClusterError, match="Dask scheduler 'no-port': cannot connect .*missing port"):
        score_runs(files, setup / "m", scheduler="no-port")
    with pytest.raises(ClusterError, match="cannot connect .*Timed out"):
        score_runs(files, setup / "m", scheduler="tcp://127.0.0.1:1", connect_timeout_s=0.5)
    monkeypatch.setitem(sys.modules, "distributed", None)  # as if Dask were not installed
    with pytest.raises(MissingDependencyError, match=r"pip install 'dask\[distributed\]>=2024.1'"):
        score_runs(files, setup / "m", workers=2)
    # serial scoring does not need Dask
    assert score_runs(_copy(setup, tmp_path / "s"), setup / "m", workers=0).count("scored") == 3


def test_a_shipped_model_name_scores_from_any_directory(setup, tmp_path, monkeypatch):
    """``score_runs(files, "cnn_cpu")``: the name is resolved in assets/, not against the working directory."""
    from kamcore.models import load_model

    files = _copy(setup, tmp_path / "s")[:1]
    monkeypatch.chdir(tmp_path)
    res = score_runs(files, "cnn_cpu", workers=0)
    assert res.count("scored") == 1 and res.model == load_model("cnn_cpu").identity
    assert load_run_scores(files[0], res.model["digest"]) is not None

"""Batch scoring of run files: serially in this process, or on a ``dask.distributed`` cluster.

Every run file gets its score file (:func:`kamcore.runs.score_run_file`, next to
the run, written atomically) unless it already has an up-to-date one (same
model weights, same run-file bytes: :func:`kamcore.runs.load_run_scores`).  The
unit of work is one run file, and its score file depends only on that file and
the model, so the work can be spread over any number of workers.  Where it runs
(:func:`score_runs`):

* ``workers=0``: serially, in this process; Dask is not imported;
* ``workers=N`` (default: the CPUs available, at most one per run): a
  ``distributed.LocalCluster`` of ``N`` worker processes with
  ``threads_per_worker`` threads each, started for the call and closed after;
* ``scheduler="tcp://host:8786"``: the workers of an existing cluster, which must
  see the run files and the model at the same (absolute) paths as this process.

Each worker process loads the model once: one warm-up task per worker fills a
per-process cache keyed on the checkpoint path and its weights digest
(:func:`_worker_model`; a worker that joins later fills it on its first run)
and scores the first events of the first run without writing anything, so
the imports and first calls (about 1.5 s per process) are paid before the
clock starts; serial scoring warms up the same way.
Torch is pinned to ``threads_per_worker`` threads in every task, and serial
scoring pins it the same way while it runs, so serial and distributed score
files are identical byte for byte (on the same kind of CPU).

The local cluster's worker processes start without Dask's default
``MALLOC_TRIM_THRESHOLD_=65536``: setting it turns off glibc's dynamic mmap
threshold, so every hit-map batch is page-faulted in afresh, which halved the
scoring throughput of the shipped CNN (353 -> 178 events/s, one process, 2-core
machine).  The workers inherit this process's environment instead (glibc's
defaults, or the ``GLIBC_TUNABLES`` that the ``kamcore`` entry point sets).

A run file that cannot be read or scored ends as a :class:`RunScore` with status
``"bad"`` and a one-line error; the other runs go on.

Dask is imported on first use (:func:`import_distributed`); without it the error
says how to install it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import logging
import os
import time
from pathlib import Path
from typing import Callable, Iterable

from ..errors import ClusterError, ConfigError, KamcoreError, MissingDependencyError, one_line
from .scoring import _score_run, load_run_scores

__all__ = ["RunScore", "BatchScore", "score_runs", "default_workers", "import_distributed"]

log = logging.getLogger(__name__)

#: pip requirement of the Dask extra (as in pyproject.toml)
DASK_REQUIREMENT = "dask[distributed]>=2024.1"

_STATUSES = ("scored", "current", "bad")


@dataclasses.dataclass(frozen=True)
class RunScore:
    """What batch scoring did with one run file.

    Attributes
    ----------
    run_file : Path
        The run file.
    status : str
        ``"scored"`` (score file written), ``"current"`` (an up-to-date score
        file was kept) or ``"bad"`` (the run could not be scored).
    n_events : int
        Events in the score file (0 for a bad run).
    error : str or None
        One-line reason for a bad run.
    """

    run_file: Path
    status: str
    n_events: int = 0
    error: str | None = None


@dataclasses.dataclass(frozen=True)
class BatchScore:
    """Outcome of :func:`score_runs`.

    Attributes
    ----------
    runs : tuple of RunScore
        One per run file, in the order given.
    model : dict
        ``{"name", "kind", "digest"}`` of the model (:attr:`kamcore.models.Model.identity`).
    where : str
        Where it ran, e.g. ``"serial (1 torch thread)"``,
        ``"local cluster of 2 worker process(es) x 1 thread"``.
    n_workers : int
        Worker processes (0 for serial).
    seconds : float
        Wall time of the scoring itself, s (cluster start excluded).
    startup_s : float
        Wall time to start or reach the cluster, load the model and warm up on
        every worker (serial: load the model and warm up), s.
    """

    runs: tuple[RunScore, ...]
    model: dict
    where: str
    n_workers: int
    seconds: float
    startup_s: float = 0.0

    def count(self, status: str) -> int:
        """Number of runs with ``status`` (``"scored"``, ``"current"`` or ``"bad"``)."""
        if status not in _STATUSES:
            raise ConfigError(f"status must be one of {list(_STATUSES)}, got {status!r}")
        return sum(1 for r in self.runs if r.status == status)

    @property
    def events_scored(self) -> int:
        """Events scored in this call (runs with status ``"scored"``)."""
        return sum(r.n_events for r in self.runs if r.status == "scored")

    @property
    def events_per_s(self) -> float:
        """Scoring throughput, events per second (0 when nothing was scored)."""
        return self.events_scored / self.seconds if self.seconds > 0 else 0.0


def import_distributed():
    """``distributed`` (imported now), or :class:`~kamcore.errors.MissingDependencyError` with the install command."""
    try:
        import distributed
    except ImportError:
        raise MissingDependencyError(f"batch scoring on a cluster needs Dask: pip install '{DASK_REQUIREMENT}' "
                                     "(or score serially with --workers 0)") from None
    return distributed


def default_workers(n_runs: int) -> int:
    """Worker processes of the local cluster: the CPUs this process may use, at most ``n_runs``, at least 1."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        cpus = os.cpu_count() or 1
    return max(1, min(cpus, n_runs))


# ------------------------------------------------------------------ one run (serial and on workers)
def _score_one(run_file: Path, model, rescore: bool) -> RunScore:
    if not rescore:
        sc = load_run_scores(run_file, model.identity["digest"])
        if sc is not None:
            return RunScore(run_file, "current", int(len(sc["score"])))
    try:
        _, n = _score_run(run_file, model)
    except KamcoreError as exc:
        return RunScore(run_file, "bad", 0, one_line(exc, None))
    return RunScore(run_file, "scored", int(n))


@functools.lru_cache(maxsize=2)
def _worker_model(model_path: str, digest: str):
    """The :class:`kamcore.models.Model` of the checkpoint, loaded once per worker process and (path, digest).

    Raises :class:`~kamcore.errors.ModelFileError` when the worker's copy of the
    checkpoint is not the one the client saw (another digest).
    """
    from ..errors import ModelFileError
    from ..models import load_model

    model = load_model(model_path)
    if model.identity["digest"] != digest:
        raise ModelFileError(f"{model_path}: the worker reads weights {model.identity['digest']}, the client {digest} "
                             "(workers must see the same model file)")
    return model


def _warm_up(model, run_file: Path, n_events: int = 64) -> None:
    """Score the first ``n_events`` of ``run_file`` without writing (imports, caches, first calls); errors ignored."""
    from ..geometry import default_pmt_table
    from ..io import open_events

    try:
        events = open_events(run_file)
        model.predict(events.take(slice(0, n_events)), pmts=default_pmt_table(), device="cpu")
    except KamcoreError:
        pass  # the run reports its own error when it is scored


def _warm_task(model_path: str, digest: str, threads: int, run_file: str) -> int:
    """Pin torch threads, load the model into this worker's cache, warm up on ``run_file``; returns torch's threads."""
    import torch

    torch.set_num_threads(threads)
    _warm_up(_worker_model(model_path, digest), Path(run_file))
    return torch.get_num_threads()


def _score_task(run_file: str, model_path: str, digest: str, threads: int, rescore: bool) -> RunScore:
    """One run on a worker: the cached model, torch pinned to ``threads`` threads."""
    import torch

    torch.set_num_threads(threads)
    return _score_one(Path(run_file), _worker_model(model_path, digest), rescore)


@contextlib.contextmanager
def _torch_threads(n: int):
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


# ----------------------------------------------------------------------------- clusters
@contextlib.contextmanager
def _client(distributed, *, scheduler: str | None, workers: int, threads: int, connect_timeout_s: float):
    """A connected ``distributed.Client`` and a description of where it runs; closes what it started."""
    cluster = client = None
    try:
        if scheduler is None:
            import dask

            try:
                # see the module docstring: glibc's dynamic mmap threshold stays on in the workers
                with dask.config.set({"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}):
                    cluster = distributed.LocalCluster(n_workers=workers, threads_per_worker=threads,
                                                       processes=True, dashboard_address=None,
                                                       silence_logs=logging.ERROR)
            except (OSError, RuntimeError, TimeoutError) as exc:
                raise ClusterError(f"cannot start a local Dask cluster of {workers} worker(s): "
                                   f"{one_line(exc, None)}") from None
            client = distributed.Client(cluster)
            client.wait_for_workers(workers, timeout=max(connect_timeout_s, 60.0))
            where = f"local cluster of {workers} worker process(es) x {threads} thread(s)"
        else:
            try:
                client = distributed.Client(scheduler, timeout=connect_timeout_s)
            except (OSError, ValueError, TypeError, TimeoutError) as exc:
                raise ClusterError(f"Dask scheduler {scheduler!r}: cannot connect "
                                   f"({one_line(exc, None)})") from None
            try:
                client.wait_for_workers(1, timeout=connect_timeout_s)
            except (OSError, TimeoutError):
                raise ClusterError(f"Dask scheduler {scheduler}: no worker joined within {connect_timeout_s:g} s") \
                    from None
            where = f"scheduler {scheduler} ({len(client.nthreads())} worker(s))"
        yield client, where
    finally:
        if client is not None:
            client.close()
        if cluster is not None:
            cluster.close()


def _score_distributed(files, model_path: Path, ident: dict, *, scheduler, workers, threads, rescore,
                       connect_timeout_s, progress) -> BatchScore:
    distributed = import_distributed()
    t0 = time.perf_counter()
    with _client(distributed, scheduler=scheduler, workers=workers, threads=threads,
                 connect_timeout_s=connect_timeout_s) as (client, where):
        # the model once per worker process, before the clock starts
        addresses = sorted(client.nthreads())
        warm = [client.submit(_warm_task, str(model_path), ident["digest"], threads, str(files[0]), workers=[a],
                              allow_other_workers=False, pure=False) for a in addresses]
        client.gather(warm)
        startup = time.perf_counter() - t0
        t1 = time.perf_counter()
        futures = client.map(_score_task, [str(f) for f in files], model_path=str(model_path),
                             digest=ident["digest"], threads=threads, rescore=rescore, pure=False)
        index = {f.key: i for i, f in enumerate(futures)}
        results: list[RunScore | None] = [None] * len(files)
        for fut in distributed.as_completed(futures):
            i = index[fut.key]
            try:
                results[i] = fut.result()
            except distributed.KilledWorker:
                results[i] = RunScore(files[i], "bad", 0, f"{files[i]}: the worker died while scoring it")
            if progress is not None:
                progress(results[i])
        seconds = time.perf_counter() - t1
        n_workers = len(addresses)
    return BatchScore(tuple(results), ident, where, n_workers, seconds, startup)


def _score_serial(files, model, *, threads, rescore, progress, t_start: float) -> BatchScore:
    results = []
    with _torch_threads(threads):
        if files:
            _warm_up(model, files[0])
        t0 = time.perf_counter()
        for f in files:
            results.append(_score_one(f, model, rescore))
            if progress is not None:
                progress(results[-1])
        seconds = time.perf_counter() - t0
    plural = "s" if threads > 1 else ""
    return BatchScore(tuple(results), dict(model.identity), f"serial ({threads} torch thread{plural})", 0, seconds,
                      t0 - t_start)


def score_runs(run_files: Iterable[str | os.PathLike], model, *, workers: int | None = None,
               scheduler: str | None = None, threads_per_worker: int = 1, rescore: bool = False,
               connect_timeout_s: float = 10.0, progress: Callable[[RunScore], None] | None = None) -> BatchScore:
    """Write the score file of every run file, serially or on a Dask cluster (see the module docstring).

    Parameters
    ----------
    run_files : iterable of path
        Run files (:func:`kamcore.runs.find_run_files` of a directory).
    model : path, shipped name or kamcore.models.Model
        Classifier checkpoint (``.safetensors`` + ``.json``) or a shipped name such as ``cnn_bi214``
        (:func:`kamcore.models.load_model`), or the model already loaded.
    workers : int, optional
        Worker processes of the local cluster; 0 = serial in this process.
        Default: :func:`default_workers`.  Not with ``scheduler``.
    scheduler : str, optional
        Address of an existing Dask scheduler (``tcp://host:8786``) instead of a local cluster.
    threads_per_worker : int
        Threads of each local worker, and torch threads per task (serial: torch threads).
    rescore : bool
        Score every run again, even with an up-to-date score file.
    connect_timeout_s : float
        How long to wait for the scheduler and its first worker, s.
    progress : callable, optional
        Called with each :class:`RunScore` as it completes.

    Returns
    -------
    BatchScore
        One :class:`RunScore` per run file (in the order given), timings, where it ran.

    Raises
    ------
    ConfigError
        Inconsistent options.
    ModelFileError
        The model cannot be loaded (here, or on a worker).
    ClusterError
        The local cluster does not start, or the scheduler cannot be reached or has no worker.
    MissingDependencyError
        Dask is not installed (only when not serial).
    """
    from .scoring import _loaded

    files = [Path(f).resolve() for f in run_files]
    if threads_per_worker < 1:
        raise ConfigError(f"threads_per_worker must be >= 1, got {threads_per_worker}")
    if workers is not None and workers < 0:
        raise ConfigError(f"workers must be >= 0 (0 = serial), got {workers}")
    if scheduler is not None and workers is not None:
        raise ConfigError(f"workers={workers} applies to a local cluster; the scheduler {scheduler} has its own "
                          "workers (give one of the two)")
    t_start = time.perf_counter()
    model = _loaded(model)  # a bad checkpoint fails here, before any cluster starts
    if workers == 0:
        return _score_serial(files, model, threads=threads_per_worker, rescore=rescore, progress=progress,
                             t_start=t_start)
    # workers load the weights file the client found (a shipped name resolved here), by its absolute path
    model_path, ident = model.path.resolve(), dict(model.identity)
    del model
    if not files:
        return BatchScore((), ident, "nowhere (no run files)", 0, 0.0)
    n = default_workers(len(files)) if workers is None and scheduler is None else workers
    return _score_distributed(files, model_path, ident, scheduler=scheduler, workers=n, threads=threads_per_worker,
                              rescore=rescore, connect_timeout_s=connect_timeout_s, progress=progress)

"""Batch-scoring benchmark: ``kamcore runs score`` serially, on 1 and on 2 Dask workers, side by side.

The same simulated runs (``--runs`` x ``--events-per-run``, seed ``--seed``) are
scored with the shipped CNN (``assets/cnn_cpu``, or ``--model``) three ways, each
with every run rescored (:func:`kamcore.runs.score_runs` with ``rescore=True``):

* serial: in this process, torch pinned to 1 thread;
* a local Dask cluster of 1 worker process x 1 thread;
* a local Dask cluster of 2 worker processes x 1 thread each.

Throughput is events scored per second of scoring wall time; the start-up
(cluster start, worker processes importing torch, loading the model, the
warm-up pass of every worker or of the serial path) is reported separately,
and the end-to-end ratio includes it.  ``--repeat R`` interleaves R passes of
the three modes and keeps the best of each.  The score files of all modes are
compared byte for byte.

On a shared machine the speed-up is bounded by the CPU the other jobs leave,
so the benchmark also measures that: the speed-up of two CPU-bound Python
processes over running the same two loops one after the other (2.0x on an idle
2-core machine), once before the scoring and once after.

Usage: ``python benchmarks/bench_runs_score.py [--runs 8] [--events-per-run 300] [--seed 0] [--repeat 1]
[--dir DIR] [--model M]``
"""

from __future__ import annotations

import argparse
import hashlib
import os
import tempfile
import time
from pathlib import Path


def _digests(files) -> dict:
    from kamcore.runs import score_path

    return {f.name: hashlib.sha256(score_path(f).read_bytes()).hexdigest() for f in files}


def _burn(n: int) -> float:
    t0 = time.perf_counter()
    s = 0
    for i in range(n):
        s += i
    return time.perf_counter() - t0


def parallel_capacity(n: int = 6_000_000) -> float:
    """Speed-up of 2 CPU-bound processes over the same 2 loops in one process (2.0 = two free cores)."""
    import multiprocessing

    t0 = time.perf_counter()
    _burn(n), _burn(n)
    one = time.perf_counter() - t0
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        pool.map(_burn, [1000, 1000])  # processes started
        t0 = time.perf_counter()
        pool.map(_burn, [n, n])
        two = time.perf_counter() - t0
    return one / two


def main() -> None:
    import torch

    torch.set_num_threads(1)
    from kamcore._assets import asset_path
    from kamcore.runs import RunSimConfig, find_run_files, score_runs, simulate_runs

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=8)
    ap.add_argument("--events-per-run", type=float, default=300.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeat", type=int, default=1, help="passes per mode; the best is kept")
    ap.add_argument("--dir", help="run directory (reused if it holds the runs; default: a temporary one)")
    ap.add_argument("--model", default=str(asset_path("cnn_cpu")))
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        d = Path(args.dir or Path(tmp) / "runs")
        files = find_run_files(d) if d.is_dir() else []
        if len(files) != args.runs:
            t0 = time.perf_counter()
            simulate_runs(args.runs, d, seed=args.seed, config=RunSimConfig(events_per_run=args.events_per_run))
            files = find_run_files(d)
            print(f"simulated {args.runs} runs in {time.perf_counter() - t0:.0f} s")

        modes = {"serial": dict(workers=0), "1 worker": dict(workers=1), "2 workers": dict(workers=2)}
        best, digests = {}, {}
        capacity = [parallel_capacity()]
        for _ in range(args.repeat):
            for name, kw in modes.items():
                res = score_runs(files, args.model, rescore=True, threads_per_worker=1, **kw)
                assert res.count("scored") == len(files), res
                if name not in best or res.seconds < best[name].seconds:
                    best[name] = res
                digests.setdefault(name, _digests(files))
        capacity.append(parallel_capacity())

    n_events = best["serial"].events_scored
    cpus = len(os.sched_getaffinity(0))
    load = os.getloadavg()[0]
    print(f"{len(files)} runs, {n_events} events, model {best['serial'].model['name']}; {cpus} CPUs, "
          f"load average {load:.1f}; 2 CPU-bound processes ran {capacity[0]:.2f}x / {capacity[1]:.2f}x as fast as "
          "one (before / after; 2.0x = two free cores)")
    print(f"{'mode':<10} {'start s':>8} {'score s':>8} {'events/s':>9} {'vs 1 worker':>12} {'vs serial':>10} "
          f"{'end-to-end s':>13}")
    one = best["1 worker"]
    for name, r in best.items():
        print(f"{name:<10} {r.startup_s:>8.1f} {r.seconds:>8.2f} {r.events_per_s:>9.0f} "
              f"{r.events_per_s / one.events_per_s:>11.2f}x {r.events_per_s / best['serial'].events_per_s:>9.2f}x "
              f"{r.startup_s + r.seconds:>13.1f}")
    two = best["2 workers"]
    same = digests["serial"] == digests["1 worker"] == digests["2 workers"]
    print(f"2 workers vs 1 worker: {two.events_per_s / one.events_per_s:.2f}x scoring throughput "
          f"({(one.startup_s + one.seconds) / (two.startup_s + two.seconds):.2f}x end to end); "
          f"score files identical across modes: {same}")


if __name__ == "__main__":
    main()

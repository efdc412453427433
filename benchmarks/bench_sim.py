"""Fast Monte Carlo throughput: simulated events per second per source.

    python benchmarks/bench_sim.py [--events 4096] [--threads 1]

Each source is warmed up on one block, then timed on ``--events`` events (best of
``--repeat``).  The goal of the foundation issue is >= 2,000 events/s on the 2-core
machine for every source (issue 15; one core, ``OMP_NUM_THREADS=1``).
"""

from __future__ import annotations

import argparse
import time

from kamcore.geometry import default_pmt_table
from kamcore.sim import simulate


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--events", type=int, default=4096)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--sources", nargs="*", default=["Xe136_0vbb", "Xe136_2vbb", "Bi214", "Bi214_film", "C10",
                                                      "Solar_nu", "Xe136_2vbb_0+1", "I130"])
    args = ap.parse_args()
    pmts = default_pmt_table()
    print(f"{'source':<16} {'events/s':>9} {'hits/event':>10}")
    for source in args.sources:
        simulate(source, 64, seed=0, pmts=pmts)
        best = float("inf")
        for r in range(args.repeat):
            t = time.perf_counter()
            ev = simulate(source, args.events, seed=r, pmts=pmts)
            best = min(best, time.perf_counter() - t)
        print(f"{source:<16} {args.events / best:>9.0f} {ev.hits_per_event.mean():>10.0f}")


if __name__ == "__main__":
    main()

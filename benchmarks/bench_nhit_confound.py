"""How much of a classifier's Xe136_0vbb-vs-Xe136_2vbb separation is only Nhit (energy)?

Both are single-vertex decays; in the 2-3 MeV window 2vbb sits at lower energy, so
fewer hits.  Prints the held-out AUC of 0vbb against 2vbb for each model on all events
and after Nhit matching the two samples (kamcore.preprocess.match_nhit): an AUC that
falls to ~0.5 after matching was an Nhit effect, not vertex topology.

    python benchmarks/bench_nhit_confound.py --models kamnet_cpu cnn_cpu --events 1500 --seed 100000
"""

import argparse

import numpy as np
import torch

from kamcore._assets import asset_path
from kamcore.metrics import auc
from kamcore.preprocess import match_nhit
from kamcore.train import load_model, score_events
from kamcore.train.evaluate import simulate_heldout


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=["kamnet_cpu", "cnn_cpu"])
    ap.add_argument("--events", type=int, default=1500)
    ap.add_argument("--seed", type=int, default=100000)
    args = ap.parse_args()
    torch.set_num_threads(1)
    ev = simulate_heldout(["Xe136_0vbb", "Xe136_2vbb"], args.events, seed=args.seed)
    n = {k: v.hits_per_event for k, v in ev.items()}
    i, j = match_nhit(n["Xe136_0vbb"], n["Xe136_2vbb"], np.random.default_rng(0))
    print(f"mean hits: 0vbb {n['Xe136_0vbb'].mean():.1f}, 2vbb {n['Xe136_2vbb'].mean():.1f}; "
          f"{len(i)} Nhit-matched pairs")
    for name in args.models:
        path = name if "/" in name else asset_path(name)
        model, _ = load_model(path)
        s = {k: score_events(model, v)[0] for k, v in ev.items()}
        print(f"{name}: AUC 0vbb vs 2vbb {auc(s['Xe136_0vbb'], s['Xe136_2vbb']):.3f} on all events, "
              f"{auc(s['Xe136_0vbb'][i], s['Xe136_2vbb'][j]):.3f} Nhit-matched")


if __name__ == "__main__":
    main()

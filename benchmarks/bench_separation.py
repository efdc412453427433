"""Model-free separation with the default preprocessing: the time profile alone, fitted vs centroid vertex.

    python benchmarks/bench_separation.py [--events 4000] [--seed 7100]

For Xe136_0vbb (signal) and each background (C10, Bi214), ``--events`` fresh events
(2-3 MeV, R < 157 cm) are preprocessed exactly as ``kamcore hitmaps`` does
(:func:`kamcore.preprocess.hitmaps`, 28 x 38 x 38 maps), once with the default
vertex (the time-likelihood fit) and once with the bias-corrected charge centroid.
Each map is reduced to its normalised 28-slice time profile (hits per slice /
hits), signal and background are Nhit-matched (:func:`kamcore.preprocess.match_nhit`),
split 50:50 by event, and an L2-regularised logistic regression is fitted on one
half; the rejection of the background at 90% signal acceptance is measured on the
other, held-out half (binomial error).  Issue 15 asks for >= 60% (C10) and >= 33%
(Bi214) with the default preprocessing.

It also prints the early-light dipole AUC (:func:`kamcore.preprocess.early_light_dipole`,
Nhit-matched Bi214 vs 0vbb) with the light of every deposit and with the
point-source (centroid) light model: the multi-site topology reaching the PMTs.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from scipy.optimize import minimize

from kamcore.geometry import default_pmt_table
from kamcore.metrics import auc, rejection_at_acceptance
from kamcore.preprocess import HitMapConfig, early_light_dipole, hitmaps, match_nhit, nhit
from kamcore.sim import SimConfig, simulate

SEL = dict(energy_window_mev=(2.0, 3.0), max_radius_cm=157.0)


def profiles(events, pmts, vertex: str) -> tuple[np.ndarray, np.ndarray]:
    """``(N, 28)`` normalised time profiles and ``(N,)`` Nhit of the maps ``kamcore hitmaps`` makes."""
    maps = hitmaps(events, pmts, HitMapConfig(vertex=vertex))
    prof = maps.sum(axis=(2, 3))
    return prof / np.maximum(prof.sum(1, keepdims=True), 1.0), nhit(maps)


def logistic_rejection(xs: np.ndarray, xb: np.ndarray, rng: np.random.Generator) -> tuple[float, float, float]:
    """Held-out rejection at 90% acceptance, its binomial error and the AUC of an L2 logistic regression."""
    x = np.concatenate([xs, xb])
    y = np.concatenate([np.ones(len(xs)), np.zeros(len(xb))])
    mu, sd = x.mean(0), x.std(0) + 1e-9
    x = (x - mu) / sd
    perm = rng.permutation(len(x))
    tr, te = perm[: len(x) // 2], perm[len(x) // 2:]
    X = np.column_stack([x, np.ones(len(x))])

    def loss(w):
        z = X[tr] @ w
        val = np.logaddexp(0, z).sum() - (y[tr] * z).sum() + 0.5 * 1e-2 * (w[:-1] @ w[:-1])
        p = 1 / (1 + np.exp(-z))
        g = X[tr].T @ (p - y[tr])
        g[:-1] += 1e-2 * w[:-1]
        return val, g

    w = minimize(loss, np.zeros(X.shape[1]), jac=True, method="L-BFGS-B").x
    s = X[te] @ w
    sig, bkg = s[y[te] == 1], s[y[te] == 0]
    rej = rejection_at_acceptance(sig, bkg, 0.9)
    return rej, float(np.sqrt(rej * (1 - rej) / len(bkg))), auc(sig, bkg)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--events", type=int, default=4000, help="events per source (default 4000)")
    ap.add_argument("--seed", type=int, default=7100, help="first seed (default 7100, disjoint from training)")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    pmts = default_pmt_table()
    t0 = time.perf_counter()
    events = {src: simulate(src, args.events, seed=args.seed + k, pmts=pmts, **SEL)
              for k, src in enumerate(["Xe136_0vbb", "C10", "Bi214"])}
    print(f"time-profile logistic regression, held-out rejection at 90% 0vbb acceptance ({args.events} events "
          "per source, Nhit-matched, 50:50 split)")
    print(f"{'background':<12}{'vertex':<10}{'rejection':>18}{'AUC':>8}{'pairs':>8}")
    for vertex in ("fit", "centroid"):
        prof = {src: profiles(ev, pmts, vertex) for src, ev in events.items()}
        for bkg in ("C10", "Bi214"):
            rng = np.random.default_rng(args.seed)
            i_s, i_b = match_nhit(prof["Xe136_0vbb"][1], prof[bkg][1], rng)
            rej, err, a = logistic_rejection(prof["Xe136_0vbb"][0][i_s], prof[bkg][0][i_b], rng)
            print(f"{bkg:<12}{vertex:<10}{100 * rej:>12.1f} +- {100 * err:.1f}%{a:>8.3f}{len(i_s):>8}")
    print("early-light dipole, Nhit-matched Bi214 vs 0vbb (AUC; 0.5 = no difference):")
    for light in ("deposits", "centroid"):
        cfg = SimConfig(light_model=light)
        s = simulate("Xe136_0vbb", args.events, seed=args.seed + 10, pmts=pmts, config=cfg, **SEL)
        b = simulate("Bi214", args.events, seed=args.seed + 11, pmts=pmts, config=cfg, **SEL)
        ds, db = early_light_dipole(s, pmts), early_light_dipole(b, pmts)
        ns, nb = nhit(hitmaps(s, pmts)), nhit(hitmaps(b, pmts))
        i_s, i_b = match_nhit(ns, nb, np.random.default_rng(args.seed))
        a = auc(db[i_b], ds[i_s])
        err = np.sqrt(a * (1 - a) / len(i_s))  # rough: binomial on the pairs
        print(f"  light_model={light:<9} AUC {a:.3f} +- {err:.3f} ({len(i_s)} pairs)")
    print(f"({time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()

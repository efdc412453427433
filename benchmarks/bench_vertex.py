"""Vertex-fit resolution, bias and speed (the table and figure of docs/vertex_fit.md).

    python benchmarks/bench_vertex.py [--events 3000] [--png docs/vertex_fit.png]

* resolution against energy: Solar_nu recoil electrons (single vertex, wide spectrum),
  R < 157 cm, in bins of visible energy;
* resolution against radius: Xe136_0vbb uniform in the XeLS (2-3 MeV), bins of true R;
* bias near and beyond the balloon: 0vbb decays placed at R = 0 .. 400 cm along 12 directions
  (:func:`kamcore.sim.simulate_at`), mean radial error;
* speed: events fitted per second on one thread, beside the charge centroid.

Each row prints the median 3-D error, the 68% quantile, the mean error per coordinate
(bias) and, for comparison, the bias-corrected charge centroid's median 3-D error.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from kamcore.geometry import default_pmt_table
from kamcore.preprocess import fit_vertex, reconstruct_vertex
from kamcore.sim import simulate, simulate_at


def _row(label, fit, cen, true):
    e = fit - true
    d = np.linalg.norm(e, axis=1)
    dc = np.linalg.norm(cen - true, axis=1)
    bias = e.mean(0)
    print(f"{label:<22}{len(d):>6}{np.median(d):>9.1f}{np.quantile(d, 0.68):>9.1f}   "
          f"({bias[0]:+.1f}, {bias[1]:+.1f}, {bias[2]:+.1f}){np.median(dc):>11.1f}")
    return float(np.median(d)), float(np.median(dc))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--events", type=int, default=3000)
    ap.add_argument("--seed", type=int, default=9100)
    ap.add_argument("--png", help="write the figure here")
    args = ap.parse_args()
    torch.set_num_threads(1)
    pmts = default_pmt_table()
    head = f"{'sample':<22}{'N':>6}{'median':>9}{'68%':>9}   {'bias x, y, z (cm)':<20}{'centroid':>8}"

    print("resolution against visible energy (Solar_nu, R < 157 cm); cm")
    print(head)
    ev = simulate("Solar_nu", args.events, seed=args.seed, pmts=pmts, max_radius_cm=157.0, energy_window_mev=(1, 6))
    fit, cen = fit_vertex(ev, pmts).vertex_cm, reconstruct_vertex(ev, pmts)
    e_edges = [1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 6.0]
    by_e = []
    for lo, hi in zip(e_edges[:-1], e_edges[1:]):
        m = (ev.energy_mev >= lo) & (ev.energy_mev < hi)
        by_e.append(_row(f"E {lo:.1f}-{hi:.1f} MeV", fit[m], cen[m], ev.true_vertex_cm[m]))

    print("\nresolution against true radius (Xe136_0vbb, 2-3 MeV); cm")
    print(head)
    ev = simulate("Xe136_0vbb", args.events, seed=args.seed + 1, pmts=pmts, energy_window_mev=(2, 3))
    t = time.perf_counter()
    fit = fit_vertex(ev, pmts).vertex_cm
    t_fit = time.perf_counter() - t
    t = time.perf_counter()
    cen = reconstruct_vertex(ev, pmts)
    t_cen = time.perf_counter() - t
    r = np.linalg.norm(ev.true_vertex_cm, axis=1)
    r_edges = [0, 50, 100, 157, 190]
    by_r = []
    for lo, hi in zip(r_edges[:-1], r_edges[1:]):
        m = (r >= lo) & (r < hi)
        by_r.append(_row(f"R {lo}-{hi} cm", fit[m], cen[m], ev.true_vertex_cm[m]))
    m = r < 157
    _row("R < 157 cm (issue 15)", fit[m], cen[m], ev.true_vertex_cm[m])

    print("\nradial bias at fixed radii (Xe136_0vbb at 2.458 MeV, 12 directions); cm")
    print(f"{'R true':<10}{'N':>6}{'mean R_fit - R':>16}{'median 3-D':>12}{'centroid R bias':>17}")
    rng = np.random.default_rng(args.seed)
    dirs = rng.normal(size=(12, 3))
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    radii = [0.0, 100.0, 157.0, 190.0, 250.0, 400.0]
    bias_r = []
    per = max(args.events // 60, 10)
    for R in radii:
        parts = [simulate_at("Xe136_0vbb", per, R * d, seed=args.seed + 100 + k, pmts=pmts) for k, d in enumerate(dirs)]
        fits = np.concatenate([fit_vertex(p, pmts).vertex_cm for p in parts])
        cens = np.concatenate([reconstruct_vertex(p, pmts) for p in parts])
        true = np.concatenate([p.true_vertex_cm for p in parts]).astype(np.float64)
        dr = np.linalg.norm(fits, axis=1) - R
        drc = np.linalg.norm(cens, axis=1) - R
        bias_r.append((float(dr.mean()), float(drc.mean())))
        print(f"{R:<10.0f}{len(dr):>6}{dr.mean():>+12.2f} +- {dr.std() / np.sqrt(len(dr)):.2f}"
              f"{np.median(np.linalg.norm(fits - true, axis=1)):>10.1f}{drc.mean():>+15.1f}")

    print(f"\nspeed, one thread: fit {len(ev) / t_fit:.0f} events/s, centroid {len(ev) / t_cen:.0f} events/s "
          f"(ratio {t_fit / t_cen:.0f}x)")

    if args.png:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(1, 3, figsize=(13, 3.8))
        ec = 0.5 * (np.array(e_edges[:-1]) + e_edges[1:])
        ax[0].plot(ec, [a for a, _ in by_e], "o-", label="time-likelihood fit")
        ax[0].plot(ec, [b for _, b in by_e], "s--", label="charge centroid")
        ax[0].set(xlabel="visible energy (MeV)", ylabel="median 3-D error (cm)", title="Solar_nu, R < 157 cm",
                  ylim=(0, None))
        rc = 0.5 * (np.array(r_edges[:-1]) + r_edges[1:])
        ax[1].plot(rc, [a for a, _ in by_r], "o-", label="fit")
        ax[1].plot(rc, [b for _, b in by_r], "s--", label="centroid")
        ax[1].set(xlabel="true radius (cm)", ylabel="median 3-D error (cm)", title="Xe136_0vbb, 2-3 MeV",
                  ylim=(0, None))
        ax[2].axhline(0, color="0.6", lw=0.8)
        ax[2].axvline(190, color="0.6", ls=":", lw=0.8)
        ax[2].plot(radii, [a for a, _ in bias_r], "o-", label="fit")
        ax[2].plot(radii, [b for _, b in bias_r], "s--", label="centroid")
        ax[2].set(xlabel="true radius (cm; dotted: balloon)", ylabel="mean radial error (cm)",
                  title="radial bias, 0vbb at fixed R")
        for a in ax:
            a.grid(alpha=0.3)
            a.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(args.png, dpi=110)
        print(f"wrote {args.png}")


if __name__ == "__main__":
    main()

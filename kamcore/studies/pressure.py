"""Pressure map: KamNet against the conventional CNN over quantum efficiency x photocoverage
(KamNet paper, sec. IV.C, Fig. 3).

QE and photocoverage set how many photons a decay leaves in the detector, so they are the
two "pressure" parameters of the classification: low values give a harder task.  For each
cell ``(QE_i, coverage_j)`` of a grid (the paper: 9 x 11 = 99 trials) the fast Monte Carlo
is run with ``SimConfig(qe=QE_i, coverage_17in=coverage_j)``, both networks are trained on
the same Nhit-matched 0vbb-vs-C10 set (7:3 split, :func:`kamcore.train.fit_classifier`), and
each is scored on fresh held-out events of the same cell:

    rejection_m(i, j) = C10 fraction below the threshold keeping 90% of the 0vbb  (m = KamNet, CNN)
    delta(i, j)       = rejection_KamNet - rejection_CNN,   mean over the map: <delta>

The paper: <delta> = +7.6%, and 74.0% (KamNet) vs 61.5% (CNN) at 22% coverage and 23% QE,
its lower-left cell.  Only the 17-inch coverage is varied (the 20-inch PMTs keep 12%); the
grid's upper ends are options (the paper's are not given in its text).
"""

from __future__ import annotations

import logging

import numpy as np
import param

from ..config import JsonConfig
from ..errors import ConfigError
from ..metrics import auc, rejection_at_acceptance
from ._common import (STUDY_PRESETS, Timer, build_model, check_output_dir, comparison_row, new_figure, save_figure,
                      study_hitmap_config, write_results)

__all__ = ["PressureMapConfig", "pressure_grid", "run_pressure_map", "PAPER_PRESSURE"]

log = logging.getLogger(__name__)

PAPER_PRESSURE = {"grid": [9, 11], "trials": 99, "mean_difference": 0.076, "kamnet_at_klz": 0.740, "cnn_at_klz": 0.615,
                  "klz_cell": {"qe": 0.23, "coverage": 0.22}}


class PressureMapConfig(JsonConfig):
    """Inputs of ``kamcore study pressure-map`` (training options come from TrainConfig)."""

    qe_min = param.Number(default=0.23, bounds=(0.01, 1.0), doc="Lowest quantum efficiency of the grid.")
    qe_max = param.Number(default=0.39, bounds=(0.01, 1.0), doc="Highest quantum efficiency of the grid.")
    n_qe = param.Integer(default=9, bounds=(1, 100), doc="QE values (paper: 9).")
    coverage_min = param.Number(default=0.22, bounds=(0.01, 1.0), doc="Lowest 17-inch photocoverage of the grid.")
    coverage_max = param.Number(default=0.42, bounds=(0.01, 1.0), doc="Highest 17-inch photocoverage of the grid.")
    n_coverage = param.Integer(default=11, bounds=(1, 100), doc="Photocoverage values (paper: 11).")
    train_events = param.Integer(default=5000, bounds=(4, None), doc="Simulated 0vbb events per cell for training.")
    background_factor = param.Number(default=1.5, bounds=(0.1, 100.0), doc=(
        "C10 events simulated per 0vbb event (Nhit matching keeps the overlap; C10 has a broader spectrum)."))
    test_events = param.Integer(default=1000, bounds=(4, None), doc="Fresh held-out events of each class per cell.")
    sim_seed = param.Integer(default=500_000, bounds=(0, None), doc="Seed of the simulation (cell c adds 1000 c).")
    preset = param.Selector(default="small", objects=list(STUDY_PRESETS), doc="Study preset of both networks.")
    acceptance = param.Number(default=0.9, bounds=(0.01, 1.0), doc="0vbb acceptance of the quoted rejection.")


def pressure_grid(cfg: PressureMapConfig) -> tuple[np.ndarray, np.ndarray]:
    """``(qe (n_qe,), coverage (n_coverage,))`` values of the grid, evenly spaced, rounded to 1e-4."""
    if cfg.qe_max < cfg.qe_min or cfg.coverage_max < cfg.coverage_min:
        raise ConfigError(f"grid ends must be ordered: QE {cfg.qe_min}..{cfg.qe_max}, "
                          f"coverage {cfg.coverage_min}..{cfg.coverage_max}")
    qe = np.round(np.linspace(cfg.qe_min, cfg.qe_max, cfg.n_qe), 4)
    cov = np.round(np.linspace(cfg.coverage_min, cfg.coverage_max, cfg.n_coverage), 4)
    return qe, cov


def _cell(qe: float, cov: float, c: int, cfg: PressureMapConfig, train_cfg, pmts, hc, progress) -> dict:
    import torch

    from ..sim import SimConfig, simulate
    from ..train import fit_classifier, hitmap_set, labelled_set, predict

    sim = SimConfig(qe=float(qe), coverage_17in=float(cov))
    sel = {"energy_window_mev": (2.0, 3.0), "max_radius_cm": 157.0, "config": sim, "pmts": pmts}
    base = cfg.sim_seed + 1000 * c
    sig = hitmap_set(simulate("Xe136_0vbb", cfg.train_events, seed=base, run=1, **sel), 1.0, pmts, hc)
    n_bkg = max(int(round(cfg.background_factor * cfg.train_events)), 2)
    bkg = hitmap_set(simulate("C10", n_bkg, seed=base + 1, run=2, **sel), 0.0, pmts, hc)
    test_sig = hitmap_set(simulate("Xe136_0vbb", cfg.test_events, seed=base + 2, run=3, **sel), 1.0, pmts, hc)
    test_bkg = hitmap_set(simulate("C10", cfg.test_events, seed=base + 3, run=4, **sel), 0.0, pmts, hc)
    rng = np.random.default_rng(train_cfg.seed + c)
    data = labelled_set(sig, bkg, rng, nhit_matching=train_cfg.nhit_matching)
    if len(data) < 8:
        raise ConfigError(f"cell QE {qe}, coverage {cov}: only {len(data)} events after Nhit matching")
    train, val = data.split(train_cfg.train_fraction, rng)
    out = {"qe": float(qe), "coverage": float(cov), "train_events": int(len(train)), "val_events": int(len(val)),
           "nhit_mean_0vbb": float(np.mean(test_sig.nhit)), "nhit_mean_c10": float(np.mean(test_bkg.nhit))}
    for kind in ("kamnet", "cnn"):
        torch.manual_seed(train_cfg.seed + c)
        model = build_model(kind, cfg.preset)
        t = Timer()
        hist = fit_classifier(model, train, val, train_cfg, progress=progress)
        s, _ = predict(model, test_sig, device=train_cfg.device)
        b, _ = predict(model, test_bkg, device=train_cfg.device)
        out[kind] = {"rejection": rejection_at_acceptance(s, b, cfg.acceptance), "auc": auc(s, b),
                     "best_val_auc": max(e["val_auc"] for e in hist["epochs"]), "train_seconds": float(t),
                     "epochs": len(hist["epochs"])}
        log.info("cell QE %.3f cov %.3f %s: rejection %.3f AUC %.3f (%.0f s)", qe, cov, kind,
                 out[kind]["rejection"], out[kind]["auc"], float(t))
    out["difference"] = out["kamnet"]["rejection"] - out["cnn"]["rejection"]
    return out


def _figure(qe, cov, grids: dict, out_dir) -> str:
    fig, axes = new_figure(3, 1, width=4.6, height=4.2)
    titles = {"kamnet": "KamNet C10 rejection", "cnn": "CNN C10 rejection", "difference": "KamNet - CNN"}
    top = max(float(np.nanmax(grids["kamnet"])), float(np.nanmax(grids["cnn"])), 1e-3)  # one scale for both nets
    for ax, (key, g) in zip(axes, grids.items()):
        g = np.asarray(g, np.float64)
        if key == "difference":
            lim = max(float(np.nanmax(np.abs(g))), 1e-3)
            im = ax.imshow(g, origin="lower", cmap="RdBu", vmin=-lim, vmax=lim, aspect="auto")
        else:
            im = ax.imshow(g, origin="lower", cmap="viridis", vmin=0.0, vmax=top, aspect="auto")
        for i in range(g.shape[0]):
            for j in range(g.shape[1]):
                dark = key != "difference" and g[i, j] < 0.6 * top
                ax.text(j, i, f"{100 * g[i, j]:.1f}", ha="center", va="center", fontsize=8,
                        color="white" if dark else "black")
        ax.set_xticks(range(len(cov)), [f"{100 * c:g}" for c in cov], fontsize=7)
        ax.set_yticks(range(len(qe)), [f"{100 * q:g}" for q in qe], fontsize=7)
        ax.set_xlabel("17-inch photocoverage (%)")
        ax.set_ylabel("quantum efficiency (%)")
        ax.set_title(titles[key] + " (%)")
        ax.figure.colorbar(im, ax=ax, shrink=0.8)
    return save_figure(fig, out_dir, "pressure_map", "grid")


def run_pressure_map(cfg: PressureMapConfig, train_cfg, out_dir, *, command: str | None = None,
                     progress=None) -> dict:
    """Train and evaluate both networks in every cell and write ``out_dir/pressure_map.json`` with
    ``pressure_map_grid.png``; returns the document."""
    from ..geometry import default_pmt_table

    qe, cov = pressure_grid(cfg)
    out_dir = check_output_dir(out_dir)
    timer = Timer()
    pmts = default_pmt_table()
    hc = study_hitmap_config(cfg.preset)
    cells = []
    for i, q in enumerate(qe):
        for j, c in enumerate(cov):
            cells.append(_cell(q, c, i * len(cov) + j, cfg, train_cfg, pmts, hc, progress))
    shape = (len(qe), len(cov))
    grids = {k: np.array([(cell[k]["rejection"] if k != "difference" else cell[k]) for cell in cells]).reshape(shape)
             for k in ("kamnet", "cnn", "difference")}
    figure = _figure(qe, cov, grids, out_dir)
    mean_diff = float(np.mean(grids["difference"]))
    klz = next((cell for cell in cells if abs(cell["qe"] - 0.23) < 1e-6 and abs(cell["coverage"] - 0.22) < 1e-6), None)
    p = PAPER_PRESSURE
    comparison = [
        comparison_row(f"mean KamNet - CNN over the {shape[0]} x {shape[1]} map", mean_diff, p["mean_difference"],
                       "fraction", "paper: 9 x 11 map"),
        comparison_row("KamNet C10 rejection at QE 23%, coverage 22%", klz["kamnet"]["rejection"] if klz else None,
                       p["kamnet_at_klz"], "fraction"),
        comparison_row("CNN C10 rejection at QE 23%, coverage 22%", klz["cnn"]["rejection"] if klz else None,
                       p["cnn_at_klz"], "fraction"),
        comparison_row("cells where KamNet rejects more", int(np.sum(grids["difference"] > 0)), p["trials"], "cells",
                       f"of {len(cells)} (paper: all {p['trials']})"),
    ]
    tc = {k: v for k, v in train_cfg.param.values().items() if k != "name"}
    doc = {
        "title": "Pressure map: C10 rejection of KamNet and the CNN over QE x photocoverage (paper sec. IV.C, Fig. 3)",
        "command": command, "inputs": cfg.to_dict(), "train_config": tc,
        "models": {"kamnet": {"preset": cfg.preset, "base": STUDY_PRESETS[cfg.preset]["kamnet"]},
                   "cnn": {"preset": cfg.preset, "base": STUDY_PRESETS[cfg.preset]["cnn"]}},
        "seeds": {"simulation": cfg.sim_seed, "scheme": "cell c: 0vbb train seed+1000c, C10 train +1, held-out 0vbb +2, "
                                                     "held-out C10 +3", "training": train_cfg.seed},
        "selection": {"energy_window_mev": [2.0, 3.0], "max_radius_cm": 157.0},
        "results": {"qe": qe, "coverage": cov, "cells": cells, "kamnet": grids["kamnet"], "cnn": grids["cnn"],
                    "difference": grids["difference"], "mean_difference": mean_diff},
        "paper": p, "comparison": comparison, "figures": [figure], "paper_figure": "paper Fig. 3",
        "caveats": [
            f"A {shape[0]} x {shape[1]} grid with the '{cfg.preset}' preset, {cells[0]['train_events']} training "
            f"events per cell and {cells[0]['kamnet']['epochs']} epochs; the paper trained full networks on 99 "
            "cells of its sim-Fast benchmark. Small CPU runs are far from converged, so the rejections are lower "
            "and noisier than the paper's and the sign of the difference is not settled by one run.",
            "Only the 17-inch photocoverage is varied; the 20-inch PMTs keep 12%.",
        ]}
    write_results(out_dir, "pressure_map", doc, seconds=float(timer))
    return doc

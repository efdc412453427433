"""Few-shot generation of an unknown background (generative-models paper, sec. 4.4, Fig. 10).

The paper's use case: a VAE pre-trained on 214Bi (easy to tag by delayed coincidence) is
fine-tuned on ~50 events of a background nobody can simulate well -- the KamLAND-Zen 800
excess at the inner-balloon bottom -- to generate that population in bulk.  Here the
"unknown" background is ``Bi214_film_bottom`` (214Bi on the bottom cap of the balloon,
:class:`kamcore.sim.sources.BottomCap`), whose events sit at the balloon (R = 190 cm) at
negative z, far from the XeLS-bulk 214Bi of the pre-training.

Procedure (all Monte Carlo seeded from ``sim_seed``; every event the models see is disjoint
from the events they are judged on):

1. simulate ``pretrain_events`` of ``pretrain_source`` (seed ``sim_seed``) and pre-train a VAE
   (``pretrain_epochs``, Adam ``pretrain_lr``, cosine decay);
2. simulate ``sets`` disjoint sets of ``shots`` events of ``target_source`` (seed ``sim_seed + 1``),
   the reference sample of ``events`` fresh events (``sim_seed + 2``) and an independent sample
   of the same size (``sim_seed + 3``, the MC-vs-MC ceiling);
3. per set ``k``: fine-tune a copy of the pre-trained VAE on it, and train the same
   architecture from scratch on it (:func:`kamcore.train.genstudy.few_shot_models`, training
   settings of a :class:`~kamcore.train.generative.GenTrainConfig`, seed ``seed + k``); with
   ``calibrate`` both also get a quantile output calibration fitted on the set alone;
4. generate ``events`` from each model (seed ``sim_seed + 10 + k``) and compare with the
   reference: IoU and normalised Wasserstein distance of hit time, charge, NHIT, total
   charge, charge-centroid R and z (:data:`kamcore.metrics.ALL_QUANTITIES`) and the
   classifier two-sample AUC.

Reported per model: the mean and standard deviation over the sets (the spread of the
few-shot result over which 50 events one happens to have), the ceiling row, and the medians
of the centroid z and R (cm).  The paper quotes its own bootstrap errors over one set;
its detector simulation (KLG4sim) is not ours, so its numbers are a guide, not a target.
"""

from __future__ import annotations

import copy
import logging

import numpy as np
import param

from ..config import JsonConfig
from ..errors import ConfigError
from ._common import Timer, check_output_dir, comparison_row, new_figure, save_figure, write_results

__all__ = ["FewShotConfig", "run_few_shot"]

log = logging.getLogger(__name__)

STUDY = "few_shot"


class FewShotConfig(JsonConfig):
    """What the few-shot study simulates, trains and compares (module docstring)."""

    pretrain_source = param.String(default="Bi214", doc="pre-training source (a kamcore.sim source)")
    pretrain_events = param.Integer(default=4000, bounds=(2, None), doc="pre-training events")
    pretrain_epochs = param.Integer(default=3, bounds=(1, None), doc="pre-training epochs")
    pretrain_lr = param.Number(default=1e-3, bounds=(0.0, 1.0), doc="pre-training Adam learning rate (cosine decay)")
    target_source = param.String(default="Bi214_film_bottom", doc="the 'unknown' background of the few-shot sets")
    shots = param.Integer(default=50, bounds=(2, None), doc="events per few-shot set (the paper: ~50)")
    sets = param.Integer(default=5, bounds=(1, None), doc="disjoint few-shot sets (spread over sets)")
    events = param.Integer(default=1000, bounds=(4, None), doc="reference MC events and generated events per model")
    preset = param.String(default="small", doc="VAE preset of every model")
    calibrate = param.Integer(default=256, bounds=(0, None), doc=(
        "quantile knots of an output calibration fitted on each few-shot set alone (0: raw models only, else >= 2)"))
    bootstrap = param.Integer(default=20, bounds=(0, None), doc="bootstrap replicas per comparison (0: none, else >= 2)")
    classifier = param.Boolean(default=True, doc="run the classifier two-sample test")
    energy_min_mev = param.Number(default=2.0, doc="visible-energy window of every sample, MeV")
    energy_max_mev = param.Number(default=3.0, doc="visible-energy window of every sample, MeV")
    sim_seed = param.Integer(default=500_000, bounds=(0, None), doc="seed of all the Monte Carlo (module docstring)")

    def check(self) -> "FewShotConfig":
        """``self``, or a one-line ConfigError naming the inconsistent parameter."""
        from ..sim import list_sources

        for name in ("pretrain_source", "target_source"):
            if getattr(self, name) not in list_sources():
                raise ConfigError(f"{name}: unknown source {getattr(self, name)!r}")
        if self.calibrate == 1 or self.bootstrap == 1:
            raise ConfigError("calibrate and bootstrap must be 0 or >= 2")
        if not self.energy_min_mev < self.energy_max_mev:
            raise ConfigError(f"energy window must have min < max, got {self.energy_min_mev} {self.energy_max_mev}")
        return self


def _pretrain(cfg: FewShotConfig, train_cfg, events, pmts):
    import torch

    from ..models import build_generator
    from ..preprocess.pointcloud import point_clouds
    from ..train.generative import fit_vae, prepare_generator

    points, trigger = point_clouds(events, pmts)
    torch.manual_seed(train_cfg.seed)
    model = build_generator("vae", cfg.preset)
    prepare_generator(model, points, trigger, pmts)
    pre_cfg = type(train_cfg)(**{**train_cfg.to_dict(), "epochs": cfg.pretrain_epochs, "lr": cfg.pretrain_lr,
                                 "lr_schedule": "cosine"})
    hist = fit_vae(model, points, trigger, pre_cfg, pmts=pmts)
    return model, hist["epochs"][-1]


def _summary(rows: list[dict], quantities) -> dict:
    """Mean and standard deviation over the sets of every IoU / WD / AUC of the rows of one model."""
    out: dict = {}
    for q in quantities:
        out[q] = {}
        for key in ("iou", "wd"):
            v = np.array([r[q][key] for r in rows], np.float64)
            out[q][key] = float(np.nanmean(v)) if np.isfinite(v).any() else None
            out[q][f"{key}_std_over_sets"] = float(np.nanstd(v, ddof=1)) if np.isfinite(v).sum() > 1 else None
    if rows and "classifier_auc" in rows[0]:
        v = np.array([r["classifier_auc"] for r in rows], np.float64)
        out["classifier_auc"] = float(np.mean(v))
        out["classifier_auc_std_over_sets"] = float(np.std(v, ddof=1)) if len(v) > 1 else None
    out["sets"] = len(rows)
    return out


def _figure(summary: dict, ceiling: dict, quantities, centroids: dict, out_dir) -> list[str]:
    from ..train.genstudy import PAPER_FEW_SHOT

    fig, (ax, az) = new_figure(2, 1, width=6.4, height=4.2)
    names = [n for n in ("few_shot", "from_scratch", "few_shot_calibrated", "from_scratch_calibrated") if n in summary]
    colour = {"MC": "#000000", **{n: f"C{i}" for i, n in enumerate(names)}}  # one colour per model in both panels
    x = np.arange(len(quantities))
    w = 0.8 / (len(names) + 1)
    for i, n in enumerate(names):
        m = [summary[n][q]["iou"] or 0.0 for q in quantities]
        e = [summary[n][q]["iou_std_over_sets"] or 0.0 for q in quantities]
        ax.bar(x + i * w, m, w, yerr=e, capsize=2, color=colour[n], label=n.replace("_", " "))
    ax.bar(x + len(names) * w, [ceiling[q]["iou"] for q in quantities], w, color="#999999", label="MC vs MC")
    for j, q in enumerate(quantities):
        for n, mk in (("few_shot", "k^"), ("from_scratch", "kv")):
            if q in PAPER_FEW_SHOT[n]:
                ax.plot(x[j] + 0.4, PAPER_FEW_SHOT[n][q][0], mk, ms=5, label=f"paper {n.replace('_', ' ')}"
                        if j == 0 else None)
    ax.set_xticks(x + 0.4, [q.replace("_", " ") for q in quantities], rotation=20)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("IoU with fresh MC (mean over sets)")
    ax.legend(fontsize=7, ncol=2)
    ax.set_title("Few-shot generation of the balloon-bottom background")
    bins = np.linspace(-300.0, 150.0, 46)
    for n, z in centroids.items():
        az.hist(z, bins, histtype="step", density=True, lw=2 if n == "MC" else 1.2, color=colour[n],
                label="fresh MC" if n == "MC" else n.replace("_", " "))
    az.set_xlabel("charge-centroid z (cm)")
    az.set_ylabel("events (normalised)")
    az.set_title("Centroid z of set 0's models vs fresh MC")
    az.legend(fontsize=7)
    return [save_figure(fig, out_dir, STUDY, "iou")]


def run_few_shot(cfg: FewShotConfig, train_cfg, out_dir, *, pmts=None, command: str | None = None) -> dict:
    """Run the few-shot study (module docstring) into ``out_dir``; returns the document written to
    ``out_dir/few_shot.json`` (with ``few_shot_iou.png``).

    ``train_cfg`` -- a :class:`kamcore.train.generative.GenTrainConfig` of the fine-tuning and from-scratch
    training (the paper's regime: 15 epochs, batch 32, lr 3e-4); its ``threads`` also set torch's threads.
    """
    import torch

    from ..geometry import default_pmt_table
    from ..metrics import ALL_QUANTITIES, event_observables
    from ..models.generator import generate_events
    from ..preprocess.pointcloud import point_clouds
    from ..sim import simulate
    from ..train.generative import calibrate_generator
    from ..train.genstudy import PAPER_FEW_SHOT, comparison_row as metrics_row, few_shot_models

    cfg.check()
    out_dir = check_output_dir(out_dir)
    timer = Timer()
    torch.set_num_threads(train_cfg.threads or 1)
    pmts = pmts or default_pmt_table()
    window = (cfg.energy_min_mev, cfg.energy_max_mev)

    def sim(source, n, seed):
        return simulate(source, n, seed=seed, pmts=pmts, energy_window_mev=window)

    pre_events = sim(cfg.pretrain_source, cfg.pretrain_events, cfg.sim_seed)
    pool = sim(cfg.target_source, cfg.sets * cfg.shots, cfg.sim_seed + 1)
    reference = sim(cfg.target_source, cfg.events, cfg.sim_seed + 2)
    independent = sim(cfg.target_source, cfg.events, cfg.sim_seed + 3)
    t0 = float(timer)
    pretrained, pre_last = _pretrain(cfg, train_cfg, pre_events, pmts)
    pretrain_seconds = float(timer) - t0
    n_boot = cfg.bootstrap
    ceiling = metrics_row(reference, independent, pmts, n_boot=n_boot, seed=cfg.sim_seed, classifier=cfg.classifier)
    per_set: dict[str, list] = {}
    centroids = {"MC": event_observables(reference, pmts)["centroid_z"]}
    for k in range(cfg.sets):
        shots = pool.take(slice(k * cfg.shots, (k + 1) * cfg.shots))
        points, trigger = point_clouds(shots, pmts)
        tc = type(train_cfg)(**{**train_cfg.to_dict(), "seed": train_cfg.seed + k})
        models = few_shot_models(pretrained, points, trigger, tc, pmts=pmts, scratch_seed=tc.seed)
        variants = {name: models[name] for name in ("few_shot", "from_scratch")}
        if cfg.calibrate:
            for name in ("few_shot", "from_scratch"):
                variants[f"{name}_calibrated"] = calibrate_generator(copy.deepcopy(models[name]), points, trigger,
                                                                     knots=cfg.calibrate, seed=tc.seed)
        for name, model in variants.items():
            gen = generate_events(model, cfg.events, seed=cfg.sim_seed + 10 + k, pmts=pmts,
                                  source_name=f"generated:vae-{name.replace('_', '-')}")
            row = metrics_row(reference, gen, pmts, n_boot=n_boot, seed=cfg.sim_seed + k, classifier=cfg.classifier)
            obs = event_observables(gen, pmts)
            row["centroid_median_cm"] = {"r": float(np.median(obs["centroid_r"])),
                                         "z": float(np.median(obs["centroid_z"]))}
            per_set.setdefault(name, []).append(row)
            if k == 0:
                centroids[name] = obs["centroid_z"]
        log.info("few-shot set %d of %d done (%.0f s)", k + 1, cfg.sets, float(timer))
    summary = {name: _summary(rows, ALL_QUANTITIES) for name, rows in per_set.items()}
    ref_obs = event_observables(reference, pmts)
    mc_centroid = {"r": float(np.median(ref_obs["centroid_r"])), "z": float(np.median(ref_obs["centroid_z"]))}
    pre_obs = event_observables(pre_events, pmts)
    figures = _figure(summary, ceiling, ALL_QUANTITIES, centroids, out_dir)
    best = "few_shot_calibrated" if "few_shot_calibrated" in summary else "few_shot"
    scratch = best.replace("few_shot", "from_scratch")
    comparison = []
    for q in ("time", "charge", "nhit", "total_charge"):
        comparison.append(comparison_row(f"{q.replace('_', ' ')} IoU, few-shot ({best})", summary[best][q]["iou"],
                                         PAPER_FEW_SHOT["few_shot"][q][0], "fraction",
                                         f"+- {summary[best][q]['iou_std_over_sets'] or 0:.3f} over {cfg.sets} sets; "
                                         f"MC ceiling {ceiling[q]['iou']:.3f}"))
        comparison.append(comparison_row(f"{q.replace('_', ' ')} IoU, from scratch ({scratch})",
                                         summary[scratch][q]["iou"], PAPER_FEW_SHOT["from_scratch"][q][0], "fraction"))
    for q in ("centroid_r", "centroid_z"):
        comparison.append(comparison_row(f"{q.replace('_', ' ')} IoU, few-shot / from scratch ({best})",
                                         summary[best][q]["iou"], None, "fraction",
                                         f"from scratch {summary[scratch][q]['iou']:.3f}; MC ceiling "
                                         f"{ceiling[q]['iou']:.3f}"))
    if cfg.classifier:
        comparison.append(comparison_row(f"classifier two-sample AUC, few-shot ({best})",
                                         summary[best]["classifier_auc"], None, "",
                                         f"from scratch {summary[scratch]['classifier_auc']:.3f}; MC vs MC "
                                         f"{ceiling['classifier_auc']:.3f} (0.5 = indistinguishable)"))
    doc = {
        "title": "Few-shot generation of a balloon-bottom background (generative paper sec. 4.4, Fig. 10)",
        "command": command, "inputs": {**cfg.to_dict(), "train_config": train_cfg.to_dict()},
        "models": {"pretrained": {"source": cfg.pretrain_source, "events": cfg.pretrain_events,
                                  "epochs": cfg.pretrain_epochs, "seconds": pretrain_seconds, "last_epoch": pre_last,
                                  "preset": cfg.preset, "config": pretrained.config.to_dict()}},
        "seeds": {"simulation": cfg.sim_seed, "scheme": "pre-training S, few-shot pool S+1 (set k = events "
                  "k*shots..), reference S+2, independent S+3, generation S+10+k; training seed + k",
                  "training": train_cfg.seed},
        "selection": {"energy_window_mev": list(window), "max_radius_cm": None},
        "results": {"summary": summary, "per_set": per_set, "ceiling": ceiling,
                    "centroid_median_cm": {"reference_mc": mc_centroid,
                                           "pretraining_mc": {"r": float(np.median(pre_obs["centroid_r"])),
                                                              "z": float(np.median(pre_obs["centroid_z"]))}}},
        "paper": PAPER_FEW_SHOT, "comparison": comparison, "figures": figures,
        "caveats": ["Our fast MC, not the paper's KLG4sim; the 'unknown' background is 214Bi on a 30-degree "
                    "bottom cap of the balloon (our choice of extent).",
                    "The spread is over disjoint few-shot sets; each comparison also has a bootstrap spread in "
                    "per_set (bootstrap replicas: inputs.bootstrap)."],
    }
    write_results(out_dir, STUDY, doc, seconds=float(timer))
    return doc

"""The generator study of the generative-models paper: Table 1 with its sample-size ceiling, and few-shot learning.

Table 1 (paper, sec. 4.3): for every generator, ``n`` generated events are compared
with ``n`` held-out Monte Carlo events (:func:`kamcore.metrics.generative.compare_events`:
histogram IoU ``J`` and normalised Wasserstein distance ``R`` on hit time, charge, NHIT
and total charge, plus the classifier two-sample AUC).  The same comparison of the
reference with an independent Monte Carlo sample of the same size is the ceiling that
the sample size alone allows (two MC samples are not identical either).  Each number
carries a bootstrap spread (:func:`kamcore.metrics.generative.bootstrap_compare`).

Few-shot learning (paper, sec. 4.4): a VAE pre-trained on one source (Bi214, which
KamLAND-Zen can tag by delayed coincidence) is fine-tuned on a handful of events of
another (50 Xe136_0vbb), and compared with a VAE of the same architecture trained from
scratch on the same handful, both judged by generating ``n`` events against the
held-out reference.  Fine-tuning keeps the pre-trained scaler (the Bi214 units); the
from-scratch model fits its scaler and trigger rates on the handful.
"""

from __future__ import annotations

import copy
import logging
import math

import numpy as np
import torch
from torch import nn

from ..events import Events
from ..geometry import PMTTable, default_pmt_table
from ..metrics.generative import ALL_QUANTITIES, bootstrap_compare, compare_events
from ..nn.vae import PointNetVAE, VAEConfig
from .generative import GenTrainConfig, fit_vae, prepare_generator

__all__ = ["PAPER_TABLE1", "PAPER_FEW_SHOT", "comparison_row", "generator_table", "few_shot_models"]

log = logging.getLogger(__name__)

#: the paper's Table 1 (its KLG4sim sample, not ours): IoU in [0, 1] and WD as printed (a.u.)
PAPER_TABLE1 = {
    "vae": {"time": {"iou": 0.890, "wd": 9.32e-2}, "charge": {"iou": 0.919, "wd": 0.254},
            "nhit": {"iou": 0.812, "wd": 1.96}, "total_charge": {"iou": 0.760, "wd": 5.57}},
    "gan": {"time": {"iou": 0.855, "wd": 0.241}, "charge": {"iou": 0.800, "wd": 0.461},
            "nhit": {"iou": 0.762, "wd": 2.98}, "total_charge": {"iou": None, "wd": None}},
}
#: the paper's few-shot IoUs (sec. 4.4), with its bootstrap uncertainties
PAPER_FEW_SHOT = {
    "few_shot": {"time": (0.92710, 0.00038), "charge": (0.92410, 0.00044), "nhit": (0.79067, 0.00826),
                 "total_charge": (0.77581, 0.00761)},
    "from_scratch": {"time": (0.88918, 0.00053), "charge": (0.90589, 0.00056), "nhit": (0.29892, 0.00176),
                     "total_charge": (0.33283, 0.00122)},
}


def comparison_row(reference: Events, other: Events, pmts: PMTTable | None = None, *, n_boot: int = 100,
                   seed: int = 0, classifier: bool = True, bins: int = 50) -> dict:
    """Metrics of ``other`` against ``reference`` with bootstrap spreads.

    Returns
    -------
    dict
        ``{quantity: {"iou", "iou_std", "wd", "wd_std"}}`` for
        :data:`~kamcore.metrics.generative.ALL_QUANTITIES` (the paper's four and the charge
        centroid's R and z), ``classifier_auc`` (when requested) and ``events``.
    """
    pmts = pmts or default_pmt_table()
    res = compare_events(reference, other, pmts, bins=bins, classifier=classifier, seed=seed)
    boot = bootstrap_compare(reference, other, pmts, bins=bins, n_boot=n_boot, seed=seed) if n_boot else {}
    row: dict = {}
    for q in ALL_QUANTITIES:
        b = boot.get(q, {})
        row[q] = {"iou": res[q]["iou"], "iou_std": b.get("iou_std", math.nan),
                  "wd": res[q]["wd"], "wd_std": b.get("wd_std", math.nan)}
    if classifier:
        row["classifier_auc"] = res["classifier_auc"]
    row["events"] = len(other)
    return row


def generator_table(reference: Events, independent: Events, generated: dict[str, Events],
                    pmts: PMTTable | None = None, *, n_boot: int = 100, seed: int = 0, classifier: bool = True,
                    bins: int = 50) -> dict:
    """Table 1: every generated sample and an independent MC sample against one reference.

    Parameters
    ----------
    reference : Events
        Held-out Monte Carlo events the generators never saw.
    independent : Events
        Another Monte Carlo sample of the same source and selection (other seed),
        ideally as large as the generated samples: its row is the ceiling.
    generated : dict
        ``{row name: Events}``.

    Returns
    -------
    dict
        ``{"rows": {name: row}, "ceiling": row}`` with rows as :func:`comparison_row`.
    """
    pmts = pmts or default_pmt_table()
    rows = {name: comparison_row(reference, ev, pmts, n_boot=n_boot, seed=seed, classifier=classifier, bins=bins)
            for name, ev in generated.items()}
    ceiling = comparison_row(reference, independent, pmts, n_boot=n_boot, seed=seed, classifier=classifier,
                             bins=bins)
    return {"rows": rows, "ceiling": ceiling}


def few_shot_models(pretrained: PointNetVAE, points, trigger, config: GenTrainConfig, *,
                    pmts: PMTTable | None = None, scratch_seed: int = 0) -> dict[str, nn.Module]:
    """Fine-tune a copy of ``pretrained`` on a few events and train a fresh twin on the same events.

    Parameters
    ----------
    pretrained : PointNetVAE
        Trained on another source (its scaler is kept for fine-tuning; it is not modified).
    points : (N, P, 5), trigger : (N, P)
        The few-shot events (point clouds).
    config : GenTrainConfig
        Training of both models (same epochs, batch size, learning rate and seed).
    scratch_seed : int
        ``torch.manual_seed`` of the fresh model's initial weights.

    Returns
    -------
    dict
        ``{"few_shot": model, "from_scratch": model, "history": {name: fit_vae history}}``.
    """
    pmts = pmts or default_pmt_table()
    tuned = copy.deepcopy(pretrained)
    hist_tuned = fit_vae(tuned, points, trigger, config, pmts=pmts)
    torch.manual_seed(scratch_seed)
    fresh = PointNetVAE(VAEConfig(**pretrained.config.to_dict()))
    prepare_generator(fresh, points, trigger, pmts)
    hist_fresh = fit_vae(fresh, points, trigger, config, pmts=pmts)
    log.info("few-shot: fine-tuned and from-scratch models trained on %d events", len(np.asarray(trigger)))
    return {"few_shot": tuned, "from_scratch": fresh,
            "history": {"few_shot": hist_tuned["epochs"], "from_scratch": hist_fresh["epochs"]}}

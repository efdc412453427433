"""``kamcore study``: the KamNet paper's physics studies (:mod:`kamcore.studies`), one sub-command each.

* ``pressure-map``   -- train KamNet and the CNN over a QE x photocoverage grid (paper Fig. 3)
* ``sensitivity``    -- sensitivity factor over the score threshold (eqs. 5-6)
* ``fiducial``       -- film 214Bi rate vs radius before/after the cut, fiducial expansion (Fig. 7)
* ``excited-states`` -- KamNet on 2vbb excited states vs the ground state, DES and S/N (sec. VI)
* ``attention``      -- attention by source, rejection vs gamma cascade (Figs. 5-6)
* ``few-shot``       -- pre-train a VAE on 214Bi, fine-tune on 50 balloon-bottom events (generative paper Fig. 10)

Each writes ``OUT/<study>.json`` and ``OUT/<study>_*.png``; the JSON records the command.
"""

from __future__ import annotations

import argparse
import shlex
import sys

from .params import add_param_options, config_from_args
from .registry import command

__all__: list[str] = []

_EVAL_HELP = "checkpoints (path or shipped name; the first is the quoted one; default kamnet_cpu)"


def _studies():
    from .. import studies

    return {
        "pressure-map": ("train KamNet and the CNN over a QE x photocoverage grid: C10 rejection per cell (Fig. 3)",
                         studies.PressureMapConfig, True),
        "sensitivity": ("sensitivity factor S = TPR/sqrt(FPR) and the 58.2%/41.8% mixed form over the score "
                        "threshold (eqs. 5-6)", studies.SensitivityConfig, False),
        "fiducial": ("film 214Bi rate per volume vs radius before/after the cut; expanded fiducial radius, exposure "
                     "and sensitivity gain (Fig. 7)", studies.FiducialConfig, False),
        "excited-states": ("train KamNet on the three 2vbb excited states vs the ground state: ROC, efficiency at "
                           "70% rejection, DES, S/N (sec. VI)", studies.ExcitedStatesConfig, True),
        "attention": ("mean attention per time slice by source and Pearson r of rejection vs gamma cascade "
                      "(Figs. 5-6)", studies.AttentionStudyConfig, False),
        "few-shot": ("pre-train a VAE on 214Bi, fine-tune it on 50 events of a balloon-bottom background and "
                     "compare with from-scratch training and fresh MC (generative paper sec. 4.4, Fig. 10)",
                     studies.FewShotConfig, "generator"),
    }


def _args(p: argparse.ArgumentParser) -> None:
    from ..train import TrainConfig
    from ..train.generative import GenTrainConfig

    sub = p.add_subparsers(dest="study", metavar="STUDY", required=True, parser_class=type(p))
    for name, (help_, cls, trains) in _studies().items():
        text = help_.replace("%", "%%")  # argparse formats help strings with %
        q = sub.add_parser(name, help=text, description=help_)
        q.add_argument("--out", required=True, metavar="DIR",
                       help=f"output directory (created; its parent must exist): {name.replace('-', '_')}.json + PNGs")
        if trains == "generator":
            add_param_options(q, cls, title="study")
            add_param_options(q, GenTrainConfig, title="fine-tuning and from-scratch training (kamcore train vae options)")
        elif trains:
            q.add_argument("--no-progress", action="store_true", help="no progress bar")
            if name == "excited-states":
                q.add_argument("--save-model", metavar="PREFIX", help="also write the trained KamNet checkpoint")
            add_param_options(q, cls, title="study")
            add_param_options(q, TrainConfig, title="training (kamcore train options)")
        else:
            q.add_argument("--model", nargs="+", default=["kamnet_cpu"], metavar="CKPT", help=_EVAL_HELP)
            add_param_options(q, cls, title="study")


def _run(args) -> int:
    from tqdm import tqdm

    from .. import studies
    from ..train import TrainConfig

    cmd = "kamcore " + shlex.join(args.argv)
    _, cls, trains = _studies()[args.study]
    cfg = config_from_args(cls, args)
    if trains == "generator":
        from ..train.generative import GenTrainConfig

        doc = studies.run_few_shot(cfg, config_from_args(GenTrainConfig, args), args.out, command=cmd)
    elif trains:
        train_cfg = config_from_args(TrainConfig, args)
        with tqdm(unit="step", desc=args.study, disable=args.no_progress or None, file=sys.stderr) as bar:
            def tick(info):
                bar.update(1)
                bar.set_postfix(epoch=info["epoch"] + 1, loss=f"{info['loss']:.3f}")
            if args.study == "pressure-map":
                doc = studies.run_pressure_map(cfg, train_cfg, args.out, command=cmd, progress=tick)
            else:
                doc = studies.run_excited_states(cfg, train_cfg, args.out, command=cmd, progress=tick,
                                                 save_model_to=args.save_model)
    else:
        run = {"sensitivity": studies.run_sensitivity, "fiducial": studies.run_fiducial,
               "attention": studies.run_attention}[args.study]
        doc = run(args.model, cfg, args.out, command=cmd)
    print(f"{args.out}: {doc['title']}")
    for row in doc["comparison"]:
        ours, paper = row["ours"], row["paper"]
        fmt = (lambda v: "-" if v is None else (f"{v:.4g}" if isinstance(v, (int, float)) else str(v)))  # noqa: E731
        print(f"  {row['quantity']}: ours {fmt(ours)}, paper {fmt(paper)} {row['unit']}".rstrip())
    return 0


_run.arguments = _args
command("study", "the papers' studies: pressure-map, sensitivity, fiducial, excited-states, attention, "
                 "few-shot (JSON + PNG figures)")(_run)

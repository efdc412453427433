"""``kamcore gen-results``: the generator results file (the paper's Table 1, its ceiling, few-shot).

The study is :func:`kamcore.studies.generators.run_generator_results`; this module parses the options
(one per :class:`~kamcore.studies.generators.GeneratorResultsConfig` parameter, plus the few-shot
training's :class:`~kamcore.train.generative.GenTrainConfig`), builds the configs, runs it and prints the
tables.
"""

from __future__ import annotations

import argparse
import shlex

from .generators import add_pmt_option, parse_arch, pmts_from_args
from .params import add_param_options, config_from_args
from .registry import command

__all__: list[str] = []

_LABELS = {"time": "hit time", "charge": "charge", "nhit": "NHIT", "total_charge": "total charge"}


def _args(p: argparse.ArgumentParser) -> None:
    from ..studies.generators import GeneratorResultsConfig
    from ..train.generative import GenTrainConfig

    p.add_argument("--out", required=True, metavar="FILE.json", help="results file (written atomically)")
    add_param_options(p, GeneratorResultsConfig, title="generator results (--few-shot: paper sec. 4.4)")
    p.add_argument("--arch", nargs="+", default=[], metavar="KEY=VALUE",
                   help="VAE settings of the few-shot models over the preset, as for 'kamcore train vae --arch'")
    add_param_options(p, GenTrainConfig, title=(
        "few-shot training (fine-tuning and from scratch; --threads also sets the sampling threads)"))
    add_pmt_option(p)


def _print(result: dict) -> None:
    def cell(row, q, key):
        v, s = row[q][key], row[q][f"{key}_std"]
        if v is None:
            return "-"
        if key == "iou":
            return f"{100 * v:5.1f}" + (f"+-{100 * s:.1f}" if s is not None else "")
        return f"{v:.4f}" + (f"+-{s:.4f}" if s is not None else "")

    blocks = []
    if "table" in result:
        blocks.append(("Table 1", {**result["table"]["rows"], "MC vs MC": result["table"]["ceiling"]}))
    if "few_shot" in result:
        blocks.append(("few-shot", {**result["few_shot"]["rows"], "MC vs MC": result["table"]["ceiling"]}
                       if "table" in result else result["few_shot"]["rows"]))
    for title, rows in blocks:
        print(f"{title}: IoU [%] and normalised WD, {result['reference']['events']} events vs held-out MC")
        print(f"{'':<14}" + "".join(f"{name:>28}" for name in rows))
        for q in ("time", "charge", "nhit", "total_charge"):
            print(f"{_LABELS[q] + ' IoU':<14}" + "".join(f"{cell(r, q, 'iou'):>28}" for r in rows.values()))
            print(f"{_LABELS[q] + ' WD':<14}" + "".join(f"{cell(r, q, 'wd'):>28}" for r in rows.values()))
        if all("classifier_auc" in r for r in rows.values()):
            print(f"{'classifier AUC':<14}" + "".join(f"{r['classifier_auc']:>28.3f}" for r in rows.values()))


def _run(args) -> int:
    from ..studies.generators import GeneratorResultsConfig, run_generator_results
    from ..train.generative import GenTrainConfig

    args.arch = parse_arch(args.arch)
    cfg = config_from_args(GeneratorResultsConfig, args)
    result = run_generator_results(cfg, config_from_args(GenTrainConfig, args), args.out, pmts=pmts_from_args(args),
                                   command="kamcore " + shlex.join(getattr(args, "argv", [])))
    _print(result)
    print(f"{args.out}: written ({result['seconds']:.0f} s)")
    return 0


_run.arguments = _args
command("gen-results", "the generator results file: Table 1 (VAE, GAN) with the MC-vs-MC ceiling and "
        "classifier AUC on fresh held-out MC, optionally the few-shot comparison")(_run)

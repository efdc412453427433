"""Sub-commands on the event generators: ``train vae|gan``, ``calibrate``, ``generate``, ``compare``.

(``gen-results``, the results file, lives in :mod:`kamcore.cli.genstudy_cmds`.)

* ``kamcore train vae|gan --events FILE... --out PREFIX`` turns the events into point
  clouds (:func:`kamcore.preprocess.pointcloud.point_clouds`), fits the model's scaler
  (:func:`kamcore.train.generative.prepare_generator`), trains it
  (:func:`~kamcore.train.generative.fit_vae` / :func:`~kamcore.train.generative.fit_gan`)
  and writes ``PREFIX.safetensors`` + ``PREFIX.json`` with the training files, sources,
  event count, configuration, history and command (``model_cmds`` dispatches
  ``vae``/``gan`` to :func:`train_generator`).
* ``kamcore calibrate MODEL --events FILE... --out PREFIX`` fits the quantile output
  calibration of hit times and charges (:func:`~kamcore.train.generative.calibrate_generator`);
  ``train --calibrate K`` does it right after training.
* A bare model name that is not a file here (``vae_xe136``, ``gan_xe136``) is looked up
  among the shipped assets (:func:`resolve_checkpoint`).
* ``kamcore generate --model M --events N --seed S --out FILE.parquet`` samples ``N``
  events (:func:`~kamcore.models.generate_events`) and writes them as an
  ordinary Parquet run (source ``generated:<kind>``).  The file depends only on the
  checkpoint, ``N``, ``S`` and ``--run``: the same command gives byte-identical files
  wherever they are written.
* ``kamcore compare REAL GENERATED`` prints histogram IoU ``J`` and normalised
  Wasserstein distance ``R`` for hit time, charge, NHIT and total charge, and the
  classifier two-sample AUC (:func:`kamcore.metrics.generative.compare_events`).
"""

from __future__ import annotations

import argparse
import json
import math
import shlex
import sys
from pathlib import Path

import numpy as np

from ..errors import ConfigError
from ..io import file_sha256
from .generators import (
    GENERATOR_KINDS,
    add_pmt_option,
    build_generator,
    finite_json,
    load_generator,
    parse_arch,
    pmts_from_args,
    resolve_checkpoint,
    set_threads,
    torch_device,
)
from .params import add_param_options, check_output_file, config_from_args
from .registry import command

__all__ = ["GENERATOR_KINDS", "add_train_generator_args", "add_train_generator_parsers", "train_generator",
           "resolve_checkpoint"]

#: row labels of the metric table, in the order of the paper's Table 1
_LABELS = {"time": "hit time", "charge": "charge", "nhit": "NHIT", "total_charge": "total charge",
           "centroid_r": "centroid R", "centroid_z": "centroid z"}




# ----------------------------------------------------------------------------- train
def add_train_generator_args(p: argparse.ArgumentParser) -> None:
    """Options of ``kamcore train vae`` / ``kamcore train gan`` (one parser per kind)."""
    from ..train.generative import GenTrainConfig

    p.add_argument("--events", nargs="+", required=True, metavar="FILE", help="training event files (MC or data)")
    p.add_argument("--out", required=True, metavar="PREFIX", help="writes PREFIX.safetensors and PREFIX.json")
    p.add_argument("--preset", default="small", help=(
        "architecture preset: default, small, tiny; the GAN also has cpu (default: small)"))
    p.add_argument("--arch", nargs="+", default=[], metavar="KEY=VALUE", help=(
        "architecture settings over the preset, e.g. decoder_rank=64 or critic_triggers=straight_through "
        "(VALUE is read as JSON, else as text)"))
    p.add_argument("--max-events", type=int, metavar="N", help="train on the first N events only")
    p.add_argument("--val-events", metavar="FILE", help=(
        "held-out events (not the ones of the final evaluation): after every --val-every epochs generate as many "
        "events, score the mean histogram IoU (time, charge, NHIT, total charge) and keep the best weights"))
    p.add_argument("--val-every", type=int, default=1, metavar="K", help="validate every K epochs (default 1)")
    p.add_argument("--init", metavar="CKPT", help=(
        "start from this checkpoint of the same kind (fine-tuning; its scaler and architecture are kept, "
        "--preset is ignored)"))
    p.add_argument("--calibrate", type=int, default=0, metavar="K", help=(
        "after training, fit the K-quantile output calibration of t and q on the training events "
        "(0: none; see 'kamcore calibrate')"))
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_pmt_option(p)
    add_param_options(p, GenTrainConfig, title="training")


def add_train_generator_parsers(sub) -> None:
    """Add the ``vae`` and ``gan`` parsers to ``sub``, the sub-parsers (``dest="model"``) of a train command."""
    for kind, what in (("vae", "PointNet VAE"), ("gan", "WGAN-GP")):
        help_ = f"train the {what} event generator on event files"
        add_train_generator_args(sub.add_parser(kind, help=help_, description=help_))


def _training_events(paths: list[str], max_events: int | None):
    from ..events import Events
    from ..io import open_events

    if max_events is not None and max_events < 1:
        raise ConfigError(f"--max-events must be >= 1, got {max_events}")
    parts = []
    for path in paths:
        ev = open_events(path)
        if ev.attrs.get("time_reference") == "proper":
            raise ConfigError(f"{path}: holds generated events ({ev.attrs.get('generator', '?')}); "
                              "train on Monte Carlo or detector data")
        parts.append(ev)
    events = Events.concat(parts)
    if max_events is not None:
        events = events.take(slice(0, max_events))
    if len(events) == 0:
        raise ConfigError(f"no events in {', '.join(paths)}")
    return events


def train_generator(args: argparse.Namespace) -> int:
    """Run ``kamcore train vae|gan``: ``args.model`` is the kind, the rest as :func:`add_train_generator_args`.

    Returns
    -------
    int
        Exit status 0; every user error raises a :class:`~kamcore.errors.KamcoreError`.
    """
    import torch
    from tqdm import tqdm

    from ..preprocess.pointcloud import point_clouds
    from ..train import save_model
    from ..train.generative import (
        GenTrainConfig,
        event_conditions,
        fit_gan,
        fit_vae,
        iou_validator,
        prepare_generator,
    )

    kind = args.model
    if kind not in GENERATOR_KINDS:
        raise ConfigError(f"expected a generator kind {list(GENERATOR_KINDS)}, got {kind!r}")
    cfg = config_from_args(GenTrainConfig, args)
    torch_device(cfg.device)
    pmts = pmts_from_args(args)
    events = _training_events(args.events, args.max_events)
    points, trigger = point_clouds(events, pmts)
    validate = None
    if args.calibrate < 0 or args.calibrate == 1:
        raise ConfigError(f"--calibrate must be 0 or >= 2, got {args.calibrate}")
    if args.val_every < 1:
        raise ConfigError(f"--val-every must be >= 1, got {args.val_every}")
    if args.val_events:
        val = _training_events([args.val_events], None)
        # with --calibrate the score is that of the calibrated model (fitted on <= 2000 training events)
        cal = (points[:2000], trigger[:2000]) if args.calibrate >= 2 else None
        validate = iou_validator(val, pmts=pmts, calibrate_on=cal, knots=max(args.calibrate, 2))
    preset, init = args.preset, None
    if args.init:
        model, init_meta = load_generator(args.init)
        if init_meta["model"] != kind:
            raise ConfigError(f"--init {args.init}: is a {init_meta['model']} checkpoint, training a {kind}")
        preset = init_meta.get("preset")
        init = {"checkpoint": Path(args.init).name, "sources": (init_meta.get("training") or {}).get("sources")}
    else:
        torch.manual_seed(cfg.seed)  # initial weights (training noise comes from cfg.seed inside fit_*)
        model = build_generator(kind, preset, parse_arch(args.arch))
    # a conditional VAE: every event's reconstructed vertex and visible energy
    condition = (event_conditions(events, name=", ".join(args.events)) if getattr(model, "conditional", False)
                 else None)
    if not args.init:
        prepare_generator(model, points, trigger, pmts, condition=condition, seed=cfg.seed)
    steps = math.ceil(len(points) / cfg.batch_size) * cfg.epochs
    fit = fit_vae if kind == "vae" else fit_gan
    extra = {"condition": condition} if condition is not None else {}
    key = "loss" if kind == "vae" else "critic_loss"
    with tqdm(total=steps, unit="step", desc=f"train {kind}", disable=args.no_progress or None,
              file=sys.stderr) as bar:
        def tick(info):
            bar.update(1)
            bar.set_postfix(epoch=info["epoch"] + 1, loss=f"{info[key]:.3f}")
        history = fit(model, points, trigger, cfg, pmts=pmts, progress=tick, validate=validate,
                      validate_every=args.val_every, **extra)
    if args.calibrate:
        from ..train.generative import calibrate_generator

        model = calibrate_generator(model, points, trigger, knots=args.calibrate, seed=cfg.seed)
    last = {k: v for k, v in history["epochs"][-1].items() if k not in ("epoch", "seconds", "val")}
    if "best_epoch" in history:
        last.update(best_epoch=history["best_epoch"], best_val_score=history["best_score"])
        best_val = history["epochs"][history["best_epoch"] - 1].get("val", {})
        last.update({f"val_{k}": v for k, v in best_val.items() if k != "score"})
    training = {
        "files": [Path(p).name for p in args.events],
        "sources": sorted(set(events.source.astype(str))),
        "events": int(len(events)),
        "triggered_per_event": float(trigger.sum(1).mean()),
        "selection": events.attrs.get("sim_request"),
        "validation_file": Path(args.val_events).name if args.val_events else None,
        "initialised_from": init,
        "pmt_table_digest": pmts.digest,
        "train_config": cfg.to_dict(),
        "history": history["epochs"],
        "command": "kamcore " + shlex.join(getattr(args, "argv", [])),
    }
    weights, _ = save_model(args.out, model, kind, preset=preset, metrics=finite_json(last),
                            training=finite_json(training))
    summary = ", ".join(f"{k} {v:.4g}" for k, v in last.items() if isinstance(v, float) and math.isfinite(v))
    print(f"{weights.with_suffix('')}: {kind}/{preset} trained on {len(events)} events "
          f"({', '.join(training['sources'])}), {cfg.epochs} epochs; last epoch: {summary}")
    return 0



# ------------------------------------------------------------------------- calibrate
def _calibrate_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", metavar="MODEL", help="trained vae or gan checkpoint (or a shipped name)")
    p.add_argument("--events", nargs="+", required=True, metavar="FILE", help="its training event files")
    p.add_argument("--max-events", type=int, metavar="N", help="use the first N events only")
    p.add_argument("--knots", type=int, default=256, metavar="K", help="quantiles per quantity (default 256)")
    p.add_argument("--generate", type=int, default=2000, metavar="N",
                   help="generated events whose quantiles are mapped (default 2000)")
    p.add_argument("--seed", type=int, default=0, metavar="S", help="seed of those events (default 0)")
    p.add_argument("--out", required=True, metavar="PREFIX", help="writes PREFIX.safetensors and PREFIX.json")
    p.add_argument("--threads", type=int, default=1, metavar="N", help="CPU threads for torch (default 1)")
    add_pmt_option(p)


def _calibrate(args) -> int:
    from ..preprocess.pointcloud import point_clouds
    from ..train import save_model
    from ..train.generative import calibrate_generator

    if args.knots < 2:
        raise ConfigError(f"--knots must be >= 2, got {args.knots}")
    if args.generate < 10:
        raise ConfigError(f"--generate must be >= 10, got {args.generate}")
    set_threads(args.threads)
    pmts = pmts_from_args(args)
    model, meta = load_generator(args.model)
    events = _training_events(args.events, args.max_events)
    points, trigger = point_clouds(events, pmts)
    model = calibrate_generator(model, points, trigger, knots=args.knots, n_generate=args.generate, seed=args.seed)
    training = dict(meta.get("training") or {})
    training["calibration"] = {"files": [Path(p).name for p in args.events], "events": int(len(events)),
                               "knots": args.knots, "generated": args.generate, "seed": args.seed,
                               "command": "kamcore " + shlex.join(getattr(args, "argv", []))}
    weights, _ = save_model(args.out, model, meta["model"], preset=meta.get("preset"), metrics=meta.get("metrics"),
                            training=finite_json(training))
    print(f"{weights.with_suffix('')}: {meta['model']} with a {args.knots}-quantile output calibration "
          f"fitted on {len(events)} events")
    return 0


_calibrate.arguments = _calibrate_args
command("calibrate", "fit the quantile calibration of a trained VAE's or GAN's hit times and charges")(_calibrate)


# -------------------------------------------------------------------------- generate
def _generate_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, metavar="M", help=(
        "vae or gan checkpoint (PREFIX, .json or .safetensors) or a shipped one by name: vae_xe136, gan_xe136"))
    p.add_argument("--events", type=int, required=True, metavar="N", help="number of events")
    p.add_argument("--seed", type=int, required=True, metavar="S", help="random seed (same seed, same file)")
    p.add_argument("--run", type=int, default=0, metavar="R", help="run number stored with the events")
    p.add_argument("--out", required=True, metavar="FILE.parquet", help="output run file (written atomically)")
    p.add_argument("--device", default="cpu", help="torch device of the sampling (default cpu; other devices "
                   "may give other events for the same seed)")
    p.add_argument("--threads", type=int, default=0, metavar="N", help="CPU threads for torch (0: torch's default)")
    p.add_argument("--vertex", type=float, nargs=3, metavar=("X", "Y", "Z"), help=(
        "conditional VAE only: generate at this reconstructed vertex, cm (|vertex| <= 650 cm; default: drawn "
        "with the energy from the model's table of training events)"))
    p.add_argument("--energy", type=float, metavar="MEV", help=(
        "conditional VAE only: generate at this visible energy, MeV (> 0; default: drawn from the table)"))
    add_pmt_option(p)


#: largest |--vertex|, cm (the outer balloon, DESIGN 2)
_MAX_VERTEX_CM = 650.0


def _condition_args(args, model) -> dict:
    """``{"vertex_cm", "energy_mev"}`` of ``--vertex`` / ``--energy`` (empty without them); one-line errors."""
    cond = {}
    if args.vertex is not None:
        v = np.asarray(args.vertex, float)
        if not np.isfinite(v).all() or float(np.sqrt((v * v).sum())) > _MAX_VERTEX_CM:
            raise ConfigError(f"--vertex must be finite with radius <= {_MAX_VERTEX_CM:g} cm, got "
                              f"{' '.join(f'{x:g}' for x in args.vertex)}")
        cond["vertex_cm"] = [float(x) for x in v]
    if args.energy is not None:
        if not math.isfinite(args.energy) or args.energy <= 0:
            raise ConfigError(f"--energy must be a finite energy > 0 MeV, got {args.energy:g}")
        cond["energy_mev"] = float(args.energy)
    if cond and not getattr(model, "conditional", False):
        raise ConfigError(f"{args.model}: --vertex/--energy need a conditional VAE (trained with condition=true); "
                          f"this {getattr(model, 'kind', 'model')} is not conditional")
    return cond


def _generate(args) -> int:
    from ..io import write_events
    from ..train import checkpoint_paths
    from ..models.generator import generate_events

    if args.events < 1:
        raise ConfigError(f"--events must be >= 1, got {args.events}")
    if not 0 <= args.seed < 2**63:
        raise ConfigError(f"--seed must be in [0, 2^63), got {args.seed}")
    out = check_output_file(args.out)
    set_threads(args.threads)
    pmts = pmts_from_args(args)
    model, meta = load_generator(args.model, args.device)
    trained_on = (meta.get("training") or {}).get("pmt_table_digest")
    if trained_on and trained_on != pmts.digest:
        raise ConfigError(f"{args.model}: trained with PMT table {trained_on}, the table in use is {pmts.digest}; "
                          "pass the same --pmt-table")
    cond = _condition_args(args, model)
    events = generate_events(model, args.events, seed=args.seed, pmts=pmts, run=args.run, condition=cond)
    resolved = resolve_checkpoint(args.model)
    weights, _ = checkpoint_paths(resolved)
    # a shipped model is recorded by its name, not by where this installation keeps it
    model_arg = weights.with_suffix("").name if resolved != Path(args.model) else str(weights.with_suffix(""))
    cond_argv = ((["--vertex", *(f"{x:g}" for x in cond["vertex_cm"])] if "vertex_cm" in cond else [])
                 + (["--energy", f"{cond['energy_mev']:g}"] if "energy_mev" in cond else []))
    # provenance that fixes the contents; the output path is left out so that the same
    # command gives byte-identical files wherever they are written
    events.attrs.update({
        "generator_checkpoint": weights.with_suffix("").name,
        "generator_checkpoint_sha256": file_sha256(weights),
        "generator_preset": meta.get("preset"),
        "generator_training_sources": (meta.get("training") or {}).get("sources"),
        "generated_by": shlex.join(["kamcore", "generate", "--model", model_arg,
                                    "--events", str(args.events),
                                    "--seed", str(args.seed), "--run", str(args.run), *cond_argv]),
    })
    if cond:
        events.attrs["generator_condition"] = json.dumps(cond, sort_keys=True)
    write_events(events, out, n_pmts=len(pmts))
    print(f"{out}: {len(events)} {events.source[0]} events, {events.n_hits} hits "
          f"({events.n_hits / len(events):.0f} per event)")
    return 0


_generate.arguments = _generate_args
command("generate", "sample events from a trained VAE or GAN and write them as a Parquet run")(_generate)


# --------------------------------------------------------------------------- compare
def _compare_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("real", metavar="REAL", help="reference event file (Monte Carlo or data)")
    p.add_argument("generated", metavar="GENERATED", help="event file to judge (e.g. from 'kamcore generate')")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--no-classifier", action="store_true", help="skip the classifier two-sample test")
    p.add_argument("--seed", type=int, default=0, metavar="S", help="seed of the classifier test and of --ceiling "
                   "(default 0)")
    p.add_argument("--bins", type=int, default=50, metavar="K", help="histogram bins over the REAL range (default 50)")
    p.add_argument("--ceiling", action="store_true", help=(
        "also compare two disjoint random halves of REAL with as many events as GENERATED each (the "
        "MC-vs-MC ceiling; needs REAL >= 2x GENERATED)"))
    p.add_argument("--threads", type=int, default=0, metavar="N", help=(
        "CPU threads for torch (0: torch's default; 1 is fastest for the small classifier on a busy machine)"))
    add_pmt_option(p)


def _describe(path: str, events) -> dict:
    src, counts = np.unique(events.source.astype(str), return_counts=True)
    return {"file": str(path), "events": int(len(events)), "sources": {s: int(c) for s, c in zip(src, counts)}}


def _compare(args) -> int:
    from ..io import open_events
    from ..metrics.generative import ALL_QUANTITIES, compare_events, mc_ceiling

    if args.bins < 1:
        raise ConfigError(f"--bins must be >= 1, got {args.bins}")
    set_threads(args.threads)
    pmts = pmts_from_args(args)
    real, gen = open_events(args.real), open_events(args.generated)
    for path, ev in ((args.real, real), (args.generated, gen)):
        if len(ev) == 0:
            raise ConfigError(f"{path}: no events to compare")
    classifier = not args.no_classifier
    if classifier and min(len(real), len(gen)) < 4:
        raise ConfigError(f"the classifier test needs >= 4 events per file, got {len(real)} and {len(gen)} "
                          "(or pass --no-classifier)")
    metrics = compare_events(real, gen, pmts, bins=args.bins, classifier=classifier, seed=args.seed)
    ceiling = None
    if args.ceiling:
        if len(real) < 2 * len(gen):
            raise ConfigError(f"--ceiling needs REAL with >= 2 x {len(gen)} events, {args.real} has {len(real)}")
        ceiling = mc_ceiling(real, len(gen), pmts, seed=args.seed, bins=args.bins, classifier=classifier)
    result = {"command": "kamcore " + shlex.join(getattr(args, "argv", [])),
              "real": _describe(args.real, real), "generated": _describe(args.generated, gen),
              "bins": args.bins, "seed": args.seed, "metrics": metrics}
    if ceiling is not None:
        result["ceiling"] = ceiling
    result = finite_json(result)
    if args.json:
        print(json.dumps(result, sort_keys=True, allow_nan=False))
        return 0

    def cell(x, fmt):
        return f"{x:{fmt}}" if x is not None else "-"

    r, g = result["real"], result["generated"]
    print(f"real       {r['file']} ({r['events']} events: {', '.join(r['sources'])})")
    print(f"generated  {g['file']} ({g['events']} events: {', '.join(g['sources'])})")
    head = f"{'quantity':<14} {'IoU':>7} {'WD':>8}"
    if ceiling is not None:
        head += f"   {'ceiling IoU':>11} {'WD':>8}"
    print(head)
    for q in ALL_QUANTITIES:  # the paper's four, then the charge centroid's R and z (cm)
        m = result["metrics"][q]
        line = f"{_LABELS[q]:<14} {cell(m['iou'], '7.1%')} {cell(m['wd'], '8.4f')}"
        if ceiling is not None:
            c = result["ceiling"][q]
            line += f"   {cell(c['iou'], '11.1%')} {cell(c['wd'], '8.4f')}"
        print(line)
    if classifier:
        line = f"{'classifier AUC':<14} {cell(result['metrics']['classifier_auc'], '7.3f')} {'':>8}"
        if ceiling is not None:
            line += f"   {cell(result['ceiling']['classifier_auc'], '11.3f')}"
        print(line + "   (0.5 = indistinguishable)")
    print("IoU: histogram intersection over union (1 = identical); WD: Wasserstein distance / REAL range "
          "(0 = identical)")
    return 0


_compare.arguments = _compare_args
command("compare", "IoU, Wasserstein distance and classifier AUC of generated events against real ones")(_compare)

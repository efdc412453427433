"""Sub-commands on models: ``train`` (classifiers here, generators from gen_cmds), ``evaluate``, ``score``."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

import numpy as np

from ..errors import ConfigError
from .params import add_param_options, check_output_file, config_from_args
from .registry import command

#: the sources of DESIGN 3 that a held-out evaluation covers (signal first)
EVAL_SOURCES = ["Xe136_0vbb", "Xe136_2vbb", "Solar_nu", "Bi214", "Bi214_film", "C10", "Xe136_2vbb_0+1",
                "Xe136_2vbb_2+1", "Xe136_2vbb_2+2", "I130", "I124", "Sb118"]


def _read_all(paths: list[str]):
    from ..events import Events
    from ..io import open_events

    if not paths:
        raise ConfigError("no event files given")
    return Events.concat([open_events(p) for p in paths])


# ----------------------------------------------------------------------------- train
def _train_args(p: argparse.ArgumentParser) -> None:
    from .gen_cmds import add_train_generator_parsers

    sub = p.add_subparsers(dest="model", metavar="MODEL", required=True, parser_class=type(p))
    for kind, help_ in (("kamnet", "train KamNet on signal/background event files"),
                        ("cnn", "train the CNN baseline on signal/background event files")):
        _classifier_train_args(sub.add_parser(kind, help=help_, description=help_))
    add_train_generator_parsers(sub)  # vae, gan


def _classifier_train_args(p: argparse.ArgumentParser) -> None:
    from ..train import TrainConfig

    p.add_argument("--signal", nargs="+", required=True, metavar="FILE", help="signal event files (label 1)")
    p.add_argument("--background", nargs="+", required=True, metavar="FILE", help="background event files (label 0)")
    p.add_argument("--out", required=True, metavar="PREFIX", help="writes PREFIX.safetensors and PREFIX.json")
    p.add_argument("--preset", default="cpu", help="model preset: paper, cpu (shipped), tiny (default: cpu)")
    p.add_argument("--max-events", type=int, metavar="N", help="use at most N events of each class")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--resume", metavar="PREFIX", help=(
        "resumable training state PREFIX.state.json (+ tensors): continue from it when it exists, "
        "else start and write it; written every --checkpoint-minutes and when the run stops"))
    add_param_options(p, TrainConfig, title="training")


def build_classifier(kind: str, preset: str):
    """A fresh classifier of ``kind`` (``kamnet``/``cnn``) with ``preset``."""
    from ..nn.cnn import CNNConfig, ConventionalCNN
    from ..nn.kamnet import KamNet, KamNetConfig

    try:
        if kind == "kamnet":
            return KamNet(KamNetConfig.from_preset(preset))
        return ConventionalCNN(CNNConfig.from_preset(preset))
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def _train(args) -> int:
    from .gen_cmds import train_generator
    from .generators import GENERATOR_KINDS

    if args.model in GENERATOR_KINDS:
        return train_generator(args)
    from tqdm import tqdm

    from ..geometry import default_pmt_table
    from ..metrics import auc, rejection_at_acceptance
    from ..train import (
        TrainConfig,
        fit_classifier,
        hitmap_set,
        labelled_set,
        predict,
        save_model,
    )
    from ..train.inputs import grid_config_for

    cfg = config_from_args(TrainConfig, args)
    pmts = default_pmt_table()
    rng = np.random.default_rng(cfg.seed)
    sig_ev, bkg_ev = _read_all(args.signal), _read_all(args.background)
    if args.max_events:
        sig_ev = sig_ev.take(slice(0, args.max_events))
        bkg_ev = bkg_ev.take(slice(0, args.max_events))
    model = build_classifier(args.model, args.preset)
    maps_config = grid_config_for(model)  # the default chain (fitted vertex) on the network's grid
    data = labelled_set(hitmap_set(sig_ev, 1.0, pmts, maps_config), hitmap_set(bkg_ev, 0.0, pmts, maps_config),
                        rng, nhit_matching=cfg.nhit_matching)
    if len(data) < 4:
        raise ConfigError(f"only {len(data)} events after Nhit matching; need more signal and background")
    train, val = data.split(cfg.train_fraction, rng)
    steps = max(len(train) // cfg.batch_size, 1) * cfg.epochs
    with tqdm(total=steps, unit="step", desc=f"train {args.model}", disable=args.no_progress or None,
              file=sys.stderr) as bar:
        def tick(info):
            bar.update(1)
            bar.set_postfix(epoch=info["epoch"] + 1, loss=f"{info['loss']:.3f}")
        history = fit_classifier(model, train, val, cfg, progress=tick, state=args.resume)
    scores, _ = predict(model, val, device=cfg.device)
    s, b = scores[val.label == 1], scores[val.label == 0]
    metrics = {"val_auc": auc(s, b), "val_rejection_at_90": rejection_at_acceptance(s, b, 0.9),
               "val_events": int(len(val)), "train_events": int(len(train))}
    save_model(args.out, model, args.model, preset=args.preset, metrics=metrics,
               hitmap_config=maps_config.to_dict(),
               training={"signal_files": [Path(p).name for p in args.signal],
                         "background_files": [Path(p).name for p in args.background],
                         "signal_sources": sorted(set(sig_ev.source.astype(str))),
                         "background_sources": sorted(set(bkg_ev.source.astype(str))),
                         "selection": sig_ev.attrs.get("sim_request"),
                         "train_config": cfg.to_dict(),
                         "history": history["epochs"], "best_epoch": history["best_epoch"],
                         "complete": history["complete"], "command": "kamcore " + shlex.join(args.argv)})
    if not history["complete"]:
        done = len(history["epochs"])
        print(f"{args.out}: stopped by the budget after {done} of {cfg.epochs} epochs; wrote the best epoch so far"
              + (f"; rerun the same command to continue from {args.resume}" if args.resume else ""))
    print(f"{args.out}: {args.model}/{args.preset} val AUC {metrics['val_auc']:.3f}, "
          f"rejection at 90% acceptance {metrics['val_rejection_at_90']:.1%} ({len(val)} held-out events)")
    return 0


_train.arguments = _train_args
command("train", "train KamNet or the CNN baseline (signal/background files), or the VAE or GAN generator")(_train)


# -------------------------------------------------------------------------- evaluate
def _evaluate_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("models", nargs="+", metavar="MODEL", help="checkpoints (PREFIX, PREFIX.json or .safetensors)")
    p.add_argument("--signal", nargs="+", metavar="FILE", help="held-out signal event files")
    p.add_argument("--background", nargs="+", metavar="FILE", help="held-out background files (grouped by source)")
    p.add_argument("--simulate", type=int, metavar="N",
                   help="instead of files: simulate N fresh events of every DESIGN 3 source")
    p.add_argument("--seed", type=int, default=100_000, help="seed of --simulate (default 100000)")
    p.add_argument("--sources", nargs="+", default=EVAL_SOURCES, metavar="NAME",
                   help="sources of --simulate, signal first (default: all of DESIGN 3)")
    p.add_argument("--out", metavar="FILE.json", help="write the results JSON here")
    p.add_argument("--json", action="store_true", help="print the results as one JSON object")


def _evaluate(args) -> int:
    from ..geometry import default_pmt_table
    from ..io import atomic_output
    from ..models import load_model
    from ..train import hitmap_set
    from ..train.evaluate import evaluate_by_source, hitmap_sets, simulate_heldout

    if args.out:
        check_output_file(args.out)
    pmts = default_pmt_table()
    if args.simulate:
        evs = simulate_heldout(args.sources, args.simulate, args.seed, pmts=pmts)
        signal_name = args.sources[0]
        sig_ev = evs.pop(signal_name)
    elif args.signal and args.background:
        sig_ev, bkg_ev = _read_all(args.signal), _read_all(args.background)
        for files, ev in ((args.signal, sig_ev), (args.background, bkg_ev)):
            if len(ev) == 0:
                raise ConfigError(f"{', '.join(files)}: no events to evaluate on")
        signal_name = ",".join(sorted(set(sig_ev.source.astype(str))))
        names = bkg_ev.source.astype(str)
        evs = {n: bkg_ev.take(names == n) for n in sorted(set(names))}
    else:
        raise ConfigError("give --signal and --background files, or --simulate N")
    results = {"command": "kamcore " + shlex.join(args.argv),
               "signal": signal_name, "heldout": {"simulated": bool(args.simulate), "seed": args.seed,
                                                   "events_per_source": args.simulate}, "models": {}}
    sets: dict[str, tuple] = {}  # one set of maps per preprocessing (models may read different ones)
    for path in args.models:
        loaded = load_model(path)
        model, meta, config = loaded.module, loaded.meta, loaded.input
        key = config.to_json()
        if key not in sets:
            sets[key] = (hitmap_set(sig_ev, 1.0, pmts, config), hitmap_sets(evs, pmts, config))
        signal, backgrounds = sets[key]
        rep = evaluate_by_source(model, signal, backgrounds)
        rep.update({"model": meta["model"], "preset": meta.get("preset"), "hitmap_config": config.to_dict(),
                    "training": {k: meta.get("training", {}).get(k)
                                 for k in ("signal_sources", "background_sources", "command")}})
        results["models"][Path(path).name.removesuffix(".json").removesuffix(".safetensors")] = rep
    if args.out:
        with atomic_output(args.out) as tmp:
            Path(tmp).write_text(json.dumps(results, indent=1, default=float) + "\n")
    if args.json:
        print(json.dumps(results, default=float))
        return 0
    names = list(results["models"])
    print(f"signal {signal_name}: rejection at 90% acceptance (AUC) on held-out events; "
          "in brackets with the background reweighted to the signal's Nhit (+- binomial, effective events)")
    print(f"{'source':<16}" + "".join(f"{n:>40}" for n in names))
    for src in backgrounds:
        cells = []
        for n in names:
            r = results["models"][n]["sources"][src]
            rw = r["nhit_reweighted"]
            err = rw.get("rejection_error")
            pm = "" if err is None else f"+-{100 * err:.1f}"
            cells.append(f"{r['rejection']:.1%} ({r['auc']:.3f}) [{100 * rw['rejection']:.1f}{pm}% ({rw['auc']:.3f})]")
        print(f"{src:<16}" + "".join(f"{c:>40}" for c in cells))
    for topo in ("single", "multi"):
        cells = []
        for n in names:
            t = results["models"][n]["by_topology"].get(topo)
            rw = None if t is None else t["mean_rejection_nhit_reweighted"]
            cells.append("-" if t is None else f"{t['mean_rejection']:.1%} [{'-' if rw is None else f'{rw:.1%}'}]")
        print(f"{'mean ' + topo:<16}" + "".join(f"{c:>40}" for c in cells))
    return 0


_evaluate.arguments = _evaluate_args
command("evaluate", "per-source AUC, rejection at 90% acceptance and attention of classifiers on held-out events")(
    _evaluate)


# ----------------------------------------------------------------------------- score
def _score_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", metavar="MODEL", help="checkpoint (PREFIX, PREFIX.json or .safetensors)")
    p.add_argument("file", help="event file (Parquet run or KamLAND-style ROOT)")
    p.add_argument("--out", required=True, metavar="FILE.parquet", help="per event: id, score, 28 attention values")


def _score(args) -> int:
    from ..geometry import default_pmt_table
    from ..io import open_events
    from ..models import load_model

    check_output_file(args.out)
    model = load_model(args.model)
    scores = model.score(open_events(args.file), pmts=default_pmt_table())
    scores.write(args.out, meta={"model": str(args.model), "preset": model.meta.get("preset"),
                                 "vertex": model.input.vertex})
    mean = scores.score.mean() if len(scores) else 0
    print(f"{args.out}: {len(scores)} events scored by {model.kind}, mean score {mean:.3f}")
    return 0


_score.arguments = _score_args
command("score", "score every event of a file with a classifier (score + attention per time slice)")(_score)


# ----------------------------------------------------------------------------- recalibrate
def _recalibrate_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", metavar="MODEL", help="classifier checkpoint (path or shipped name)")
    p.add_argument("files", nargs="+", metavar="FILE", help=(
        "event files the statistics are estimated on (e.g. the training files; labels are not used)"))
    p.add_argument("--out", required=True, metavar="PREFIX", help="the recalibrated checkpoint (written atomically)")
    p.add_argument("--events", type=int, default=2048, metavar="N", help="events drawn from FILEs (default 2048)")
    p.add_argument("--batch-size", type=int, default=32, metavar="B", help="batch of the estimate (default 32)")
    p.add_argument("--seed", type=int, default=0, metavar="S", help="seed of the event draw (default 0)")


def _recalibrate(args) -> int:
    """Re-estimate a classifier's batch-norm statistics (kamcore.train.recalibrate_batchnorm)."""
    import datetime as dt

    import torch

    from ..geometry import default_pmt_table
    from ..models import load_model
    from ..train import hitmap_set, recalibrate_batchnorm, save_model

    if args.events < 2 or args.batch_size < 2:
        raise ConfigError(f"--events and --batch-size must be >= 2, got {args.events} and {args.batch_size}")
    torch.set_num_threads(1)
    model = load_model(args.model)
    events = _read_all(args.files)
    rng = np.random.default_rng(args.seed)
    pick = np.sort(rng.choice(len(events), size=min(args.events, len(events)), replace=False))
    data = hitmap_set(events.take(pick), 0.0, default_pmt_table(), model.input)
    used = recalibrate_batchnorm(model.module, data, events=len(data), batch_size=args.batch_size, seed=args.seed)
    if not used:
        raise ConfigError(f"{args.model}: has no batch-norm layer to recalibrate")
    meta = {k: v for k, v in model.meta.items() if k not in ("model", "config", "kamcore_version")}
    meta["batchnorm_recalibration"] = {
        "command": "kamcore " + shlex.join(getattr(args, "argv", [])), "events": used,
        "files": [Path(f).name for f in args.files], "from_digest": model.identity["digest"],
        "utc": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}
    weights, _ = save_model(args.out, model.module, model.kind, **meta)
    print(f"{weights}: batch-norm statistics re-estimated on {used} events of {len(args.files)} file(s) "
          f"(from {model.name}@{model.identity['digest']})")
    return 0


_recalibrate.arguments = _recalibrate_args
command("recalibrate", "re-estimate a classifier's batch-norm statistics on event files (precise BN)")(_recalibrate)

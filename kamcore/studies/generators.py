"""The generator results file: the paper's Table 1 with its sample-size ceiling, and few-shot learning.

:func:`run_generator_results` writes one JSON file (:mod:`kamcore.train.genstudy` computes its parts);
``kamcore gen-results`` is its command line, with one option per :class:`GeneratorResultsConfig` parameter.

* held-out Monte Carlo: ``events`` events of the models' training source and selection (read from the
  first model's checkpoint) simulated with ``heldout_seed`` (the reference) and ``heldout_seed + 1``
  (an independent sample of the same size, the ceiling); the seeds must differ from the training seed;
* one row per generator (``vae``, ``gan``): ``events`` generated events (seed ``heldout_seed``) against
  the reference, IoU and normalised WD of hit time, charge, NHIT and total charge with ``bootstrap``
  spreads, and the classifier two-sample AUC; the same for the independent MC sample (the ceiling);
  a model with an output calibration also gets a row of its raw decoder (``<kind>_uncalibrated``);
* ``few_shot``: pre-train a VAE on ``pretrain`` (an event file, e.g. Bi214; or a checkpoint),
  fine-tune it on the first ``shots`` events of ``shot_events``, train the same architecture from
  scratch on the same events, generate ``events`` from each and compare with the reference.
  ``skip_table`` recomputes only this part and keeps the table of an existing results file;
  ``keep_few_shot`` recomputes only the table and keeps the few-shot part.
"""

from __future__ import annotations

import copy
import json
import logging
import time
from pathlib import Path

import param

from ..config import JsonConfig
from ..errors import ConfigError
from ..io import file_sha256

__all__ = ["GeneratorResultsConfig", "run_generator_results", "table_checks"]

log = logging.getLogger(__name__)


class GeneratorResultsConfig(JsonConfig):
    """What the generator results file compares and how (module docstring); training settings of the few-shot
    models are a :class:`kamcore.train.generative.GenTrainConfig`."""

    vae = param.String(default=None, allow_None=True, doc="VAE checkpoint or shipped name (e.g. vae_xe136)")
    gan = param.String(default=None, allow_None=True, doc="GAN checkpoint or shipped name (e.g. gan_xe136)")
    events = param.Integer(default=1000, doc=(
        "held-out MC events and generated events per row (>= 4; 1000, as the paper)"))
    heldout_seed = param.Integer(default=100_000, doc=(
        "seed of the held-out MC (reference S, independent sample S+1) and of the generation (the few-shot "
        "training has its own seed)"))
    bootstrap = param.Integer(default=100, doc="bootstrap replicas for the spreads (0: none, else >= 2)")
    classifier = param.Boolean(default=True, doc="run the classifier two-sample test")
    few_shot = param.Boolean(default=False, doc="also run the few-shot comparison (paper sec. 4.4)")
    skip_table = param.Boolean(default=False, doc=(
        "do not recompute the table; keep the one in an existing results file (with few_shot)"))
    keep_few_shot = param.Boolean(default=False, doc=(
        "recompute the table only; keep the few-shot part of an existing results file"))
    pretrain = param.String(default=None, allow_None=True, doc=(
        "few-shot: pre-training event file (e.g. Bi214 MC) or an already pre-trained VAE checkpoint"))
    pretrain_max_events = param.Integer(default=4000, bounds=(1, None), doc=(
        "few-shot: pre-train on the first N events of the file"))
    pretrain_epochs = param.Integer(default=3, bounds=(1, None), doc="few-shot: pre-training epochs")
    pretrain_lr = param.Number(default=1e-3, bounds=(0.0, 1.0), doc=(
        "few-shot: pre-training Adam learning rate, cosine decay (the training lr is the fine-tuning one)"))
    shot_events = param.String(default=None, allow_None=True, doc=(
        "few-shot: file of the few-shot source (its first `shots` events)"))
    shots = param.Integer(default=50, doc="few-shot events (>= 2)")
    preset = param.String(default="small", doc="VAE preset of the few-shot models")
    arch = param.Dict(default={}, doc="few-shot: VAE settings over the preset (VAEConfig parameter -> value)")
    save_models = param.String(default=None, allow_None=True, doc=(
        "few-shot: write the pre-trained, fine-tuned and from-scratch VAEs into this directory"))
    calibrate = param.Integer(default=0, doc=(
        "few-shot: also fit a K-quantile output calibration of both few-shot models on the few-shot events "
        "alone and report the calibrated rows beside the raw ones (0: raw only, else >= 2)"))

    def check(self) -> "GeneratorResultsConfig":
        """``self``, or a one-line :class:`~kamcore.errors.ConfigError` naming the inconsistent parameter."""
        if self.events < 4:
            raise ConfigError(f"--events must be >= 4, got {self.events}")
        if self.bootstrap < 0 or self.bootstrap == 1:
            raise ConfigError(f"--bootstrap must be 0 or >= 2, got {self.bootstrap}")
        if not (self.vae or self.gan):
            raise ConfigError("give --vae and/or --gan (checkpoints or shipped names)")
        if self.skip_table and not self.few_shot:
            raise ConfigError("--skip-table only makes sense with --few-shot")
        if self.keep_few_shot and self.few_shot:
            raise ConfigError("--keep-few-shot keeps the few-shot part of --out; it cannot be combined with "
                              "--few-shot")
        if self.few_shot:
            if not self.pretrain or not self.shot_events:
                raise ConfigError("--few-shot needs --pretrain FILE|CKPT and --shot-events FILE")
            if self.shots < 2:
                raise ConfigError(f"--shots must be >= 2, got {self.shots}")
            if self.calibrate < 0 or self.calibrate == 1:
                raise ConfigError(f"--calibrate must be 0 or >= 2, got {self.calibrate}")
        return self


def _load(path: str, device: str = "cpu"):
    """``(module, meta, weights path)`` of the generator checkpoint ``path`` (or shipped name)."""
    from ..models import GENERATOR_KINDS, load_generator

    gen = load_generator(path, device=device, kinds=GENERATOR_KINDS,
                         expected=f"an event generator ({' or '.join(GENERATOR_KINDS)})")
    return gen.module, gen.meta, gen.path


def _selection(meta: dict) -> dict:
    raw = (meta.get("training") or {}).get("selection")
    sel = json.loads(raw) if isinstance(raw, str) else (raw or {})
    return {"energy_window_mev": sel.get("energy_window_mev"), "max_radius_cm": sel.get("max_radius_cm"),
            "training_seed": sel.get("seed")}


def _model_info(weights: Path, meta: dict) -> dict:
    tr = meta.get("training") or {}
    return {"checkpoint": weights.with_suffix("").name, "sha256": file_sha256(weights), "preset": meta.get("preset"),
            "training_sources": tr.get("sources"), "training_events": tr.get("events"),
            "epochs": len(tr.get("history") or []), "best_epoch": (meta.get("metrics") or {}).get("best_epoch"),
            "command": tr.get("command")}


def table_checks(table: dict) -> dict:
    """The acceptance test on the VAE row of ``table``: per quantity, IoU >= the paper's, or within 5 points
    of a lower MC-vs-MC ceiling (``{quantity: {"iou", "paper", "ceiling", "target", "passed"}}``)."""
    from ..train.genstudy import PAPER_TABLE1

    row = table["rows"].get("vae")
    if row is None:
        return {}
    out = {}
    for q, paper in PAPER_TABLE1["vae"].items():
        iou, ceil = row[q]["iou"], table["ceiling"][q]["iou"]
        target = paper["iou"] if ceil >= paper["iou"] else ceil - 0.05
        out[q] = {"iou": iou, "paper": paper["iou"], "ceiling": ceil, "target": target, "passed": bool(iou >= target)}
    return out


def _pretrained(cfg: GeneratorResultsConfig, train_cfg, pmts):
    import torch

    from ..io import open_events
    from ..models import build_generator
    from ..preprocess.pointcloud import point_clouds
    from ..train.generative import fit_vae, prepare_generator

    path = Path(cfg.pretrain)
    if path.suffix not in (".parquet", ".root"):
        model, meta, weights = _load(cfg.pretrain)
        if meta["model"] != "vae":
            raise ConfigError(f"--pretrain {cfg.pretrain}: is a {meta['model']} checkpoint, expected a vae")
        return model, {"checkpoint": _model_info(weights, meta)}
    events = open_events(path)
    events = events.take(slice(0, cfg.pretrain_max_events))
    points, trigger = point_clouds(events, pmts)
    torch.manual_seed(train_cfg.seed)
    model = build_generator("vae", cfg.preset, cfg.arch)
    prepare_generator(model, points, trigger, pmts)
    pre_cfg = type(train_cfg)(**{**train_cfg.to_dict(), "epochs": cfg.pretrain_epochs, "lr": cfg.pretrain_lr,
                                 "lr_schedule": "cosine"})
    t0 = time.perf_counter()
    hist = fit_vae(model, points, trigger, pre_cfg, pmts=pmts)
    return model, {"file": path.name, "sources": sorted(set(events.source.astype(str))), "events": len(events),
                   "epochs": cfg.pretrain_epochs, "lr": cfg.pretrain_lr, "seconds": time.perf_counter() - t0,
                   "last_epoch": hist["epochs"][-1]}


def _few_shot(cfg: GeneratorResultsConfig, train_cfg, pmts, reference) -> dict:
    from ..io import open_events
    from ..models.generator import generate_events
    from ..preprocess.pointcloud import point_clouds
    from ..train import save_model
    from ..train.generative import calibrate_generator
    from ..train.genstudy import PAPER_FEW_SHOT, comparison_row, few_shot_models
    from ._common import _jsonable as finite_json

    pretrained, pre_info = _pretrained(cfg, train_cfg, pmts)
    shots = open_events(cfg.shot_events)
    if len(shots) < cfg.shots:
        raise ConfigError(f"{cfg.shot_events}: has {len(shots)} events, --shots asks for {cfg.shots}")
    shots = shots.take(slice(0, cfg.shots))
    points, trigger = point_clouds(shots, pmts)
    t0 = time.perf_counter()
    models = few_shot_models(pretrained, points, trigger, train_cfg, pmts=pmts, scratch_seed=train_cfg.seed)
    seconds = time.perf_counter() - t0
    variants = {name: models[name] for name in ("few_shot", "from_scratch")}
    if cfg.calibrate:
        for name in ("few_shot", "from_scratch"):
            # the calibration sees the few-shot events only, like the training
            variants[f"{name}_calibrated"] = calibrate_generator(copy.deepcopy(models[name]), points, trigger,
                                                                 knots=cfg.calibrate, seed=train_cfg.seed)
    rows = {}
    for name, model in variants.items():
        gen = generate_events(model, cfg.events, seed=cfg.heldout_seed, pmts=pmts,
                              source_name=f"generated:vae-{name.replace('_', '-')}")
        rows[name] = comparison_row(reference, gen, pmts, n_boot=cfg.bootstrap, seed=cfg.heldout_seed,
                                    classifier=cfg.classifier)
    if cfg.save_models:
        out = Path(cfg.save_models)
        for name, model in (("pretrained", pretrained), ("few_shot", models["few_shot"]),
                            ("from_scratch", models["from_scratch"])):
            save_model(out / f"vae_{name}", model, "vae", preset=cfg.preset,
                       training=finite_json({"few_shot_role": name, "pmt_table_digest": pmts.digest}))
    beats = {f"{q}{suffix}": bool(rows["few_shot" + suffix][q]["iou"] > rows["from_scratch" + suffix][q]["iou"])
             for suffix in (("", "_calibrated") if cfg.calibrate else ("",)) for q in ("nhit", "total_charge")}
    return {"pretraining": pre_info,
            "shots": {"file": Path(cfg.shot_events).name, "events": cfg.shots,
                      "sources": sorted(set(shots.source.astype(str)))},
            "train_config": train_cfg.to_dict(), "preset": cfg.preset, "config": models["few_shot"].config.to_dict(),
            "seconds": seconds,
            "rows": rows, "few_shot_beats_scratch": beats, "paper": PAPER_FEW_SHOT,
            "final_epoch": {k: v[-1] for k, v in models["history"].items()}}


def run_generator_results(cfg: GeneratorResultsConfig, train_cfg, out, *, pmts=None,
                          command: str | None = None) -> dict:
    """Compute the generator results of ``cfg`` (module docstring) and write them to the JSON file ``out``
    (atomically, strict JSON: non-finite numbers become null); returns the document.

    Parameters
    ----------
    cfg : GeneratorResultsConfig
    train_cfg : kamcore.train.generative.GenTrainConfig
        Training of the few-shot models; its ``threads`` (when not 0) also set torch's sampling threads.
    out : path
        The results file; with ``skip_table`` or ``keep_few_shot`` an existing one whose parts are kept.
    pmts : PMTTable, optional
        Default: the shipped table.
    command : str, optional
        Recorded as ``command``.

    Returns
    -------
    dict
        ``command``, ``reference`` (source, events, seeds, selection), ``generation_seed``, ``bootstrap``,
        ``metrics`` (what the numbers mean), ``models``; ``table`` (rows and ceiling), ``checks``
        (:func:`table_checks`) and ``paper_table1`` unless kept; ``few_shot``; ``seconds`` (wall time, s).
    """
    import torch

    from ..geometry import default_pmt_table
    from ..io import atomic_output
    from ..models.generator import generate_events
    from ..sim import simulate
    from ..train.genstudy import PAPER_TABLE1, generator_table
    from ._common import _jsonable as finite_json

    cfg.check()
    out = Path(out)
    if not out.parent.is_dir():
        raise ConfigError(f"{out}: output directory {out.parent} does not exist")
    previous = None
    if cfg.skip_table or cfg.keep_few_shot:
        flag = "--skip-table" if cfg.skip_table else "--keep-few-shot"
        try:
            previous = json.loads(out.read_text())
        except (OSError, ValueError) as exc:
            raise ConfigError(f"{out}: {flag} needs an existing results file ({type(exc).__name__})") from None
    torch.set_num_threads(train_cfg.threads or 1)  # the training threads also set the sampling threads
    pmts = pmts or default_pmt_table()
    t_start = time.perf_counter()

    models, infos = {}, {}
    for kind in ("vae", "gan"):
        path = getattr(cfg, kind)
        if path:
            model, meta, weights = _load(path)
            if meta["model"] != kind:
                raise ConfigError(f"--{kind} {path}: is a {meta['model']} checkpoint")
            models[kind], infos[kind] = (model, meta), _model_info(weights, meta)
    first = next(iter(models.values()))[1]
    sources = (first.get("training") or {}).get("sources") or []
    if len(sources) != 1:
        raise ConfigError(f"the models must be trained on one source to simulate the reference, got {sources}")
    source = sources[0]
    sel = _selection(first)
    if sel["training_seed"] is not None and sel["training_seed"] in (cfg.heldout_seed, cfg.heldout_seed + 1):
        raise ConfigError(f"--heldout-seed {cfg.heldout_seed}: the held-out MC would reuse the training seed "
                          f"{sel['training_seed']}")
    sim_kw = {"energy_window_mev": sel["energy_window_mev"], "max_radius_cm": sel["max_radius_cm"]}
    reference = simulate(source, cfg.events, seed=cfg.heldout_seed, pmts=pmts, **sim_kw)
    result = {
        "command": command or "kamcore",
        "reference": {"source": source, "events": cfg.events, "seed": cfg.heldout_seed,
                      "independent_seed": cfg.heldout_seed + 1, **sel},
        "generation_seed": cfg.heldout_seed, "bootstrap": cfg.bootstrap,
        "metrics": ("IoU: histogram intersection over union, 50 equal bins over the reference range plus under- and "
                    "overflow (1 = identical); WD: Wasserstein distance / reference range (0 = identical); "
                    "_std: bootstrap spread (events resampled in both samples); classifier_auc: held-out AUC of an "
                    "MLP on 10 event features (0.5 = indistinguishable)"),
        "models": infos,
    }
    if cfg.skip_table:
        for key in ("table", "checks", "paper_table1", "command"):
            if key in previous:
                result[key if key != "command" else "table_command"] = previous[key]
        result["models"] = previous.get("models", infos)
    else:
        independent = simulate(source, cfg.events, seed=cfg.heldout_seed + 1, pmts=pmts, **sim_kw)
        generated = {}
        for kind, (model, _) in models.items():
            generated[kind] = generate_events(model, cfg.events, seed=cfg.heldout_seed, pmts=pmts)
            if getattr(model, "calibration", None) is not None:
                # the same model without its output calibration: the raw decoder, as in the paper
                raw = copy.deepcopy(model)
                raw.calibration = None
                generated[f"{kind}_uncalibrated"] = generate_events(raw, cfg.events, seed=cfg.heldout_seed, pmts=pmts)
        result["table"] = generator_table(reference, independent, generated, pmts, n_boot=cfg.bootstrap,
                                          seed=cfg.heldout_seed, classifier=cfg.classifier)
        result["checks"] = table_checks(result["table"])
        result["paper_table1"] = PAPER_TABLE1
    if cfg.few_shot:
        result["few_shot"] = _few_shot(cfg, train_cfg, pmts, reference)
    elif cfg.keep_few_shot and "few_shot" in previous:
        result["few_shot"] = previous["few_shot"]
        result["few_shot_command"] = previous.get("few_shot_command", previous.get("command"))
    result["seconds"] = time.perf_counter() - t_start
    result = finite_json(result)
    with atomic_output(out) as tmp:
        tmp.write_text(json.dumps(result, indent=1, sort_keys=True, allow_nan=False) + "\n")
    log.info("wrote %s", out)
    return result

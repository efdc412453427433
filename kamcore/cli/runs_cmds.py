"""``kamcore runs ...``: simulate run sequences, build templates, score runs, fit/flag them into the catalog, report.

Sub-commands: ``simulate``, ``templates``, ``score``, ``fit``, ``report``,
``note``, ``resolve``, ``mark-good``.  Library code lives in :mod:`kamcore.runs`,
:mod:`kamcore.fit` and :mod:`kamcore.catalog`; this module only parses,
calls and prints.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import shlex
import sys
from pathlib import Path


from ..errors import ConfigError, KamcoreError
from .registry import command
from .params import add_param_options, config_from_args

log = logging.getLogger(__name__)


def _cmd(args) -> str:
    return "kamcore " + shlex.join(args.argv)


def _add_catalog(p: argparse.ArgumentParser) -> None:
    p.add_argument("--catalog", metavar="URL", help=(
        "catalog database: SQLAlchemy URL (sqlite:///file, postgresql+psycopg://...) or a SQLite file path; "
        "default $KAMDASH_CATALOG or $XDG_DATA_HOME/kamdash/catalog.sqlite"))


def _catalog(args):
    from ..catalog import Catalog

    return Catalog(args.catalog)


def _warn(msg: str) -> None:
    print(f"kamcore: warning: {' '.join(str(msg).split())}", file=sys.stderr)


# ----------------------------------------------------------------------------- simulate
def _simulate_args(p: argparse.ArgumentParser) -> None:
    from ..runs import RunSimConfig

    p.add_argument("--runs", type=int, required=True, metavar="N", help="number of runs")
    p.add_argument("--seed", type=int, required=True, metavar="S", help="random seed of the sequence")
    p.add_argument("--out", required=True, metavar="DIR", help="directory for run_NNNNNN.parquet and truth.json")
    p.add_argument("--convection", nargs="+", default=[], metavar="START:LENGTH:STRENGTH", help=(
        "convection period: from run number START, LENGTH runs, Bi214 yields x STRENGTH (repeatable)"))
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_param_options(p, RunSimConfig, title="run simulation")


def _simulate(args) -> int:
    from tqdm import tqdm

    from ..runs import RunSimConfig, parse_convection, simulate_runs

    cfg = config_from_args(RunSimConfig, args)
    periods = [parse_convection(t) for t in args.convection]
    with tqdm(total=args.runs, unit="run", desc="runs", disable=args.no_progress or None, file=sys.stderr) as bar:
        truth = simulate_runs(args.runs, args.out, seed=args.seed, config=cfg, convection=periods,
                              command=_cmd(args), progress=bar.update)
    n = sum(sum(r["counts"].values()) for r in truth["runs"])
    flagged = sum(1 for r in truth["runs"] if r["strength"] != 1.0)
    print(f"{args.out}: {args.runs} runs, {n} events, {flagged} run(s) in {len(periods)} convection period(s); "
          f"truth in {Path(args.out) / 'truth.json'}")
    return 0


# ---------------------------------------------------------------------------- templates
def _templates_args(p: argparse.ArgumentParser) -> None:
    from ..fit import FitConfig

    p.add_argument("--model", required=True, metavar="MODEL", help="classifier checkpoint that scores the runs")
    p.add_argument("--out", required=True, metavar="FILE.json", help="templates file (written atomically)")
    p.add_argument("--events", type=int, default=2000, metavar="N",
                   help="selected Monte Carlo events per component (default 2000)")
    p.add_argument("--seed", type=int, default=900_000, metavar="S", help="Monte Carlo seed (default 900000)")
    p.add_argument("--components", nargs="+", metavar="NAME", help="sources (default: FitConfig.components)")
    g = p.add_argument_group("binning")
    for name in ("bins", "score_min", "score_max"):
        par = FitConfig.param[name]
        g.add_argument("--" + name.replace("_", "-"), dest=name, type=type(par.default), default=None,
                       help=f"{par.doc} (default: {par.default})")


def _templates(args) -> int:
    from ..fit import FitConfig, Templates, score_edges
    from ..geometry import default_pmt_table
    from ..models import load_model
    from ..runs import RunSimConfig, simulate_selected

    if args.events < 1:
        raise ConfigError(f"--events must be >= 1, got {args.events}")
    cfg = config_from_args(FitConfig, argparse.Namespace(bins=args.bins, score_min=args.score_min,
                                                         score_max=args.score_max))
    edges = score_edges(cfg)
    comps = args.components or list(cfg.components)
    model = load_model(args.model)
    ident = dict(model.identity)
    pmts = default_pmt_table()
    sel = RunSimConfig()
    scores = {}
    for k, comp in enumerate(comps):
        ev = simulate_selected(comp, args.events, (args.seed, k), sel, pmts=pmts)
        scores[comp], _ = model.predict(ev, pmts=pmts)
        log.info("%s: %d events scored, mean %.3f", comp, len(ev), scores[comp].mean())
    t = Templates.from_scores(scores, edges, model=ident, meta={
        "events_per_component": args.events, "seed": args.seed, "command": _cmd(args),
        "selection": {"energy_mev": [sel.energy_min_mev, sel.energy_max_mev],
                      "max_reconstructed_radius_cm": sel.max_radius_cm},
        # the rates runs fitted with these templates are assumed to have (Templates.rates_per_hour)
        "rates_per_hour": {k: round(v, 4) for k, v in sel.expected_rates_per_hour().items()}})
    t.save(args.out)
    print(f"{args.out}: templates {t.digest} of {len(comps)} components x {args.events} events, "
          f"{t.n_bins} bins, model {ident['name']}@{ident['digest']}")
    return 0


# -------------------------------------------------------------------------------- score
def _score_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("dir", metavar="DIR", help="directory of run files; score files are written next to them")
    p.add_argument("--model", required=True, metavar="MODEL", help="classifier checkpoint that scores the runs")
    p.add_argument("--workers", type=int, metavar="N", help=(
        "worker processes of the local Dask cluster (default: the CPUs available, at most one per run); "
        "0 = serial, in this process, without Dask"))
    p.add_argument("--scheduler", metavar="ADDRESS", help=(
        "address of a running Dask scheduler (tcp://host:8786) instead of a local cluster; its workers must see "
        "DIR and MODEL at the same absolute paths"))
    p.add_argument("--threads-per-worker", type=int, default=1, metavar="T", help=(
        "threads of each local worker and torch threads per run (serial: torch threads); default 1"))
    p.add_argument("--connect-timeout", type=float, default=10.0, metavar="S",
                   help="seconds to wait for the scheduler and its first worker (default 10)")
    p.add_argument("--rescore", action="store_true", help="score every run again even if its score file is up to date")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def _score(args) -> int:
    from tqdm import tqdm

    from ..runs import find_run_files, score_runs

    if args.scheduler is not None and args.workers is not None:
        raise ConfigError(f"--workers {args.workers} sets up a local cluster; --scheduler {args.scheduler} uses the "
                          "workers of that cluster: give one of the two")
    files = find_run_files(args.dir)
    if not files:
        raise ConfigError(f"{args.dir}: no run files (*.parquet, *.root)")
    with tqdm(total=len(files), unit="run", desc="scoring", disable=args.no_progress or None,
              file=sys.stderr) as bar:
        res = score_runs(files, args.model, workers=args.workers, scheduler=args.scheduler,
                         threads_per_worker=args.threads_per_worker, rescore=args.rescore,
                         connect_timeout_s=args.connect_timeout, progress=lambda r: bar.update())
    for r in res.runs:
        if r.status == "bad":
            _warn(f"{r.error}; run skipped")
    n_bad = res.count("bad")
    if n_bad == len(res.runs):
        raise ConfigError(f"{args.dir}: no run could be scored ({n_bad} bad file(s))")
    print(f"{args.dir}: {res.count('scored')} run(s) scored, {res.count('current')} up to date, {n_bad} bad file(s) "
          f"skipped; {res.events_scored} events in {res.seconds:.1f} s ({res.events_per_s:.0f} events/s) on "
          f"{res.where}, {res.startup_s:.1f} s start-up; model {res.model['name']}@{res.model['digest']}")
    return 0


# ---------------------------------------------------------------------------------- fit
def _parse_constraint(text: str) -> tuple[str, list[float]]:
    parts = text.split(":")
    try:
        if len(parts) != 3:
            raise ValueError
        return parts[0], [float(parts[1]), float(parts[2])]
    except ValueError:
        raise ConfigError(f"--constraint wants NAME:RATE_PER_HOUR:RELATIVE_SIGMA, got {text!r}") from None


def _fit_args(p: argparse.ArgumentParser) -> None:
    from ..fit import FlagConfig

    p.add_argument("dir", metavar="DIR", help="directory of run files (score files are read/written next to them)")
    p.add_argument("--templates", required=True, metavar="FILE.json", help="templates ('kamcore runs templates')")
    p.add_argument("--model", metavar="MODEL", help=(
        "classifier that made the templates; scores runs without an up-to-date score file of that model "
        "(without --model, score files must exist: 'kamcore runs score')"))
    _add_catalog(p)
    p.add_argument("--method", choices=["da", "jsc"], help="iminuit Template method (default: da)")
    p.add_argument("--background", nargs="+", metavar="NAME", help="components in the background fraction")
    p.add_argument("--constraint", nargs="+", metavar="NAME:RATE_PER_HOUR:REL", help=(
        "Gaussian yield constraints replacing the defaults (rate in the selection, events per hour)"))
    p.add_argument("--no-constraints", action="store_true", help="free fit: no yield constraints")
    p.add_argument("--min-events", type=int, metavar="N", help="runs with fewer events are not fitted (default 20)")
    p.add_argument("--rescore", action="store_true", help="score every run again even if a score file exists")
    add_param_options(p, FlagConfig, title="flags")


def _run_number_from_name(path: Path) -> int | None:
    m = re.search(r"(\d+)", path.stem)
    return int(m.group(1)) if m else None


def _incomplete(path: Path) -> str | None:
    """The one-line reason when run file ``path`` is still being written (no Parquet footer yet), else None.

    The rule of the live monitor (:func:`kamcore.monitor.feeds.parquet_footer_missing`): such a run is
    stored ``incomplete``, not ``bad_file``, and fitted by a later ``kamcore runs fit`` once it is complete.
    """
    from ..monitor.feeds import parquet_footer_missing

    try:
        if path.suffix != ".parquet" or not parquet_footer_missing(path):
            return None
        size = path.stat().st_size
    except OSError:
        return None
    return (f"{path}: incomplete, no Parquet footer yet ({size} bytes; still being written?); not fitted, "
            "run 'kamcore runs fit' again once it is complete")


def _fit(args) -> int:
    from ..fit import FlagConfig, Templates, run_range
    from ..monitor import close_run, flag_stored_sequence, mark_bad_file
    from ..runs import find_run_files, load_run_scores, score_run_file

    templates = Templates.load(args.templates)
    over = {}
    if args.method:
        over["method"] = args.method
    if args.background:
        over["background"] = list(args.background)
    if args.min_events is not None:
        over["min_events"] = args.min_events
    if args.no_constraints:
        over["constraints"] = {}
    elif args.constraint:
        over["constraints"] = dict(_parse_constraint(c) for c in args.constraint)
    fit_cfg = templates.fit_config(**over)
    flag_cfg = config_from_args(FlagConfig, args)
    model = None
    ident = templates.model
    if args.model:
        from ..models import load_model

        model = load_model(args.model)
        templates.check_model(model, args.templates)
        ident = dict(model.identity)
    files = find_run_files(args.dir)
    if not files:
        raise ConfigError(f"{args.dir}: no run files (*.parquet, *.root)")
    cat = _catalog(args)
    command_text = _cmd(args)
    n_fit = n_scored = 0
    bad: list[str] = []
    incomplete: list[str] = []
    for path in files:
        try:
            # an up-to-date score file (this model, this run file's bytes) is reused as it is
            sc = None if args.rescore else load_run_scores(path, ident["digest"])
            if sc is None:
                if model is None:
                    raise ConfigError(f"{path}: no up-to-date score file of model {ident['name']}@"
                                      f"{ident['digest']}; run 'kamcore runs score' or give --model to score it")
                score_run_file(path, model)
                n_scored += 1
                sc = load_run_scores(path, ident["digest"])
            info = sc["meta"]["run_info"]
        except KamcoreError as exc:
            reason = _incomplete(path)
            if reason is not None:
                incomplete.append(path.name)
                _warn(reason)
                mark_bad_file(cat, path, _run_number_from_name(path), reason, status="incomplete")
                continue
            bad.append(path.name)
            _warn(f"{exc}; run skipped")
            mark_bad_file(cat, path, _run_number_from_name(path), str(exc))
            continue
        close_run(cat, path, sc["score"], info, templates, fit_cfg, model=ident, command=command_text)
        n_fit += 1
    # flag the whole stored sequence of this (model, templates), including runs fitted earlier
    result = flag_stored_sequence(cat, model_digest=ident["digest"], template_digest=templates.digest,
                                  flag_config=flag_cfg)
    if result is None:
        raise ConfigError(f"{args.dir}: no run could be fitted ({len(bad)} bad file(s), {len(incomplete)} "
                          "incomplete)")
    hb = sorted(result.flagged_runs("high_background"))
    print(f"{cat.url}: {n_fit} run(s) fitted ({n_scored} scored), {len(bad)} bad file(s) skipped, "
          f"{len(incomplete)} incomplete; "
          f"reference f = {result.f_ref:.3f} +- {result.sigma_ref:.3f} ({result.reference}); "
          f"{len(hb)} high-background run(s), {len(result.periods)} period(s)")
    for p in result.periods:
        print(f"  period {p.method}: {run_range(p.first_run, p.last_run)} ({p.n_runs}), "
              f"f = {p.mean_fraction:.3f}, {p.significance:.1f} sigma")
    return 0


# ------------------------------------------------------------------------------- report
def _report_args(p: argparse.ArgumentParser) -> None:
    _add_catalog(p)
    p.add_argument("--json", action="store_true", help="print the report as one JSON object (= --format json)")
    p.add_argument("--format", choices=["text", "json", "md"], default=None, help=(
        "text (default), json, or md: the Markdown e-log entry of one run (--run; fit, flags, health, "
        "alarms, notes, plots as PNG)"))
    p.add_argument("--run", type=int, metavar="R", help="--format md: the run (default: the newest)")
    p.add_argument("--out", metavar="FILE.md", help=(
        "--format md: write the entry to FILE.md and its PNG plots next to it (default: print it, no plots)"))
    p.add_argument("--templates", metavar="FILE.json", help="--format md: stack these templates on the score plot")
    p.add_argument("--model-digest", metavar="D", help="only fits/periods of this model")
    p.add_argument("--template-digest", metavar="D", help="only fits/periods of this template version")


def _fmt(x, spec=".3f"):
    return "-" if x is None else format(x, spec)


def _report(args) -> int:
    from ..fit import run_range

    fmt = args.format or ("json" if args.json else "text")
    if args.json and fmt != "json":
        raise ConfigError(f"--json and --format {fmt} contradict each other")
    if fmt != "md" and (args.run is not None or args.out or args.templates):
        raise ConfigError("--run, --out and --templates go with --format md")
    cat = _catalog(args)
    if fmt == "md":
        return _report_md(cat, args)
    rep = cat.report(model_digest=args.model_digest, template_digest=args.template_digest)
    rep["command"] = _cmd(args)
    if fmt == "json":
        print(json.dumps(rep, default=str))
        return 0
    print(f"catalog {rep['catalog']}: {len(rep['runs'])} run(s), {len(rep['periods'])} period(s), "
          f"{len(rep['notes'])} open note(s)")
    print(f"{'run':>8} {'events':>7} {'bkg fraction':>16} {'p-value':>8}  {'state':<14} flags")
    for r in rep["runs"]:
        f = r["fit"]
        if f is None:
            print(f"{r['run']:>8} {_fmt(r['n_events'], 'd'):>7} {'-':>16} {'-':>8}  {r['state']:<14} "
                  f"{(r['error'] or '')[:60]}")
            continue
        frac = f"{_fmt(f['bkg_fraction'])} +- {_fmt(f['bkg_fraction_err'])}"
        flags = ", ".join(f"{x['kind']}" + (f" ({x['significance']:.1f})" if x["significance"] is not None else "")
                          for x in r["flags"])
        good = " [good]" if r["good"] else ""
        print(f"{r['run']:>8} {f['n_events']:>7} {frac:>16} {_fmt(f['pvalue'], '.3g'):>8}  {r['state']:<14} "
              f"{flags}{good}")
    for p in rep["periods"]:
        print(f"period #{p['id']} {p['method']}: {run_range(p['first_run'], p['last_run'])} ({p['n_runs']} "
              f"run{'s' if p['n_runs'] != 1 else ''}), "
              f"f = {p['mean_fraction']:.3f} vs {_fmt(p['reference_fraction'])}, {p['significance']:.1f} sigma")
    for n in rep["notes"]:
        about = f"run {n['run']}" if n["run"] is not None else (f"period #{n['period_id']}" if n["period_id"]
                                                                else "general")
        print(f"note #{n['id']} [{n['kind']}, {about}] {n['author']} {n['created_at']}: {n['text']}")
    return 0


def _report_md(cat, args) -> int:
    """``runs report --format md``: the e-log entry of one run (:func:`kamcore.monitor.run_elog`)."""
    from ..fit import Templates
    from ..io import atomic_output
    from ..monitor import run_elog
    from .params import check_output_file

    run = args.run
    if run is None:
        runs = cat.list_runs()
        if not runs:
            raise ConfigError(f"catalog {cat.url} holds no run")
        run = runs[-1]["run"]
    templates = Templates.load(args.templates) if args.templates else None
    out = check_output_file(args.out) if args.out else None
    prefix = f"{out.stem}_" if out is not None else ""
    entry = run_elog(cat, run, model_digest=args.model_digest, template_digest=args.template_digest,
                     templates=templates, plots="files" if out is not None else None, plot_prefix=prefix)
    if out is None:
        sys.stdout.write(entry.markdown)
        return 0
    for name, data in entry.plots.items():
        with atomic_output(out.parent / name) as tmp:
            Path(tmp).write_bytes(data)
    with atomic_output(out) as tmp:
        Path(tmp).write_text(entry.markdown)
    print(f"{out}: e-log entry of run {run}" + (f", plots {', '.join(sorted(entry.plots))}" if entry.plots else ""))
    return 0


# -------------------------------------------------------------------- notes and marks
def _note_args(p: argparse.ArgumentParser) -> None:
    _add_catalog(p)
    p.add_argument("text", help="note text")
    p.add_argument("--author", required=True, help="who writes it")
    p.add_argument("--run", type=int, metavar="R", help="the run it is about")
    p.add_argument("--period", type=int, metavar="ID", help="the period it is about (id from 'runs report')")
    p.add_argument("--ack", action="store_true", help="an acknowledgement of a flag or period, not a note")


def _note(args) -> int:
    nid = _catalog(args).add_note(args.text, author=args.author, run=args.run, period_id=args.period,
                                  kind="ack" if args.ack else "note")
    print(f"note #{nid} added")
    return 0


def _resolve_args(p: argparse.ArgumentParser) -> None:
    _add_catalog(p)
    p.add_argument("id", type=int, help="note id")
    p.add_argument("--by", required=True, help="who resolves it")


def _resolve(args) -> int:
    _catalog(args).resolve_note(args.id, by=args.by)
    print(f"note #{args.id} resolved")
    return 0


def _mark_good_args(p: argparse.ArgumentParser) -> None:
    _add_catalog(p)
    p.add_argument("runs", type=int, nargs="+", metavar="RUN", help="run numbers")
    p.add_argument("--clear", action="store_true", help="remove the good mark instead")


def _mark_good(args) -> int:
    _catalog(args).mark_good(args.runs, good=not args.clear)
    print(f"{len(args.runs)} run(s) {'unmarked' if args.clear else 'marked good'}")
    return 0


# ------------------------------------------------------------------------------ runs
_SUB = {
    "simulate": ("simulate a run sequence with convection periods (one Parquet file per run + truth.json)",
                 _simulate_args, _simulate),
    "templates": ("score Monte Carlo of each component with a model and store the score templates",
                  _templates_args, _templates),
    "score": ("score every run of a directory (in parallel on a Dask cluster) and write the score files",
              _score_args, _score),
    "fit": ("score (if needed), fit, flag every run of a directory and store the results in the catalog",
            _fit_args, _fit),
    "report": ("print runs, background fractions, flags, periods and open notes from the catalog",
               _report_args, _report),
    "note": ("add a shift note or acknowledgement to the catalog", _note_args, _note),
    "resolve": ("mark a shift note resolved", _resolve_args, _resolve),
    "mark-good": ("mark runs as good (they then define the reference background fraction)",
                  _mark_good_args, _mark_good),
}


def _runs_args(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="runs_command", metavar="SUBCOMMAND", required=True, parser_class=type(p))
    for name, (help_, add_args, _) in _SUB.items():
        text = help_.replace("%", "%%")
        add_args(sub.add_parser(name, help=text, description=text))


def _runs(args) -> int:
    return _SUB[args.runs_command][2](args)


_runs.arguments = _runs_args
command("runs", "run monitoring: simulate run sequences, templates, per-run fits and flags, catalog report")(_runs)

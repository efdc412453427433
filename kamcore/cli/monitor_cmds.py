"""``kamcore monitor``: the live producer (follow a feed, score, keep the live store, close runs into the catalog).

Library code lives in :mod:`kamcore.monitor`; this module only parses, calls and prints.
"""

from __future__ import annotations

import argparse
import logging
import shlex
import sys
from pathlib import Path

from ..errors import ConfigError
from .registry import command
from .params import add_param_options, config_from_args

log = logging.getLogger(__name__)


def _monitor_args(p: argparse.ArgumentParser) -> None:
    from ..fit import FlagConfig
    from ..monitor import MonitorConfig

    p.add_argument("--feed", default=None, metavar="sim|DIR", help=(
        "'sim' (default): a real-time simulated DAQ stream; DIR: run_*.parquet files a DAQ writes there"))
    p.add_argument("--rate", dest="rate_hz", type=float, default=None, metavar="HZ",
                   help=f"simulated feed: events per second (default {MonitorConfig.param['rate_hz'].default})")
    p.add_argument("--run-length", dest="run_length", type=int, default=None, metavar="EVENTS",
                   help=f"simulated feed: mean events per run (default {MonitorConfig.param['run_length'].default})")
    p.add_argument("--model", required=True, metavar="MODEL", help="classifier checkpoint that made the templates")
    p.add_argument("--templates", required=True, metavar="FILE.json", help="templates ('kamcore runs templates')")
    p.add_argument("--companion", dest="companions", action="append", default=[], metavar="MODEL", help=(
        "another classifier scored on every event beside --model (repeatable; e.g. the KamNet trained on "
        "C10): its scores and attention go into the live store, not into the fits"))
    p.add_argument("--catalog", metavar="URL", help=(
        "catalog database: SQLAlchemy URL or SQLite file path; default $KAMDASH_CATALOG or "
        "$XDG_DATA_HOME/kamdash/catalog.sqlite"))
    p.add_argument("--store", default="kamdash_live", metavar="DIR",
                   help="live-store directory (default ./kamdash_live)")
    p.add_argument("--runs-dir", metavar="DIR",
                   help="simulated feed: where closed runs are written (default STORE.runs)")
    p.add_argument("--max-runs", type=int, metavar="N", help="stop after N closed (or bad) runs")
    p.add_argument("--duration", type=float, metavar="S", help="stop after S seconds")
    p.add_argument("--min-events", type=int, metavar="N", help="runs with fewer events are not fitted (default 20)")
    p.add_argument("--history-runs", type=int, default=0, metavar="N", help=(
        "simulated feed: first replay N runs at full speed, ending now, when the catalog has no fit of this "
        "model and these templates; the live feed then uses seed SEED+1"))
    p.add_argument("--status-file", metavar="FILE", help=(
        "keep FILE.json up to date: {state, mode: starting|history|live, pid, updated_ns} (for a supervising server)"))
    p.add_argument("--parent-pid", type=int, metavar="PID", help="stop and exit once the parent process PID is gone")
    skip = {"feed", "rate_hz", "run_length", "start_ns", "realtime"}  # a replay is a library use
    g = p.add_argument_group("monitor")
    for name, par in MonitorConfig.param.objects("existing").items():
        if name == "name" or name in skip:
            continue
        kind = int if isinstance(par.default, int) and not isinstance(par.default, bool) else float
        kind = str if isinstance(par.default, str) else kind  # dead_pmts / hot_pmts: comma-separated PMT ids
        doc = (par.doc or "").replace("%", "%%")
        g.add_argument("--" + name.replace("_", "-"), dest=name, type=kind, default=None,
                       metavar={int: "N", float: "F", str: "IDS"}[kind], help=f"{doc} (default: {par.default!r})")
    add_param_options(p, FlagConfig, title="flags")


def _monitor(args) -> int:
    from ..catalog import Catalog
    from ..fit import FlagConfig, Templates
    from ..models import load_model
    from ..monitor import LiveStore, MonitorConfig, run_monitor

    cfg = config_from_args(MonitorConfig, args).validate()
    if args.max_runs is not None and args.max_runs < 1:
        raise ConfigError(f"--max-runs must be >= 1, got {args.max_runs}")
    if args.duration is not None and not args.duration > 0:
        raise ConfigError(f"--duration must be > 0 s, got {args.duration}")
    if args.history_runs < 0:
        raise ConfigError(f"--history-runs must be >= 0, got {args.history_runs}")
    templates = Templates.load(args.templates)
    model = load_model(args.model)  # shipped names too; loaded once, checked against the templates' file here
    templates.check_model(model, args.templates)
    companions = [load_model(c) for c in args.companions]
    fit_cfg = templates.fit_config(**({"min_events": args.min_events} if args.min_events is not None else {}))
    cat = Catalog(args.catalog)
    with LiveStore(args.store, max_events=cfg.store_events, writable=True) as store:
        def started(prod):
            print(f"kamcore monitor: {prod.feed!r} -> {store.path} (seq {store.seq}), catalog {cat.url}",
                  file=sys.stderr)

        stats = run_monitor(cfg, store, cat, model, templates, history_runs=args.history_runs,
                            status_path=args.status_file, parent_pid=args.parent_pid, max_runs=args.max_runs,
                            duration_s=args.duration, started=started, runs_dir=args.runs_dir, fit_config=fit_cfg,
                            flag_config=config_from_args(FlagConfig, args), command="kamcore " + shlex.join(args.argv),
                            companions=companions)
    print(f"{Path(args.store)}: {stats.events} event(s) stored (seq {store.seq}), {stats.runs_closed} run(s) "
          f"closed {stats.runs}, {stats.bad_files} bad file(s), {stats.incomplete_files} incomplete; "
          f"stopped by {stats.stopped_by} after {stats.seconds:.1f} s")
    return 0


_monitor.arguments = _monitor_args
command("monitor", "live producer: follow a simulated or directory feed, score events into the live store, "
                   "fit and flag closed runs in the catalog")(_monitor)

"""Sub-commands on events: ``sources``, ``simulate``, ``info``, ``hitmaps``, ``demo``."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

from ..errors import ConfigError
from .params import (
    add_param_options,
    check_memory,
    check_output_file,
    config_from_args,
    finite_float,
)
from .registry import command

#: events per chunk when maps are built from a file (bounds memory: ~160 kB per dense map)
_CHUNK = 512


def _pmts(args):
    from ..geometry import default_pmt_table

    return default_pmt_table(getattr(args, "pmt_table", None))


def _add_pmt_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--pmt-table", metavar="CSV", help=(
        "PMT table (pmt_id,x_cm,y_cm,z_cm,type); default $KAMCORE_PMT_TABLE or the shipped one"))


# --------------------------------------------------------------------------- sources
def _sources(args) -> int:
    from ..sim import list_sources

    rows = list_sources()
    width = max(len(n) for n in rows)
    for name, desc in rows.items():
        print(f"{name:<{width}}  {desc}")
    return 0


command("sources", "list the sources the fast Monte Carlo can simulate")(_sources)


# -------------------------------------------------------------------------- simulate
def sim_bytes_per_event(n_pmts: int) -> int:
    """Peak memory one event takes while ``kamcore simulate`` runs, bytes: an upper bound.

    A PMT is hit at most once per event, so an event holds at most ``n_pmts`` hits of 10 bytes (``pmt`` int16,
    ``t_ns`` and ``q_pe`` float32), plus 2 kiB for its deposits (60-90 of 20 bytes at 2-4 MeV) and per-event
    columns; it is held three times at the peak (the simulated batches, their concatenation, the Parquet table).
    With the 1879 KamLAND PMTs: 61 kiB.  Measured: 14 kB per C10 event (365 hits on average).
    """
    return 3 * (10 * int(n_pmts) + 2048)


def _simulate_args(p: argparse.ArgumentParser) -> None:
    from ..sim import SimConfig

    p.add_argument("--source", required=True, help="source name (see 'kamcore sources')")
    p.add_argument("--events", type=int, required=True, metavar="N", help=(
        "number of events, at most what fits in memory: N x 3 x (10 B x PMTs + 2 kiB) must not exceed the physical "
        "memory (an upper bound: a PMT is hit at most once per event; 61 kiB per event with 1879 PMTs, "
        "about 17,000 events per GiB); simulate more as several runs (--run, --seed)"))
    p.add_argument("--seed", type=int, required=True, metavar="S", help="random seed (same seed, same events)")
    p.add_argument("--run", type=int, default=0, metavar="R", help="run number stored with the events")
    p.add_argument("--out", required=True, metavar="FILE.parquet", help="output run file (written atomically)")
    p.add_argument("--energy-window", nargs=2, type=finite_float, metavar=("LO", "HI"),
                   help="keep only events with visible energy in [LO, HI) MeV")
    p.add_argument("--max-radius", type=finite_float, metavar="CM", help="keep only events with true vertex R < CM")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    _add_pmt_option(p)
    add_param_options(p, SimConfig, aliases={"coverage_17in": ["--coverage"]}, title="detector and physics")


def _simulate(args) -> int:
    from tqdm import tqdm

    from ..io import write_events
    from ..preprocess import with_vertex
    from ..sim import SimConfig, simulate

    if args.events < 1:
        raise ConfigError(f"--events must be >= 1, got {args.events}")
    config = config_from_args(SimConfig, args)
    kw = {}
    if args.energy_window:
        kw["energy_window_mev"] = tuple(args.energy_window)
    if args.max_radius is not None:
        kw["max_radius_cm"] = args.max_radius
    out = check_output_file(args.out)
    pmts = _pmts(args)
    check_memory(f"{args.source} events (--events)", args.events, sim_bytes_per_event(len(pmts)),
                 "simulate them as several runs (--run, --seed)")
    with tqdm(total=args.events, unit="ev", desc=args.source, disable=args.no_progress or None,
              file=sys.stderr) as bar:
        events = simulate(args.source, args.events, seed=args.seed, config=config, pmts=pmts,
                          run=args.run, progress=bar.update, **kw)
    events = with_vertex(events, pmts)  # the reconstruction of the default chain (time-likelihood fit)
    write_events(events, out)
    print(f"{out}: {len(events)} {args.source} events, {events.n_hits} hits")
    return 0


_simulate.arguments = _simulate_args
command("simulate", "simulate events of one source with the fast Monte Carlo and write a Parquet run")(_simulate)


# ------------------------------------------------------------------------------ info
def _summary(values: np.ndarray) -> dict:
    v = np.asarray(values, np.float64)
    v = v[np.isfinite(v)]
    if len(v) == 0:
        return {"n": 0}
    return {"n": int(len(v)), "mean": float(v.mean()), "std": float(v.std()), "min": float(v.min()),
            "median": float(np.median(v)), "max": float(v.max())}


def file_info(path: str | os.PathLike, pmts=None) -> dict:
    """Summary of an event file: events, sources, energy, hits and Nhit (non-zero hit-map cells)."""
    from ..io import open_events
    from ..preprocess import sparse_hitmaps

    events = open_events(path)
    nh = np.concatenate([sparse_hitmaps(events.take(slice(a, a + _CHUNK)), pmts).nhit
                         for a in range(0, len(events), _CHUNK)]) if len(events) else np.zeros(0)
    src, counts = np.unique(events.source.astype(str), return_counts=True)
    return {
        "file": str(path),
        "events": len(events),
        "runs": sorted({int(r) for r in np.unique(events.run)}),
        "sources": {s: int(c) for s, c in zip(src, counts)},
        "energy_mev": _summary(events.energy_mev),
        "hits_per_event": _summary(events.hits_per_event),
        "nhit": _summary(nh),
        "has_truth": events.has_truth,
        "schema_version": events.attrs.get("schema_version"),
    }


def _info_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", help="event file (Parquet run or KamLAND-style ROOT)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    _add_pmt_option(p)


def _info(args) -> int:
    info = file_info(args.file, _pmts(args))
    if args.json:
        print(json.dumps(info, sort_keys=True))
        return 0
    print(f"file      {info['file']}")
    print(f"events    {info['events']}   runs {', '.join(map(str, info['runs'])) or '-'}")
    print("sources   " + ", ".join(f"{s} ({c})" for s, c in info["sources"].items()))
    for key, label in (("energy_mev", "energy   MeV"), ("hits_per_event", "hits/event "),
                       ("nhit", "Nhit (cells)")):
        s = info[key]
        if s["n"]:
            print(f"{label}  mean {s['mean']:.3g}  std {s['std']:.3g}  min {s['min']:.3g}  "
                  f"median {s['median']:.3g}  max {s['max']:.3g}")
        else:
            print(f"{label}  -")
    print(f"truth     {'yes' if info['has_truth'] else 'no'}")
    return 0


_info.arguments = _info_args
command("info", "summarise an event file: events, sources, energy, hits and Nhit")(_info)


# --------------------------------------------------------------------------- hitmaps
def _hitmaps_args(p: argparse.ArgumentParser) -> None:
    from ..preprocess import HitMapConfig

    p.add_argument("file", help="event file (Parquet run or KamLAND-style ROOT)")
    p.add_argument("--out", required=True, metavar="FILE.npz", help=(
        "output: arrays 'maps' (N, T, 2b, 2b), 'nhit' (N,), 'vertex_cm' (N, 3, the vertex of the time of flight), "
        "'event_id', 'run', 'config'"))
    _add_pmt_option(p)
    add_param_options(p, HitMapConfig, title="preprocessing")


def _check_vertices(path, events, config) -> None:
    """One-line :class:`ConfigError` when ``--vertex file`` or ``truth`` picks a non-finite vertex (NaN: unknown,
    or inf) for an event with hits: its times of flight, and so its map, would be garbage."""
    if config.vertex not in ("file", "truth"):
        return  # 'fit' and 'centroid' reconstruct the vertex from the hits
    col = "vertex_cm" if config.vertex == "file" else "true_vertex_cm"
    v = getattr(events, col)
    bad = ~np.isfinite(v).all(axis=1) & (events.hits_per_event > 0)
    if bad.any():
        i = int(np.argmax(bad))
        raise ConfigError(f"{path}: --vertex {config.vertex} needs a finite {col} (cm), but {int(bad.sum())} of "
                          f"{len(events)} events have none (event_id {int(events.event_id[i])}: "
                          f"{[float(x) for x in v[i]]}); use --vertex fit or centroid")


def save_npz_atomic(path: Path, **arrays) -> Path:
    """Write an ``.npz`` via a temporary file in the same directory, then rename."""
    from ..io import atomic_output

    with atomic_output(path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, **arrays)
    return Path(path)


def _hitmaps(args) -> int:
    from ..io import open_events
    from ..preprocess import HitMapConfig, event_vertices, hitmaps, nhit, vertex_method

    config = config_from_args(HitMapConfig, args)
    check_output_file(args.out)
    pmts = _pmts(args)
    events = open_events(args.file)
    _check_vertices(args.file, events, config)
    shape = (config.n_time_bins, 2 * config.bandwidth, 2 * config.bandwidth)
    check_memory(f"maps of {shape[0]}x{shape[1]}x{shape[2]}", len(events), int(np.prod(shape)) * 4,
                 "split the file or use a smaller --n-time-bins/--bandwidth", where=args.file)
    maps = np.zeros((len(events), *shape), np.float32)
    vertex = np.zeros((len(events), 3), np.float32)
    for a in range(0, len(events), _CHUNK):
        chunk = events.take(slice(a, a + _CHUNK))
        vertex[a:a + _CHUNK] = event_vertices(chunk, pmts, config)
        if config.vertex in ("fit", "centroid"):  # the maps read the vertex just reconstructed
            chunk = dataclasses.replace(chunk, vertex_cm=vertex[a:a + _CHUNK],
                                        attrs={**chunk.attrs, "vertex_method": vertex_method(config)})
        hitmaps(chunk, pmts, config, out=maps[a:a + _CHUNK])
    nh = nhit(maps) if len(events) else np.zeros(0, np.int64)  # a file without events gives empty arrays
    save_npz_atomic(Path(args.out), maps=maps, nhit=nh, vertex_cm=vertex, event_id=events.event_id, run=events.run,
                    config=np.array(config.to_json()))
    print(f"{args.out}: maps {tuple(maps.shape)} float32, mean Nhit {nh.mean() if len(nh) else 0:.1f}")
    return 0


_hitmaps.arguments = _hitmaps_args
command("hitmaps", "build the 28x38x38 KamNet hit maps of an event file (.npz: maps, nhit)")(_hitmaps)


# ------------------------------------------------------------------------------ demo
def _demo_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--events", type=int, default=300, metavar="N", help="events per source (default 300)")
    p.add_argument("--seed", type=int, default=1, metavar="S", help="random seed (default 1)")
    p.add_argument("--out", metavar="DIR", help="keep the simulated runs in DIR (default: a temporary directory)")


def _demo(args) -> int:
    """Embedded-defaults tour: simulate signal and backgrounds, write runs, read back, summarise."""
    from ..io import open_events, write_events
    from ..preprocess import proper_times, reconstruct_vertex, sparse_hitmaps
    from ..sim import simulate

    pmts = _pmts(args)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(args.out or tmp)
        out.mkdir(parents=True, exist_ok=True)
        print(f"{'source':<14} {'events':>6} {'E/MeV':>6} {'hits':>6} {'Nhit':>6} {'tau90/ns':>8} {'spread/cm':>9} {'R_true':>6} {'R_reco':>6}")
        for run, source in enumerate(("Xe136_0vbb", "Xe136_2vbb", "Bi214", "Bi214_film", "C10"), start=1):
            path = out / f"demo_{source}.parquet"
            write_events(simulate(source, args.events, seed=args.seed + run, run=run, pmts=pmts), path)
            ev = open_events(path)
            tau, _ = proper_times(ev, pmts)
            nh = sparse_hitmaps(ev, pmts).nhit
            print(f"{source:<14} {len(ev):>6} {np.nanmean(ev.energy_mev):>6.2f} {ev.hits_per_event.mean():>6.0f} "
                  f"{nh.mean():>6.0f} {np.quantile(tau, 0.9):>8.1f} {np.nanmean(ev.deposit_spread_cm()):>9.1f} "
                  f"{np.linalg.norm(ev.true_vertex_cm, axis=1).mean():>6.0f} "
                  f"{np.linalg.norm(reconstruct_vertex(ev, pmts), axis=1).mean():>6.0f}")
        if args.out:
            print(f"runs written to {out}")
    return 0


_demo.arguments = _demo_args
command("demo", "embedded-defaults tour: simulate signal and backgrounds, write, read back, summarise")(_demo)

"""Simulated run sequences: one Parquet file per run plus a truth file.

For run ``r`` (numbers ``first_run, first_run + 1, ...``):

1. yields ``n_k ~ Poisson(mu_k)`` (:class:`~kamcore.runs.config.RunSimConfig`);
2. for each source, events are simulated with :func:`kamcore.sim.simulate`
   inside the energy window (visible energy, the only energy the fast Monte
   Carlo knows), their vertex is reconstructed (``RunSimConfig.vertex``, default the
   time-likelihood fit of :mod:`kamcore.preprocess.vertexfit`, ~9 cm median 3-D
   error at 2.5 MeV) and the fiducial cut ``R_rec < max_radius_cm`` is applied to
   the *reconstructed* vertex, as a real analysis does.  This is what lets film
   events (true ``R = 190 cm``) leak into the ``R < 157 cm`` volume: gammas of the
   214Bi cascade deposit inward and the fit follows the light;
3. the events of all sources are given times uniform in ``[start, stop)`` of
   the run, ordered by time, renumbered ``0..N-1``, and written with
   :func:`kamcore.io.write_events` as ``run_{r:06d}.parquet`` (schema v1;
   ``vertex_cm`` holds the reconstructed vertex, ``source`` the truth).
   ``attrs["run_info"]`` = ``{"run", "start_ns", "stop_ns", "livetime_s"}``.

The truth file ``truth.json`` gives the configuration, the injected periods and
per run: expected yields ``mu_k``, drawn counts ``n_k`` and the strength.

Randomness: run ``r`` uses ``SeedSequence([seed, r])`` for its yields and
times and ``SeedSequence([seed, r, k, chunk])`` for the Monte Carlo of source
``k``; a run's content does not depend on which other runs are simulated.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from ..errors import ConfigError
from ..events import Events
from ..geometry import PMTTable, default_pmt_table
from ..sim import SimConfig, simulate
from .config import ConvectionPeriod, RunSimConfig

__all__ = ["simulate_run", "simulate_runs", "simulate_selected", "run_file_name", "TRUTH_FILE",
           "truth_background_fraction"]

log = logging.getLogger(__name__)

TRUTH_FILE = "truth.json"
_CHUNK_MIN = 16


def run_file_name(run: int) -> str:
    """``run_{run:06d}.parquet``."""
    return f"run_{int(run):06d}.parquet"


def _seed(*key: int) -> int:
    return int(np.random.SeedSequence([int(k) for k in key]).generate_state(1, np.uint32)[0])


def _strengths(config: RunSimConfig, periods: Sequence[ConvectionPeriod], runs: Sequence[int]) -> dict[int, float]:
    out = {r: 1.0 for r in runs}
    owner: dict[int, ConvectionPeriod] = {}
    for p in periods:
        for r in p.runs:
            if r in owner:
                raise ConfigError(f"convection periods {owner[r]} and {p} overlap in run {r}")
            owner[r] = p
            if r in out:
                out[r] = float(p.strength)
    return out


def simulate_selected(source: str, n: int, seed_key: Sequence[int], config: RunSimConfig | None = None,
                      sim_config: SimConfig | None = None, pmts: PMTTable | None = None) -> Events:
    """``n`` events of ``source`` passing the run selection (energy window, reconstructed radius).

    ``vertex_cm`` holds the reconstructed vertex.  ``seed_key`` (integers >= 0)
    seeds the chunks of Monte Carlo (``SeedSequence([*seed_key, chunk])``).
    Templates are made from events selected this way, so that they match the runs.
    """
    from ..preprocess import HitMapConfig, with_vertex

    config = (config or RunSimConfig()).validate()
    sim_config = sim_config or SimConfig()
    pmts = pmts or default_pmt_table()
    seed_key = tuple(int(k) for k in seed_key)
    parts, have, chunk, eff = [], 0, 0, 0.5
    while have < n:
        want = max(_CHUNK_MIN, math.ceil((n - have) / eff * 1.2))
        ev = simulate(source, want, seed=_seed(*seed_key, chunk), config=sim_config, pmts=pmts,
                      energy_window_mev=(config.energy_min_mev, config.energy_max_mev))
        ev = with_vertex(ev, pmts, HitMapConfig(vertex=config.vertex))
        keep = np.linalg.norm(ev.vertex_cm, axis=1) < config.max_radius_cm
        sel = ev.take(np.flatnonzero(keep)[: n - have])
        parts.append(sel)
        have += len(sel)
        eff = max(keep.mean(), 0.02)
        chunk += 1
        if chunk > 200:
            raise ConfigError(f"{source}: the selection keeps too few events ({have} of {n} after {chunk} chunks)")
    return Events.concat(parts) if parts else Events.empty()


def simulate_run(run: int, *, seed: int, config: RunSimConfig | None = None, strength: float = 1.0,
                 sim_config: SimConfig | None = None, pmts: PMTTable | None = None) -> tuple[Events, dict]:
    """Simulate one run.

    Parameters
    ----------
    run : int
        Run number (fixes its start time: ``start_time_ns + (run - first_run) *
        (run_duration_s + gap_s)``).
    seed : int
        Seed of the whole sequence.
    config : RunSimConfig, optional
    strength : float
        Convection factor applied to ``config.convection_components``.
    sim_config : SimConfig, optional
    pmts : PMTTable, optional

    Returns
    -------
    events : Events
        The run's selected events, time ordered, ``attrs["run_info"]`` set.
    truth : dict
        ``{"run", "file", "start_ns", "stop_ns", "livetime_s", "strength",
        "expected": {source: mu}, "counts": {source: n}}``.
    """
    config = (config or RunSimConfig()).validate()
    sim_config = sim_config or SimConfig()
    pmts = pmts or default_pmt_table()
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), int(run)]))
    start = int(config.start_time_ns + (run - config.first_run) * round((config.run_duration_s + config.gap_s) * 1e9))
    stop = start + int(round(config.run_duration_s * 1e9))
    expected, counts, parts = {}, {}, []
    for k, (source, frac) in enumerate(sorted(config.composition.items())):
        mu = config.events_per_run * frac * (strength if source in config.convection_components else 1.0)
        n = int(rng.poisson(mu))
        expected[source], counts[source] = float(mu), n
        if n:
            parts.append(simulate_selected(source, n, (seed, run, k), config, sim_config, pmts))
    ev = Events.concat(parts) if parts else Events.empty()
    n_all = len(ev)
    t = start + np.sort(rng.integers(0, stop - start, n_all)).astype(np.int64)
    order = rng.permutation(n_all)  # random interleaving of the sources, then times in order
    ev = ev.take(order) if n_all else ev
    info = {"run": int(run), "start_ns": start, "stop_ns": stop, "livetime_s": float(config.run_duration_s)}
    ev = dataclasses.replace(ev, run=np.full(n_all, run, np.int32), event_id=np.arange(n_all, dtype=np.int64),
                             timestamp_ns=t, attrs={**ev.attrs, "sim_config": sim_config.to_json(),
                                                    "pmt_table_digest": pmts.digest, "run_info": info,
                                                    "run_sim_config": config.to_json()})
    truth = {**info, "file": run_file_name(run), "strength": float(strength), "expected": expected, "counts": counts}
    return ev, truth


def simulate_runs(n_runs: int, out_dir: str | os.PathLike, *, seed: int, config: RunSimConfig | None = None,
                  convection: Sequence[ConvectionPeriod] = (), sim_config: SimConfig | None = None,
                  pmts: PMTTable | None = None, command: str | None = None,
                  progress: Callable[[int], object] | None = None) -> dict:
    """Simulate ``n_runs`` runs into ``out_dir`` and write ``truth.json``; returns the truth dict.

    Raises
    ------
    ConfigError
        Bad numbers, unknown sources, overlapping convection periods.
    """
    from ..io import atomic_output, write_events

    if isinstance(n_runs, bool) or not isinstance(n_runs, (int, np.integer)) or n_runs < 1:
        raise ConfigError(f"--runs must be an integer >= 1, got {n_runs!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ConfigError(f"--seed must be an integer >= 0, got {seed!r}")
    config = (config or RunSimConfig()).validate()
    sim_config = sim_config or SimConfig()
    pmts = pmts or default_pmt_table()
    runs = list(range(config.first_run, config.first_run + int(n_runs)))
    strengths = _strengths(config, convection, runs)
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"{out}: cannot create the output directory ({exc.strerror})") from None
    for p in convection:
        outside = [r for r in p.runs if r not in strengths]
        if outside:
            log.warning("convection period %s reaches beyond the simulated runs (%s)", p, outside)
    truth = {"format": "kamdash.runs_truth", "version": 1, "seed": int(seed), "n_runs": int(n_runs),
             "config": json.loads(config.to_json()), "sim_config": json.loads(sim_config.to_json()),
             "convection": [{**dataclasses.asdict(p), "runs": [r for r in p.runs if r in strengths]}
                            for p in convection],
             "command": command, "runs": []}
    for r in runs:
        ev, t = simulate_run(r, seed=seed, config=config, strength=strengths[r], sim_config=sim_config, pmts=pmts)
        write_events(ev, out / run_file_name(r))
        truth["runs"].append(t)
        log.info("run %d: %d events (strength %g)", r, len(ev), strengths[r])
        if progress is not None:
            progress(1)
    with atomic_output(out / TRUTH_FILE) as tmp:
        Path(tmp).write_text(json.dumps(truth, indent=1) + "\n")
    return truth


def truth_background_fraction(run_truth: dict, background: Sequence[str], *, expected: bool = True) -> float:
    """True background fraction of a run: ``sum_{k in bkg} mu_k / sum_k mu_k`` (or of the counts ``n_k``)."""
    d = run_truth["expected" if expected else "counts"]
    total = sum(d.values())
    return float(sum(v for k, v in d.items() if k in background) / total) if total else float("nan")

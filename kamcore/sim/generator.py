"""The fast Monte Carlo driver: source -> particles -> deposits -> hits -> :class:`~kamcore.events.Events`.

Decays are simulated in batches of whole random blocks (:mod:`kamcore.sim.streams`,
64 decays per block, block ``k`` always drawn from the same child generator of
``seed``), so memory is bounded by ``batch_size`` and the output depends only on
the seed, the source, the configuration and the selection -- not on
``batch_size``.  The first ``n`` events of a longer simulation are the ``n``
events of a shorter one.

Selections (``energy_window_mev`` on the visible energy, ``max_radius_cm`` on the
true vertex) are applied after transport and before the (expensive) detector
response; decays are simulated until ``n_events`` pass, and the truth of the
kept events is stored.  Event ``i`` of the output has id ``first_event_id + i``
and a timestamp ``start_time_ns + sum_{j<=i} dt_j``, ``dt ~ Exp(1 / event_rate_hz)``
(its own stream, ``SeedSequence(seed, spawn_key=(1,))``).  The reconstructed vertex
is left NaN: reconstruction belongs to :mod:`kamcore.preprocess`.
"""

from __future__ import annotations

import json
import logging
import math
from typing import Callable, Sequence

import numpy as np

from ..errors import ConfigError
from ..events import Events
from ..geometry import PMTTable, default_pmt_table
from .config import SimConfig
from .detector import detect
from .sources import Source, get_source
from .streams import BLOCK_SIZE, BlockStreams, seed_sequence
from .transport import transport

__all__ = ["simulate", "simulate_at", "DEFAULT_START_NS"]

log = logging.getLogger(__name__)

DEFAULT_START_NS = 1_546_300_800 * 10**9  #: 2019-01-01T00:00:00Z, start of KamLAND-Zen 800 data taking
_GIVE_UP_DECAYS = 20_000  #: raise if a selection has accepted nothing after this many decays


def _check_int(name: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ConfigError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _simulate_batch(src: Source, streams: BlockStreams, config: SimConfig, pmts: PMTTable,
                    position_cm, window, max_radius_cm) -> dict:
    vertices, particles = src.sample(streams, config, position_cm)
    dep = transport(particles, streams.n_decays, streams, config)
    evis = dep.energy_per_event()
    keep = np.ones(streams.n_decays, bool)
    if window is not None:
        keep &= (evis >= window[0]) & (evis < window[1])
    if max_radius_cm is not None:
        keep &= np.linalg.norm(vertices, axis=1) < max_radius_cm
    events = np.flatnonzero(keep)
    hits = detect(dep, events, streams, config, pmts)
    dep = dep.select(events)
    doff = np.zeros(len(events) + 1, np.int64)
    np.cumsum(np.bincount(np.searchsorted(events, dep.event), minlength=len(events)), out=doff[1:])
    return dict(offsets=hits.offsets, pmt=hits.pmt, t_ns=hits.t_ns, q_pe=hits.q_pe, deposit_offsets=doff,
                deposit_xyz_cm=dep.xyz_cm, deposit_t_ns=dep.t_ns, deposit_e_mev=dep.e_mev,
                energy_mev=evis[events], true_vertex_cm=vertices[events])


def simulate(source: str, n_events: int, *, seed: int, config: SimConfig | None = None,
             pmts: PMTTable | None = None, run: int = 0, first_event_id: int = 0, batch_size: int = 1024,
             progress: Callable[[int], object] | None = None,
             energy_window_mev: tuple[float, float] | None = None, max_radius_cm: float | None = None,
             position_cm: Sequence[float] | None = None, start_time_ns: int = DEFAULT_START_NS) -> Events:
    """Simulate ``n_events`` events of ``source`` with the fast Monte Carlo.

    Parameters
    ----------
    source : str
        Registered source name (:func:`kamcore.sim.list_sources`).
    n_events : int
        Number of events returned (after the selection).
    seed : int
        Random seed (>= 0); the same seed and arguments give identical arrays.
    config : SimConfig, optional
        Detector and physics parameters (default ``SimConfig()``).
    pmts : PMTTable, optional
        PMT table (default :func:`kamcore.geometry.default_pmt_table`).
    run : int
        Run number stored with the events.
    first_event_id : int
        Id of the first event; ids are consecutive.
    batch_size : int
        Decays simulated together (rounded up to whole 64-decay blocks); bounds
        the working memory (~0.1 MB per decay at 2-4 MeV), does not change the result.
    progress : callable, optional
        Called after each batch with the number of events it added (the
        signature of ``tqdm.update``).
    energy_window_mev : (lo, hi), optional
        Keep only events with visible energy in ``[lo, hi)`` MeV.
    max_radius_cm : float, optional
        Keep only events with true vertex radius ``< max_radius_cm``.
    position_cm : (3,), optional
        Put every decay vertex at this point, cm (see :func:`simulate_at`).
    start_time_ns : int
        Timestamps start after this time, ns since the Unix epoch.

    Returns
    -------
    Events
        ``n_events`` events with deposit truth; ``attrs`` holds ``sim_config``
        (JSON of :class:`SimConfig`), ``pmt_table_digest`` and ``sim_request``
        (JSON: source, seed, selection, vertex).

    Raises
    ------
    ConfigError
        Unknown source, bad arguments, or a selection that accepts nothing.
    """
    src = get_source(source)
    n_events = _check_int("n_events", n_events, 0)
    seed = _check_int("seed", seed, 0)
    batch_size = _check_int("batch_size", batch_size, 1)
    config = config if config is not None else SimConfig()
    if not isinstance(config, SimConfig):
        raise ConfigError(f"config must be a SimConfig, got {type(config).__name__}")
    if config.xels_radius_cm > config.ls_radius_cm:
        raise ConfigError(f"xels_radius_cm ({config.xels_radius_cm}) must not exceed ls_radius_cm "
                          f"({config.ls_radius_cm})")
    pmts = pmts if pmts is not None else default_pmt_table()
    window = None
    if energy_window_mev is not None:
        lo, hi = (float(x) for x in energy_window_mev)
        if not lo < hi:
            raise ConfigError(f"energy_window_mev must be (lo, hi) with lo < hi, got {energy_window_mev!r}")
        window = (lo, hi)
    if max_radius_cm is not None and not float(max_radius_cm) > 0:
        raise ConfigError(f"max_radius_cm must be > 0, got {max_radius_cm!r}")
    if position_cm is not None:
        position_cm = np.asarray(position_cm, np.float64).reshape(-1)
        if position_cm.shape != (3,) or not np.isfinite(position_cm).all():
            raise ConfigError(f"position_cm must be 3 finite numbers (cm), got {position_cm.tolist()}")
        if np.linalg.norm(position_cm) >= config.ls_radius_cm:
            raise ConfigError(f"position_cm {position_cm.tolist()} is outside the LS "
                              f"(R < {config.ls_radius_cm} cm)")
    selecting = window is not None or max_radius_cm is not None
    blocks_per_batch = max(1, math.ceil(batch_size / BLOCK_SIZE))

    parts: list[dict] = []
    have, block = 0, 0
    while have < n_events:
        nb = blocks_per_batch if selecting else min(blocks_per_batch, math.ceil((n_events - have) / BLOCK_SIZE))
        streams = BlockStreams(seed, block, nb)
        part = _simulate_batch(src, streams, config, pmts, position_cm, window, max_radius_cm)
        block += nb
        got = min(len(part["energy_mev"]), n_events - have)
        if got:
            parts.append(_truncate(part, got))
            have += got
            if progress is not None:
                progress(got)
        log.debug("%s: blocks %d..%d, %d/%d events", source, block - nb, block - 1, have, n_events)
        if have == 0 and block * BLOCK_SIZE >= _GIVE_UP_DECAYS:
            raise ConfigError(f"{source}: the selection (energy_window_mev={energy_window_mev}, "
                              f"max_radius_cm={max_radius_cm}) accepted 0 of {block * BLOCK_SIZE} decays")

    gaps = np.random.default_rng(seed_sequence(seed, 1)).exponential(1e9 / config.event_rate_hz, n_events)
    request = {"source": source, "seed": seed, "energy_window_mev": window, "max_radius_cm": max_radius_cm,
               "position_cm": None if position_cm is None else position_cm.tolist(), "block_size": BLOCK_SIZE}
    cols = _concat(parts)
    return Events.from_columns(
        **cols,
        run=np.full(n_events, run, np.int32),
        event_id=first_event_id + np.arange(n_events, dtype=np.int64),
        timestamp_ns=int(start_time_ns) + np.floor(np.cumsum(gaps)).astype(np.int64),
        source=np.full(n_events, source, dtype=object),
        attrs={"sim_config": config.to_json(), "pmt_table_digest": pmts.digest,
               "sim_request": json.dumps(request, sort_keys=True)},
    )


def simulate_at(source: str, n_events: int, position_cm: Sequence[float] = (0.0, 0.0, 0.0), **kwargs) -> Events:
    """:func:`simulate` with every decay vertex at ``position_cm`` (cm); same keywords.

    >>> ev = simulate_at("Xe136_0vbb", 2, seed=1)
    >>> ev.true_vertex_cm.tolist()
    [[0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]
    """
    return simulate(source, n_events, position_cm=position_cm, **kwargs)


def _truncate(part: dict, n: int) -> dict:
    if n == len(part["energy_mev"]):
        return part
    h, d = int(part["offsets"][n]), int(part["deposit_offsets"][n])
    out = dict(part)
    out.update(offsets=part["offsets"][:n + 1], deposit_offsets=part["deposit_offsets"][:n + 1],
               energy_mev=part["energy_mev"][:n], true_vertex_cm=part["true_vertex_cm"][:n])
    for k in ("pmt", "t_ns", "q_pe"):
        out[k] = part[k][:h]
    for k in ("deposit_xyz_cm", "deposit_t_ns", "deposit_e_mev"):
        out[k] = part[k][:d]
    return out


def _concat(parts: list[dict]) -> dict:
    if not parts:
        return dict(offsets=np.zeros(1, np.int64), pmt=[], t_ns=[], q_pe=[], deposit_offsets=np.zeros(1, np.int64),
                    deposit_xyz_cm=np.zeros((0, 3)), deposit_t_ns=[], deposit_e_mev=[], energy_mev=[],
                    true_vertex_cm=np.zeros((0, 3)))
    out = {}
    for k in ("offsets", "deposit_offsets"):
        pieces, base = [np.zeros(1, np.int64)], 0
        for p in parts:
            pieces.append(p[k][1:] + base)
            base += int(p[k][-1])
        out[k] = np.concatenate(pieces)
    for k in parts[0]:
        if k not in out:
            out[k] = np.concatenate([p[k] for p in parts])
    return out

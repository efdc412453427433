"""Proper hit time: time-of-flight and T0 corrections (KamNet paper, eqs. 1-2).

For hit ``i`` of an event with vertex ``v`` (cm) on PMT position ``R_i`` (cm):

    TOF_i = |R_i - v| / c_eff                        (c_eff = 16.95 cm/ns, DESIGN 2)
    T0    = sum_i (T_raw,i - TOF_i) q_i / sum_i q_i
    tau_i = T_raw,i - TOF_i - T0

All three are computed for every hit of every event at once (no loop over hits
or events).
"""

from __future__ import annotations

import numpy as np

from ..events import Events
from ..geometry import PMTTable
from .config import HitMapConfig
from .vertex import reconstruct_vertex

__all__ = ["event_vertices", "proper_times"]


def event_vertices(events: Events, pmts: PMTTable, config: HitMapConfig | None = None) -> np.ndarray:
    """``(N, 3) float64`` the vertex used for the time of flight, cm (``config.vertex``)."""
    config = config or HitMapConfig()
    mode = config.vertex
    if mode == "truth":
        return events.true_vertex_cm.astype(np.float64)
    if mode == "file":
        return events.vertex_cm.astype(np.float64)
    centroid = reconstruct_vertex(events, pmts, config.attenuation_cm)
    if mode == "centroid":
        return centroid
    stored = events.vertex_cm.astype(np.float64)
    have = np.isfinite(stored).all(1)
    return np.where(have[:, None], stored, centroid)


def proper_times(events: Events, pmts: PMTTable, config: HitMapConfig | None = None,
                 vertices_cm: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Proper hit times ``tau`` ``(H,) float32`` ns and the per-event ``T0`` ``(N,) float64`` ns.

    ``vertices_cm`` ``(N, 3)`` overrides the vertex choice of ``config``.
    Events without charge get ``T0 = 0``.
    """
    config = config or HitMapConfig()
    v = event_vertices(events, pmts, config) if vertices_cm is None else np.asarray(vertices_cm, np.float64)
    ev = events.event_index()
    d = np.linalg.norm(pmts.xyz_cm[events.pmt.astype(np.int64)] - v[ev], axis=1)
    t_minus_tof = events.t_ns.astype(np.float64) - d / config.c_light_cm_per_ns
    q = events.q_pe.astype(np.float64)
    n = len(events)
    qs = np.bincount(ev, q, minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        t0 = np.bincount(ev, q * t_minus_tof, minlength=n) / qs
    t0[~(qs > 0)] = 0.0
    return (t_minus_tof - t0[ev]).astype(np.float32), t0

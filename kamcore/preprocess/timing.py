"""Proper hit time: time-of-flight and T0 corrections (KamNet paper, eqs. 1-2).

For hit ``i`` of an event with vertex ``v`` (cm) on PMT position ``R_i`` (cm):

    TOF_i = |R_i - v| / c_eff                        (c_eff = 16.95 cm/ns, DESIGN 2)
    T0    = sum_i (T_raw,i - TOF_i) q_i / sum_i q_i
    tau_i = T_raw,i - TOF_i - T0

All three are computed for every hit of every event at once (no loop over hits
or events).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..events import Events, segment_sum
from ..geometry import PMTTable
from .config import HitMapConfig
from .vertex import reconstruct_vertex

__all__ = ["event_vertices", "reconstruct_vertices", "vertex_method", "proper_times", "time_slice", "with_vertex",
           "time_slice_edges"]


def vertex_method(config: HitMapConfig | None = None) -> str:
    """The identity of ``config.vertex`` stored beside a vertex it made (``Events.attrs["vertex_method"]``).

    ``"fit:<digest>"`` names the fit's configuration (:func:`~kamcore.preprocess.vertexfit.vertex_fit_digest`).

    >>> vertex_method(HitMapConfig(vertex="centroid"))
    'centroid'
    """
    from .vertexfit import vertex_fit_digest

    mode = (config or HitMapConfig()).vertex
    return f"fit:{vertex_fit_digest()}" if mode == "fit" else mode


def reconstruct_vertices(events: Events, pmts: PMTTable, method: str = "fit",
                         attenuation_cm: float = 1200.0) -> np.ndarray:
    """``(N, 3) float64`` vertices from the hits alone: ``method`` ``"fit"`` (time likelihood) or ``"centroid"``."""
    centroid = reconstruct_vertex(events, pmts, attenuation_cm)
    if method == "centroid":
        return centroid
    if method != "fit":
        raise ValueError(f"method must be 'fit' or 'centroid', got {method!r}")
    from .vertexfit import fit_vertex

    return fit_vertex(events, pmts, start_cm=centroid).vertex_cm


def event_vertices(events: Events, pmts: PMTTable, config: HitMapConfig | None = None) -> np.ndarray:
    """``(N, 3) float64`` the vertex used for the time of flight, cm (``config.vertex``).

    ``fit`` and ``centroid`` reuse the stored ``vertex_cm`` only when
    ``events.attrs["vertex_method"]`` says this same method (and fit configuration)
    made it and every stored vertex is finite; otherwise they recompute it from the
    hits, so a file reconstructed another way is never mixed in.
    """
    config = config or HitMapConfig()
    mode = config.vertex
    if mode == "truth":
        return events.true_vertex_cm.astype(np.float64)
    if mode == "file":
        return events.vertex_cm.astype(np.float64)
    stored = events.vertex_cm.astype(np.float64)
    if events.attrs.get("vertex_method") == vertex_method(config) and np.isfinite(stored).all():
        return stored
    return reconstruct_vertices(events, pmts, mode, config.attenuation_cm)


def with_vertex(events: Events, pmts: PMTTable, config: HitMapConfig | None = None) -> Events:
    """``events`` with ``vertex_cm`` (float32, cm) from ``config.vertex`` and ``attrs["vertex_method"]`` set.

    What :func:`kamcore.cli` ``simulate`` and :mod:`kamcore.runs` store in run files, so
    that later hit maps of the same method reuse the vertex instead of fitting again.
    """
    config = config or HitMapConfig()
    v = event_vertices(events, pmts, config).astype(np.float32)
    return dataclasses.replace(events, vertex_cm=v, attrs={**events.attrs, "vertex_method": vertex_method(config)})


def proper_times(events: Events, pmts: PMTTable, config: HitMapConfig | None = None,
                 vertices_cm: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Proper hit times ``tau`` ``(H,) float32`` ns and the per-event ``T0`` ``(N,) float64`` ns.

    ``vertices_cm`` ``(N, 3)`` overrides the vertex choice of ``config``.
    Events without charge get ``T0 = 0``.  Events whose ``attrs["time_reference"]`` is
    ``"proper"`` (generator output) already hold proper times and are returned as they are.
    """
    config = config or HitMapConfig()
    if events.attrs.get("time_reference") == "proper":  # generator output: times are proper times already
        return events.t_ns.astype(np.float32), np.zeros(len(events))
    v = event_vertices(events, pmts, config) if vertices_cm is None else np.asarray(vertices_cm, np.float64)
    counts = events.hits_per_event
    idx = events.pmt.astype(np.intp)
    # |R - v|^2 = |R|^2 + |v|^2 - 2 R.v, with 1-D gathers per coordinate (no (H, 3) temporaries)
    d2 = np.repeat((v * v).sum(1), counts) + pmts.r2_cm2[idx]
    for k in range(3):
        d2 -= 2.0 * pmts.xyz_rows_cm[k][idx] * np.repeat(v[:, k], counts)
    d = np.sqrt(np.maximum(d2, 0.0))
    t_minus_tof = events.t_ns.astype(np.float64)
    t_minus_tof -= d / config.c_light_cm_per_ns
    q = events.q_pe.astype(np.float64)
    qs = segment_sum(q, events.offsets)
    with np.errstate(invalid="ignore", divide="ignore"):
        t0 = segment_sum(q * t_minus_tof, events.offsets) / qs
    t0[~(qs > 0)] = 0.0
    t_minus_tof -= np.repeat(t0, counts)
    return t_minus_tof.astype(np.float32), t0


def time_slice_edges(config: HitMapConfig | None = None) -> np.ndarray:
    """``(T+1,) float64`` edges of the hit-map time slices, ns: ``t_min + k * width``."""
    config = config or HitMapConfig()
    return config.t_min_ns + config.bin_width_ns * np.arange(config.n_time_bins + 1, dtype=np.float64)


def time_slice(tau_ns: np.ndarray, config: HitMapConfig | None = None) -> np.ndarray:
    """``(H,) int64`` time slice of each proper hit time ``tau_ns (H,)`` ns.

    ``k = floor((tau - t_min) / width)`` clipped to ``[0, T-1]``: earlier hits go to
    slice 0, later ones to the last slice (NaN to slice 0), as in the hit maps.

    >>> time_slice(np.array([-30.0, -20.0, 0.0, 100.0]))
    array([ 0,  0, 13, 27])
    """
    config = config or HitMapConfig()
    k = np.floor((np.asarray(tau_ns, np.float64) - config.t_min_ns) / config.bin_width_ns)
    return np.clip(np.nan_to_num(k, nan=0.0), 0, config.n_time_bins - 1).astype(np.int64)

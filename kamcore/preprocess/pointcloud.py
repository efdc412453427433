"""1879-PMT point clouds for the generative models (generative-models paper, sec. 2).

Every event becomes one row per PMT, ``(P, 5) = [x, y, z, t, q]`` with a trigger bit:

* a PMT is *triggered* when it has a hit with ``|tau| <= 30 ns`` (proper time,
  :func:`~kamcore.preprocess.proper_times`) and charge ``>= 0.3 p.e.``;
* triggered rows hold the PMT position (cm), ``tau`` (ns) and ``q`` (p.e.);
* untriggered rows sit at the origin with ``t = q = 0`` (the "concentric double
  sphere" of DESIGN 4).

Rescaling of ``t`` and ``q`` for training belongs to the generator model, which
keeps its inverse transform.
"""

from __future__ import annotations

import numpy as np

from ..events import Events
from ..geometry import PMTTable, default_pmt_table
from .config import HitMapConfig
from .timing import proper_times

__all__ = ["point_clouds"]


def point_clouds(events: Events, pmts: PMTTable | None = None,
                 config: HitMapConfig | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Point clouds of all events.

    Returns
    -------
    points : (N, P, 5) float32
        ``[x_cm, y_cm, z_cm, t_ns, q_pe]``; zeros for untriggered PMTs.
    trigger : (N, P) bool
    """
    pmts = pmts or default_pmt_table()
    config = config or HitMapConfig()
    n, p = len(events), len(pmts)
    tau, _ = proper_times(events, pmts, config)
    keep = (np.abs(tau) <= config.cloud_window_ns) & (events.q_pe >= config.cloud_threshold_pe)
    ev = events.event_index()[keep]
    pmt = events.pmt[keep].astype(np.int64)
    points = np.zeros((n, p, 5), np.float32)
    trigger = np.zeros((n, p), bool)
    trigger[ev, pmt] = True
    points[ev, pmt, :3] = pmts.xyz_cm[pmt]
    points[ev, pmt, 3] = tau[keep]
    points[ev, pmt, 4] = events.q_pe[keep]
    return points, trigger

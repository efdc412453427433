"""What the shift crew sees of one event: its hit PMTs, proper hit times, time slices and hit map.

Computed here so that a display (the dashboard, a notebook) only draws.  For the first
event of a batch:

* proper hit times ``tau_i = t_i - |x_pmt(i) - v| / c_eff - T0`` in ns
  (:func:`kamcore.preprocess.proper_times`: vertex ``v`` and effective light speed
  ``c_eff`` from the :class:`~kamcore.preprocess.HitMapConfig`, ``T0`` the charge-weighted
  mean of ``t - TOF``); a live event brings the ones the producer stored, generator
  output is already in proper time;
* per hit PMT ``p`` its first proper time ``min_{i in p} tau_i`` (ns) and summed charge
  ``sum_{i in p} q_i`` (p.e.) -- one marker per PMT on the sphere;
* hits per time slice ``k = floor((tau - t_min) / width)`` clipped to ``[0, T-1]``
  (:func:`kamcore.preprocess.time_slice`: slice 0 and ``T-1`` hold every earlier and later hit);
* the ``(T, 2b, 2b)`` hit map the classifier reads (:func:`kamcore.preprocess.hitmaps`, hits per cell).

``T`` is ``n_time_bins`` and ``2b`` the grid size of the configuration (28 and 38 by default).

>>> g = display_grid()
>>> g.n_slices, g.size, g.slice_edges_ns.shape
(28, 38, (29,))
"""

from __future__ import annotations

import dataclasses

import numpy as np

__all__ = ["DisplayGrid", "DisplayEvent", "display_grid", "display_event"]


@dataclasses.dataclass(frozen=True, eq=False)
class DisplayGrid:
    """The hit-map geometry events are shown on.

    Attributes
    ----------
    config : the :class:`~kamcore.preprocess.HitMapConfig` of the maps
    n_slices : T, time slices per map
    size : 2b, cells per side of the (theta, phi) grid
    slice_edges_ns : (T+1,) float64, edges of the time slices, ns of proper time
    """

    config: object
    n_slices: int
    size: int
    slice_edges_ns: np.ndarray


@dataclasses.dataclass(frozen=True, eq=False)
class DisplayEvent:
    """One event as it is drawn (module docstring).

    Attributes
    ----------
    run, event_id : int
    tau_ns : (n,) float32, proper time of every hit, ns
    pmt : (K,) int64, the hit PMTs in increasing order
    t_first_ns : (K,) float64, first proper hit time of each hit PMT, ns
    q_pe : (K,) float64, summed charge of each hit PMT, p.e.
    slice_counts : (T,) int64, hits per time slice
    maps : (T, 2b, 2b) float32 hits per cell, or None when not asked for
    """

    run: int
    event_id: int
    tau_ns: np.ndarray
    pmt: np.ndarray
    t_first_ns: np.ndarray
    q_pe: np.ndarray
    slice_counts: np.ndarray
    maps: np.ndarray | None


def display_grid(config=None) -> DisplayGrid:
    """The :class:`DisplayGrid` of ``config`` (default :class:`~kamcore.preprocess.HitMapConfig`)."""
    from ..preprocess import HitMapConfig, time_slice_edges

    config = config or HitMapConfig()
    return DisplayGrid(config, int(config.n_time_bins), 2 * int(config.bandwidth), time_slice_edges(config))


def display_event(ev, *, tau_ns: np.ndarray | None = None, pmts=None, config=None, maps: bool = True) -> DisplayEvent:
    """The first event of ``ev`` as it is drawn (module docstring).

    Parameters
    ----------
    ev : LiveEvents (proper times in ``ev.tau_ns``) or :class:`kamcore.Events`
    tau_ns : (n,) float32, optional
        Proper times of the event's hits (ns); default those of a LiveEvents, else computed here.
    pmts : PMTTable, optional (default :func:`kamcore.geometry.default_pmt_table`)
    config : HitMapConfig, optional (time slices, grid, vertex and light speed of the time of flight)
    maps : also build the hit map (:attr:`DisplayEvent.maps`)
    """
    from ..geometry import default_pmt_table
    from ..preprocess import HitMapConfig, hitmaps, proper_times, time_slice

    config = config or HitMapConfig()
    pmts = pmts if pmts is not None else default_pmt_table()
    events = getattr(ev, "events", ev)
    one = events.take([0]) if len(events) > 1 else events
    n = int(one.hits_per_event[0])
    if tau_ns is None:
        tau_ns = getattr(ev, "tau_ns", None)
    tau = (proper_times(one, pmts, config)[0] if tau_ns is None else np.asarray(tau_ns, np.float32))[:n]
    pmt = one.pmt[:n].astype(np.int64)
    t = np.asarray(tau, np.float64)
    q = one.q_pe[:n].astype(np.float64)
    # a PMT hit several times: its first hit time and its summed charge
    order = np.lexsort((t, pmt))
    pmt, t, q = pmt[order], t[order], q[order]
    first = np.r_[True, pmt[1:] != pmt[:-1]] if n else np.zeros(0, bool)
    qsum = np.add.reduceat(q, np.flatnonzero(first)) if n else q
    T = int(config.n_time_bins)
    counts = np.bincount(time_slice(tau, config), minlength=T)[:T]
    image = hitmaps(one, pmts, config)[0] if maps else None
    return DisplayEvent(int(one.run[0]), int(one.event_id[0]), np.asarray(tau, np.float32), pmt[first], t[first],
                        qsum, counts, image)

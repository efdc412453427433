"""Spatiotemporal hit maps: the ``(T, 2b, 2b) = (28, 38, 38)`` input of KamNet.

Hit ``i`` goes to time bin ``k = floor((tau_i - t_min) / w)`` clipped to ``0..T-1``
(bin 0 also takes earlier hits, bin T-1 later ones; DESIGN 4: ``t_min = -20 ns``,
``w = 1.5 ns``, ``T = 28``) and to the (theta, phi) cell of its PMT on the
bandwidth-19 grid (:class:`kamcore.geometry.SphericalGrid`).  The cell value is
the number of hits (``value="count"``) or the summed charge in p.e.
(``value="charge"``).  ``Nhit`` is the number of non-zero cells of a map.

Maps are built by one ``bincount`` over flat indices for a whole batch; the
sparse form (:func:`sparse_hitmaps`) lets datasets keep ~350 numbers per event
instead of 40,432 and densify per mini-batch.
"""

from __future__ import annotations

import numpy as np

from ..events import Events
from ..geometry import PMTTable, SphericalGrid, default_pmt_table
from .config import HitMapConfig
from .timing import proper_times

__all__ = ["SparseHitMaps", "sparse_hitmaps", "hitmaps", "nhit"]


class SparseHitMaps:
    """Hit maps in coordinate form: per event, the flat cell indices and values.

    Attributes
    ----------
    offsets : (N+1,) int64
    cell : (K,) int32, flat index ``t * (2b)^2 + j * 2b + k`` into one map
    value : (K,) float32
    shape : ``(T, 2b, 2b)``
    """

    def __init__(self, offsets: np.ndarray, cell: np.ndarray, value: np.ndarray, shape: tuple[int, int, int]):
        self.offsets, self.cell, self.value, self.shape = offsets, cell, value, tuple(shape)

    def __len__(self) -> int:
        return len(self.offsets) - 1

    @property
    def nhit(self) -> np.ndarray:
        """``(N,) int64`` non-zero cells per event."""
        return np.diff(self.offsets)

    def dense(self, idx: np.ndarray | slice | None = None) -> np.ndarray:
        """``(n, T, 2b, 2b) float32`` dense maps of events ``idx`` (all by default)."""
        idx = np.arange(len(self))[idx if idx is not None else slice(None)]
        size = int(np.prod(self.shape))
        out = np.zeros((len(idx), size), np.float32)
        starts, stops = self.offsets[idx], self.offsets[np.asarray(idx) + 1]
        lengths = stops - starts
        row = np.repeat(np.arange(len(idx)), lengths)
        pos = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths) + np.repeat(starts, lengths)
        out[row, self.cell[pos]] = self.value[pos]
        return out.reshape(len(idx), *self.shape)


def _hit_cells(events: Events, pmts: PMTTable, config: HitMapConfig) -> tuple[np.ndarray, np.ndarray]:
    grid = SphericalGrid(config.bandwidth)
    pmt_cell = grid.flat_cell_of(pmts.theta, pmts.phi)
    tau, _ = proper_times(events, pmts, config)
    k = np.floor((tau - config.t_min_ns) / config.bin_width_ns)
    k = np.clip(np.nan_to_num(k, nan=0.0), 0, config.n_time_bins - 1).astype(np.int64)
    cell = k * (grid.n_theta * grid.n_phi) + pmt_cell[events.pmt.astype(np.int64)]
    value = np.ones(events.n_hits, np.float64) if config.value == "count" else events.q_pe.astype(np.float64)
    return cell, value


def sparse_hitmaps(events: Events, pmts: PMTTable | None = None, config: HitMapConfig | None = None) -> SparseHitMaps:
    """Hit maps of all events in sparse form (see :class:`SparseHitMaps`)."""
    pmts = pmts or default_pmt_table()
    config = config or HitMapConfig()
    size = config.n_time_bins * (2 * config.bandwidth) ** 2
    cell, value = _hit_cells(events, pmts, config)
    key = events.event_index() * size + cell
    uniq, inv = np.unique(key, return_inverse=True)
    summed = np.bincount(inv, value, minlength=len(uniq)).astype(np.float32)
    ev = uniq // size
    offsets = np.zeros(len(events) + 1, np.int64)
    np.cumsum(np.bincount(ev, minlength=len(events)), out=offsets[1:])
    shape = (config.n_time_bins, 2 * config.bandwidth, 2 * config.bandwidth)
    return SparseHitMaps(offsets, (uniq % size).astype(np.int32), summed, shape)


def hitmaps(events: Events, pmts: PMTTable | None = None, config: HitMapConfig | None = None) -> np.ndarray:
    """``(N, T, 2b, 2b) float32`` dense hit maps (DESIGN 4 defaults: ``(N, 28, 38, 38)``)."""
    pmts = pmts or default_pmt_table()
    config = config or HitMapConfig()
    size = config.n_time_bins * (2 * config.bandwidth) ** 2
    cell, value = _hit_cells(events, pmts, config)
    flat = np.bincount(events.event_index() * size + cell, value, minlength=len(events) * size)
    return flat.astype(np.float32).reshape(len(events), config.n_time_bins, 2 * config.bandwidth,
                                           2 * config.bandwidth)


def nhit(maps: np.ndarray) -> np.ndarray:
    """``(N,) int64`` number of non-zero cells of each map ``(N, ...)``."""
    maps = np.asarray(maps)
    return np.count_nonzero(maps.reshape(len(maps), -1), axis=1).astype(np.int64)

"""Labelled hit-map datasets for the classifiers.

Events are turned into sparse hit maps once (:func:`kamcore.preprocess.sparse_hitmaps`,
~350 numbers per event instead of 40,432) and densified per mini-batch, so a
training set of 10^5 events fits in a few hundred MB.  Signal and background are
Nhit-matched (KamNet paper, sec. VI) before the 7:3 split, so neither the training
nor the held-out set can be separated by Nhit alone; the split is by event, seeded,
and every event keeps its source, run and event id for the per-source tables.
"""

from __future__ import annotations

import dataclasses
from typing import Iterator

import numpy as np
import torch

from ..events import Events
from ..geometry import PMTTable, default_pmt_table
from ..preprocess import HitMapConfig, SparseHitMaps, match_nhit, sparse_hitmaps

__all__ = ["HitMapSet", "hitmap_set", "labelled_set", "iterate_batches"]

_CHUNK = 2048  # events per preprocessing chunk (bounds peak memory)


@dataclasses.dataclass
class HitMapSet:
    """Sparse hit maps with a label and the identity of every event.

    Attributes
    ----------
    maps : SparseHitMaps (N events)
    label : (N,) float32, 1 = signal, 0 = background
    source : (N,) object (str)
    run : (N,) int32
    event_id : (N,) int64
    energy_mev : (N,) float32
    """

    maps: SparseHitMaps
    label: np.ndarray
    source: np.ndarray
    run: np.ndarray
    event_id: np.ndarray
    energy_mev: np.ndarray

    def __len__(self) -> int:
        return len(self.maps)

    @property
    def nhit(self) -> np.ndarray:
        return self.maps.nhit

    def take(self, idx) -> "HitMapSet":
        idx = np.arange(len(self))[idx] if isinstance(idx, slice) else np.asarray(idx)
        if idx.dtype == bool:
            idx = np.flatnonzero(idx)
        return HitMapSet(self.maps.take(idx), self.label[idx], self.source[idx], self.run[idx], self.event_id[idx],
                         self.energy_mev[idx])

    @classmethod
    def concat(cls, parts: list["HitMapSet"]) -> "HitMapSet":
        return cls(SparseHitMaps.concat([p.maps for p in parts]),
                   *(np.concatenate([getattr(p, f) for p in parts])
                     for f in ("label", "source", "run", "event_id", "energy_mev")))

    def split(self, train_fraction: float, rng: np.random.Generator) -> tuple["HitMapSet", "HitMapSet"]:
        """Random ``train_fraction : 1 - train_fraction`` split by event (paper: 7:3)."""
        perm = rng.permutation(len(self))
        k = int(round(train_fraction * len(self)))
        return self.take(np.sort(perm[:k])), self.take(np.sort(perm[k:]))


def hitmap_set(events: Events, label: float, pmts: PMTTable | None = None,
               config: HitMapConfig | None = None) -> HitMapSet:
    """Sparse hit maps of ``events``, all with ``label``."""
    pmts = pmts or default_pmt_table()
    maps = SparseHitMaps.concat([sparse_hitmaps(events.take(slice(a, a + _CHUNK)), pmts, config)
                                 for a in range(0, max(len(events), 1), _CHUNK)])
    n = len(events)
    return HitMapSet(maps, np.full(n, label, np.float32), events.source.copy(), events.run.copy(),
                     events.event_id.copy(), events.energy_mev.copy())


def labelled_set(signal: HitMapSet, background: HitMapSet, rng: np.random.Generator, *,
                 nhit_matching: bool = True, signal_groups: np.ndarray | None = None) -> HitMapSet:
    """Signal (label 1) and background (label 0), Nhit-matched unless ``nhit_matching=False``."""
    signal = dataclasses.replace(signal, label=np.ones(len(signal), np.float32))
    background = dataclasses.replace(background, label=np.zeros(len(background), np.float32))
    if nhit_matching:
        i_s, i_b = match_nhit(signal.nhit, background.nhit, rng, signal_groups=signal_groups)
        signal, background = signal.take(i_s), background.take(i_b)
    return HitMapSet.concat([signal, background])


def iterate_batches(data: HitMapSet, batch_size: int, *, shuffle: bool = False,
                    rng: np.random.Generator | None = None, device: torch.device | str = "cpu",
                    dtype: torch.dtype = torch.float32, drop_last: bool = False
                    ) -> Iterator[tuple[torch.Tensor, torch.Tensor, np.ndarray]]:
    """Yield ``(maps (B, T, H, W), labels (B,), indices (B,))`` mini-batches on ``device``."""
    order = (rng or np.random.default_rng()).permutation(len(data)) if shuffle else np.arange(len(data))
    stop = len(order) - (len(order) % batch_size if drop_last else 0)
    for a in range(0, stop, batch_size):
        idx = order[a:a + batch_size]
        if len(idx) == 0:
            break
        x = torch.from_numpy(data.maps.dense(idx)).to(device=device, dtype=dtype)
        y = torch.from_numpy(data.label[idx]).to(device=device, dtype=dtype)
        yield x, y, idx

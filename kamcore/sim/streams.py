"""Block random streams: reproducible draws that do not depend on the batch size.

Decay ``i`` of a simulation with seed ``s`` belongs to block ``k = i // B``
(``B = BLOCK_SIZE = 64`` decays, fixed).  Every random number that concerns a
decay of block ``k`` -- its vertex, particles, Compton scatters, photo-electrons
-- is drawn from the block's own generator

    G_k = numpy.random.default_rng(SeedSequence(s, spawn_key=(0, k))),

(the ``k``-th child of the ``0`` branch of the seed's spawn tree; branch ``1``
drives the event timestamps).  A batch holds whole blocks and vectorises over all of them: each
draw takes ``ev``, the (sorted) batch-local decay index of every requested value,
and fills the values of block ``b`` from ``G_b`` in order.  The numbers an event
receives therefore depend only on ``s`` and on its block, never on how many
blocks are processed together, so ``simulate(..., batch_size=...)`` returns
identical arrays for any batch size.

>>> a = BlockStreams(7, first_block=0, n_blocks=2).random()
>>> b = np.concatenate([BlockStreams(7, first_block=k, n_blocks=1).random() for k in (0, 1)])
>>> bool(np.array_equal(a, b))
True
"""

from __future__ import annotations

import numpy as np

__all__ = ["BlockStreams", "BLOCK_SIZE", "seed_sequence"]

BLOCK_SIZE = 64  #: decays per random block (fixed: changing it changes every simulated event)


def seed_sequence(seed: int, *key: int) -> np.random.SeedSequence:
    """The child ``SeedSequence(seed, spawn_key=key)`` (``key = (0, k)`` for block ``k``)."""
    return np.random.SeedSequence(int(seed), spawn_key=tuple(int(k) for k in key))


class BlockStreams:
    """One generator per block of :data:`BLOCK_SIZE` decays, with block-aware draws.

    Parameters
    ----------
    seed : int
        Simulation seed (>= 0).
    first_block : int
        Global index of the first block of this batch.
    n_blocks : int
        Number of blocks in the batch; batch-local decay indices run over
        ``0 .. n_blocks * BLOCK_SIZE - 1``.

    Notes
    -----
    Every method takes ``ev``: ``(K,) int64`` non-decreasing batch-local decay
    indices, one per value to draw (``None`` = one value per decay).  Values are
    returned in the order of ``ev``.
    """

    def __init__(self, seed: int, first_block: int, n_blocks: int):
        self.seed = int(seed)
        self.first_block = int(first_block)
        self.n_blocks = int(n_blocks)
        self.generators = [np.random.default_rng(seed_sequence(self.seed, 0, self.first_block + b))
                           for b in range(self.n_blocks)]

    @property
    def n_decays(self) -> int:
        """Decays in the batch, ``n_blocks * BLOCK_SIZE``."""
        return self.n_blocks * BLOCK_SIZE

    def bounds(self, ev: np.ndarray | None) -> np.ndarray:
        """``(n_blocks + 1,) int64``: the values of block ``b`` are ``ev[bounds[b]:bounds[b + 1]]``.

        ``ev`` must be sorted (the class contract), so the bounds come from the
        block edges by binary search, ``O(n_blocks log K)`` instead of a pass over
        ``ev`` on every draw.  Sortedness is only spot-checked (about 256 evenly
        spaced values and the ends): an unsorted ``ev`` that passes gives wrong
        blocks silently.
        """
        edges = np.arange(self.n_blocks + 1, dtype=np.int64) * BLOCK_SIZE
        if ev is None:
            return edges
        ev = np.asarray(ev)
        if len(ev):
            sample = ev[::max(1, len(ev) // 256)]
            assert sample[0] >= 0 and ev[-1] < edges[-1] and bool(np.all(sample[1:] >= sample[:-1])), \
                "ev must be sorted batch-local decay indices"
        return np.searchsorted(ev, edges)

    def counts(self, ev: np.ndarray | None) -> np.ndarray:
        """``(n_blocks,) int64`` how many of ``ev`` fall in each block (``ev`` sorted, see :meth:`bounds`)."""
        return np.diff(self.bounds(ev))

    def segments(self, ev: np.ndarray | None) -> list[tuple[np.random.Generator, slice]]:
        """``(generator, slice of ev)`` for every block that owns some of ``ev`` (for per-block work)."""
        bounds = self.bounds(ev).tolist()
        return [(g, slice(a, b)) for g, a, b in zip(self.generators, bounds[:-1], bounds[1:]) if b > a]

    def _draw(self, method: str, ev, shape: tuple, **kw) -> np.ndarray:
        parts = [getattr(g, method)(size=(int(c), *shape), **kw)
                 for g, c in zip(self.generators, self.counts(ev)) if c]
        if not parts:
            return np.zeros((0, *shape))
        return np.concatenate(parts) if len(parts) > 1 else parts[0]

    def _fill(self, method: str, ev, shape: tuple) -> np.ndarray:
        """Like :meth:`_draw` for float draws, each generator writing straight into its rows (no concatenate)."""
        bounds = self.bounds(ev).tolist()
        out = np.empty((bounds[-1], *shape))
        for g, a, b in zip(self.generators, bounds[:-1], bounds[1:]):
            if b > a:
                getattr(g, method)(out=out[a:b])
        return out

    def random(self, ev=None, shape: tuple = ()) -> np.ndarray:
        """Uniform floats in [0, 1), shape ``(K, *shape)``."""
        return self._fill("random", ev, shape)

    def standard_normal(self, ev=None, shape: tuple = ()) -> np.ndarray:
        """Standard normal floats, shape ``(K, *shape)``."""
        return self._fill("standard_normal", ev, shape)

    def standard_exponential(self, ev=None, shape: tuple = ()) -> np.ndarray:
        """Exponential floats with mean 1, shape ``(K, *shape)``."""
        return self._fill("standard_exponential", ev, shape)

    def integers(self, high: int, ev=None, shape: tuple = ()) -> np.ndarray:
        """Integers uniform in ``[0, high)``, int64, shape ``(K, *shape)``."""
        out = self._draw("integers", ev, shape, low=0, high=int(high))
        return out.astype(np.int64, copy=False)

    def poisson(self, lam: np.ndarray, ev=None) -> np.ndarray:
        """Poisson counts with means ``lam`` ``(K, ...)`` (row ``i`` belongs to ``ev[i]``), int64."""
        lam = np.asarray(lam, dtype=np.float64)
        if ev is None and len(lam) != self.n_decays:
            raise ValueError(f"lam has {len(lam)} rows, expected {self.n_decays}")
        bounds = self.bounds(ev).tolist()
        parts = [g.poisson(lam[a:b]) for g, a, b in zip(self.generators, bounds[:-1], bounds[1:]) if b > a]
        if not parts:
            return np.zeros(lam.shape, np.int64)
        return np.concatenate(parts).astype(np.int64, copy=False)

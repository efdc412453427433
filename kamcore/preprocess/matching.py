"""Nhit matching of a signal and a background sample (KamNet paper, sec. VI).

Both samples are resampled to the overlap of their Nhit distributions: for every
Nhit value ``h`` (or bin of width ``bin_width``), ``min(n_sig(h), n_bkg(h))`` events
are drawn from each sample at random without replacement.  When the signal is the
union of several groups (the three excited states), the signal draw at each ``h``
is divided as equally among the groups as their counts allow.  The classifier
then cannot separate the samples by Nhit alone.
"""

from __future__ import annotations

import numpy as np

__all__ = ["match_nhit"]


def match_nhit(nhit_signal: np.ndarray, nhit_background: np.ndarray, rng: np.random.Generator, *,
               bin_width: int = 1, signal_groups: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the matched events ``(idx_signal, idx_background)``, both sorted int64.

    Parameters
    ----------
    nhit_signal, nhit_background : (Ns,), (Nb,) int
        Nhit of every event of each sample.
    rng : numpy Generator (explicit, for reproducibility)
    bin_width : int
        Width of the Nhit bins that are matched (1 = every Nhit value).
    signal_groups : (Ns,) int, optional
        Group label of each signal event; the signal draw per bin is split equally.

    The two returned index arrays have the same length, and the matched samples
    have identical histograms of ``nhit // bin_width``.
    """
    hs = np.asarray(nhit_signal, np.int64) // bin_width
    hb = np.asarray(nhit_background, np.int64) // bin_width
    groups = np.zeros(len(hs), np.int64) if signal_groups is None else np.asarray(signal_groups)
    labels = np.unique(groups)
    sel_s, sel_b = [], []
    for h in np.intersect1d(hs, hb):  # loop over Nhit values, not events
        bkg = np.flatnonzero(hb == h)
        per_group = [np.flatnonzero((hs == h) & (groups == g)) for g in labels]
        n = min(sum(len(p) for p in per_group), len(bkg))
        # fill groups round-robin: equal shares, then the remainder from the larger groups
        take = np.zeros(len(labels), np.int64)
        left = n
        while left > 0:
            room = np.array([len(p) for p in per_group]) - take
            open_ = np.flatnonzero(room > 0)
            share = max(left // len(open_), 1)
            for g in open_:
                add = min(share, room[g], left)
                take[g] += add
                left -= add
                if left == 0:
                    break
        for g, p in enumerate(per_group):
            if take[g]:
                sel_s.append(rng.choice(p, take[g], replace=False))
        sel_b.append(rng.choice(bkg, n, replace=False))
    cat = lambda parts: np.sort(np.concatenate(parts)).astype(np.int64) if parts else np.zeros(0, np.int64)  # noqa: E731
    return cat(sel_s), cat(sel_b)

"""Nhit matching of a signal and a background sample (KamNet paper, sec. VI).

Both samples are resampled to the overlap of their Nhit distributions: for every
Nhit value ``h`` (or bin of width ``bin_width``), ``min(n_sig(h), n_bkg(h))`` events
are drawn from each sample at random without replacement.  When the signal is the
union of several groups (the three excited states), the signal draw at each ``h``
is divided as equally among the groups as their counts allow.  The classifier
then cannot separate the samples by Nhit alone.

For evaluation, :func:`nhit_weights` does the same without throwing events away:
each event of a sample gets the weight ``p_ref(h) / p_sample(h)`` of its Nhit bin,
so the weighted sample has the reference's Nhit distribution (zero weight where
the sample has no events of the reference or the reference none of the sample).
"""

from __future__ import annotations

import numpy as np

__all__ = ["match_nhit", "nhit_weights"]


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


def nhit_weights(nhit_reference: np.ndarray, nhit_sample: np.ndarray, *, bins: int = 20,
                 quantiles: tuple[float, float] = (0.005, 0.995)) -> tuple[np.ndarray, float]:
    """Weights that give ``nhit_sample`` the Nhit distribution of ``nhit_reference``.

    Bins: ``bins`` equal-width bins between the ``quantiles`` of the reference
    (the tails outside carry weight 0).  In bin ``k`` with reference fraction
    ``r_k`` and ``n_k`` sample events, each of them weighs ``r_k / n_k``
    (weights sum to the covered reference fraction; normalise as needed).

    Returns
    -------
    weights : (Ns,) float64
    coverage : float
        Fraction of the reference in bins where the sample has events; below 1,
        part of the reference Nhit range is not represented by the sample.

    >>> w, cov = nhit_weights(np.array([10, 10, 20, 20]), np.array([10, 20, 20, 20, 30]), bins=2,
    ...                       quantiles=(0.0, 1.0))
    >>> w.round(3).tolist(), cov
    ([0.5, 0.167, 0.167, 0.167, 0.0], 1.0)
    """
    ref = np.asarray(nhit_reference, np.float64)
    smp = np.asarray(nhit_sample, np.float64)
    if len(ref) == 0 or len(smp) == 0:
        return np.zeros(len(smp)), 0.0
    lo, hi = np.quantile(ref, quantiles)
    if hi <= lo:
        hi = lo + 1.0
    edges = np.linspace(lo, hi, bins + 1)
    edges[-1] = np.nextafter(edges[-1], np.inf)  # the top value belongs to the last bin
    r = np.histogram(ref, edges)[0] / len(ref)
    n = np.histogram(smp, edges)[0]
    k = np.digitize(smp, edges) - 1
    inside = (k >= 0) & (k < bins)
    per_bin = np.divide(r, n, out=np.zeros(bins), where=n > 0)
    w = np.zeros(len(smp))
    w[inside] = per_bin[k[inside]]
    return w, float(r[n > 0].sum() / max(r.sum(), 1e-300))

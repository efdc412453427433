"""Optical and electronics response: energy deposits -> PMT hits (pmt, time, charge).

Light from every deposit (vectorised over all events of a batch, no loop over hits or events)
---------------------------------------------------------------------------------------------
Deposit ``d`` of an event (energy ``E_d``, MeV, at ``r_d``, time ``t_d``) emits its own
photons: PMT ``p`` receives a Poisson number of photo-electrons with mean

    mu_dp = E_d * Y * qe * f_p(r_d),        mu_p = sum_d mu_dp,

with ``Y = config.light_yield_per_mev`` and ``f_p`` the geometric acceptance of
:func:`kamcore.geometry.acceptance` (photocathode areas from
``PMTTable.photocathode_area_cm2(coverage_17in, coverage_20in)``, attenuation
``config.attenuation_cm``).  The photo-electrons of an event are a Poisson process
on the pairs ``(d, p)`` with intensity ``mu_dp``.  Evaluating ``f`` for every pair
would cost ``D x 1879`` per event (31 deposits for Bi214), so the process is drawn
*exactly* by thinning a cheaper one that dominates it: with ``c`` the
energy-weighted centroid and an upper bound ``M_d >= f_p(r_d) / f_p(c)`` for all
``p``,

    proposals ~ Poisson process with intensity  E_d M_d Y qe f_p(c)
    keep each proposal (d, p) with probability  f_p(r_d) / (M_d f_p(c)) <= 1.

Only ``f(c)`` is tabulated over the PMTs (``(64, P)`` per block); the exact
``f_p(r_d)`` is evaluated once per proposed photo-electron (``O(N)`` per event).
Proposals: ``N' ~ Poisson(sum_p mu'_p)``, split over PMTs by the inverse CDF of
``mu'_p = (sum_d E_d M_d) Y qe f_p(c)``, deposit ``d ~ E_d M_d``.  The bound
(``rho_d = |r_d - c|``, ``a = R_min - |c|``, ``m_d = R_min - |r_d|``, ``R_min`` the
smallest PMT radius) follows from ``proj`` and ``dist`` changing by at most
``rho_d`` between ``c`` and ``r_d``:

    M_d = (1 + rho_d / a) (1 + rho_d / m_d)^3 exp(rho_d / L_att).

Measured with the defaults: 1.00 proposals per kept photo-electron for 0vbb,
1.3 for Bi214 (``tests/sim/test_detector.py`` checks that the kept intensity equals
``sum_d mu_dp`` PMT by PMT).  ``SimConfig.light_model = "centroid"`` instead emits
all light from ``c`` (the point-source approximation, kept for comparisons: the
multi-site pattern then never reaches the PMTs).

Time and charge
---------------
Photo-electron time (ns after the decay) =
``t_d + Exp(rise) + Exp(decay_k) + |R_p - r_d| / 16.95 + N(0, tts_p)``
(decay component ``k`` fast with probability ``fast_fraction``; 16.95 cm/ns is
the effective light speed of DESIGN 2), charge ``N(1, spe_sigma)`` truncated
at 0 (redrawn).  Raw times are ``t + trigger_offset_ns``; photo-electrons outside
``[0, readout_window_ns)`` are lost.  Dark noise: ``Poisson(P * rate * window)``
single-p.e. hits per event on uniform random PMTs, uniform in the window.  A
PMT's hit time is its first photo-electron (sort by PMT, then group minimum
with ``np.minimum.reduceat``), its charge the sum; hits below
``threshold_pe`` are dropped.  Hits come out ordered by event, then PMT id.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..geometry import PMTTable, acceptance
from .config import SimConfig
from .streams import BLOCK_SIZE, BlockStreams
from .transport import Deposits

__all__ = ["Hits", "detect", "expected_pe", "thinning_bound", "C_LS_CM_PER_NS"]

C_LS_CM_PER_NS = 16.95  #: effective light speed in LS for the time of flight (DESIGN 2)
_ACCEPTANCE_CHUNK = 64  #: centroid rows per acceptance call (keeps the (rows, P) temporaries in cache)


@dataclasses.dataclass
class Hits:
    """PMT hits of ``n`` events in list layout (see :class:`kamcore.events.Events`).

    ``offsets (n+1,) int64``, ``pmt (H,) int16``, ``t_ns (H,) float32`` (raw time,
    ns), ``q_pe (H,) float32``; ``n_pe (n,) int64`` signal photo-electrons
    generated per event (before the window and threshold).
    """

    offsets: np.ndarray
    pmt: np.ndarray
    t_ns: np.ndarray
    q_pe: np.ndarray
    n_pe: np.ndarray


def expected_pe(points_cm: np.ndarray, energy_mev: np.ndarray, pmts: PMTTable, config: SimConfig) -> np.ndarray:
    """``(M, P) float64`` mean photo-electrons per PMT for energy ``energy_mev (M,)`` at ``points_cm (M, 3)``."""
    area = pmts.photocathode_area_cm2(config.coverage_17in, config.coverage_20in)
    points_cm = np.asarray(points_cm, np.float64).reshape(-1, 3)
    scale = np.asarray(energy_mev, np.float64) * config.light_yield_per_mev * config.qe
    out = np.empty((len(points_cm), len(pmts)))
    for a in range(0, len(points_cm), _ACCEPTANCE_CHUNK):
        b = a + _ACCEPTANCE_CHUNK
        _expected_pe_into(out[a:b], points_cm[a:b], scale[a:b], pmts, area, config)
    return out


def _expected_pe_into(out, points_cm, scale, pmts, area, config):
    """``out = acceptance(points) * scale[:, None]`` for one chunk, written in place (``out`` C-contiguous)."""
    acceptance(points_cm, pmts, area, config.attenuation_cm, out=out)
    out *= scale[:, None]
    return out


def _spe_charges(ev: np.ndarray, streams: BlockStreams, sigma: float, z: np.ndarray | None = None) -> np.ndarray:
    """Single-p.e. charges ``N(1, sigma)`` truncated at 0 (non-positive values redrawn)."""
    q = 1.0 + sigma * (streams.standard_normal(ev) if z is None else z)
    bad = np.flatnonzero(q <= 0)
    while len(bad):
        q[bad] = 1.0 + sigma * streams.standard_normal(ev[bad])
        bad = bad[q[bad] <= 0]
    return q


def _dot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.einsum("ij,ij->i", a, b)


def _count_pe(centroid, energy, events, streams, pmts, config):
    """Photo-electrons per event and their PMTs, block by block (keeps ``(64, P)`` tables in cache).

    Returns ``n_pe (n,)``, ``row_pe (N,)`` (row of ``events``), ``pmt_pe (N,)``, ordered by row then PMT,
    and ``f_pe (N,)`` the acceptance ``f_p(centroid)`` of each one's PMT.
    """
    n_pmt = len(pmts)
    n_pe = np.zeros(len(events), np.int64)
    rows, pmts_out, f_out = [], [], []
    scale = config.light_yield_per_mev * config.qe
    area = pmts.photocathode_area_cm2(config.coverage_17in, config.coverage_20in)
    mu_buf, cum_buf = np.empty((2, BLOCK_SIZE, n_pmt))  # reused by every block (no fresh (64, P) pages)
    for gen, sl in streams.segments(events):  # one random block at a time
        m = sl.stop - sl.start
        mu = _expected_pe_into(mu_buf[:m], centroid[sl], energy[sl] * config.light_yield_per_mev * config.qe,
                               pmts, area, config)
        cum = np.cumsum(mu, axis=1, out=cum_buf[:m])
        total = cum[:, -1].copy()
        k = gen.poisson(total)
        n_pe[sl] = k
        base = np.concatenate([[0.0], np.cumsum(total)[:-1]])
        cum += base[:, None]
        row = np.repeat(np.arange(len(total)), k)
        u = np.sort(row + gen.random(len(row))) - row  # sorted within each event -> PMTs come out sorted
        target = base[row] + np.clip(u, 0.0, 1.0 - 1e-9) * total[row]
        # inverse CDF row by row: the same comparisons as one search over cum.ravel() (a target of row i
        # can only land past row i's end, i.e. on its last PMT after the clip), but in a cached (P,) row
        pmt = np.empty(len(row), np.int64)
        ends = np.cumsum(k).tolist()
        for i, (a, b) in enumerate(zip([0] + ends[:-1], ends)):
            if b > a:
                pmt[a:b] = cum[i].searchsorted(target[a:b], side="right")
        np.minimum(pmt, n_pmt - 1, out=pmt)
        pmts_out.append(pmt)
        with np.errstate(invalid="ignore", divide="ignore"):
            f_out.append(mu.ravel()[row * n_pmt + pmt] / (energy[sl][row] * scale))
        rows.append(row + sl.start)
    if not rows:
        return n_pe, np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)
    return n_pe, np.concatenate(rows), np.concatenate(pmts_out), np.concatenate(f_out)


def thinning_bound(dep_xyz_cm: np.ndarray, centroid_cm: np.ndarray, r_min_cm: float,
                   attenuation_cm: float) -> np.ndarray:
    """``(D,) float64`` bound ``M_d >= f_p(r_d) / f_p(c)`` over all PMTs (module docstring).

    ``dep_xyz_cm (D, 3)`` deposit positions and ``centroid_cm (D, 3)`` the centroid of
    each deposit's event, cm; ``r_min_cm`` the smallest PMT radius.

    >>> float(thinning_bound(np.zeros((1, 3)), np.zeros((1, 3)), 900.0, 1200.0)[0])
    1.0
    """
    rho = np.linalg.norm(dep_xyz_cm - centroid_cm, axis=1)
    a = np.maximum(r_min_cm - np.linalg.norm(centroid_cm, axis=1), 1e-3)
    m = np.maximum(r_min_cm - np.linalg.norm(dep_xyz_cm, axis=1), 1e-3)
    inv_att = 1.0 / attenuation_cm if np.isfinite(attenuation_cm) else 0.0
    return (1.0 + rho / a) * (1.0 + rho / m) ** 3 * np.exp(rho * inv_att)


def _pair_acceptance(points_cm: np.ndarray, p: np.ndarray, pmts: PMTTable, area_cm2: np.ndarray,
                     inv_att: float, dist2: np.ndarray | None = None) -> np.ndarray:
    """``(K,)`` acceptance ``f_p(r)`` of PMT ``p[k]`` for point ``points_cm[k]`` (:func:`~kamcore.geometry.acceptance`).

    ``dist2`` optionally passes the squared distances ``|R_p - r|^2`` already computed by the caller.
    """
    if dist2 is None:
        v = np.take(pmts.xyz_cm, p, axis=0) - points_cm  # np.take: a row gather several times faster than xyz[p]
        dist2 = _dot(v, v)
    d2 = np.maximum(dist2, 1e-18)
    d = np.sqrt(d2)
    # f = A cos / (4 pi d^2) exp(-d / L), cos = clip((|R| - r.u) / d, 0, 1), built in place in one array
    f = _dot(points_cm, np.take(pmts.unit, p, axis=0))
    np.subtract(pmts.r_cm[p], f, out=f)
    np.divide(f, d, out=f)
    np.clip(f, 0.0, 1.0, out=f)
    np.multiply(area_cm2[p], f, out=f)
    np.multiply(4.0 * np.pi, d2, out=d2)
    np.divide(f, d2, out=f)
    if inv_att:
        np.multiply(d, -inv_att, out=d)  # == (-d) * inv_att bit for bit (the sign is exact)
        f *= np.exp(d, out=d)
    return f


def _choose_deposits(row_pe, events, weight, dstart, dcount, streams) -> np.ndarray:
    """Deposit index of every proposal, ``d ~ weight_d`` within its event (inverse CDF).

    With ``C`` the running sum of ``weight`` over the batch and ``q = C_lo + u (C_hi - C_lo)``
    (``C_lo``, ``C_hi`` the sums before and after the event), ``d`` is the first index with
    ``C_d > q``, kept inside the event.  A binary search over all deposits of the batch costs a
    cache miss per step; instead a guide table gives a lower bound and a short forward scan the
    exact index: cell ``c = floor(u G)`` (``G`` a power of two, so ``c / G <= u`` exactly and
    ``t_c = C_lo + (c / G)(C_hi - C_lo) <= q`` in floating point too) starts at the first index
    with ``C > t_c``, which cannot lie after the answer.  The result is the same index as the
    plain search, bit for bit.
    """
    dep_idx = dstart[row_pe]
    multi = np.flatnonzero(dcount[row_pe] > 1)
    if len(multi) == 0:
        return dep_idx
    r = row_pe[multi]
    cum = np.cumsum(weight)
    before = np.concatenate([[0.0], cum])
    lo = before[dstart]
    span = before[dstart + dcount] - lo  # per event; gathered below (the same hi - lo per proposal)
    u = streams.random(events[r])
    q = lo[r] + u * span[r]
    n_cells = 1 << int(max(int(dcount.max()), 2) - 1).bit_length()  # power of two >= deposits per event
    cell = (u * n_cells).astype(np.int64)  # exact: floor(u G) for a power of two G
    thresholds = lo[:, None] + (np.arange(n_cells) / n_cells)[None, :] * span[:, None]
    guide = np.searchsorted(cum, thresholds.ravel(), side="right")  # keys nearly sorted: fast path
    d = guide[r * n_cells + cell]
    cum_end = np.append(cum, np.inf)  # the scan stops at the end of the batch at the latest
    step = np.flatnonzero(cum_end[d] <= q)
    while len(step):
        d[step] += 1
        step = step[cum_end[d[step]] <= q[step]]
    dep_idx[multi] = np.minimum(d, dstart[r] + dcount[r] - 1)  # d >= dstart[r] already (guide >= event start)
    return dep_idx


def detect(dep: Deposits, events: np.ndarray, streams: BlockStreams, config: SimConfig, pmts: PMTTable) -> Hits:
    """PMT hits of the decays ``events`` (sorted batch-local indices) from their deposits.

    Parameters
    ----------
    dep : Deposits
        Deposits of (at least) the decays in ``events``; others are ignored.
    events : (n,) int64
        Sorted, unique batch-local decay indices to read out.
    streams : BlockStreams
        Random streams of the batch.
    config : SimConfig
    pmts : PMTTable

    Returns
    -------
    Hits
        ``n`` events, hits ordered by event then PMT id.
    """
    events = np.asarray(events, np.int64)
    n, n_pmt = len(events), len(pmts)
    dep = dep.select(events)
    dep_row = np.searchsorted(events, dep.event)
    dcount = np.bincount(dep_row, minlength=n)
    dstart = np.concatenate([[0], np.cumsum(dcount)[:-1]]).astype(np.int64)
    energy = np.bincount(dep_row, dep.e_mev, minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        centroid = np.stack([np.bincount(dep_row, dep.e_mev * dep.xyz_cm[:, k], minlength=n) for k in range(3)],
                            axis=1) / energy[:, None]
    centroid[~(energy > 0)] = 0.0

    dep_centroid = np.take(centroid, dep_row, axis=0)
    if config.light_model == "centroid":  # point-source approximation: all light from c
        emit_xyz = dep_centroid
        bound = np.ones(len(dep))
    else:
        emit_xyz = dep.xyz_cm
        bound = thinning_bound(emit_xyz, dep_centroid, float(pmts.r_cm.min()), config.attenuation_cm)
        bound[dcount[dep_row] == 1] = 1.0  # a lone deposit is the centroid: nothing to thin
    weight = dep.e_mev * bound

    # ---- proposals: N' ~ Poisson(sum mu') per event, PMT by inverse CDF of mu' = (sum E_d M_d) Y qe f(c)
    _, row_pe, pmt_pe, f_c = _count_pe(centroid, np.bincount(dep_row, weight, minlength=n), events, streams,
                                       pmts, config)
    # ---- deposit of each proposal ~ E_d M_d; kept with probability f_p(r_d) / (M_d f_p(c))
    d_pe = _choose_deposits(row_pe, events, weight, dstart, dcount, streams)
    # squared PMT-deposit distance of every proposal, for the thinning and then the time of flight
    v = np.take(pmts.xyz_cm, pmt_pe, axis=0)
    v -= np.take(emit_xyz, d_pe, axis=0)
    dist2 = _dot(v, v)
    del v
    thin = np.flatnonzero(bound[d_pe] > 1.0)
    if len(thin):
        inv_att = 1.0 / config.attenuation_cm if np.isfinite(config.attenuation_cm) else 0.0
        p, d = pmt_pe[thin], d_pe[thin]
        area = pmts.photocathode_area_cm2(config.coverage_17in, config.coverage_20in)
        f_d = _pair_acceptance(np.take(emit_xyz, d, axis=0), p, pmts, area, inv_att, dist2[thin])
        drop = streams.random(events[row_pe[thin]]) * (bound[d] * f_c[thin]) >= f_d
        if drop.any():
            keep = np.ones(len(row_pe), bool)
            keep[thin[drop]] = False
            row_pe, pmt_pe, d_pe, dist2 = row_pe[keep], pmt_pe[keep], d_pe[keep], dist2[keep]
    n_pe = np.bincount(row_pe, minlength=n).astype(np.int64)
    ev_pe = events[row_pe]

    # ---- time and charge of each photo-electron, from its own deposit
    tof = np.sqrt(dist2) / C_LS_CM_PER_NS
    ex = streams.standard_exponential(ev_pe, (2,))
    uc = streams.random(ev_pe)
    decay = np.where(uc < config.fast_fraction, config.decay_fast_ns, config.decay_slow_ns)
    tts = np.where(pmts.is_20in[pmt_pe], config.tts_20in_ns, config.tts_17in_ns)
    z = streams.standard_normal(ev_pe, (2,))
    t_pe = (dep.t_ns[d_pe] + config.rise_ns * ex[:, 0] + decay * ex[:, 1] + tof
            + tts * z[:, 0] + config.trigger_offset_ns)
    q_pe = _spe_charges(ev_pe, streams, config.spe_sigma, z[:, 1])

    # ---- dark noise
    lam = n_pmt * config.dark_rate_hz * config.readout_window_ns * 1e-9
    n_dark = streams.poisson(np.full(n, lam), events)
    row_d = np.repeat(np.arange(n), n_dark)
    ev_d = events[row_d]
    pmt_d = streams.integers(n_pmt, ev_d)
    t_d = streams.random(ev_d) * config.readout_window_ns
    q_d = _spe_charges(ev_d, streams, config.spe_sigma)

    # ---- first p.e. time and summed charge per (event, PMT), window and threshold
    inside = (t_pe >= 0.0) & (t_pe < config.readout_window_ns)
    key = np.concatenate([row_pe[inside] * n_pmt + pmt_pe[inside], row_d * n_pmt + pmt_d])
    t_all = np.concatenate([t_pe[inside], t_d])
    q_all = np.concatenate([q_pe[inside], q_d])
    order = np.argsort(key, kind="stable")  # nearly sorted already: the signal part is
    key, t_all, q_all = key[order], t_all[order], q_all[order]
    if len(key):
        starts = np.flatnonzero(np.concatenate([[True], key[1:] != key[:-1]]))
        hit_key = key[starts]
        hit_t = np.minimum.reduceat(t_all, starts)
        hit_q = np.add.reduceat(q_all, starts)
        keep = hit_q >= config.threshold_pe
        hit_key, hit_t, hit_q = hit_key[keep], hit_t[keep], hit_q[keep]
    else:
        hit_key, hit_t, hit_q = key, t_all, q_all
    hit_row = hit_key // n_pmt
    offsets = np.zeros(n + 1, np.int64)
    np.cumsum(np.bincount(hit_row, minlength=n), out=offsets[1:])
    return Hits(offsets=offsets, pmt=(hit_key % n_pmt).astype(np.int16), t_ns=hit_t.astype(np.float32),
                q_pe=hit_q.astype(np.float32), n_pe=n_pe)

"""Optical and electronics response: energy deposits -> PMT hits (pmt, time, charge).

Light (vectorised over all events of a batch, no loop over hits or events)
---------------------------------------------------------------------------
Deposit ``d`` of an event (energy ``E_d``, MeV, at ``r_d``) produces on PMT ``p``
a Poisson number of photo-electrons with mean

    mu_dp = E_d * Y * qe * f_p(r_d)

with ``Y = config.light_yield_per_mev`` and ``f_p`` the geometric acceptance of
:func:`kamcore.geometry.acceptance` (photocathode areas from
``PMTTable.photocathode_area_cm2(coverage_17in, coverage_20in)``, attenuation
``config.attenuation_cm``).  Evaluating ``f`` for every (deposit, PMT) pair
costs ``D x 1879`` per event, so the sum over deposits is expanded about the
energy-weighted centroid ``c = sum_d E_d r_d / E`` (``E = sum_d E_d``):

    mu_p = sum_d mu_dp = E Y qe f_p(c) [1 + O(sigma^2 / |R_p - c|^2)],

the first-order term vanishing because ``sum_d E_d (r_d - c) = 0``; with a
deposit spread ``sigma ~ 20 cm`` and ``|R_p - c| > 700 cm`` the error is below
0.1%.  Counts are drawn as ``N ~ Poisson(sum_p mu_p)`` per event and split over
PMTs with probabilities ``mu_p / sum mu`` (inverse CDF on the cumulative
``mu``), which is the same law as independent ``Poisson(mu_p)``.  Each
photo-electron on PMT ``p`` is then attributed to deposit ``d`` with probability
``mu_dp / mu_p``, to first order ``~ E_d exp(g_p . (r_d - c))`` with
``g_p = grad ln f_p(c) = n_p (3 / L_p + 1 / L_att) - u_p / (R - c . u_p)``
(``L_p = |R_p - c|``, ``n_p`` the unit vector from ``c`` to the PMT, ``u_p``
the PMT direction): proposed ``~ E_d`` and accepted with
``exp(g_p . delta_d - |g_p| rho)``, ``rho = max_d |delta_d|`` of the event.
Only the photo-electrons that exist are touched (``O(N)`` per event).

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
from .streams import BlockStreams
from .transport import Deposits

__all__ = ["Hits", "detect", "expected_pe", "C_LS_CM_PER_NS"]

C_LS_CM_PER_NS = 16.95  #: effective light speed in LS for the time of flight (DESIGN 2)
_ACCEPTANCE_CHUNK = 64  #: centroid rows per acceptance call (keeps the (rows, P) temporaries in cache)
_MAX_REJECTION_ROUNDS = 10_000  #: guard of the deposit-attribution loop


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
        out[a:b] = acceptance(points_cm[a:b], pmts, area, config.attenuation_cm)
        out[a:b] *= scale[a:b, None]
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


def _count_pe(centroid, energy, events, streams, pmts, config) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Photo-electrons per event and their PMTs, block by block (keeps ``(64, P)`` tables in cache).

    Returns ``n_pe (n,)``, ``row_pe (N,)`` (row of ``events``) and ``pmt_pe (N,)``, ordered by row then PMT.
    """
    n_pmt = len(pmts)
    n_pe = np.zeros(len(events), np.int64)
    rows, pmts_out = [], []
    for gen, sl in streams.segments(events):  # one random block at a time
        mu = expected_pe(centroid[sl], energy[sl], pmts, config)
        cum = np.cumsum(mu, axis=1)
        total = cum[:, -1].copy()
        k = gen.poisson(total)
        n_pe[sl] = k
        base = np.concatenate([[0.0], np.cumsum(total)[:-1]])
        cum += base[:, None]
        row = np.repeat(np.arange(len(total)), k)
        u = np.sort(row + gen.random(len(row))) - row  # sorted within each event -> PMTs come out sorted
        flat = np.searchsorted(cum.ravel(), base[row] + np.clip(u, 0.0, 1.0 - 1e-9) * total[row], side="right")
        pmts_out.append(np.clip(flat - row * n_pmt, 0, n_pmt - 1))
        rows.append(row + sl.start)
    if not rows:
        return n_pe, np.zeros(0, np.int64), np.zeros(0, np.int64)
    return n_pe, np.concatenate(rows), np.concatenate(pmts_out)


def _attribute(row_pe, pmt_pe, events, dep: Deposits, dep_row, dstart, dcount, energy, centroid,
               streams, pmts, config) -> np.ndarray:
    """Deposit index of every photo-electron (module docstring: proposal ~E_d, first-order acceptance)."""
    dep_idx = dstart[row_pe].copy()
    multi = np.flatnonzero(dcount[row_pe] > 1)
    if len(multi) == 0:
        return dep_idx
    r, p = row_pe[multi], pmt_pe[multi]
    ev = events[r]
    c = centroid[r]
    v = pmts.xyz_cm[p] - c
    dist = np.sqrt(_dot(v, v))
    u_p = pmts.unit[p]
    proj = pmts.r_cm[p] - _dot(c, u_p)
    inv_att = 1.0 / config.attenuation_cm if np.isfinite(config.attenuation_cm) else 0.0
    g = (v * ((3.0 / dist + inv_att) / dist)[:, None] - u_p / proj[:, None]).astype(np.float32)
    delta = (dep.xyz_cm - centroid[dep_row]).astype(np.float32)
    rho = np.zeros(len(events), np.float32)
    has = dcount > 0  # deposits are grouped by row: the largest |delta| of each row by reduceat
    rho[has] = np.maximum.reduceat(np.sqrt(_dot(delta, delta)), dstart[has])
    bound = np.sqrt(_dot(g, g)) * rho[r]
    cum_e = np.cumsum(dep.e_mev)
    before = np.concatenate([[0.0], cum_e])[dstart]
    hi = dstart + dcount - 1
    pending = np.arange(len(multi))
    for _ in range(_MAX_REJECTION_ROUNDS):
        if len(pending) == 0:
            break
        full = len(pending) == len(multi)
        rp = r if full else r[pending]
        u = streams.random(ev if full else ev[pending], (2,))
        d = np.searchsorted(cum_e, before[rp] + u[:, 0] * energy[rp], side="right")
        d = np.minimum(np.maximum(d, dstart[rp]), hi[rp])
        log_acc = _dot(g if full else g[pending], delta[d]) - (bound if full else bound[pending])
        ok = np.log(np.maximum(u[:, 1], 1e-300)) <= log_acc
        dep_idx[multi[pending[ok]]] = d[ok]
        pending = pending[~ok]
    else:  # pragma: no cover - internal guard
        raise RuntimeError("deposit attribution did not converge")
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

    # ---- photo-electron counts: N ~ Poisson(sum mu) per event, PMT by inverse CDF of mu
    n_pe, row_pe, pmt_pe = _count_pe(centroid, energy, events, streams, pmts, config)
    ev_pe = events[row_pe]

    # ---- which deposit each photo-electron comes from, then its time and charge
    d_pe = _attribute(row_pe, pmt_pe, events, dep, dep_row, dstart, dcount, energy, centroid,
                      streams, pmts, config)
    v = pmts.xyz_cm[pmt_pe] - dep.xyz_cm[d_pe]
    tof = np.sqrt(_dot(v, v)) / C_LS_CM_PER_NS
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

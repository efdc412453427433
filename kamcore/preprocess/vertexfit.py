"""Maximum-likelihood vertex and event-time fit to the hit times (batched, torch).

The experiment's reconstruction fits the vertex ``v`` (cm) and the event time
``t0`` (ns) of each event to its hit times.  Hit ``i`` on PMT ``R_i`` at raw time
``t_i`` has the time residual

    r_i(v, t0) = t_i - t0 - |R_i - v| / c_eff             (c_eff = 16.95 cm/ns, DESIGN 2)

and the event's negative log-likelihood is

    NLL(v, t0) = - sum_i log p_{k_i, n_i}(r_i),

with ``p`` the hit-time PDF of the PMT's type ``k_i`` (17" / 20") given ``n_i``
photo-electrons (``n_i = clip(round(q_i), 1, n_max)``):

    s_k(r)        = f  (tau_f g(r; tau_f, s_k) - tau_r g(r; tau_r, s_k)) / (tau_f - tau_r)
                  + (1 - f) (tau_s g(r; tau_s, s_k) - tau_r g(r; tau_r, s_k)) / (tau_s - tau_r),
    g(r; tau, s)  = exp(s^2 / 2 tau^2 - r / tau) Phi(r / s - s / tau) / tau,
    p_{k,n}(r)    = n s_k(r) (1 - S_k(r))^(n-1) + beta,

i.e. the scintillation profile (rise ``tau_r``, fast/slow decays ``tau_f``, ``tau_s``
with fast fraction ``f``) convolved with the Gaussian transit-time spread ``s_k``
(``g`` is the exponentially modified Gaussian), the law of the first of ``n``
photo-electrons (``S_k`` the CDF of ``s_k``), plus a constant dark-noise floor
``beta`` (ns^-1) that keeps dark and scattered hits from pulling the fit.

``log p``, its first and second derivatives are tabulated once on a 0.02 ns grid
(``(2 n_max, G, 3)`` float32, cached per configuration); a residual reads the
nearest grid point and its second-order Taylor expansion, so the fit sees a
smooth, twice-differentiable objective.  The minimisation is a batched
Levenberg-Marquardt (Gauss-Newton) iteration on all events at once: per event the
gradient ``g = -sum_i l'_i J_i`` and the curvature ``H = sum_i max(-l''_i, 0) J_i J_i^T``
with ``J_i = dr_i / d(v, t0) = ((R_i - v) / (|R_i - v| c_eff), -1)``; the step
``-(H + lambda diag H)^-1 g`` is taken where it lowers the NLL (then ``lambda / 3``),
otherwise ``lambda x 10``.  Start: the bias-corrected charge centroid
(:func:`~kamcore.preprocess.reconstruct_vertex`) and ``t0`` from eq. 2's
charge-weighted time minus the PDF's mean.  Hits are padded into ``(B, N_max)``
tensors per chunk of events; everything runs on ``device`` (CPU or CUDA).

Resolution and bias on the default detector are documented in
``docs/vertex_fit.md`` (``python benchmarks/bench_vertex.py``).
"""

from __future__ import annotations

import dataclasses
import functools
import json

import numpy as np
import torch
from scipy.special import log_ndtr

from ..events import Events
from ..geometry import PMTTable
from .config import VertexFitConfig

__all__ = ["VertexFit", "fit_vertex", "time_pdf_table", "vertex_fit_digest"]

_GRID_MIN_NS, _GRID_MAX_NS, _GRID_STEP_NS = -40.0, 260.0, 0.02


@dataclasses.dataclass
class VertexFit:
    """Result of :func:`fit_vertex` for ``N`` events.

    Attributes
    ----------
    vertex_cm : (N, 3) float64, fitted vertex, cm (the start where the fit did not run)
    t0_ns : (N,) float64, fitted event time on the raw time axis, ns
    nll : (N,) float64, negative log-likelihood at the minimum
    n_iter : (N,) int64, iterations used
    converged : (N,) bool, the last step was below the tolerance
    """

    vertex_cm: np.ndarray
    t0_ns: np.ndarray
    nll: np.ndarray
    n_iter: np.ndarray
    converged: np.ndarray


def _log_emg(r: np.ndarray, tau: float, sigma: float) -> np.ndarray:
    """``log g(r; tau, sigma)`` of the module docstring (float64)."""
    if sigma <= 0:
        with np.errstate(divide="ignore"):
            return np.where(r >= 0, -r / tau - np.log(tau), -np.inf)
    return sigma**2 / (2 * tau**2) - r / tau - np.log(tau) + log_ndtr(r / sigma - sigma / tau)


def _single_pe_pdf(r: np.ndarray, config: VertexFitConfig, sigma: float) -> np.ndarray:
    """``s_k(r)`` of the module docstring, ns^-1 (float64)."""
    out = np.zeros_like(r)
    for tau_d, w in ((config.decay_fast_ns, config.fast_fraction), (config.decay_slow_ns, 1 - config.fast_fraction)):
        if w == 0:
            continue
        main = np.exp(_log_emg(r, tau_d, sigma))
        if config.rise_ns > 0 and abs(tau_d - config.rise_ns) > 1e-9:
            main = (tau_d * main - config.rise_ns * np.exp(_log_emg(r, config.rise_ns, sigma))) / (tau_d - config.rise_ns)
        out += w * np.maximum(main, 0.0)
    return out


@functools.lru_cache(maxsize=8)
def _table(config_json: str) -> np.ndarray:
    config = VertexFitConfig.from_json(config_json)
    r = np.arange(_GRID_MIN_NS, _GRID_MAX_NS + _GRID_STEP_NS / 2, _GRID_STEP_NS)
    rows = []
    for sigma in (config.tts_17in_ns, config.tts_20in_ns):
        s = _single_pe_pdf(r, config, sigma)
        cdf = np.concatenate([[0.0], np.cumsum(0.5 * (s[1:] + s[:-1]) * _GRID_STEP_NS)])
        survive = np.clip(1.0 - cdf / max(cdf[-1], 1e-300), 0.0, 1.0)
        for n in range(1, config.max_pe + 1):
            with np.errstate(divide="ignore"):
                p = n * s * survive ** (n - 1) + config.dark_floor_per_ns
            logp = np.log(p)
            d1 = np.gradient(logp, _GRID_STEP_NS)
            d2 = np.gradient(d1, _GRID_STEP_NS)
            rows.append(np.stack([logp, d1, d2], axis=1))
    table = np.stack(rows).astype(np.float32)
    table.setflags(write=False)
    return table


def time_pdf_table(config: VertexFitConfig | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(r_ns (G,), table (2 max_pe, G, 3))``: ``log p``, ``d log p / dr``, ``d2 log p / dr2``.

    Row ``k * max_pe + n - 1`` is PMT type ``k`` (0 = 17", 1 = 20") with ``n``
    photo-electrons.  A copy of the cached table is returned.

    >>> r, tab = time_pdf_table()
    >>> float(np.exp(tab[0, :, 0]).sum() * (r[1] - r[0])) > 0.99   # the 1-p.e. 17" PDF integrates to ~1
    True
    """
    config = config or VertexFitConfig()
    table = _table(config.to_json())
    r = _GRID_MIN_NS + _GRID_STEP_NS * np.arange(table.shape[1])
    return r, table.copy()


def _pdf_mean_ns(config: VertexFitConfig) -> float:
    f = config.fast_fraction
    return config.rise_ns + f * config.decay_fast_ns + (1 - f) * config.decay_slow_ns


def _padded(events: Events, pmts: PMTTable, config: VertexFitConfig, device, dtype):
    """Per event padded hit tensors ``(B, N_max)``: PMT x, y, z, time, table row, mask."""
    counts = events.hits_per_event.astype(np.int64)
    n_max = max(int(counts.max()) if len(counts) else 0, 1)
    col = np.arange(n_max)
    mask = col[None, :] < counts[:, None]
    flat = np.minimum(events.offsets[:-1, None] + col[None, :], max(events.n_hits - 1, 0))
    pmt = events.pmt.astype(np.int64)[flat] if events.n_hits else np.zeros(flat.shape, np.int64)
    n_pe = np.clip(np.rint(events.q_pe[flat] if events.n_hits else np.zeros(flat.shape)), 1, config.max_pe)
    row = pmts.is_20in[pmt].astype(np.int64) * config.max_pe + n_pe.astype(np.int64) - 1
    t = events.t_ns[flat] if events.n_hits else np.zeros(flat.shape, np.float32)
    as_t = functools.partial(torch.as_tensor, device=device)
    xyz = as_t(pmts.xyz_cm[pmt], dtype=dtype)                      # (B, N, 3)
    return xyz, as_t(t, dtype=dtype), as_t(row), as_t(mask)


class _Objective:
    """NLL, gradient and Gauss-Newton curvature of a padded batch (module docstring)."""

    def __init__(self, xyz, t, row, mask, table: torch.Tensor, c_light: float):
        self.xyz = xyz.transpose(1, 2).contiguous()  # (B, 3, N): per-coordinate rows
        self.t, self.w, self.c = t, mask.to(t.dtype), c_light
        self.base = row * table.shape[1]          # (B, N) offset of the hit's table row
        self.table = table.reshape(-1, 3)
        self.size = table.shape[1]

    def __call__(self, theta: torch.Tensor, sel: torch.Tensor | None = None):
        """``(nll (B,), grad (B, 4), hess (B, 4, 4))`` at ``theta (B, 4) = (x, y, z, t0)``."""
        if sel is None or len(sel) == len(self.t):
            xyz, t, w, base = self.xyz, self.t, self.w, self.base
        else:
            xyz, t, w, base = self.xyz[sel], self.t[sel], self.w[sel], self.base[sel]
        dtype = xyz.dtype
        th = theta.to(dtype)
        b, _, n = xyz.shape
        jac = torch.empty(b, 4, n, dtype=dtype, device=xyz.device)  # dr/d(x, y, z, t0)
        diff = torch.sub(xyz, th[:, :3, None], out=jac[:, :3])     # R - v
        d = diff.square().sum(1).sqrt_().clamp_min_(1e-3)          # (B, N)
        r = t - th[:, 3:4] - d / self.c
        pos = (r - _GRID_MIN_NS) * (1.0 / _GRID_STEP_NS)
        k = torch.round(pos).clamp_(0, self.size - 1)
        delta = (pos - k).mul_(_GRID_STEP_NS)
        l0, l1, l2 = self.table[base + k.long()].unbind(-1)        # (B, N) each
        logp = l0 + delta * (l1 + 0.5 * delta * l2)
        dlogp = (l1 + delta * l2).mul_(w)
        curv = (-l2).clamp_min_(0.0).mul_(w)
        jac[:, :3] *= (1.0 / (d * self.c)).unsqueeze(1)
        jac[:, 3] = -1.0
        nll = -(logp * w).sum(1)
        grad = -torch.bmm(jac, dlogp.unsqueeze(-1)).squeeze(-1)
        hess = torch.bmm(jac * curv.unsqueeze(1), jac.transpose(1, 2))
        return nll.double(), grad.double(), hess.double()


def fit_vertex(events: Events, pmts: PMTTable, config: VertexFitConfig | None = None, *,
               start_cm: np.ndarray | None = None, device: str | torch.device = "cpu",
               dtype: torch.dtype = torch.float32) -> VertexFit:
    """Fit vertex and event time of every event to its hit times (module docstring).

    Parameters
    ----------
    events : Events
        Raw hit times (``t_ns``), PMT ids and charges.
    pmts : PMTTable
    config : VertexFitConfig, optional
        PDF constants, iteration limits, chunk size.
    start_cm : (N, 3), optional
        Start vertices, cm (default: the bias-corrected charge centroid).
    device, dtype
        Where and in which precision the hit-level arithmetic runs (float32 on CPU
        is ~2x faster than float64 and 0.1 cm away from it).

    Returns
    -------
    VertexFit
        Events with fewer than ``config.min_hits`` hits keep the start vertex
        (``converged`` False, ``n_iter`` 0).
    """
    from .vertex import reconstruct_vertex

    config = config or VertexFitConfig()
    n = len(events)
    if start_cm is None:
        start_cm = reconstruct_vertex(events, pmts, config.attenuation_cm)
    start = np.nan_to_num(np.asarray(start_cm, np.float64).reshape(n, 3), nan=0.0)
    out = VertexFit(start.copy(), np.zeros(n), np.full(n, np.nan), np.zeros(n, np.int64), np.zeros(n, bool))
    table = torch.as_tensor(np.array(_table(config.to_json())), device=device, dtype=dtype)
    counts = events.hits_per_event
    for a in range(0, n, config.chunk_events):
        idx = np.arange(a, min(a + config.chunk_events, n))
        idx = idx[counts[idx] >= config.min_hits]
        if len(idx) == 0:
            continue
        sub = events.take(idx)
        xyz, t, row, mask = _padded(sub, pmts, config, device, dtype)
        obj = _Objective(xyz, t, row, mask, table, config.c_light_cm_per_ns)
        theta0 = torch.zeros(len(idx), 4, dtype=torch.float64, device=device)
        theta0[:, :3] = torch.as_tensor(start[idx], device=device)
        # t0 start: eq. 2's charge-weighted (t - TOF) minus the PDF mean
        d0 = torch.linalg.vector_norm(xyz - theta0[:, None, :3].to(dtype), dim=2)
        q = torch.as_tensor(sub.q_pe[np.minimum(sub.offsets[:-1, None] + np.arange(mask.shape[1]),
                                                max(sub.n_hits - 1, 0))], device=device, dtype=dtype) * mask
        tq = ((t - d0 / config.c_light_cm_per_ns) * q).sum(1) / q.sum(1).clamp_min(1e-9)
        theta0[:, 3] = tq.double() - _pdf_mean_ns(config)
        res = _minimise(obj, theta0, config)
        out.vertex_cm[idx] = res[0][:, :3].cpu().numpy()
        out.t0_ns[idx] = res[0][:, 3].cpu().numpy()
        out.nll[idx] = res[1].cpu().numpy()
        out.n_iter[idx] = res[2].cpu().numpy()
        out.converged[idx] = res[3].cpu().numpy()
    return out


def _minimise(obj: _Objective, theta: torch.Tensor, config: VertexFitConfig):
    """Batched Levenberg-Marquardt; returns ``(theta, nll, n_iter, converged)``."""
    b = len(theta)
    dev = theta.device
    nll, grad, hess = obj(theta)
    lam = torch.full((b,), config.lm_lambda, dtype=torch.float64, device=dev)
    n_iter = torch.zeros(b, dtype=torch.int64, device=dev)
    done = torch.zeros(b, dtype=torch.bool, device=dev)
    eye = torch.eye(4, dtype=torch.float64, device=dev)
    r_max = config.max_radius_cm
    for _ in range(config.max_iterations):
        act = torch.nonzero(~done).squeeze(1)
        if len(act) == 0:
            break
        h = hess[act]
        diag = torch.diagonal(h, dim1=1, dim2=2).clamp_min(1e-6)
        damped = h + (lam[act, None, None] * diag[:, :, None]) * eye + 1e-9 * eye
        step = -torch.linalg.solve(damped, grad[act].unsqueeze(-1)).squeeze(-1)
        trial = theta[act] + step
        rr = torch.linalg.vector_norm(trial[:, :3], dim=1, keepdim=True)
        trial[:, :3] = trial[:, :3] * torch.clamp(r_max / rr.clamp_min(1e-9), max=1.0)
        t_nll, t_grad, t_hess = obj(trial, act)
        better = t_nll < nll[act]
        acc = act[better]
        theta[acc], nll[acc], grad[acc], hess[acc] = trial[better], t_nll[better], t_grad[better], t_hess[better]
        lam[act] = torch.where(better, lam[act] / 3.0, lam[act] * 10.0).clamp(1e-6, 1e8)
        n_iter[act] += 1
        small = (torch.linalg.vector_norm(step[:, :3], dim=1) < config.tolerance_cm) & (
            step[:, 3].abs() * config.c_light_cm_per_ns < config.tolerance_cm)
        done[act] = (small & better) | (lam[act] >= 1e8)
    return theta, nll, n_iter, done


def vertex_fit_digest(config: VertexFitConfig | None = None) -> str:
    """Short identity of a fit configuration, stored with fitted vertices."""
    import hashlib

    text = json.dumps((config or VertexFitConfig()).to_dict(), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:12]

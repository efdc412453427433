"""Small synthetic event batches for I/O and bookkeeping tests (not physics)."""

from __future__ import annotations

import numpy as np
import torch

from kamcore import Events


def random_events(n: int = 20, seed: int = 0, n_pmts: int = 1879, max_hits: int = 400) -> Events:
    """Synthetic events with truth, every column filled (not physics: for I/O and bookkeeping)."""
    rng = np.random.default_rng(seed)
    k = rng.integers(0, max_hits, n)
    k[0] = 0  # an empty event
    off = np.r_[0, np.cumsum(k)]
    h = int(off[-1])
    kd = rng.integers(1, 6, n)
    doff = np.r_[0, np.cumsum(kd)]
    d = int(doff[-1])
    return Events.from_columns(
        offsets=off, pmt=rng.integers(0, n_pmts, h), t_ns=rng.normal(100, 10, h), q_pe=rng.gamma(2, 0.6, h),
        run=np.full(n, 7), event_id=np.arange(n) + 100, timestamp_ns=1_700_000_000_000_000_000 + np.arange(n) * 10**6,
        source=np.where(np.arange(n) % 2, "Bi214", "Xe136_0vbb"), energy_mev=rng.uniform(2, 3, n),
        vertex_cm=rng.normal(0, 50, (n, 3)), true_vertex_cm=rng.normal(0, 50, (n, 3)),
        deposit_offsets=doff, deposit_xyz_cm=rng.normal(0, 50, (d, 3)), deposit_t_ns=rng.exponential(1, d),
        deposit_e_mev=rng.uniform(0, 1, d), attrs={"note": "synthetic"})


def random_cloud(b=3, p=40, seed=0, dtype=torch.float32):
    """Random double-sphere clouds: ``points (b, p, 5)``, ``trigger (b, p)``, PMT positions ``(p, 3)`` (cm)."""
    g = torch.Generator().manual_seed(seed)
    xyz = torch.randn(p, 3, generator=g, dtype=torch.float64)
    xyz = 900.0 * xyz / xyz.norm(dim=1, keepdim=True)
    trig = torch.rand(b, p, generator=g) < 0.4
    t = torch.randn(b, p, generator=g, dtype=torch.float64) * 5
    q = torch.rand(b, p, generator=g, dtype=torch.float64) * 3 + 0.3
    pts = torch.cat([xyz.expand(b, -1, -1), t[..., None], q[..., None]], -1) * trig[..., None]
    return pts.to(dtype), trig, xyz.to(dtype)

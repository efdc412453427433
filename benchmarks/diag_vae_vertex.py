"""Does a VAE carry the event vertex?  The diagnosis behind the generator's missing hit dipole.

    GLIBC_TUNABLES=glibc.malloc.mmap_threshold=4294967296 \\
    python benchmarks/diag_vae_vertex.py --vae vae_xe136 [--events 10000] [--epochs 3]

An off-centre vertex makes a dipole in the hit pattern (near PMTs fire more often), and the
charge-centroid radius of generated events is what the classifier two-sample test of
``kamcore gen-results`` separates them by.  On fresh fast-MC Xe136_0vbb events (2-3 MeV,
R < 157 cm) this prints:

* the trigger BCE per PMT of per-PMT rates alone (what a decoder that ignores ``z`` reaches),
  and of the VAE's own decoder on its posterior means;
* the same decoder architecture trained (BCE only, ``--epochs``) with the TRUE vertex as its
  input: what knowing the vertex is worth, and that the decoder can use it;
* how much of the true vertex a linear fit explains (R^2 per axis) from the VAE's posterior
  mean, against the plain hit centroid's correlation with it, and against a fresh encoder of
  the same architecture trained (``--epochs``) to predict the true vertex: that the encoder can
  extract it.

The first half of the events trains the fits and the probe decoder, the second half scores them.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
import torch.nn.functional as F

from kamcore.cli.gen_cmds import resolve_checkpoint
from kamcore.geometry import default_pmt_table
from kamcore.nn.pointnet import PMTDecoder
from kamcore.nn.vae import PointNetVAE
from kamcore.preprocess.pointcloud import point_clouds
from kamcore.sim import simulate
from kamcore.train import load_model


def _r2(x: np.ndarray, y: np.ndarray, n_fit: int) -> np.ndarray:
    """R^2 on the held-out rows of a least-squares fit of ``y (n, 3)`` on ``[x, 1]`` from the first ``n_fit`` rows."""
    a = np.c_[x, np.ones(len(x))]
    coef, *_ = np.linalg.lstsq(a[:n_fit], y[:n_fit], rcond=None)
    resid = y[n_fit:] - a[n_fit:] @ coef
    return 1 - (resid ** 2).mean(0) / y[n_fit:].var(0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--vae", default="vae_xe136", help="VAE checkpoint or shipped name (default vae_xe136)")
    ap.add_argument("--events", type=int, default=10000, help="fresh MC events (default 10000)")
    ap.add_argument("--epochs", type=int, default=3, help="epochs of the true-vertex probe decoder (default 3)")
    ap.add_argument("--seed", type=int, default=11, help="MC seed (default 11)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    pmts = default_pmt_table()
    vae = load_model(resolve_checkpoint(args.vae), kinds=("vae",))[0].eval()
    ev = simulate("Xe136_0vbb", args.events, seed=args.seed, pmts=pmts, energy_window_mev=(2, 3), max_radius_cm=157)
    pts, trig = point_clouds(ev, pmts)
    n, half = len(ev), len(ev) // 2
    vertex = ev.true_vertex_cm.astype(np.float64)
    y = torch.from_numpy(trig).float()

    rate = y[:half].mean(0).clamp(1e-3, 1 - 1e-3)
    bce_rates = F.binary_cross_entropy_with_logits(torch.log(rate / (1 - rate)).expand(n - half, -1), y[half:])
    with torch.no_grad():
        feats = vae.scaler.transform(torch.from_numpy(pts).float(), torch.from_numpy(trig))
        mu = torch.cat([vae.encode(feats[a:a + 250])[0] for a in range(0, n, 250)])
        bce_vae = F.binary_cross_entropy_with_logits(vae.decode(mu[half:])[..., 0], y[half:])

    c = vae.config
    probe = PMTDecoder(3, list(c.decoder_widths), len(pmts), rank=c.decoder_rank)
    probe.init_output_bias(rate)
    opt = torch.optim.Adam(probe.parameters(), lr=1e-3)
    v = torch.from_numpy(vertex / 157.0).float()
    for _ in range(args.epochs):
        for idx in torch.randperm(half).split(32):
            loss = F.binary_cross_entropy_with_logits(probe(v[idx])[..., 0], y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    with torch.no_grad():
        bce_truth = F.binary_cross_entropy_with_logits(probe(v[half:])[..., 0], y[half:])

    # a fresh encoder of the same architecture, its posterior mean mapped linearly to the true vertex
    enc = PointNetVAE(c)
    enc.scaler.load_state_dict(vae.scaler.state_dict())
    head = torch.nn.Linear(c.latent_dim, 3)
    opt = torch.optim.Adam([*enc.encoder.parameters(), *enc.encoder_fc.parameters(), *enc.to_mu.parameters(),
                            *head.parameters()], lr=1e-3)
    enc.train()
    for _ in range(args.epochs):
        for idx in torch.randperm(half).split(32):
            loss = ((head(enc.encode(feats[idx])[0]) - v[idx]) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
    enc.eval()
    with torch.no_grad():
        pred = torch.cat([head(enc.encode(feats[a:a + 250])[0]) for a in range(half, n, 250)])
    r2_supervised = 1 - ((pred - v[half:]) ** 2).mean(0) / v[half:].var(0)

    centroid = (pts[..., :3] * trig[..., None]).sum(1) / np.maximum(trig.sum(1), 1)[:, None]
    corr = [np.corrcoef(centroid[half:, i], vertex[half:, i])[0, 1] for i in range(3)]
    print(f"{args.vae}: {n} fresh Xe136_0vbb events (seed {args.seed}), scored on the second half")
    print(f"trigger BCE per PMT: per-PMT rates only {float(bce_rates):.5f}; the VAE's decoder on its posterior "
          f"means {float(bce_vae):.5f}; its decoder architecture given the true vertex ({args.epochs} epochs) "
          f"{float(bce_truth):.5f}")
    print("true vertex from the posterior mean (linear fit), R^2 x y z:",
          " ".join(f"{r:.3f}" for r in _r2(mu.numpy(), vertex, half)))
    print("hit centroid vs true vertex, correlation x y z:", " ".join(f"{r:.3f}" for r in corr))
    print(f"the same encoder architecture trained on the true vertex ({args.epochs} epochs), R^2 x y z:",
          " ".join(f"{float(r):.3f}" for r in r2_supervised))


if __name__ == "__main__":
    main()

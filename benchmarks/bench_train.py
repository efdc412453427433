"""KamNet training speed: the fast ConvLSTM path against the plain reference, side by side.

    OMP_NUM_THREADS=1 python benchmarks/bench_train.py [--threads 1 2] [--events 256] [--batch 32]
                                                       [--reps 3] [--no-compile]

Builds the ``cpu`` preset (``KamNetConfig.from_preset("cpu")``) twice with the same weights:
the reference (``AttentionConvLSTM(fast=False)``: per-step autograd, ``cat`` padding) and
the default fast path (``kamcore.nn.convlstm``: one autograd node per ConvLSTM layer with
hand-written BPTT).  Both train with Adam on the same batches of real hit maps (``--events``
simulated 0vbb events, 2-3 MeV, R < 157 cm, ``seed=5``; labels alternate so the loss is
a classification loss).  Repetitions are interleaved (ref, fast, ref, fast, ...) so that the
load of a shared machine hits both alike; each repetition is one pass over all batches, and
the figure is events / (best repetition's wall time).  Printed per thread count: training
events/s of each, their ratio, and the loss difference of the two on the first batch (same
weights, same dropout masks) before any update.

``--no-compile`` sets ``kamcore.nn.convlstm.COMPILE = False`` (eager element-wise kernels);
the default compiles them with ``torch.compile`` once (the first step pays the compile,
excluded: it is a warm-up).  glibc returns freed big blocks to the OS, so both paths page
fault on every step; ``GLIBC_TUNABLES=glibc.malloc.mmap_threshold=4294967296:glibc.malloc.trim_threshold=17179869184``
speeds up both.
"""

from __future__ import annotations

import argparse
import copy
import time

import torch
import torch.nn.functional as F

from kamcore.geometry import default_pmt_table
from kamcore.nn import convlstm
from kamcore.nn.kamnet import KamNet, KamNetConfig
from kamcore.preprocess import HitMapConfig, hitmaps
from kamcore.sim import simulate


def maps(n_events: int) -> torch.Tensor:
    p = default_pmt_table()
    ev = simulate("Xe136_0vbb", n_events, seed=5, pmts=p, energy_window_mev=(2, 3), max_radius_cm=157)
    x = hitmaps(ev, p, HitMapConfig())
    return torch.as_tensor(x, dtype=torch.float32)


def reference_copy(net: KamNet) -> KamNet:
    ref = copy.deepcopy(net)
    ref.lstm.fast = False
    for cell in ref.lstm.cells:
        cell.fast = False
    return ref


def train_pass(net, opt, batches, seed: int) -> float:
    torch.manual_seed(seed)  # the same dropout masks for both nets
    t0 = time.perf_counter()
    for x, y in batches:
        opt.zero_grad(set_to_none=True)
        F.binary_cross_entropy_with_logits(net(x), y).backward()
        opt.step()
    return time.perf_counter() - t0


def first_loss(net, x, y) -> float:
    torch.manual_seed(123)
    return F.binary_cross_entropy_with_logits(net(x), y).item()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--events", type=int, default=256)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--no-compile", action="store_true")
    args = ap.parse_args()
    convlstm.COMPILE = not args.no_compile

    x = maps(args.events)
    n = (len(x) // args.batch) * args.batch
    x = x[:n]
    y = (torch.arange(n) % 2).float()
    batches = [(x[i:i + args.batch], y[i:i + args.batch]) for i in range(0, n, args.batch)]
    print(f"{n} events of shape {tuple(x.shape[1:])}, {len(batches)} batches of {args.batch}; "
          f"compile={convlstm.COMPILE}")

    torch.manual_seed(0)
    fast = KamNet(KamNetConfig.from_preset("cpu"))
    ref = reference_copy(fast)
    l_ref, l_fast = first_loss(ref, *batches[0]), first_loss(fast, *batches[0])
    print(f"first-batch loss: reference {l_ref:.7f}  fast {l_fast:.7f}  difference {l_fast - l_ref:+.2e}")

    for threads in args.threads:
        torch.set_num_threads(threads)
        nets = {"reference": ref, "fast": fast}
        opts = {k: torch.optim.Adam(m.parameters(), lr=1e-3) for k, m in nets.items()}
        t0 = time.perf_counter()
        train_pass(fast, opts["fast"], batches[:1], 0)  # warm-up (compile)
        warm = time.perf_counter() - t0
        train_pass(ref, opts["reference"], batches[:1], 0)
        best = {k: float("inf") for k in nets}
        for rep in range(args.reps):
            for k in nets:  # interleaved
                best[k] = min(best[k], train_pass(nets[k], opts[k], batches, rep))
        rate = {k: n / best[k] for k in nets}
        print(f"threads={threads}: reference {rate['reference']:.1f} ev/s  fast {rate['fast']:.1f} ev/s  "
              f"ratio {rate['fast'] / rate['reference']:.2f}x  (best of {args.reps}; fast warm-up {warm:.1f} s)")


if __name__ == "__main__":
    main()

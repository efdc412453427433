"""KamNet speed: the spherical stack at the paper configuration, and shipped-preset inference.

    python benchmarks/bench_kamnet.py [--threads 2] [--batch 32] [--no-compiled]

(a) S2 conv 22->36 (b 19->14), SO(3) convs 36->63 (14->10), 63->74 (10->6), 74->124 (6->2)
    with batch norm + ReLU and SO(3) integration: forward + backward of a batch of 32.
(b) Inference events/s of the ``cpu`` preset (the shipped KamNet) and of the CNN baseline;
    and KamNet again after :func:`kamcore.nn.convlstm.compile_for_scoring` (what a long-lived
    ``kamcore monitor`` uses), side by side in this run with its eager ratio and compile time.

Each is reported with its FLOP count (``torch.utils.flop_counter``: matmuls and
convolutions) and the fraction of the machine's matmul rate measured in the same
run (a 1024^3 float32 matmul).  glibc returns freed blocks above the mmap threshold to
the OS, so big tensors page-fault on every step; for the best figures run with
``GLIBC_TUNABLES=glibc.malloc.mmap_threshold=4294967296:glibc.malloc.trim_threshold=17179869184``.
"""

from __future__ import annotations

import argparse
import time

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from kamcore.nn import S2Convolution, SO3Convolution, so3_integrate
from kamcore.nn.cnn import CNNConfig, ConventionalCNN
from kamcore.nn.kamnet import KamNet, KamNetConfig


class PaperSphericalStack(nn.Module):
    def __init__(self):
        super().__init__()
        ch, bw = [22, 36, 63, 74, 124], [19, 14, 10, 6, 2]
        self.convs = nn.ModuleList([S2Convolution(ch[0], ch[1], bw[0], bw[1])] + [
            SO3Convolution(ch[i], ch[i + 1], bw[i], bw[i + 1]) for i in range(1, 4)])
        self.norms = nn.ModuleList(nn.BatchNorm3d(c) for c in ch[1:])

    def forward(self, x):
        for conv, norm in zip(self.convs, self.norms):
            x = torch.relu(norm(conv(x)))
        return so3_integrate(x)


def best_time(fn, repeat: int) -> float:
    fn()
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def flops(fn) -> int:
    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-compiled", action="store_true", help="skip the compiled-scoring row")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    a = torch.randn(1024, 1024)
    t_mm = best_time(lambda: a @ a, 5)
    rate = 2 * 1024**3 / t_mm
    print(f"machine matmul rate        {rate / 1e9:8.1f} GFLOP/s ({args.threads} threads)")

    stack = PaperSphericalStack().train()
    x = torch.randn(args.batch, 22, 38, 38)

    def step():
        stack.zero_grad(set_to_none=True)
        stack(x).sum().backward()

    t = best_time(step, args.repeat)
    f = flops(step)
    print(f"(a) paper spherical stack  {t:8.2f} s  fwd+bwd batch {args.batch}  {f / 1e9:7.1f} GFLOP  "
          f"{f / t / rate:6.1%} of matmul rate")

    kamnet = KamNet(KamNetConfig.from_preset("cpu"))
    eager_t = eager_f = None
    rows = [("KamNet cpu preset", kamnet), ("CNN cpu preset", ConventionalCNN(CNNConfig.from_preset("cpu")))]
    if not args.no_compiled:
        rows.append(("KamNet, compiled scoring", kamnet))
    for name, model in rows:
        model.eval()
        if name.endswith("compiled scoring"):
            from kamcore.nn.convlstm import _SCORING_KERNELS, compile_for_scoring

            t0 = time.perf_counter()
            compile_for_scoring(model, block=True)
            print(f"    compile for scoring       {time.perf_counter() - t0:8.1f} s ({len(_SCORING_KERNELS)} kernels)")
        xb = torch.poisson(torch.full((64, 28, 38, 38), 0.01))
        with torch.no_grad():
            t = best_time(lambda: model(xb), args.repeat)
            # the FLOP counter's dispatch mode cannot trace compiled code: the same FLOPs as eager
            f = eager_f if name.endswith("compiled scoring") else flops(lambda: model(xb))
        if model is kamnet and eager_t is None:
            eager_t, eager_f = t, f
        ratio = f"  {eager_t / t:4.2f}x eager" if model is kamnet else ""
        print(f"(b) {name:<26} {64 / t:8.1f} events/s inference  {f / 64 / 1e9:7.2f} GFLOP/event  "
              f"{f / t / rate:6.1%} of matmul rate{ratio}")


if __name__ == "__main__":
    main()

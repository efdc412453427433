"""Event generation throughput: VAE and WGAN-GP sampling versus the fast Monte Carlo, events/s.

    python benchmarks/bench_generate.py [--events 4096] [--preset default] [--threads 0]
                                        [--vae CKPT] [--gan CKPT] [--energy-window LO HI] [--max-radius CM]

Both generators and the fast MC (:func:`kamcore.sim.simulate`) run in the same process
on the same cores, each producing ordinary :class:`~kamcore.events.Events` of
``--source``: the generators through :func:`kamcore.train.generative.generate_events`
(sampling + conversion to hits), the MC through ``simulate`` (with ``--energy-window`` / ``--max-radius`` when the
generator was trained on a selected sample, since it then samples selected events only).  Each
is warmed up on a small batch, then timed on ``--events`` events (best of
``--repeat``).  Without ``--vae``/``--gan`` the models are untrained (weights from
``torch.manual_seed(0)``, scaler fitted on 256 MC events): throughput depends on the
architecture, not on the weights, apart from the number of triggered PMTs, which is
printed.  Issue 5 asks for generation >= 10x the fast MC.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import torch

from kamcore.cli.gen_cmds import resolve_checkpoint
from kamcore.geometry import default_pmt_table
from kamcore.nn.vae import VAE_PRESETS, PointNetVAE, VAEConfig
from kamcore.nn.wgan import GANConfig, PointCloudWGAN
from kamcore.preprocess.pointcloud import point_clouds
from kamcore.sim import simulate
from kamcore.train import load_model
from kamcore.train.generative import generate_events, prepare_generator


def _best(fn, repeat: int) -> tuple[float, object]:
    best, out = float("inf"), None
    for r in range(repeat):
        t = time.perf_counter()
        out = fn(r)
        best = min(best, time.perf_counter() - t)
    return best, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--events", type=int, default=4096, help="events per timed call (default 4096)")
    ap.add_argument("--repeat", type=int, default=3, help="timed calls, best kept (default 3)")
    ap.add_argument("--preset", default="default", choices=sorted(VAE_PRESETS),
                    help="architecture of the untrained models (default: default)")
    ap.add_argument("--vae", metavar="CKPT", help="time this VAE checkpoint (or shipped name, e.g. vae_xe136) "
                    "instead of an untrained one")
    ap.add_argument("--gan", metavar="CKPT",
                    help="time this GAN checkpoint (or shipped name) instead of an untrained one")
    ap.add_argument("--source", default="Xe136_0vbb", help="fast-MC source (default Xe136_0vbb)")
    ap.add_argument("--energy-window", nargs=2, type=float, metavar=("LO", "HI"),
                    help="fast MC keeps only events with visible energy in [LO, HI) MeV (as for a selected "
                         "training set; rejected decays cost MC time)")
    ap.add_argument("--max-radius", type=float, metavar="CM", help="fast MC keeps only events with true R < CM")
    ap.add_argument("--batch-size", type=int, default=1000, help="events per model.sample call (default 1000)")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    pmts = default_pmt_table()

    sel = {}
    if args.energy_window:
        sel["energy_window_mev"] = tuple(args.energy_window)
    if args.max_radius is not None:
        sel["max_radius_cm"] = args.max_radius
    simulate(args.source, 64, seed=0, pmts=pmts, **sel)
    t_mc, mc = _best(lambda r: simulate(args.source, args.events, seed=r, pmts=pmts, **sel), args.repeat)
    label = f"fast MC {args.source}" + (" (selected)" if sel else "")
    rows = [(label, args.events / t_mc, mc.hits_per_event.mean())]

    models = {}
    for kind, ckpt, build in (("vae", args.vae, lambda: PointNetVAE(VAEConfig.preset(args.preset))),
                              ("gan", args.gan, lambda: PointCloudWGAN(GANConfig.preset(args.preset)))):
        if ckpt:
            models[f"{kind} {os.path.basename(ckpt)}"] = load_model(resolve_checkpoint(ckpt))[0]
        else:
            torch.manual_seed(0)
            models[f"{kind} {args.preset} (untrained)"] = build()
    if not (args.vae and args.gan):
        clouds = point_clouds(simulate(args.source, 256, seed=99, pmts=pmts), pmts)
    for name, model in models.items():
        if not bool(model.scaler.fitted):
            prepare_generator(model, *clouds, pmts)
        generate_events(model, 64, seed=0, pmts=pmts, batch_size=args.batch_size)
        t, ev = _best(lambda r: generate_events(model, args.events, seed=r, pmts=pmts, batch_size=args.batch_size),
                      args.repeat)
        rows.append((name, args.events / t, ev.hits_per_event.mean()))

    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__} "
          f"with {torch.get_num_threads()} threads, load average {os.getloadavg()[0]:.1f}; "
          f"{args.events} events, best of {args.repeat}")
    print(f"{'generator':<34} {'events/s':>9} {'hits/event':>10} {'x fast MC':>9}")
    for name, rate, hits in rows:
        print(f"{name:<34} {rate:>9.0f} {hits:>10.0f} {rate / rows[0][1]:>9.1f}")


if __name__ == "__main__":
    main()

"""Event generation throughput: VAE and WGAN-GP sampling versus the fast Monte Carlo, events/s.

    GLIBC_TUNABLES=glibc.malloc.mmap_threshold=4294967296 \\
    python benchmarks/bench_generate.py --vae vae_xe136 --gan gan_xe136 --threads 1 \\
        --energy-window 2 3 --max-radius 157 [--events 4096] [--repeat 5] [--processes 2] [--profile]

Contenders, each producing ordinary :class:`~kamcore.events.Events` of ``--source``:

* the fast MC, :func:`kamcore.sim.simulate` with ``--energy-window`` / ``--max-radius``
  when the generators were trained on a selected sample (``simulate`` returns
  ``--events`` *accepted* events, so the decays the selection throws away are paid
  for: the rate is accepted events/s);
* each generator through :func:`kamcore.models.generate_events`: latents,
  trigger draws, ``t`` and ``q`` of the hits, calibration, the flat hit arrays
  (:meth:`~kamcore.nn.vae.PointNetVAE.sample_hits`).

All run in one process on the same cores (``--threads`` torch threads; the MC is numpy,
one thread), interleaved: every round runs each contender once on ``--events`` events
(seed = round), so a change of the machine's load hits all of them alike; the ratio to
the MC is taken within each round and its median (and range) is printed.  Each round
also writes every contender's events with :func:`kamcore.io.write_events` (the same
writer for all) and the figures "with Parquet" include that time.  ``cpu us/ev`` is
process CPU time per event (less sensitive to other processes on a shared machine than
the wall clock).  ``--processes K`` runs every contender in ``K`` worker processes of one
thread each (``K`` times the events per round), the fair way to give the single-threaded
MC ``K`` cores too.  ``--profile`` prints the CPU time per event of every stage of the
generators' sampling (:func:`profile_sampling`, least disturbed of 3 runs).

Without ``--vae``/``--gan`` the models are untrained (weights from ``torch.manual_seed(0)``,
scaler fitted on 256 MC events): throughput depends on the architecture, not on the
weights, apart from the number of triggered PMTs, which is printed.  Issue 5 asks for
generation >= 10x the fast MC.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import multiprocessing
import os
import platform
import statistics
import tempfile
import time

import numpy as np
import torch

from kamcore.cli.gen_cmds import resolve_checkpoint
from kamcore.events import Events
from kamcore.geometry import default_pmt_table
from kamcore.io import write_events
from kamcore.nn.pointnet import SAMPLE_CHUNK, TRIGGER_LEVELS, TriggerDraws
from kamcore.nn.pointnet.sampling import _readout
from kamcore.nn.vae import VAE_PRESETS, PointNetVAE, VAEConfig
from kamcore.nn.wgan import GANConfig, PointCloudWGAN
from kamcore.preprocess.pointcloud import point_clouds
from kamcore.sim import simulate
from kamcore.train import load_model
from kamcore.models import generate_events
from kamcore.train.generative import prepare_generator

_STATE: dict = {}


def _models(args, pmts) -> dict:
    models = {}
    for kind, ckpt, build in (("vae", args.vae, lambda: PointNetVAE(VAEConfig.from_preset(args.preset))),
                              ("gan", args.gan, lambda: PointCloudWGAN(GANConfig.from_preset(args.preset)))):
        if ckpt:
            models[f"{kind} {os.path.basename(ckpt)}"] = load_model(resolve_checkpoint(ckpt))[0]
        else:
            torch.manual_seed(0)
            models[f"{kind} {args.preset} (untrained)"] = build()
    if not (args.vae and args.gan):
        clouds = point_clouds(simulate(args.source, 256, seed=99, pmts=pmts), pmts)
    for model in models.values():
        if not bool(model.scaler.fitted):
            prepare_generator(model, *clouds, pmts)
    return models


def _contenders(args, pmts) -> dict:
    sel = {}
    if args.energy_window:
        sel["energy_window_mev"] = tuple(args.energy_window)
    if args.max_radius is not None:
        sel["max_radius_cm"] = args.max_radius
    label = f"fast MC {args.source}" + (" (selected)" if sel else "")
    out = {label: lambda n, seed: simulate(args.source, n, seed=seed, pmts=pmts, **sel)}
    models = _models(args, pmts)
    for name, model in models.items():
        out[name] = (lambda m: lambda n, seed: generate_events(m, n, seed=seed, pmts=pmts,
                                                               batch_size=args.batch_size))(model)
    _STATE["models"] = models
    return out


def _run_one(name: str, n: int, seed: int, write_dir: str | None) -> tuple[float, float, float, float, int]:
    """Generate (and write) ``n`` events in this process: (wall, cpu, write wall, write cpu, hits)."""
    fn, pmts = _STATE["contenders"][name], _STATE["pmts"]
    w0, c0 = time.perf_counter(), time.process_time()
    ev: Events = fn(n, seed)
    w1, c1 = time.perf_counter(), time.process_time()
    if write_dir is not None:
        write_events(ev, os.path.join(write_dir, f"{os.getpid()}_{name.split()[0]}.parquet"), n_pmts=len(pmts))
    w2, c2 = time.perf_counter(), time.process_time()
    return w1 - w0, c1 - c0, w2 - w1, c2 - c1, ev.n_hits


def _worker_init(args) -> None:
    torch.set_num_threads(1)
    _STATE["pmts"] = pmts = default_pmt_table()
    _STATE["contenders"] = _contenders(args, pmts)


def profile_sampling(model, n: int, seed: int = 0, batch_size: int = 65536, chunk: int = SAMPLE_CHUNK) -> dict:
    """CPU time per event (us) of every stage of ``generate_events`` for ``model``, one thread.

    Repeats the steps of :func:`kamcore.nn.pointnet.sample_hits` and
    :func:`~kamcore.models.generate_events` with a timer around each (the same
    calls, the same random draws), plus the dense reference (the full output layer and the
    calibration of every PMT, as ``model.sample`` does) for comparison.
    """
    dec = model.generator if model.kind == "gan" else model.decoder
    cal, sc, n_pmts = model.calibration, model.scaler, model.scaler.n_pmts
    stages: dict[str, float] = {}

    def timed(name, fn):
        t0 = time.thread_time()
        out = fn()
        stages[name] = stages.get(name, 0.0) + time.thread_time() - t0
        return out

    gen = torch.Generator().manual_seed(seed)
    model.eval()
    with torch.inference_mode():
        w_logit, b_logit, w_t, b_t, w_q, b_q = dec.split_output()
        scale = (float(sc.t_std_ns), float(sc.logq_std))
        shift = (float(sc.t_mean_ns), float(sc.logq_mean))
        w_t, b_t, read_t = _readout(cal, "t", w_t, b_t, scale[0], shift[0])
        w_q, b_q, read_q = _readout(cal, "q", w_q, b_q, scale[1], shift[1], exp=True)
        half = torch.tensor(-0.5)
        parts = []
        for a in range(0, n, batch_size):
            b = min(batch_size, n - a)
            # a VAE's decoder inputs (a conditional one: [z, c], c drawn from its table first)
            prior = getattr(model, "prior_inputs", None) or (
                lambda m, g: torch.randn(m, model.config.latent_dim, generator=g))
            z = timed("latents z ~ N(0, I) (+ conditions)", lambda: prior(b, gen))
            draws = TriggerDraws(gen, "cpu")
            ch = min(chunk, b)
            p_buf, t_buf, q_buf = (z.new_empty(ch, n_pmts) for _ in range(3))
            bits_buf = np.empty((ch, n_pmts), bool)
            for c0 in range(0, b, chunk):
                if c0 % (4 * chunk) == 0:
                    feats = timed("decoder hidden layers (+ low rank)", lambda: dec.features(z[c0:c0 + 4 * chunk]))
                f = feats[c0 % (4 * chunk):c0 % (4 * chunk) + chunk]
                c = f.shape[0]
                prob = timed("trigger logits GEMM (P)", lambda: torch.addmm(b_logit, f, w_logit, out=p_buf[:c]))
                if dec.skip:    # a conditional VAE: its condition straight to the logits
                    prob = timed("condition skip to the logits", lambda: prob.addmm_(
                        z[c0:c0 + c, -dec.skip:], dec.skip_weight))
                prob = timed("sigmoid", lambda: prob.sigmoid_())
                k = timed("trigger draws (16-bit, SFC64)", lambda: draws.levels(c, n_pmts))
                trig = timed("scale + compare", lambda: np.less(     # TriggerDraws.__call__ on the CPU
                    k, torch.add(half, prob, alpha=TRIGGER_LEVELS, out=prob).numpy(), out=bits_buf[:c]))
                flat = timed("nonzero (one flat call)", lambda: np.flatnonzero(trig))
                at = torch.from_numpy(flat)
                t_all = timed("t, q GEMM (2 x P)", lambda: torch.addmm(b_t, f, w_t, out=t_buf[:c]))
                q_all = timed("t, q GEMM (2 x P)", lambda: torch.addmm(b_q, f, w_q, out=q_buf[:c]))
                t_pos = timed("gather t, q of the hits", lambda: t_all.view(-1).index_select(0, at))
                q_pos = timed("gather t, q of the hits", lambda: q_all.view(-1).index_select(0, at))
                t = timed("calibration + unscale + exp (tables)", lambda: read_t(t_pos))
                q = timed("calibration + unscale + exp (tables)", lambda: read_q(q_pos))
                counts = timed("counts, PMT ids", lambda: np.diff(np.searchsorted(
                    flat, np.arange(1, c + 1, dtype=np.int64) * n_pmts), prepend=0))
                pmt32 = timed("counts, PMT ids", lambda: flat.astype(np.int32))
                pmt = timed("counts, PMT ids", lambda: np.remainder(pmt32, n_pmts, out=pmt32).astype(np.int16))
                parts.append((counts, pmt, t.numpy(), q.numpy()))

        def build():
            cols = [np.concatenate([p[i] for p in parts]) for i in range(4)]
            offsets = np.zeros(n + 1, np.int64)
            np.cumsum(cols[0], out=offsets[1:])
            return Events.from_columns(offsets=offsets, pmt=cols[1], t_ns=cols[2], q_pe=cols[3])
        ev = timed("Events (concatenate)", build)
    same = generate_events(model, n, seed=seed, batch_size=batch_size)
    assert np.array_equal(same.pmt, ev.pmt) and np.array_equal(same.offsets, ev.offsets), "profile is not faithful"
    with torch.inference_mode():
        total = sum(stages.values())
        dense: dict[str, float] = {}
        gen = torch.Generator().manual_seed(seed)
        for a in range(0, n, batch_size):
            b = min(batch_size, n - a)
            t0 = time.thread_time()
            raw = model.sample_raw(b, gen, calibrated=False)
            t1 = time.thread_time()
            raw = cal(raw) if cal is not None else raw
            t2 = time.thread_time()
            dense["dense: full output layer (3P)"] = dense.get("dense: full output layer (3P)", 0.0) + t1 - t0
            dense["dense: calibration of all P"] = dense.get("dense: calibration of all P", 0.0) + t2 - t1
    with tempfile.TemporaryDirectory() as d:
        t0 = time.thread_time()
        write_events(ev, os.path.join(d, "gen.parquet"), n_pmts=n_pmts)
        write = time.thread_time() - t0
    out = {k: v / n * 1e6 for k, v in stages.items()}
    out["total (generate_events)"] = total / n * 1e6
    out.update({k: v / n * 1e6 for k, v in dense.items()})
    out["write_events (Parquet)"] = write / n * 1e6
    out["hits/event"] = ev.n_hits / max(n, 1)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--events", type=int, default=4096, help="events per contender and round (default 4096)")
    ap.add_argument("--repeat", type=int, default=5, help="timed rounds (default 5)")
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
    ap.add_argument("--batch-size", type=int, default=65536,
                    help="events per model.sample_hits call (default 65536, generate_events' default)")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    ap.add_argument("--processes", type=int, default=0, metavar="K",
                    help="run every contender in K single-threaded worker processes (K x --events per round)")
    ap.add_argument("--no-write", action="store_true", help="skip the Parquet writing")
    ap.add_argument("--profile", action="store_true", help="print the per-stage CPU time of the generators")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    pmts = default_pmt_table()
    _STATE["pmts"] = pmts
    _STATE["contenders"] = contenders = _contenders(args, pmts)
    names = list(contenders)
    k = max(args.processes, 1)
    pool = None
    if args.processes:
        pool = cf.ProcessPoolExecutor(k, mp_context=multiprocessing.get_context("fork"),
                                      initializer=_worker_init, initargs=(args,))
    rows = {name: [] for name in names}
    with tempfile.TemporaryDirectory() as tmp:
        write_dir = None if args.no_write else tmp
        for r in range(-1, args.repeat):                        # round -1: warm-up, not kept
            n = 64 if r < 0 else args.events
            for name in names:
                if pool is None:
                    res = [_run_one(name, n, max(r, 0), write_dir)]
                    wall = res[0][0] + res[0][2]
                    gen_wall = res[0][0]
                else:
                    t0 = time.perf_counter()
                    futs = [pool.submit(_run_one, name, n, 1000 * j + max(r, 0), write_dir) for j in range(k)]
                    res = [f.result() for f in futs]
                    wall = time.perf_counter() - t0
                    gen_wall = wall - max(x[2] for x in res)
                if r >= 0:
                    rows[name].append({"gen_wall": gen_wall, "wall": wall, "cpu": sum(x[1] for x in res),
                                       "wcpu": sum(x[1] + x[3] for x in res), "hits": sum(x[4] for x in res)})
    if pool is not None:
        pool.shutdown()
    n_tot = args.events * k
    threads = f"{k} processes x 1 thread" if args.processes else f"{torch.get_num_threads()} torch threads"
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}, "
          f"{threads}, load average {os.getloadavg()[0]:.1f}; {n_tot} events per contender and round, "
          f"{args.repeat} rounds interleaved; medians (ratio: median of the per-round ratios, [min, max])")
    mc = rows[names[0]]
    hdr = f"{'generator':<30} {'events/s':>9} {'x fast MC':>18} {'cpu us/ev':>9} {'hits/ev':>7}"
    if not args.no_write:
        hdr += f" {'with Parquet: ev/s':>18} {'x fast MC':>18}"
    print(hdr)
    for name in names:
        rr = rows[name]
        rate = [n_tot / x["gen_wall"] for x in rr]
        ratio = [m["gen_wall"] / x["gen_wall"] for m, x in zip(mc, rr)]
        line = (f"{name:<30} {statistics.median(rate):>9.0f} "
                f"{statistics.median(ratio):>6.1f} [{min(ratio):4.1f}, {max(ratio):4.1f}] "
                f"{statistics.median(x['cpu'] for x in rr) / n_tot * 1e6:>9.1f} "
                f"{statistics.median(x['hits'] for x in rr) / n_tot:>7.0f}")
        if not args.no_write:
            wrate = [n_tot / x["wall"] for x in rr]
            wratio = [m["wall"] / x["wall"] for m, x in zip(mc, rr)]
            line += (f" {statistics.median(wrate):>18.0f} {statistics.median(wratio):>6.1f} "
                     f"[{min(wratio):4.1f}, {max(wratio):4.1f}]")
        print(line)
    cpu_ratio = {name: statistics.median(m["cpu"] / x["cpu"] for m, x in zip(mc, rows[name])) for name in names[1:]}
    print("CPU-time ratio to the fast MC (median per round): "
          + ", ".join(f"{name} {v:.1f}x" for name, v in cpu_ratio.items()))
    if args.profile:
        for name, model in _STATE["models"].items():
            runs = [profile_sampling(model, args.events, seed=r, batch_size=args.batch_size) for r in range(3)]
            prof = min(runs, key=lambda p: p["total (generate_events)"])        # least disturbed of 3
            print(f"\n{name}: CPU us/event per stage ({args.events} events, {prof.pop('hits/event'):.0f} hits/event)")
            for stage, us in prof.items():
                print(f"  {stage:<40} {us:8.2f}")


if __name__ == "__main__":
    main()

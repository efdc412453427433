"""Run-fit benchmark on toy runs: pulls, fit time, detection efficiency and false alarms.

Score distributions come from :class:`kamcore.fit.ToyScoreModel` (Beta shapes
calibrated to the KamNet paper's rejections), so no model is needed.  Runs have
the composition of :class:`kamcore.runs.RunSimConfig` (400 events per 24 h run:
55% 2vbb, 5% solar nu, 15% Bi214, 15% Bi214 film, 10% C10, Poisson yields);
templates are 50,000 toy events per component.

1. Pulls: ``--runs`` quiet runs, ``(f_fit - f_true) / sigma_f`` with ``f_true``
   the expected background fraction (0.40).  The centres of the yield
   constraints are drawn per run from their Gaussian (the auxiliary
   measurements fluctuate as in a frequentist toy).  Fit time per run is the
   wall time of MIGRAD + HESSE + error propagation.
2. False alarms: the same quiet runs as one sequence, flagged with the default
   FlagConfig: flagged runs per run and periods found.
3. Detection: for each STRENGTH x LENGTH, ``--sequences`` sequences of
   ``--seq-len`` runs with one injected period at a random start; a period
   counts as found when a reported period (consecutive-run, CUSUM or Bayesian
   blocks) overlaps its runs.

With ``--model NAME`` the scores are those of a real classifier on the real chain instead of the
toys: ``--pool`` events per component are simulated with the runs' selection
(:func:`kamcore.runs.simulate_selected`, seeds 700000 + component, disjoint from the templates' and the
results' seeds), scored by the model, and each run draws its events from these pools (with
replacement); the templates are the model's shipped ones (``assets/templates_<model>.json``), so the
fits meet the mismatch of a finite template sample as in production.  The scored pools are cached in
``--cache`` (default ``benchmarks/.runfit_pool_<model>_<pool>.npz``).

Usage: ``python benchmarks/bench_runfit.py [--runs 500] [--sequences 20] [--seq-len 30] [--seed 0]``
``[--model kamnet_bi214 --pool 1500]``
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from kamcore.fit import (DEFAULT_COMPONENTS, FitConfig, FlagConfig, Templates, ToyScoreModel, fit_run, flag_fits,
                         score_edges)
from kamcore.runs import RunSimConfig

LIVETIME_S = 86400.0


def toy_run(toy, rng, sim: RunSimConfig, strength=1.0):
    mu = {k: sim.events_per_run * f * (strength if k in sim.convection_components else 1.0)
          for k, f in sim.composition.items()}
    scores, _ = toy.run_scores({k: rng.poisson(v) for k, v in mu.items()}, rng)
    return scores, mu


class PoolScores:
    """Scores of one classifier on simulated events of each component, drawn per run (module docstring)."""

    def __init__(self, pools: dict[str, np.ndarray]):
        self.pools = pools

    @classmethod
    def build(cls, model_name: str, components, n: int, cache) -> "PoolScores":
        from pathlib import Path

        from kamcore.models import load_model
        from kamcore.runs import simulate_selected

        cache = Path(cache)
        model = load_model(model_name)
        if cache.exists():
            with np.load(cache, allow_pickle=False) as z:
                if str(z["digest"]) == model.identity["digest"] and all(c in z.files for c in components):
                    return cls({c: z[c] for c in components})
        pools = {}
        for k, c in enumerate(components):
            t0 = time.perf_counter()
            ev = simulate_selected(c, n, (700000 + k,))
            pools[c] = model.predict(ev)[0]
            print(f"pool {c}: {len(ev)} events simulated and scored in {time.perf_counter() - t0:.0f} s", flush=True)
        np.savez(cache, digest=np.array(model.identity["digest"]), **pools)
        return cls(pools)

    def run_scores(self, counts: dict, rng: np.random.Generator):
        parts = [rng.choice(self.pools[k], int(n), replace=True) for k, n in counts.items() if n]
        return (np.concatenate(parts) if parts else np.zeros(0, np.float32)), None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=500)
    ap.add_argument("--sequences", type=int, default=20)
    ap.add_argument("--seq-len", type=int, default=30)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--model", default=None, help="score runs with this classifier on the real chain (pools)")
    ap.add_argument("--pool", type=int, default=1500, help="--model: simulated events per component")
    ap.add_argument("--cache", default=None, help="--model: the scored pools' file")
    args = ap.parse_args()
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:
        pass
    rng = np.random.default_rng(args.seed)
    sim = RunSimConfig()
    if args.model:
        from pathlib import Path

        from kamcore.models import find_checkpoint

        tfile = Path(find_checkpoint(args.model)).parent / f"templates_{Path(args.model).name}.json"
        templates = Templates.load(tfile)
        cache = args.cache or Path(__file__).parent / f".runfit_pool_{Path(args.model).name}_{args.pool}.npz"
        toy = PoolScores.build(args.model, templates.components, args.pool, cache)
        print(f"runs scored by {args.model} (pools of {args.pool} simulated events per component), templates {tfile}")
    else:
        toy = ToyScoreModel()
        templates = Templates.from_scores({k: toy.sample(k, 50_000, rng) for k in DEFAULT_COMPONENTS},
                                          score_edges(FitConfig()), model={"name": "toy", "kind": "toy", "digest": "0"})
    base_cfg = templates.fit_config()
    bkg = set(base_cfg.background)

    # 1. pulls and fit time on quiet runs (constraint centres fluctuated per run)
    pulls, times, fits, valid = [], [], [], 0
    for i in range(args.runs):
        scores, mu = toy_run(toy, rng, sim)
        cons = {k: [max(rng.normal(r, rel * r), 0.0), rel] for k, (r, rel) in base_cfg.constraints.items()}
        cfg = templates.fit_config(constraints=cons)
        t0 = time.perf_counter()
        r = fit_run(scores, templates, cfg, livetime_s=LIVETIME_S, run=i)
        times.append(time.perf_counter() - t0)
        f_true = sum(v for k, v in mu.items() if k in bkg) / sum(mu.values())
        valid += r.valid
        pulls.append((r.bkg_fraction - f_true) / r.bkg_fraction_err)
        fits.append(r)
    pulls = np.array(pulls)
    n = len(pulls)
    print(f"pulls over {n} quiet {'pooled' if args.model else 'toy'} runs ({sim.events_per_run:.0f} events each, f_true = 0.40): "
          f"mean {pulls.mean():+.3f} +- {pulls.std(ddof=1) / np.sqrt(n):.3f}, "
          f"width {pulls.std(ddof=1):.3f} +- {pulls.std(ddof=1) / np.sqrt(2 * (n - 1)):.3f}; valid fits {valid}/{n}")
    print(f"mean sigma_f {np.mean([r.bkg_fraction_err for r in fits]):.4f}; "
          f"p-values < 1e-3: {np.mean([r.pvalue < 1e-3 for r in fits]):.2%}, < 0.05: "
          f"{np.mean([r.pvalue < 0.05 for r in fits]):.2%}")
    t = np.array(times) * 1e3
    print(f"fit time per run: mean {t.mean():.1f} ms, median {np.median(t):.1f} ms, 95% {np.percentile(t, 95):.1f} ms "
          f"(MIGRAD + HESSE, {np.mean([r.nfcn for r in fits]):.0f} calls)")

    # 2. false alarms: the quiet runs as one sequence
    for method in ("cusum", "bayesian_blocks"):
        res = flag_fits(fits, config=FlagConfig(period_method=method))
        hb = res.flagged_runs("high_background")
        bad = res.flagged_runs("bad_fit")
        print(f"false alarms on {n} quiet runs ({method}): high_background {len(hb)} ({len(hb) / n:.2%}), "
              f"bad_fit {len(bad)} ({len(bad) / n:.2%}), any flag {len(hb | bad) / n:.2%}; periods "
              f"{ {m: sum(p.method == m for p in res.periods) for m in ('consecutive', method)} }")

    # 3. detection efficiency vs strength and length
    cfg = base_cfg
    print(f"detection efficiency ({args.sequences} sequences of {args.seq_len} runs per cell; "
          f"found by any period / by CUSUM / consecutive flagged runs / any flagged run in the period):")
    for strength in (1.5, 2.0, 3.0):
        for length in (1, 3, 5):
            found = {"any": 0, "cusum": 0, "bb": 0, "consecutive": 0, "run_flag": 0}
            clean_flags = clean_runs = 0
            for _ in range(args.sequences):
                start = int(rng.integers(5, args.seq_len - length - 5))
                inj = set(range(start, start + length))
                seq = []
                for i in range(args.seq_len):
                    scores, _ = toy_run(toy, rng, sim, strength if i in inj else 1.0)
                    seq.append(fit_run(scores, templates, cfg, livetime_s=LIVETIME_S, run=i))
                hits = {}
                for method in ("cusum", "bayesian_blocks"):
                    res = flag_fits(seq, config=FlagConfig(period_method=method))
                    hits[method] = [p for p in res.periods if set(range(p.first_run, p.last_run + 1)) & inj]
                    if method == "cusum":
                        flagged = res.flagged_runs("high_background")
                        clean_flags += len(flagged - inj)
                        clean_runs += args.seq_len - length
                found["cusum"] += any(p.method == "cusum" for p in hits["cusum"])
                found["bb"] += any(p.method == "bayesian_blocks" for p in hits["bayesian_blocks"])
                found["consecutive"] += any(p.method == "consecutive" for p in hits["cusum"])
                found["any"] += bool(hits["cusum"] or hits["bayesian_blocks"])
                found["run_flag"] += bool(flagged & inj)
            s = args.sequences
            print(f"  strength {strength:>3}, length {length}: any period {found['any'] / s:6.0%}, "
                  f"CUSUM {found['cusum'] / s:6.0%}, Bayesian blocks {found['bb'] / s:6.0%}, "
                  f"consecutive {found['consecutive'] / s:6.0%}, flagged run {found['run_flag'] / s:6.0%}; "
                  f"flags outside the period {clean_flags / clean_runs:.2%}")


if __name__ == "__main__":
    main()

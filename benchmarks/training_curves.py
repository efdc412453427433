"""Validation AUC against training events seen, per classifier (issue 16: training curves as JSON + PNG).

    python benchmarks/training_curves.py assets/cnn_bi214 assets/cnn_c10 [assets/training/kamnet_bi214 ...] \
        --png docs/training_curves.png --json docs/training_curves.json

Each argument is a checkpoint prefix (its JSON's ``training.history``) or a resumable training
state prefix (``PREFIX.state.json``, :mod:`kamcore.train.resume`: the epochs finished so far of a
run still going).  Every epoch record gives ``events_seen`` (older checkpoints without it: epoch
x training events).  Prints one line per model and epoch; the PNG has one curve per model.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def history(prefix: str) -> tuple[str, list[dict]]:
    p = Path(prefix)
    state = p.with_name(p.name + ".state.json")
    if state.exists():
        doc = json.loads(state.read_text())
        return f"{p.name} (running, {doc['events_seen']} events seen)", doc["history"]
    doc = json.loads(p.with_name(p.name + ".json").read_text())
    hist = doc["training"]["history"]
    per_epoch = (doc.get("metrics") or {}).get("train_events")
    for rec in hist:
        rec.setdefault("events_seen", rec["epoch"] * per_epoch if per_epoch else None)
    return p.name, hist


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("prefixes", nargs="+")
    ap.add_argument("--png")
    ap.add_argument("--json")
    args = ap.parse_args()
    curves = {}
    for prefix in args.prefixes:
        name, hist = history(prefix)
        curves[name] = [{"epoch": r["epoch"], "events_seen": r.get("events_seen"), "val_auc": r["val_auc"],
                         "val_loss": r["val_loss"], "train_loss": r["train_loss"]} for r in hist]
        for r in curves[name]:
            print(f"{name:<40} epoch {r['epoch']:>3}  events {r['events_seen']!s:>8}  val AUC {r['val_auc']:.3f}")
    if args.json:
        Path(args.json).write_text(json.dumps(curves, indent=1) + "\n")
    if args.png:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(7, 4), dpi=110)
        for name, rows in curves.items():
            rows = [r for r in rows if r["events_seen"] is not None]
            ax.plot([r["events_seen"] for r in rows], [r["val_auc"] for r in rows], "o-", label=name)
        ax.set_xlabel("training events seen")
        ax.set_ylabel("validation AUC (Nhit-matched, held-out 30%)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(args.png)
        print(f"wrote {args.png}")


if __name__ == "__main__":
    main()

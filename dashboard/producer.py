"""The embedded producer of a dashboard server, in its own process: ``python -m dashboard.producer``.

Started by :class:`dashboard.backend.Backend` (``producer="embedded"``) with the server's
:class:`~dashboard.config.DashboardConfig` in ``$KAMDASH_PRODUCER_CONFIG``.  It is the live
producer of :mod:`kamcore.monitor` (the code behind ``kamcore monitor``) on the simulated
feed; on a catalog without fits of this model it first simulates ``history_runs`` runs at
full speed so the Runs view starts with a history.  It writes its state to
``<store>/producer.json`` and exits when the server process that started it is gone.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import time

from kamcore.errors import KamcoreError

from .config import DashboardConfig

log = logging.getLogger("dashboard.producer")


def _status(store_path, state: str, mode: str) -> None:
    """Write ``<store>/producer.json``: ``{"state": text, "mode": "starting"|"history"|"live", "pid",
    "updated_ns"}`` (atomic); the server reads the mode for its REPLAYING HISTORY / LIVE badge."""
    from kamcore.io import atomic_output

    with atomic_output(store_path / "producer.json") as tmp:
        with open(tmp, "w") as f:
            json.dump({"state": state, "mode": mode, "pid": os.getpid(), "updated_ns": time.time_ns()}, f)


def _watch_parent(parent: int, producer_box: list) -> None:
    while True:
        time.sleep(1.0)
        if os.getppid() != parent:
            for p in producer_box:
                p.stop("server gone")
            os._exit(0)  # the store is consistent after every append; nothing to flush


def run(config: DashboardConfig, parent: int | None = None) -> int:
    import torch

    from kamcore.catalog import Catalog
    from kamcore.fit import Templates, model_identity
    from kamcore.monitor import LiveStore, MonitorConfig, Producer, SimulatedFeed

    torch.set_num_threads(1)
    templates = Templates.load(config.templates_path())
    model_path = config.model_path()
    catalog = Catalog(config.catalog or None)
    box: list = []
    if parent:
        threading.Thread(target=_watch_parent, args=(parent, box), daemon=True).start()
    with LiveStore(config.store_path(), max_events=max(config.buffer_events, 500), writable=True) as store:
        _status(store.path, "embedded producer starting", "starting")
        ident = model_identity(model_path)
        runs = catalog.list_runs(model_digest=ident["digest"], template_digest=templates.digest)
        first = max((r["run"] for r in catalog.list_runs()), default=0) + 1
        common = dict(run_length=config.run_length, rate_hz=config.rate_hz, poll_interval_s=config.poll_s,
                      store_events=store.index()["max_events"], convection_probability=0.12, convection_strength=3.0)
        if config.history_runs and not any(r["fit"] for r in runs):
            _status(store.path, f"replaying {config.history_runs} runs of history", "history")
            # the history ran before now: its runs end a run's length before this moment, back to back
            span_ns = int(round(config.history_runs * (MonitorConfig(**common).run_duration_s() + 2.0) * 1e9))
            hist = SimulatedFeed(MonitorConfig(first_run=first, seed=config.seed, batch_events=config.run_length,
                                               realtime=False, start_ns=time.time_ns() - span_ns, **common))
            prod = Producer(hist, store, catalog, model_path, templates, command="dashboard (embedded history)")
            box.append(prod)
            stats = prod.run(max_runs=config.history_runs, handle_signals=True)
            first = max(stats.runs, default=first - 1) + 1
            if prod.stopped_by != "max_runs":
                return 0
        _status(store.path, f"live simulated feed, {config.rate_hz:g} Hz", "live")
        live = SimulatedFeed(MonitorConfig(first_run=first, seed=config.seed + 1, **common))
        prod = Producer(live, store, catalog, model_path, templates, command="dashboard (embedded live feed)")
        box.append(prod)
        prod.run(handle_signals=True)
    return 0


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        config = DashboardConfig.from_json(os.environ.get("KAMDASH_PRODUCER_CONFIG", "{}"))
        parent = int(os.environ.get("KAMDASH_PARENT_PID", "0")) or None
        return run(config, parent)
    except KamcoreError as exc:
        print(f"dashboard producer: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

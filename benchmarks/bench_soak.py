"""Soak: the dashboard for a long time with the 10 Hz feed and 10 sessions (issue 8).

Serves ``dashboard/app.py`` with its embedded producer (as ``bench_dashboard.py`` does),
keeps ``--sessions`` sessions open for ``--minutes``: ``--browsers`` Chromium pages and the
rest Bokeh-protocol clients (a separate process; they cost the server what a browser
costs it, without rendering on the server's cores).  Every ``--sample`` seconds it records
the resident memory of the server process and of the producer child, and the update
latency (producer stored -> header marker received/drawn) of that interval.  Reports the
memory growth after ``--warmup-minutes`` (goal: < 50 MB) and the latency of the first
interval after warm-up versus the last one.

    python benchmarks/bench_soak.py --minutes 30 --sessions 10 --browsers 1 --rate 10
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_dashboard import FLAGS, RECORDER, protocol_session, served_dashboard  # noqa: E402


def clients(url: str, origin: str, n: int, seconds: float, every: float) -> None:
    """``n`` protocol sessions for ``seconds``; a JSON line of the latencies (ms) every ``every`` s."""
    got: list[float] = []
    open_ = [0]

    async def report(end):
        while time.monotonic() < end:
            await asyncio.sleep(every)
            print(json.dumps({"latency_ms": got[:], "open": open_[0]}), flush=True)
            got.clear()

    async def session(begin, end):
        open_[0] += 1
        try:
            await protocol_session(url, origin, begin, end, got.append)
        except Exception as e:  # a lost session is reported (the "open" column), not fatal
            print(f"protocol session ended: {e!r}", file=sys.stderr, flush=True)
        finally:
            open_[0] -= 1

    async def run():
        begin = time.monotonic()
        end = begin + seconds
        await asyncio.gather(report(end), *[session(begin, end) for _ in range(n)])
    asyncio.run(run())


def _rss(pid: int) -> tuple[float, float]:
    """(server, producer children) resident memory, MB."""
    import psutil

    try:
        p = psutil.Process(pid)
        kids = sum(c.memory_info().rss for c in p.children(recursive=True))
        return p.memory_info().rss / 2**20, kids / 2**20
    except psutil.NoSuchProcess:
        return float("nan"), float("nan")


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--clients":
        url, origin, n, seconds, every = sys.argv[2:7]
        clients(url, origin, int(n), float(seconds), float(every))
        return 0
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=30.0)
    ap.add_argument("--sessions", type=int, default=10)
    ap.add_argument("--browsers", type=int, default=1)
    ap.add_argument("--rate", type=float, default=10.0, help="simulated feed, events/s")
    ap.add_argument("--sample", type=float, default=60.0, help="seconds per sample")
    ap.add_argument("--warmup-minutes", type=float, default=5.0)
    args = ap.parse_args()
    exe = shutil.which("chromium")
    if args.browsers and exe is None:
        print("needs Debian chromium (apt-get install chromium)", file=sys.stderr)
        return 2
    from playwright.sync_api import sync_playwright

    seconds = args.minutes * 60
    rows = []
    with served_dashboard(args.rate) as (server, url, port, _), sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=exe, args=FLAGS) if args.browsers else None
        pages = []
        for _ in range(min(args.browsers, args.sessions)):
            page = browser.new_context(viewport={"width": 1400, "height": 900}).new_page()
            page.add_init_script(f"({RECORDER})()")
            page.goto(url, wait_until="commit")
            pages.append(page)
        n_clients = args.sessions - len(pages)  # (they outlive the last sample, which would miss them)
        lines: list[list[float]] = []
        if n_clients:
            child = subprocess.Popen([sys.executable, __file__, "--clients", url, f"http://127.0.0.1:{port}",
                                      str(n_clients), str(seconds + 2 * args.sample), str(args.sample)], stdout=subprocess.PIPE, text=True)
            threading.Thread(target=lambda: [lines.append(json.loads(x)) for x in child.stdout], daemon=True).start()
        t0 = time.monotonic()
        print(f"{'minute':>7} {'server MB':>10} {'producer MB':>12} {'sessions':>9} {'updates':>8} {'p50 ms':>7}"
              f" {'p95 ms':>7} {'load':>5}", flush=True)
        n_open = n_clients
        k = 0
        while time.monotonic() - t0 < seconds:
            k += 1
            time.sleep(max(0.0, t0 + k * args.sample - time.monotonic()))
            lat = []
            for page in pages:
                lat += page.evaluate("(() => { const l = window.__kd ? window.__kd.lat : []; "
                                     "if (window.__kd) window.__kd.lat = []; return l; })()")
            while lines:
                got = lines.pop(0)
                lat += got["latency_ms"]
                n_open = got["open"]
            lat = np.asarray(lat, float)
            srv, prod = _rss(server.pid)
            row = (k * args.sample / 60, srv, prod, len(pages) + n_open, len(lat), np.percentile(lat, 50) if len(lat) else np.nan,
                   np.percentile(lat, 95) if len(lat) else np.nan, os.getloadavg()[0])
            rows.append(row)
            print(f"{row[0]:7.1f} {row[1]:10.0f} {row[2]:12.0f} {row[3]:9d} {row[4]:8d} {row[5]:7.0f} {row[6]:7.0f}"
                  f" {row[7]:5.1f}", flush=True)
        if browser is not None:
            browser.close()
    rows = np.asarray(rows, float)
    after = rows[rows[:, 0] >= args.warmup_minutes]
    if len(after) >= 2:
        print(f"server memory after {args.warmup_minutes:g} min warm-up: {after[0, 1]:.0f} -> {after[-1, 1]:.0f} MB "
              f"(growth {after[-1, 1] - after[0, 1]:+.0f} MB; goal < 50 MB); producer {after[0, 2]:.0f} -> "
              f"{after[-1, 2]:.0f} MB; latency p95 {after[0, 6]:.0f} ms at the start vs {after[-1, 6]:.0f} ms at the end "
              f"(p50 {after[0, 5]:.0f} vs {after[-1, 5]:.0f}); sessions open at the end {after[-1, 3]:.0f} of "
              f"{args.sessions} ({min(args.browsers, args.sessions)}"
              f" browser), {args.rate:g} Hz, {args.minutes:g} min")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Dashboard with real browser sessions: first paint, update latency, many sessions, server CPU and memory.

Serves ``dashboard/app.py`` (embedded producer, simulated feed at ``--rate`` Hz) on loopback and
drives Debian Chromium through Playwright:

* **first paint** -- from navigation start to the first live event drawn in the page (the
  header's ``.kd-shown`` marker carries a sequence number), for ``--paints`` fresh pages;
* **update latency** -- for every event that reaches the screen: browser clock when the
  marker changed minus the producer's store time of that event (``wall_ns``; both clocks are
  this machine's), i.e. scored-and-stored to drawn in the browser; p50 / p95 / max;
* measured with 1 session, then with ``--sessions`` concurrent sessions (one page each, in
  separate browser contexts), ``--seconds`` each;
* server process (and its producer child) CPU (% of one core) and resident memory.

Goals (issue 7): first paint < 3 s, p95 latency < 1 s at 10 Hz with 20 sessions.  The browser
runs on the same machine as the server, so on a 2-core host it takes CPU from the server; the
script prints the load average next to the figures.

    python benchmarks/bench_dashboard.py --rate 10 --sessions 20 --seconds 30
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run",
         "--disable-background-timer-throttling", "--disable-renderer-backgrounding"]

# finds .kd-shown through Panel's shadow roots and records (seq, latency ms) whenever it changes
RECORDER = """
() => {
  function find(root) {
    const el = root.querySelector('.kd-shown');
    if (el) return el;
    for (const n of root.querySelectorAll('*')) {
      if (n.shadowRoot) { const f = find(n.shadowRoot); if (f) return f; }
    }
    return null;
  }
  window.__kd = {last: 0, lat: [], first: null};
  setInterval(() => {
    const el = find(document);
    if (!el) return;
    const seq = parseInt(el.dataset.seq || '0');
    if (seq > 0 && seq !== window.__kd.last) {
      const wall = parseInt(el.dataset.wallNs || '0') / 1e6;
      if (window.__kd.first === null) window.__kd.first = performance.now();
      else window.__kd.lat.push(Date.now() - wall);
      window.__kd.last = seq;
    }
  }, 10);
}
"""


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _proc_stats(pids):
    import psutil

    cpu = rss = 0.0
    for pid in pids:
        try:
            p = psutil.Process(pid)
            for q in [p, *p.children(recursive=True)]:
                t = q.cpu_times()
                cpu += t.user + t.system
                rss += q.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return cpu, rss / 2**20


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rate", type=float, default=10.0, help="simulated feed, events/s")
    ap.add_argument("--sessions", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=30.0, help="measuring time per phase")
    ap.add_argument("--paints", type=int, default=3, help="fresh pages timed for first paint")
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    exe = shutil.which("chromium")
    if exe is None:
        print("needs Debian chromium (apt-get install chromium)", file=sys.stderr)
        return 2
    tmp = Path(tempfile.mkdtemp(prefix="bench_dash_"))
    port = _port()
    env = dict(os.environ, XDG_DATA_HOME=str(tmp), KAMDASH_RATE_HZ=str(args.rate), KAMDASH_HISTORY_RUNS="4",
               KAMDASH_RUN_LENGTH="200", OMP_NUM_THREADS="1")
    server = subprocess.Popen([sys.executable, "-m", "panel", "serve", str(ROOT / "dashboard" / "app.py"), "--port",
                               str(port), "--address", "127.0.0.1", "--allow-websocket-origin",
                               f"127.0.0.1:{port}", "--warm", "--liveness"], env=env, cwd=tmp,
                              stdout=open(tmp / "serve.log", "w"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/app"
    try:
        t0 = time.monotonic()
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/liveness", timeout=2)
                break
            except OSError:
                if server.poll() is not None or time.monotonic() - t0 > 180:
                    print((tmp / "serve.log").read_text()[-3000:], file=sys.stderr)
                    return 1
                time.sleep(0.5)
        status = tmp / "kamdash" / "live" / "producer.json"  # wait until the history is done and the feed is live
        while time.monotonic() - t0 < 600:
            try:
                if json.loads(status.read_text()).get("state", "").startswith("live"):
                    break
            except (OSError, ValueError):
                pass
            time.sleep(0.5)
        time.sleep(3.0)
        print(f"server up in {time.monotonic() - t0:.1f} s (warm start, producer running); load average "
              f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=exe, args=FLAGS)
            paints = []
            for _ in range(args.paints):
                ctx = browser.new_context(viewport={"width": 1400, "height": 900})
                page = ctx.new_page()
                page.add_init_script(f"({RECORDER})()")
                start = time.monotonic()
                page.goto(url, wait_until="commit")
                page.wait_for_function("window.__kd && window.__kd.first !== null", timeout=60_000, polling=20)
                paints.append(time.monotonic() - start)
                ctx.close()
            print(f"first paint (navigation -> first live event drawn), {args.paints} fresh pages: "
                  + ", ".join(f"{p:.2f} s" for p in paints) + f"  (goal < 3 s)")
            for n in (1, args.sessions):
                pages = []
                for _ in range(n):
                    ctx = browser.new_context(viewport={"width": 1400, "height": 900})
                    page = ctx.new_page()
                    page.add_init_script(f"({RECORDER})()")
                    page.goto(url, wait_until="commit")
                    pages.append((ctx, page))
                for _, page in pages:
                    page.wait_for_function("window.__kd && window.__kd.first !== null", timeout=120_000, polling=50)
                    page.evaluate("window.__kd.lat = []")
                cpu0, _ = _proc_stats([server.pid])
                w0 = time.monotonic()
                rss = []
                while time.monotonic() - w0 < args.seconds:
                    time.sleep(1.0)
                    rss.append(_proc_stats([server.pid])[1])
                cpu1, _ = _proc_stats([server.pid])
                lat = np.concatenate([np.asarray(p.evaluate("window.__kd.lat"), float) for _, p in pages])
                per = [len(p.evaluate("window.__kd.lat")) / args.seconds for _, p in pages]
                print(f"{n:3d} session(s), {args.seconds:.0f} s at {args.rate:g} Hz: latency p50 "
                      f"{np.percentile(lat, 50):.0f} ms, p95 {np.percentile(lat, 95):.0f} ms, max {lat.max():.0f} ms "
                      f"({len(lat)} updates, {np.mean(per):.1f} redraws/s per session); server+producer CPU "
                      f"{100 * (cpu1 - cpu0) / args.seconds:.0f}% of a core, RSS {np.max(rss):.0f} MB; "
                      f"load average {os.getloadavg()[0]:.1f}")
                for ctx, _ in pages:
                    ctx.close()
            browser.close()
    finally:
        server.terminate()
        try:
            server.wait(15)
        except subprocess.TimeoutExpired:
            server.kill()
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

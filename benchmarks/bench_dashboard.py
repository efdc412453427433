"""Dashboard with real browser sessions: first paint, update latency, many sessions, server CPU and memory.

Serves ``dashboard/app.py`` (embedded producer, simulated feed at ``--rate`` Hz) on loopback and
drives Debian Chromium through Playwright:

* **first paint** -- from navigation start to the first live event drawn in the page (the
  header's ``.kd-shown`` marker carries a sequence number), for ``--paints`` fresh pages;
* **update latency** -- for every event that reaches the screen: browser clock when the
  marker changed minus the producer's store time of that event (``wall_ns``; both clocks are
  this machine's), i.e. scored-and-stored to drawn in the browser; p50 / p95 / max;
* measured with 1 session, then with ``--sessions`` concurrent sessions, ``--seconds`` each:
  ``--browsers`` of them are Chromium pages (separate browser contexts), the rest are
  websocket clients in one separate process that speak Bokeh's protocol like a browser
  (fetch the page, open the session's websocket with its token, pull the document, send
  ``document_ready``, then receive every patch) and time the same header marker, without rendering.  On a 2-core
  host twenty Chromium renderers take the CPU the server needs (a control room's browsers
  run on other machines); the protocol clients cost the server exactly what a browser
  costs it;
* server process (and its producer child) CPU (% of one core) and resident memory.

Goals (issue 7): first paint < 3 s, p95 latency < 1 s at 10 Hz with 20 sessions.  The browser
runs on the same machine as the server, so on a 2-core host it takes CPU from the server; the
script prints the load average next to the figures.

    python benchmarks/bench_dashboard.py --rate 10 --sessions 20 --browsers 1 --seconds 30
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import re
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


# navigation timing of the page (ms from navigation start): HTML received, DOM ready, first event drawn
TIMING = """
() => { const n = performance.getEntriesByType('navigation')[0];
        return {html: n.responseEnd, dom: n.domContentLoadedEventEnd, drawn: window.__kd.first}; }
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


MARKER = re.compile(r"data-seq=(?:&#x27;|\\?.)(\d+).{0,12}?data-wall-ns=(?:&#x27;|\\?.)(\d+)")


async def protocol_session(url: str, origin: str, begin: float, end: float, on_latency=None) -> list[float]:
    """One session as a browser's websocket sees it: page, token, PULL-DOC, then patches.

    Returns the latency (ms) of every new live event whose header marker arrived between the
    monotonic times ``begin`` and ``end`` (each also handed to ``on_latency`` when given).
    """
    from tornado.httpclient import AsyncHTTPClient, HTTPRequest
    from tornado.websocket import websocket_connect

    page = await AsyncHTTPClient().fetch(url, request_timeout=300, connect_timeout=300)
    token = re.search(r'"token":\s*"([^"]+)"', page.body.decode()).group(1)
    ws = await websocket_connect(HTTPRequest(url.split("?")[0].replace("http://", "ws://") + "/ws",
                                             headers={"Origin": origin}, connect_timeout=300, request_timeout=300),
                                 subprotocols=["bokeh", token], max_message_size=1 << 30)
    for _ in range(3):  # as bokehjs does: wait for the server's ACK (header, metadata, content) ...
        if await ws.read_message() is None:
            raise ConnectionError("the server closed the session's websocket before its ACK")
    # ... pull the document, then announce it rendered (Panel's onload callbacks run)
    ready = {"events": [{"kind": "MessageSent", "msg_type": "bokeh_event", "msg_data": {
        "type": "event", "name": "document_ready", "values": {"type": "map"}}}]}
    for part in ({"msgid": "bench1", "msgtype": "PULL-DOC-REQ"}, {}, {},
                 {"msgid": "bench2", "msgtype": "PATCH-DOC"}, {}, ready):
        await ws.write_message(json.dumps(part))
    last, lat = 0, []
    while time.monotonic() < end:
        try:
            msg = await asyncio.wait_for(ws.read_message(), timeout=1.0)
        except asyncio.TimeoutError:
            continue
        if msg is None:
            break
        if isinstance(msg, str):
            for seq, wall in MARKER.findall(msg):
                if int(seq) > 0 and int(seq) != last:
                    if last and time.monotonic() >= begin:  # the first marker came with the document
                        lat.append(time.time() * 1e3 - int(wall) / 1e6)
                        if on_latency is not None:
                            on_latency(lat[-1])
                    last = int(seq)
    ws.close()
    return lat


def protocol_clients(url: str, origin: str, n: int, warmup: float, seconds: float) -> None:
    """``n`` protocol sessions; after ``warmup`` s, print one JSON line with their latencies."""
    begin = time.monotonic() + warmup

    async def run():
        return await asyncio.gather(*[protocol_session(url, origin, begin, begin + seconds) for _ in range(n)])
    lats = asyncio.run(run())
    print(json.dumps({"latency_ms": [lat for lat in lats]}))


@contextlib.contextmanager
def served_dashboard(rate: float, history_runs: int = 4, run_length: int = 200):
    """``panel serve dashboard/app.py`` on loopback with its embedded producer at ``rate`` Hz, in a
    temporary data directory; yields ``(server process, url, port, start time)`` once the feed is live."""
    tmp = Path(tempfile.mkdtemp(prefix="bench_dash_"))
    port = _port()
    env = dict(os.environ, XDG_DATA_HOME=str(tmp), KAMDASH_RATE_HZ=str(rate), KAMDASH_HISTORY_RUNS=str(history_runs),
               KAMDASH_RUN_LENGTH=str(run_length), OMP_NUM_THREADS="1")
    server = subprocess.Popen([sys.executable, "-m", "panel", "serve", str(ROOT / "dashboard" / "app.py"), "--port",
                               str(port), "--address", "127.0.0.1", "--allow-websocket-origin",
                               f"127.0.0.1:{port}", "--warm", "--liveness"], env=env, cwd=tmp,
                              stdout=open(tmp / "serve.log", "w"), stderr=subprocess.STDOUT)
    try:
        t0 = time.monotonic()
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/liveness", timeout=2)
                break
            except OSError:
                if server.poll() is not None or time.monotonic() - t0 > 300:
                    raise RuntimeError("the server did not start:\n" + (tmp / "serve.log").read_text()[-3000:]) from None
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
        yield server, f"http://127.0.0.1:{port}/app", port, t0
    finally:
        server.terminate()
        try:
            server.wait(15)
        except subprocess.TimeoutExpired:
            server.kill()
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--protocol-clients":  # the child process of the many-session phase
        url, origin, n, warmup, seconds = sys.argv[2:7]
        protocol_clients(url, origin, int(n), float(warmup), float(seconds))
        return 0
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rate", type=float, default=10.0, help="simulated feed, events/s")
    ap.add_argument("--sessions", type=int, default=20)
    ap.add_argument("--browsers", type=int, default=None,
                    help="Chromium pages among --sessions (default: all); the rest are protocol clients")
    ap.add_argument("--seconds", type=float, default=30.0, help="measuring time per phase")
    ap.add_argument("--warmup", type=float, default=30.0, help="s for the protocol clients to open their sessions")
    ap.add_argument("--paints", type=int, default=3, help="fresh pages timed for first paint")
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    exe = shutil.which("chromium")
    if exe is None:
        print("needs Debian chromium (apt-get install chromium)", file=sys.stderr)
        return 2
    with served_dashboard(args.rate) as (server, url, port, t0):
        print(f"server up in {time.monotonic() - t0:.1f} s (warm start, producer running); load average "
              f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=exe, args=FLAGS)
            paints, parts = [], []
            for _ in range(args.paints):
                ctx = browser.new_context(viewport={"width": 1400, "height": 900})
                page = ctx.new_page()
                page.add_init_script(f"({RECORDER})()")
                start = time.monotonic()
                page.goto(url, wait_until="commit")
                page.wait_for_function("window.__kd && window.__kd.first !== null", timeout=60_000, polling=20)
                paints.append(time.monotonic() - start)
                parts.append(page.evaluate(TIMING))
                # the same browser again (resources cached), as a shift crew reopening the page
                start = time.monotonic()
                page.reload(wait_until="commit")
                page.wait_for_function("window.__kd && window.__kd.first !== null", timeout=60_000, polling=20)
                paints.append(time.monotonic() - start)
                ctx.close()
            cold, warm = paints[0::2], paints[1::2]
            print(f"first paint (navigation -> first live event drawn), {args.paints} fresh pages: "
                  + ", ".join(f"{p:.2f} s" for p in cold) + "; reloaded with the cache: "
                  + ", ".join(f"{p:.2f} s" for p in warm) + "  (goal < 3 s)")
            print("  fresh page: " + "; ".join(
                f"HTML (session built) {p['html']:.0f} ms, DOM ready {p['dom']:.0f} ms, drawn {p['drawn']:.0f} ms"
                for p in parts))
            n_browsers = args.sessions if args.browsers is None else max(1, min(args.browsers, args.sessions))
            for n in (1, args.sessions):
                nb = min(n, n_browsers)
                clients, t_clients = None, time.monotonic()
                if n > nb:  # the protocol clients run in their own process, warming up with the pages
                    clients = subprocess.Popen(
                        [sys.executable, __file__, "--protocol-clients", url, f"http://127.0.0.1:{port}", str(n - nb),
                         str(args.warmup), str(args.seconds)], stdout=subprocess.PIPE, text=True, env=dict(os.environ))
                pages = []
                for _ in range(nb):
                    ctx = browser.new_context(viewport={"width": 1400, "height": 900})
                    page = ctx.new_page()
                    page.add_init_script(f"({RECORDER})()")
                    page.goto(url, wait_until="commit")
                    pages.append((ctx, page))
                for _, page in pages:
                    page.wait_for_function("window.__kd && window.__kd.first !== null", timeout=120_000, polling=50)
                if clients is not None:  # measure in the clients' window (after their warm-up)
                    time.sleep(max(0.0, t_clients + args.warmup - time.monotonic()))
                for _, page in pages:
                    page.evaluate("window.__kd.lat = []")
                cpu0, _ = _proc_stats([server.pid])
                ccpu0 = _proc_stats([clients.pid])[0] if clients is not None else 0.0
                w0 = time.monotonic()
                rss = []
                while time.monotonic() - w0 < args.seconds:
                    time.sleep(1.0)
                    rss.append(_proc_stats([server.pid])[1])
                cpu1, _ = _proc_stats([server.pid])
                ccpu1 = _proc_stats([clients.pid])[0] if clients is not None else 0.0
                lat = np.concatenate([np.asarray(p.evaluate("window.__kd.lat"), float) for _, p in pages])
                if not len(lat):  # a figure, not a crash: the pages saw no new event in the window
                    lat = np.array([np.nan])
                per = [len(p.evaluate("window.__kd.lat")) / args.seconds for _, p in pages]
                line = (f"{n:3d} session(s) ({nb} browser{'s' if nb > 1 else ''}"
                        + (f" + {n - nb} protocol clients" if n > nb else "")
                        + f"), {args.seconds:.0f} s at {args.rate:g} Hz: browser latency p50 "
                        f"{np.percentile(lat, 50):.0f} ms, p95 {np.percentile(lat, 95):.0f} ms, max {lat.max():.0f} ms "
                        f"({len(lat)} updates, {np.mean(per):.1f} redraws/s per page)")
                if clients is not None:
                    out, _ = clients.communicate(timeout=600)
                    runs = json.loads(out.strip().splitlines()[-1])["latency_ms"]
                    cl = np.concatenate([np.asarray(r, float) for r in runs]) if runs else np.zeros(0)
                    if len(cl):
                        line += (f"; protocol clients p50 {np.percentile(cl, 50):.0f} ms, p95 "
                                 f"{np.percentile(cl, 95):.0f} ms, max {cl.max():.0f} ms "
                                 f"({len(cl) / len(runs) / args.seconds:.1f} updates/s per session; the clients' "
                                 f"process took {100 * (ccpu1 - ccpu0) / args.seconds:.0f}% of a core from this host)")
                print(line + f"; server+producer CPU {100 * (cpu1 - cpu0) / args.seconds:.0f}% of a core, RSS "
                      f"{np.max(rss):.0f} MB; load average {os.getloadavg()[0]:.1f}")
                for ctx, _ in pages:
                    ctx.close()
            browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

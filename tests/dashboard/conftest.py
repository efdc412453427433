"""Fixtures of the dashboard tests: a served dashboard on loopback and a Playwright-driven Chromium."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"]
LOCAL = ("http://localhost", "ws://localhost", "http://127.0.0.1", "ws://127.0.0.1", "data:", "blob:", "about:")


def chromium_path() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(tmp: Path, *, port: int | None = None, env: dict | None = None, extra: list[str] | None = None):
    """Start ``panel serve dashboard/app.py`` on loopback with a fast simulated feed; returns (proc, url)."""
    port = port or free_port()
    e = dict(os.environ, XDG_DATA_HOME=str(tmp / "xdg"), KAMDASH_RATE_HZ="10", KAMDASH_RUN_LENGTH="40",
             KAMDASH_HISTORY_RUNS="4", KAMDASH_POLL_S="0.2", KAMDASH_GENERATED_EVENTS="60",
             KAMDASH_CATALOG=f"sqlite:///{tmp / 'catalog.sqlite'}", KAMDASH_STORE=str(tmp / "live"),
             OMP_NUM_THREADS="1", BOKEH_PY_LOG_LEVEL="warning")
    e.pop("KAMCORE_NO_MALLOC_TUNING", None)
    e.update(env or {})
    log = open(tmp / f"serve_{port}.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "panel", "serve", str(ROOT / "dashboard" / "app.py"),
                             "--port", str(port), "--address", "127.0.0.1",
                             "--allow-websocket-origin", f"127.0.0.1:{port}", "--warm", *(extra or [])],
                            cwd=tmp, env=e, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/app"
    deadline = time.monotonic() + 240  # a cold start imports torch, panel, healpy, iminuit; slow on a busy machine
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"panel serve exited: {(tmp / f'serve_{port}.log').read_text()[-2000:]}")
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/liveness", timeout=2)
            break
        except OSError:
            time.sleep(0.5)
    else:
        proc.kill()
        raise RuntimeError(f"panel serve did not come up in 240 s: {(tmp / f'serve_{port}.log').read_text()[-2000:]}")
    return proc, url


def stop(proc) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


@pytest.fixture(scope="session")
def browser():
    exe = chromium_path()
    if exe is None:
        pytest.skip("Debian chromium is not installed (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=exe, args=CHROMIUM_FLAGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("dash")
    proc, url = serve(tmp, extra=["--liveness"])
    yield url
    stop(proc)


class Page:
    """A browser page that records console errors and every request that leaves loopback."""

    def __init__(self, browser, url: str):
        self.page = browser.new_page(viewport={"width": 1500, "height": 1000})
        self.errors: list[str] = []
        self.external: list[str] = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        self.page.on("request", lambda r: None if r.url.startswith(LOCAL) else self.external.append(r.url))
        self.page.goto(url)

    def shown(self) -> tuple[int, int]:
        """(seq, wall_ns) of the live event on screen, from the header marker."""
        loc = self.page.locator(".kd-shown")
        loc.wait_for(state="attached", timeout=30_000)
        return int(loc.get_attribute("data-seq") or 0), int(loc.get_attribute("data-wall-ns") or 0)

    def wait_text(self, text: str, timeout_ms: int = 30_000):
        self.page.get_by_text(text, exact=False).first.wait_for(timeout=timeout_ms)

    def close(self):
        self.page.close()


@pytest.fixture
def open_page(browser):
    pages = []

    def _open(url):
        p = Page(browser, url)
        pages.append(p)
        return p
    yield _open
    for p in pages:
        p.close()


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A small real world: 3 simulated runs scored by the shipped CNN, fitted into a SQLite catalog, the
    events in a live store; and a Backend reading them (no producer, no threads)."""
    import torch

    from dashboard.backend import Backend
    from dashboard.config import DashboardConfig
    from kamcore.catalog import Catalog
    from kamcore.fit import Templates
    from kamcore.monitor import LiveStore, MonitorConfig, Producer, SimulatedFeed

    torch.set_num_threads(1)
    tmp = tmp_path_factory.mktemp("world")
    cfg = DashboardConfig(model="cnn_cpu", producer="external", store=str(tmp / "live"),
                          catalog=f"sqlite:///{tmp / 'cat.sqlite'}",
                          generated_events=40)
    templates = Templates.load(cfg.templates_path())
    feed = SimulatedFeed(MonitorConfig(rate_hz=1e5, run_length=60, batch_events=60, seed=3,
                                       convection_probability=0.0))
    with LiveStore(cfg.store_path(), max_events=500, writable=True) as store:
        Producer(feed, store, Catalog(cfg.catalog), cfg.model_path(), templates).run(max_runs=3)
    backend = Backend(cfg, start=False)
    backend.buffer.poll()
    return backend

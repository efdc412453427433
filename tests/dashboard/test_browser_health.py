"""Detector health and the shift workflow in a real browser (issue 19, parts 4 and 5): the occupancy map
finds a dead and a hot PMT injected into the simulated feed and the page lists both ids; a person makes a
run the reference (stored with who) and sees the KS compatibility numbers; marks a run bad and downloads
its e-log entry; signs in, ticks the checklist and signs the shift off."""

from __future__ import annotations

import os
import re
import time

import pytest

from .conftest import serve, stop
from waiting import wait_for

pytestmark = [pytest.mark.browser, pytest.mark.timeout(900)]

DEAD, HOT = [33, 901], [1200]


def _shot(page, name: str):
    """Save a PNG for a person to look at: into $KAMDASH_SCREENSHOT_DIR when set."""
    d = os.environ.get("KAMDASH_SCREENSHOT_DIR")
    if d:
        page.screenshot(path=os.path.join(d, name), full_page=True)


@pytest.fixture(scope="module")
def health_server(tmp_path_factory):
    """Three runs of a simulated feed with PMTs 33 and 901 dead and 1200 hot, closed by the real producer
    (scored by the shipped CNN, fitted, health stored), served with an external producer."""
    import torch

    from dashboard.config import DashboardConfig
    from kamcore.catalog import Catalog
    from kamcore.fit import Templates
    from kamcore.monitor import LiveStore, MonitorConfig, Producer, SimulatedFeed

    torch.set_num_threads(1)
    tmp = tmp_path_factory.mktemp("health")
    url = f"sqlite:///{tmp / 'catalog.sqlite'}"
    cfg = DashboardConfig(model="cnn_cpu", producer="external", store=str(tmp / "live"), catalog=url)
    templates = Templates.load(cfg.templates_path())
    feed = SimulatedFeed(MonitorConfig(rate_hz=2.0, run_length=350, batch_events=350, seed=8, realtime=False,
                                       convection_probability=0.0, dead_pmts=",".join(map(str, DEAD)),
                                       hot_pmts=",".join(map(str, HOT)), hot_rate=0.4,
                                       start_ns=time.time_ns() - 3 * 3600 * 10**9))
    with LiveStore(cfg.store_path(), max_events=2000, writable=True) as store:
        Producer(feed, store, Catalog(url), cfg.model_path(), templates, runs_dir=tmp / "runs").run(max_runs=3)
    proc, app = serve(tmp, env={"KAMDASH_MODEL": "cnn_cpu", "KAMDASH_PRODUCER": "external", "KAMDASH_CATALOG": url,
                                "KAMDASH_STORE": str(tmp / "live")}, extra=["--liveness"])
    yield app, url
    stop(proc)


def test_the_occupancy_map_finds_the_injected_dead_and_hot_pmts(browser, health_server):
    from kamcore.catalog import Catalog

    app, url = health_server
    runs = [r["run"] for r in Catalog(url).list_runs()]
    assert len(runs) == 3
    page = browser.new_page(viewport={"width": 1600, "height": 1000})
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        page.goto(app + f"?view=health&run={runs[-1]}")
        box = page.locator(".kd-pmts").first
        box.wait_for(timeout=60_000)
        assert box.get_attribute("data-dead") == ",".join(map(str, DEAD))
        assert box.get_attribute("data-hot") == ",".join(map(str, HOT))
        text = box.inner_text()
        assert re.search(r"dead PMTs\s+33, 901", text) and re.search(r"hot PMTs\s+1200", text), text
        # every run of the feed has them (the run selector counts them)
        opts = page.locator("select").first.locator("option").all_inner_texts()
        assert sum("(2 dead, 1 hot)" in o for o in opts) == 3, opts
        # a person makes the first run the reference; the page shows who, and the KS numbers of the others
        page.goto(app + f"?view=health&run={runs[0]}")
        page.locator(".kd-pmts").first.wait_for(timeout=60_000)
        page.get_by_placeholder("who sets it").fill("R. Coordinator")
        page.get_by_placeholder("e.g. quiet run, all PMTs on").fill("first run of the night")
        page.get_by_role("button", name="Make the shown run the reference").click()
        wait_for(lambda: (Catalog(url).curated_reference() or {}).get("by") == "R. Coordinator", 20, "reference stored")
        ref = Catalog(url).curated_reference()
        assert ref["run"] == runs[0] and ref["reason"] == "first run of the night"
        page.goto(app + f"?view=health&run={runs[-1]}")
        page.locator("[data-ks='score']").first.wait_for(timeout=60_000)
        for k in ("score", "nhit", "energy"):
            p = float(page.locator(f"[data-ks='{k}']").first.inner_text())
            assert 0.0 <= p <= 1.0
        page.get_by_text("set by R. Coordinator", exact=False).first.wait_for(timeout=10_000)
        _shot(page, "health_1600.png")
        page.set_viewport_size({"width": 1280, "height": 720})
        page.wait_for_timeout(1500)
        _shot(page, "health_1280.png")
        assert errors == []
    finally:
        page.close()


def test_mark_a_run_bad_and_download_its_elog(browser, health_server, tmp_path):
    from kamcore.catalog import Catalog

    app, url = health_server
    run = Catalog(url).list_runs()[-1]["run"]
    page = browser.new_page(viewport={"width": 1600, "height": 1000}, accept_downloads=True)
    try:
        page.goto(app + f"?view=runs&run={run}")
        page.get_by_text(f"Run {run}: background fraction", exact=False).first.wait_for(timeout=60_000)
        page.get_by_placeholder("shifter name").fill("A. Shifter")
        page.get_by_placeholder("e.g. HV trip at 03:10").fill("hot PMT 1200")
        page.get_by_role("button", name="Mark bad").click()
        wait_for(lambda: Catalog(url).run_marks(run=run), 20, "the mark stored")
        m = Catalog(url).run_marks(run=run)[0]
        assert (m["mark"], m["by"], m["reason"]) == ("bad", "A. Shifter", "hot PMT 1200")
        page.locator(".kd-mark[data-mark='bad']").first.wait_for(timeout=20_000)
        with page.expect_download(timeout=60_000) as dl:
            page.get_by_text("Download e-log entry (Markdown)").first.click()
        path = tmp_path / "elog.md"
        dl.value.save_as(path)
        md = path.read_text()
        assert f"# Run {run}: e-log entry" in md and "dead PMTs: 33, 901" in md and "hot PMTs: 1200" in md
        assert "bad (by A. Shifter" in md and "data:image/png;base64," in md
        _shot(page, "runs_marks_1600.png")
    finally:
        page.close()


def test_sign_in_tick_the_checklist_and_sign_off(browser, health_server):
    from kamcore.catalog import SHIFT_CHECKLIST, Catalog

    app, url = health_server
    page = browser.new_page(viewport={"width": 1280, "height": 720})
    try:
        page.goto(app + "?view=shift")
        page.locator(".kd-shift").first.wait_for(timeout=60_000)
        page.get_by_text("Shift sign-in, checklist and sign-off").first.click()
        page.get_by_placeholder("your name").fill("N. Owl")
        page.get_by_role("button", name="Sign in").click()
        wait_for(lambda: Catalog(url).current_shift(), 20, "the shift stored")
        page.locator(".kd-shift[data-shifter='N. Owl']").first.wait_for(timeout=20_000)
        page.get_by_role("button", name="Sign off the shift").click()  # refused: nothing ticked
        page.get_by_text("cannot be signed off", exact=False).first.wait_for(timeout=20_000)
        for i, (key, _) in enumerate(SHIFT_CHECKLIST):
            page.locator(f".kd-check-{key} input").first.click()
            wait_for(lambda: len(Catalog(url).current_shift()["checks"]) == i + 1, 20, f"item {i + 1} stored")
        _shot(page, "shift_checklist_1280.png")
        page.get_by_placeholder("hand-over notes").fill("quiet night, PMT 1200 hot")
        page.get_by_role("button", name="Sign off the shift").click()
        wait_for(lambda: Catalog(url).current_shift() is None, 20, "the sign-off stored")
        sh = Catalog(url).shifts()[0]
        assert sh["shifter"] == "N. Owl" and sh["signed_off_by"] == "N. Owl"
        assert sh["comment"] == "quiet night, PMT 1200 hot" and len(sh["checks"]) == len(SHIFT_CHECKLIST)
        assert all(c["by"] == "N. Owl" for c in sh["checks"].values())
    finally:
        page.close()

"""Take the dashboard screenshots of ``docs/screenshots/`` from a served dashboard on its embedded defaults.

    python docs/screenshots/take.py                 # serve one (tests/dashboard/conftest.py serve()), shoot, stop
    python docs/screenshots/take.py --url http://127.0.0.1:5006/app --pages shift live --widths 390

Every page light and dark at 1600 and 1280 px wide, and the Shift page at 390 px (a phone), named
``<page>_<width>[_dark].png``; the shots wait until the header says LIVE (the history runs are in) and the
page's plots have drawn. Needs Debian's Chromium and Playwright (the browser tests' set-up).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PAGES = ["shift", "live", "health", "attention", "runs", "generated", "studies"]
HEIGHT = {1600: 1000, 1280: 720, 390: 844}
#: text that shows the page has drawn its data (not just its frame)
READY = {"shift": ".kd-summary", "live": ".kd-shown[data-seq]:not([data-seq='0'])", "health": "canvas",
         "attention": "canvas", "runs": ".tabulator-row", "generated": "text=IoU", "studies": ".kd-study"}


def shoot(url: str, out: Path, pages, widths, themes, *, full_page: bool = False, log=print) -> list[Path]:
    sys.path.insert(0, str(ROOT))
    from playwright.sync_api import sync_playwright

    from tests.dashboard.conftest import CHROMIUM_FLAGS, chromium_path

    out.mkdir(parents=True, exist_ok=True)
    done = []
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_FLAGS)
        try:
            first = b.new_page(viewport={"width": 1280, "height": 720})
            first.goto(f"{url}?view=shift")
            deadline = time.monotonic() + 600
            while time.monotonic() < deadline:  # the history runs are in: the header says LIVE
                loc = first.locator(".kd-badge")
                if loc.count() and loc.first.get_attribute("data-state") == "LIVE":
                    break
                first.wait_for_timeout(1000)
            else:
                raise RuntimeError("the header never said LIVE")
            first.close()
            for page in pages:
                for width in widths:
                    if width == 390 and page != "shift":
                        continue
                    for theme in themes:
                        pg = b.new_page(viewport={"width": width, "height": HEIGHT.get(width, 900)})
                        errors = []
                        pg.on("pageerror", lambda exc, errors=errors: errors.append(str(exc)))
                        q = f"{url}?view={page}" + ("&theme=dark" if theme == "dark" else "")
                        pg.goto(q)
                        pg.locator(READY[page]).first.wait_for(state="attached", timeout=120_000)
                        pg.wait_for_timeout(3500 if page in ("live", "generated", "health") else 2500)
                        name = f"{page}_{width}{'_dark' if theme == 'dark' else ''}.png"
                        pg.screenshot(path=str(out / name), full_page=full_page)
                        log(f"{name}{'  page errors: ' + '; '.join(errors) if errors else ''}")
                        done.append(out / name)
                        pg.close()
        finally:
            b.close()
    return done


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", help="a served dashboard (default: serve one on loopback for the shots)")
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent))
    ap.add_argument("--pages", nargs="+", default=PAGES, choices=PAGES)
    ap.add_argument("--widths", nargs="+", type=int, default=[1600, 1280, 390])
    ap.add_argument("--themes", nargs="+", default=["light", "dark"], choices=["light", "dark"])
    ap.add_argument("--full-page", action="store_true", help="the whole page, not only the window")
    a = ap.parse_args(argv)
    proc = None
    if a.url is None:
        sys.path.insert(0, str(ROOT))
        from tests.dashboard.conftest import serve, stop

        tmp = Path(tempfile.mkdtemp(prefix="kamdash_shots_"))
        proc, a.url = serve(tmp, extra=["--liveness"])
    try:
        shoot(a.url, Path(a.out), a.pages, a.widths, a.themes, full_page=a.full_page)
    finally:
        if proc is not None:
            stop(proc)
    return 0


if __name__ == "__main__":
    sys.exit(main())

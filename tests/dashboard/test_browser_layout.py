"""Layout in a real browser (issue 19, part 7): the Shift page on a phone (390x844, one column, no horizontal
scroll, the state visible, every tab reachable), the header at 1280 px (nothing cut off), dark mode (every
Bokeh figure on a dark background with light axes, hit palettes without the dark end), the Analysis group
(Real vs generated and Studies as sub-tabs, ``?view=generated`` / ``?view=studies`` still open them)."""

from __future__ import annotations

import pytest
from waiting import wait_for

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

#: every element of the page (shadow roots included) that scrolls sideways by more than a pixel; Bokeh's
#: plot toolbars (overflow hidden by design) and hidden elements do not count
H_SCROLL_JS = """() => {
  const bad = [];
  const de = document.documentElement;
  if (de.scrollWidth > window.innerWidth + 1) bad.push(['document', de.scrollWidth]);
  const walk = (root) => { for (const el of root.querySelectorAll('*')) {
    const st = getComputedStyle(el);
    if ((st.overflowX === 'auto' || st.overflowX === 'scroll') && el.clientWidth > 0
        && el.scrollWidth > el.clientWidth + 1) {
      bad.push([el.tagName + '.' + el.className, el.scrollWidth, el.clientWidth]); }
    if (el.shadowRoot) walk(el.shadowRoot); } };
  walk(document);
  return bad; }"""

FIGURES_JS = """() => {
  const out = [];
  for (const d of Bokeh.documents) for (const m of d._all_models.values()) {
    if (m.type === 'Figure') out.push({bg: m.background_fill_color, border: m.border_fill_color,
        title: m.title ? m.title.text_color : null,
        tick: m.below && m.below.length ? m.below[0].major_label_text_color : null}); }
  const maps = [];
  for (const d of Bokeh.documents) for (const m of d._all_models.values()) {
    if (m.type === 'LinearColorMapper') maps.push(m.palette[0]); }
  return {figures: out, palettes: maps, theme: document.documentElement.dataset.bsTheme || ''}; }"""


def _lum(colour: str) -> float:
    """Relative luminance (WCAG) of ``#rrggbb``."""
    c = colour.lstrip("#")[:6]
    rgb = [int(c[i:i + 2], 16) / 255 for i in (0, 2, 4)]
    rgb = [x / 12.92 if x <= 0.03928 else ((x + 0.055) / 1.055) ** 2.4 for x in rgb]
    return 0.2126 * rgb[0] + 0.7152 * rgb[1] + 0.0722 * rgb[2]


def _inside(page, locator, width: int) -> dict:
    # the header and summary HTML is re-rendered every second: an element resolved a moment ago can be
    # detached when its box is asked for (None), so ask again until the current one answers
    box = wait_for(locator.bounding_box, 15, f"a bounding box of {locator}")
    assert box["x"] >= -1 and box["x"] + box["width"] <= width + 1, (locator, box)
    return box


def _font_px(page, selector: str) -> float:
    """The computed font size (px) of the first connected element matching ``selector``.

    The summary is re-rendered on every update: an element resolved by the locator can be detached by the time
    the script runs, and a detached element has no computed style (``fontSize`` "" -> NaN, seen once in CI).
    So the size is read from an element that is connected at that moment, and read again until it is a number.
    """
    sizes = []

    def read() -> bool:
        px = page.locator(selector).first.evaluate(
            "e => e.isConnected ? parseFloat(getComputedStyle(e).fontSize) : null")
        sizes.append(px)
        return isinstance(px, (int, float)) and px == px
    wait_for(read, 15, f"a computed font size of {selector}")
    return float(sizes[-1])


def test_the_shift_page_on_a_phone_is_one_readable_column(server, browser):
    ctx = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True,
                              device_scale_factor=2)
    page = ctx.new_page()
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        page.goto(f"{server}?view=shift")
        page.locator(".kd-summary").first.wait_for(timeout=90_000)
        page.wait_for_timeout(1500)
        # laid out at the phone's width (the meta viewport), not a shrunken 980 px desktop page
        assert page.evaluate("() => [window.innerWidth, document.documentElement.clientWidth]") == [390, 390]
        size = _font_px(page, ".kd-summary")
        assert size >= 12, size
        assert page.evaluate(H_SCROLL_JS) == []
        badge = page.locator(".kd-badge").first
        b = _inside(page, badge, 390)  # a box: rendered and visible
        assert badge.get_attribute("data-state")
        assert b["y"] >= 0 and b["y"] + b["height"] <= 844
        _inside(page, page.locator(".kd-alarm-badge").first, 390)
        for name in ("sound on", "notify me", "light / dark"):
            _inside(page, page.get_by_role("button", name=name).first, 390)
        # one column: state, alarms, last run and open flags above each other, each the width of the phone
        state = _inside(page, page.locator(".kd-state").first, 390)
        alarms = _inside(page, page.locator(".kd-alarm-count").first, 390)
        summary = _inside(page, page.locator(".kd-summary").first, 390)
        assert state["y"] < alarms["y"] < summary["y"]
        assert summary["width"] > 300
        wait_for(page.locator(".kd-open-flags").first.is_visible, 15, "the open flags")
        # every tab is on screen (the tab bar wraps) and works
        wait_for(lambda: page.get_by_role("tab").count() >= 6, 15, "ARIA tabs")
        for name in ("Shift", "Live", "Health", "Attention", "Runs", "Analysis"):
            _inside(page, page.get_by_role("tab", name=name).first, 390)
        page.get_by_role("tab", name="Runs").first.tap()
        page.get_by_text("Run fits and flags", exact=False).first.wait_for(timeout=30_000)
        assert "view=runs" in page.url
        assert errors == [], errors
    finally:
        ctx.close()


def test_the_header_is_all_visible_at_1280(server, browser):
    page = browser.new_page(viewport={"width": 1280, "height": 720})
    try:
        page.goto(f"{server}?view=shift")
        page.locator(".kd-summary").first.wait_for(timeout=90_000)
        page.wait_for_timeout(1000)
        boxes = [_inside(page, page.locator(sel).first, 1280) for sel in (".kd-badge", ".kd-run", ".kd-time",
                                                                          ".kd-alarm-badge")]
        boxes += [_inside(page, page.get_by_role("button", name=n).first, 1280)
                  for n in ("sound on", "notify me", "light / dark")]
        assert max(b["y"] + b["height"] for b in boxes) < 70  # one header line, not wrapped
        assert page.evaluate(H_SCROLL_JS) == []
    finally:
        page.close()


@pytest.mark.parametrize("view", ["live", "shift", "health"])
def test_dark_mode_draws_every_figure_dark_and_the_hits_with_contrast(server, browser, view):
    page = browser.new_page(viewport={"width": 1600, "height": 1000})
    try:
        page.goto(f"{server}?view={view}&theme=dark")
        page.locator("canvas").first.wait_for(timeout=90_000)
        page.wait_for_timeout(2500)
        info = page.evaluate(FIGURES_JS)
        assert info["theme"] == "dark"
        assert info["figures"], info
        for f in info["figures"]:
            assert _lum(f["bg"]) < 0.05 and _lum(f["border"]) < 0.05, f  # dark plot area and frame
            assert _lum(f["tick"]) > 0.5 and _lum(f["title"]) > 0.5, f  # light tick labels and titles
        bg = _lum(info["figures"][0]["bg"])
        for first in info["palettes"]:  # the darkest hit colour still stands out (contrast >= 2.5)
            assert (_lum(first) + 0.05) / (bg + 0.05) >= 2.5, first
        light = browser.new_page(viewport={"width": 1600, "height": 1000})
        try:
            light.goto(f"{server}?view={view}")
            light.locator("canvas").first.wait_for(timeout=90_000)
            light.wait_for_timeout(1500)
            figs = light.evaluate(FIGURES_JS)["figures"]
            assert figs and all(_lum(f["bg"]) > 0.8 for f in figs), figs
        finally:
            light.close()
    finally:
        page.close()


def _wait_url(page, part: str, timeout_ms: int = 10_000) -> None:
    page.wait_for_function("(part) => window.location.search.includes(part)", arg=part, timeout=timeout_ms)


def test_generated_and_studies_are_grouped_under_analysis(server, open_page):
    p = open_page(f"{server}?view=studies")
    page = p.page
    page.locator(".kd-study").first.wait_for(timeout=60_000)
    wait_for(lambda: page.get_by_role("tab", name="Analysis").count() == 1, 15, "ARIA tabs")
    wait_for(lambda: page.get_by_role("tab", name="Studies").first.get_attribute("aria-selected") == "true", 10,
             "the Studies sub-tab selected")
    assert page.get_by_role("tab", name="Analysis").first.get_attribute("aria-selected") == "true"
    assert page.locator(".kd-group[data-group='analysis']").first.is_visible()
    page.get_by_role("tab", name="Real vs generated").first.click()
    page.get_by_text("Real vs generated events", exact=False).first.wait_for(timeout=60_000)
    _wait_url(page, "view=generated")  # the URL follows the sub-tab
    page.get_by_text("IoU", exact=False).first.wait_for(timeout=120_000)  # real samples, their metrics
    page.get_by_role("tab", name="Runs").first.click()
    _wait_url(page, "view=runs")
    page.get_by_role("tab", name="Analysis").first.click()  # back to the page shown there last
    _wait_url(page, "view=generated")
    q = open_page(f"{server}?view=analysis")
    q.page.get_by_text("Real vs generated events", exact=False).first.wait_for(timeout=60_000)
    _wait_url(q.page, "view=generated")  # ?view=analysis opens its first page
    assert p.errors == [] and q.errors == [], (p.errors, q.errors)
    assert p.external == [] and q.external == []

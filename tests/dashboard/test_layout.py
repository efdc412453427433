"""The page's layout without a browser: the Analysis group and its URLs, the theme's colours, the wall-clock
axes' tick labels."""

from __future__ import annotations

import panel as pn
import pytest
from bokeh.models import DatetimeTickFormatter

from dashboard.selection import GROUPS, TABS, VIEWS, Selection, page_of, tab_of


def test_every_page_has_a_tab_and_analysis_groups_generated_and_studies():
    assert GROUPS["analysis"][1] == ("generated", "studies")
    shown = [k for k in TABS if k not in GROUPS] + [p for _, pages in GROUPS.values() for p in pages]
    assert sorted(shown) == sorted(VIEWS)  # every page is reachable, once
    assert tab_of("studies") == tab_of("generated") == "analysis" and tab_of("runs") == "runs"
    assert page_of("analysis") == "generated" and page_of("studies") == "studies"
    # ?view=analysis is accepted and stands for the group's first page; the old keys stay valid
    assert Selection(view="analysis").view == "generated"
    sel = Selection(view="studies")
    assert sel.view == "studies"
    sel.view = "analysis"
    assert sel.view == "generated"


def test_the_app_puts_grouped_pages_under_the_analysis_tab(world):
    from dashboard.layout import create_app

    sel = Selection(view="studies")
    app = create_app(backend=world, selection=sel)
    tabs = next(o for o in app.main if isinstance(o, pn.Tabs))
    assert list(tabs._names) == list(TABS.values())
    assert tabs._names[tabs.active] == "Analysis"
    sub = next(o for o in tabs[tabs.active] if isinstance(o, pn.Tabs))
    assert list(sub._names) == ["Real vs generated", "Studies"] and sub._names[sub.active] == "Studies"
    sel.view = "runs"
    assert tabs._names[tabs.active] == "Runs"
    tabs.active = list(TABS).index("analysis")  # the Analysis tab opens its shown sub-page
    assert sel.view == "studies"
    sub.active = 0
    assert sel.view == "generated"
    sel.view = "shift"
    assert tabs._names[tabs.active] == "Shift"
    assert app.meta_viewport.startswith("width=device-width")  # a phone lays it out at its own width


def test_the_shift_rate_axis_labels_wall_clock_time_on_every_scale(world):
    from dashboard.plots import DATETIME_SPAN_MS
    from dashboard.views import ShiftView

    v = ShiftView(backend=world, selection=Selection(view="shift"))
    v.refresh()
    fig = v._rate_fig
    fmt = fig.xaxis[0].formatter
    assert isinstance(fmt, DatetimeTickFormatter)
    for scale in ("microseconds", "milliseconds", "seconds", "minsec", "minutes", "hourmin", "hours"):
        f = getattr(fmt, scale)
        assert "%H:%M" in f and "us" not in f and "ms" not in f, (scale, f)  # never "405500us"
    assert fig.x_range.default_span == DATETIME_SPAN_MS >= 60_000  # one run: minutes around it, not 2 ms
    assert len(v._rate_src.data["t"]) == 3


@pytest.mark.parametrize("theme", ["default", "dark"])
def test_the_hit_palettes_and_inks_follow_the_theme(world, theme, monkeypatch):
    from bokeh.palettes import Viridis256

    from dashboard import plots

    monkeypatch.setattr(pn.config, "theme", theme)
    assert plots.theme() == theme

    def lum(h: str) -> float:
        c = [int(h[i:i + 2], 16) / 255 for i in (1, 3, 5)]
        c = [x / 12.92 if x <= 0.03928 else ((x + 0.055) / 1.055) ** 2.4 for x in c]
        return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2]

    bg = lum("#212529") if theme == "dark" else lum("#ffffff")
    for kind in ("time", "charge"):
        pal = plots.hit_palette(kind)
        darkest = min(lum(c) for c in pal)
        if theme == "dark":  # no hit colour vanishes on the dark background (contrast ratio >= 2.5)
            assert (darkest + 0.05) / (bg + 0.05) >= 2.5
        else:
            assert pal[0] == Viridis256[0] or kind == "charge"
    ink = plots.ink()
    assert abs(lum(ink) - bg) > 0.4  # labels and reference lines stand out from the background
    fig, src, mapper = plots.sphere_figure("t", [0.0], [0.0], ([0.0], [0.0]))
    hits = fig.renderers[-1].glyph
    assert hits.line_color == plots.hit_outline()[0]  # every hit ringed
    assert list(mapper.palette) == plots.hit_palette("time")

"""Bokeh figure builders for the views: each returns the figure and the data source(s) it draws.

No physics here: the builders take arrays computed by :mod:`kamcore` and only
decide how they look.  Colours are colour-blind safe (viridis / cividis maps, the
Okabe-Ito categorical palette); every figure has the save tool (PNG export).

Light and dark: the figures take the page's Bokeh theme (Panel applies the template's light or dark
theme to every figure: background, axes, grid, text); what a builder colours itself follows
:func:`theme` (``?theme=dark`` in the session): :func:`ink` for lines and labels, :func:`hit_palette`
for the hit maps (on a dark background the dark end of viridis / cividis is cut off and every hit
marker gets a light outline, so early or faint hits do not vanish).
"""

from __future__ import annotations

import numpy as np
from bokeh.models import ColorBar, ColumnDataSource, DatetimeTickFormatter, HoverTool, LinearColorMapper, Range1d
from bokeh.palettes import Cividis256, Viridis256
from bokeh.plotting import figure

__all__ = ["OKABE_ITO", "TOOLS", "theme", "ink", "hit_palette", "hit_outline", "datetime_axis", "sphere_figure",
           "occupancy_figure", "trend_figure", "slice_figure", "histogram_figure", "empty_hist", "html_div",
           "error_html"]

#: Okabe & Ito (2008) colour-blind-safe categorical palette
OKABE_ITO = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000"]
TOOLS = "pan,wheel_zoom,reset,save"
PALETTES = {"time": Viridis256, "charge": Cividis256}
#: first palette entry on a dark background: viridis[112] (#26818E) and cividis[112] (#6F6F72) have a contrast
#: ratio of 2.9 and 2.7 against the dark theme's plot area #2B3035 (viridis[0] #440154: 1.0, invisible)
DARK_START = 112
#: per theme: lines and labels a builder draws itself, the faint PMTs under the hits, the hits' outline,
#: PMTs without data
INK = {"default": "#444444", "dark": "#dddddd"}
FAINT = {"default": "#9a9a9a", "dark": "#6c6c6c"}
OUTLINE = {"default": "#3a3a3a", "dark": "#f2f2f2"}
NO_DATA = {"default": "#d0d0d0", "dark": "#4a4a4a"}


def theme() -> str:
    """``"dark"`` when the session shows the dark theme (``?theme=dark``), else ``"default"``."""
    try:
        import panel as pn
    except ImportError:  # pragma: no cover - the dashboard always has panel
        return "default"
    return "dark" if pn.config.theme == "dark" else "default"


def ink() -> str:
    """Colour of the lines and labels a builder draws itself (reference lines, cut labels) in this theme."""
    return INK[theme()]


def hit_palette(kind: str = "time") -> list[str]:
    """The hit-map palette of ``kind`` (``"time"``: viridis, ``"charge"``: cividis) for this theme; in the
    dark theme without its darkest entries (:data:`DARK_START`), which vanish on a dark background."""
    pal = PALETTES[kind]
    return list(pal[DARK_START:]) if theme() == "dark" else list(pal)


def hit_outline() -> tuple[str, float]:
    """Outline colour and width of a hit marker: every hit stands out from the background and the faint
    PMTs, whatever its fill colour (yellow on white, dark blue on dark grey)."""
    return OUTLINE[theme()], (0.8 if theme() == "dark" else 0.5)


#: wall-clock tick labels on every scale: never Bokeh's "405500us" (the default for the sub-second
#: scales, which a single plotted run falls on)
DATETIME_FORMATS = dict(microseconds="%H:%M:%S.%3N", milliseconds="%H:%M:%S.%3N", seconds="%H:%M:%S",
                        minsec="%H:%M:%S", minutes="%H:%M", hourmin="%H:%M", hours="%H:%M", days="%b %d",
                        months="%b %Y", years="%Y")
#: the span of a datetime axis with a single point (ms): 10 minutes around it, not Bokeh's 2 ms
DATETIME_SPAN_MS = 10 * 60 * 1000.0


def datetime_axis(p) -> None:
    """Wall-clock x axis (UTC): readable tick labels at every zoom (time of day, the date as context under the
    first tick) and a 10-minute span around a single point."""
    fmt = DatetimeTickFormatter(**DATETIME_FORMATS, context_which="start", context=DatetimeTickFormatter(
        microseconds="%Y-%m-%d", milliseconds="%Y-%m-%d", seconds="%Y-%m-%d", minsec="%Y-%m-%d",
        minutes="%Y-%m-%d", hourmin="%Y-%m-%d", hours="%Y-%m-%d", days="%Y", months="", years=""))
    p.xaxis.formatter = fmt
    if hasattr(p.x_range, "default_span"):
        p.x_range.default_span = DATETIME_SPAN_MS


def _base(title: str, *, height: int = 300, **kw):
    p = figure(title=title, height=height, sizing_mode="stretch_width", tools=TOOLS, toolbar_location="above", **kw)
    p.toolbar.logo = None
    if kw.get("x_axis_type") == "datetime":
        datetime_axis(p)
    return p


def sphere_figure(title: str, pmt_x: np.ndarray, pmt_y: np.ndarray, outline: tuple[np.ndarray, np.ndarray],
                  *, height: int = 330):
    """Mollweide view of the PMT sphere: all PMTs faint, hit PMTs coloured by value.

    Returns ``(figure, hits source {x, y, value, pmt, t, q}, colour mapper)``.
    """
    p = _base(title, height=height, match_aspect=True, x_range=Range1d(-2.1, 2.1), y_range=Range1d(-1.1, 1.1))
    p.axis.visible = False
    p.grid.visible = False
    p.line(outline[0], outline[1], line_color="#888888", line_width=1)
    p.scatter(pmt_x, pmt_y, size=2.5, color=FAINT[theme()], alpha=0.5)
    src = ColumnDataSource({"x": [], "y": [], "value": [], "pmt": [], "t": [], "q": []})
    mapper = LinearColorMapper(palette=hit_palette("time"), low=-10.0, high=30.0)
    line, width = hit_outline()
    r = p.scatter("x", "y", source=src, size=7, line_color=line, line_width=width,
                  fill_color={"field": "value", "transform": mapper})
    p.add_tools(HoverTool(renderers=[r], tooltips=[("PMT", "@pmt"), ("proper time", "@t{0.0} ns"),
                                                   ("charge", "@q{0.00} p.e.")]))
    bar = ColorBar(color_mapper=mapper, width=10, title="proper time (ns)", name="kd-colorbar")
    p.add_layout(bar, "right")  # retitled with the colour choice: sphere_data(..., colorbar=)
    return p, src, mapper


def occupancy_figure(title: str, pmt_x: np.ndarray, pmt_y: np.ndarray, outline: tuple[np.ndarray, np.ndarray],
                     *, height: int = 380):
    """Mollweide map of the PMT occupancy of a run: every PMT coloured by its hits per event, dead PMTs
    ringed in vermillion, hot PMTs in reddish purple, with a colour bar in hits per PMT per event.

    Returns ``(figure, PMT source {x, y, pmt, occ, expected, z}, flagged source {x, y, pmt, kind, color},
    colour mapper)``.
    """
    p = _base(title, height=height, match_aspect=True, x_range=Range1d(-2.1, 2.1), y_range=Range1d(-1.1, 1.1))
    p.axis.visible = False
    p.grid.visible = False
    p.line(outline[0], outline[1], line_color="#888888", line_width=1)
    n = len(pmt_x)
    src = ColumnDataSource({"x": pmt_x, "y": pmt_y, "pmt": np.arange(n), "occ": np.full(n, np.nan),
                            "expected": np.full(n, np.nan), "z": np.zeros(n)})
    mapper = LinearColorMapper(palette=hit_palette("time"), low=0.0, high=0.5, nan_color=NO_DATA[theme()])
    r = p.scatter("x", "y", source=src, size=5, line_color=None, fill_color={"field": "occ", "transform": mapper})
    flagged = ColumnDataSource({"x": [], "y": [], "pmt": [], "kind": [], "color": []})
    f = p.scatter("x", "y", source=flagged, size=16, fill_color=None, line_color="color", line_width=3)
    p.add_tools(HoverTool(renderers=[r, f], tooltips=[("PMT", "@pmt"), ("occupancy", "@occ{0.000} hits/event"),
                                                      ("expected", "@expected{0.000} hits/event"), ("z", "@z{0.0}")]))
    p.add_layout(ColorBar(color_mapper=mapper, width=10, title="occupancy (hits per PMT per event)",
                          name="kd-occ-colorbar"), "right")
    return p, src, flagged, mapper


def trend_figure(title: str, y_label: str, *, height: int = 170, x_range=None, color: str = OKABE_ITO[0]):
    """A quantity per run against the run's start time (UTC): ``(figure, source {t, y, lo, hi, run})``."""
    from bokeh.models import Whisker

    p = _base(title, height=height, x_axis_type="datetime", **({"x_range": x_range} if x_range is not None else {}))
    p.yaxis.axis_label = y_label
    src = ColumnDataSource({"t": [], "y": [], "lo": [], "hi": [], "run": []})
    p.line("t", "y", source=src, color="#999999")
    r = p.scatter("t", "y", source=src, size=6, color=color)
    p.add_layout(Whisker(source=src, base="t", upper="hi", lower="lo", line_color="#777777"))
    p.add_tools(HoverTool(renderers=[r], tooltips=[("run", "@run"), (y_label, "@y{0.000}"),
                                                   ("start", "@t{%Y-%m-%d %H:%M:%S}")], formatters={"@t": "datetime"}))
    return p, src


def slice_figure(title: str, size: int, *, height: int = 330):
    """One time slice of the hit map (``size x size``: theta down, phi across).

    Returns ``(figure, image source {image}, colour mapper)``.
    """
    p = _base(title, height=height, match_aspect=True, x_range=Range1d(0, size), y_range=Range1d(size, 0))
    p.xaxis.axis_label = "phi cell"
    p.yaxis.axis_label = "theta cell"
    # empty cells (NaN in the image, see LiveView) show the background: only hit cells are coloured
    mapper = LinearColorMapper(palette=hit_palette("time"), low=0.0, high=3.0, nan_color=(0, 0, 0, 0))
    src = ColumnDataSource({"image": [np.zeros((size, size), np.float32)]})
    p.image("image", source=src, x=0, y=0, dw=size, dh=size, color_mapper=mapper)
    p.add_layout(ColorBar(color_mapper=mapper, width=10, title="hits"), "right")
    return p, src, mapper


def histogram_figure(title: str, x_label: str, names: list[str], *, height: int = 300, stacked: bool = False,
                     y_label: str = "events"):
    """Histograms on common edges: one ``quad`` (step-like) glyph per name.

    The source has ``left``, ``right`` and, per name, ``<name>`` (and
    ``<name>_bottom`` when ``stacked``).  Returns ``(figure, source)``.
    """
    p = _base(title, height=height)
    p.xaxis.axis_label = x_label
    p.yaxis.axis_label = y_label
    data = {"left": [], "right": []}
    for n in names:
        data[n] = []
        data[n + "_bottom"] = []
    src = ColumnDataSource(data)
    for i, n in enumerate(names):
        c = OKABE_ITO[i % len(OKABE_ITO)]
        p.quad(left="left", right="right", bottom=n + "_bottom", top=n, source=src, fill_color=c,
               fill_alpha=0.55 if stacked else 0.25, line_color=c, legend_label=n)
    p.legend.click_policy = "hide"
    p.legend.label_text_font_size = "9pt"
    p.legend.orientation = "horizontal"
    p.legend.spacing = 6
    p.legend.margin = 2
    p.legend.padding = 2
    p.add_layout(p.legend[0], "above")  # outside the data: a legend inside hides the newest bars
    return p, src


def empty_hist(names: list[str]) -> dict:
    return {"left": [], "right": [], **{n: [] for n in names}, **{n + "_bottom": [] for n in names}}


def error_html(exc) -> str:
    """The status line of a form that refused an input: the text of ``exc``, HTML-escaped, in vermillion."""
    import html

    return f"<span style='color:{OKABE_ITO[5]}'>{html.escape(str(exc))}</span>"


def html_div(text: str = "", css: str = "", **kw):
    """A Bokeh ``Div`` for HTML that changes every tick, and its Panel pane: ``(pane, div)``.

    Setting ``div.text`` costs ~0.13 ms against ~0.9 ms for ``pn.pane.HTML.object`` (Panel's
    pane machinery); ``css`` goes into the Div's shadow root, as the pane's stylesheet (Panel replaces
    a Bokeh model's own ``stylesheets`` with its pane's: given to the Div, it was dropped).
    """
    import panel as pn
    from bokeh.models import Div

    div = Div(text=text, sizing_mode="stretch_width", **kw)
    return pn.pane.Bokeh(div, sizing_mode="stretch_width", stylesheets=[css] if css else []), div

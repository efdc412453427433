"""Bokeh figure builders for the views: each returns the figure and the data source(s) it draws.

No physics here: the builders take arrays computed by :mod:`kamcore` and only
decide how they look.  Colours are colour-blind safe (viridis / cividis maps, the
Okabe-Ito categorical palette); every figure has the save tool (PNG export).
"""

from __future__ import annotations

import numpy as np
from bokeh.models import ColorBar, ColumnDataSource, HoverTool, LinearColorMapper, Range1d
from bokeh.palettes import Cividis256, Viridis256
from bokeh.plotting import figure

__all__ = ["OKABE_ITO", "TOOLS", "sphere_figure", "occupancy_figure", "trend_figure", "slice_figure", "histogram_figure", "empty_hist", "html_div"]

#: Okabe & Ito (2008) colour-blind-safe categorical palette
OKABE_ITO = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000"]
TOOLS = "pan,wheel_zoom,reset,save"
PALETTES = {"time": Viridis256, "charge": Cividis256}


def _base(title: str, *, height: int = 300, **kw):
    p = figure(title=title, height=height, sizing_mode="stretch_width", tools=TOOLS, toolbar_location="above", **kw)
    p.toolbar.logo = None
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
    p.scatter(pmt_x, pmt_y, size=2.5, color="#9a9a9a", alpha=0.5)
    src = ColumnDataSource({"x": [], "y": [], "value": [], "pmt": [], "t": [], "q": []})
    mapper = LinearColorMapper(palette=PALETTES["time"], low=-10.0, high=30.0)
    r = p.scatter("x", "y", source=src, size=6, line_color=None, fill_color={"field": "value", "transform": mapper})
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
    mapper = LinearColorMapper(palette=Viridis256, low=0.0, high=0.5, nan_color="#d0d0d0")
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
    p.line("t", "y", source=src, color="#aaaaaa")
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
    mapper = LinearColorMapper(palette=Viridis256, low=0.0, high=3.0, low_color="#f0f0f0")
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


def html_div(text: str = "", css: str = "", **kw):
    """A Bokeh ``Div`` for HTML that changes every tick, and its Panel pane: ``(pane, div)``.

    Setting ``div.text`` costs ~0.13 ms against ~0.9 ms for ``pn.pane.HTML.object`` (Panel's
    pane machinery); ``css`` goes into the Div's own shadow root.
    """
    import panel as pn
    from bokeh.models import Div

    div = Div(text=text, sizing_mode="stretch_width", stylesheets=[css] if css else [], **kw)
    return pn.pane.Bokeh(div, sizing_mode="stretch_width"), div

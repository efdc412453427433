"""Configuration of the preprocessing stage (shared by the CLI and the dashboard)."""

from __future__ import annotations

import param

from ..config import JsonConfig

__all__ = ["HitMapConfig", "C_LIGHT_CM_PER_NS"]

C_LIGHT_CM_PER_NS = 16.95  #: effective speed of light in LS, cm/ns (DESIGN 2, KamNet reference code)


class HitMapConfig(JsonConfig):
    """How raw hits become proper times, KamNet hit maps and generator point clouds.

    Defaults are DESIGN 4: 28 time bins of 1.5 ns from -20 ns, a 38 x 38 grid
    (bandwidth 19), hit counts per cell; point clouds keep hits within +-30 ns
    and at or above 0.3 p.e.
    """

    vertex = param.Selector(default="auto", objects=["auto", "centroid", "file", "truth"], doc=(
        "Vertex used for the time of flight: 'centroid' (bias-corrected charge centroid), 'file' "
        "(the reconstructed vertex stored with the events), 'truth' (simulated primary vertex), "
        "'auto' (the file's vertex where present, else the centroid)."))
    c_light_cm_per_ns = param.Number(default=C_LIGHT_CM_PER_NS, bounds=(1.0, 30.0),
                                     doc="Effective light speed for the time of flight, cm/ns.")
    t_min_ns = param.Number(default=-20.0, doc="Lower edge of time bin 0, ns (earlier hits go to bin 0).")
    bin_width_ns = param.Number(default=1.5, bounds=(0.01, None), doc="Time-bin width, ns.")
    n_time_bins = param.Integer(default=28, bounds=(1, 512), doc="Number of time slices T.")
    bandwidth = param.Integer(default=19, bounds=(1, 128), doc="Grid bandwidth b; the map is 2b x 2b.")
    value = param.Selector(default="count", objects=["count", "charge"],
                           doc="Cell value: number of hits or summed charge (p.e.).")
    attenuation_cm = param.Number(default=1200.0, bounds=(1.0, None), doc=(
        "Light attenuation length assumed by the centroid bias correction, cm."))
    cloud_window_ns = param.Number(default=30.0, bounds=(0.0, None),
                                   doc="Point clouds keep hits with |proper time| <= this, ns.")
    cloud_threshold_pe = param.Number(default=0.3, bounds=(0.0, None),
                                      doc="Point clouds keep hits with charge >= this, p.e.")

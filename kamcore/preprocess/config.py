"""Configuration of the preprocessing stage (shared by the CLI and the dashboard)."""

from __future__ import annotations

import param

from ..config import JsonConfig

__all__ = ["HitMapConfig", "VertexFitConfig", "C_LIGHT_CM_PER_NS"]

C_LIGHT_CM_PER_NS = 16.95  #: effective speed of light in LS, cm/ns (DESIGN 2, KamNet reference code)


class HitMapConfig(JsonConfig):
    """How raw hits become proper times, KamNet hit maps and generator point clouds.

    Defaults are DESIGN 4: 28 time bins of 1.5 ns from -20 ns, a 38 x 38 grid
    (bandwidth 19), hit counts per cell; point clouds keep hits within +-30 ns
    and at or above 0.3 p.e.  The time of flight uses the fitted vertex.  Every
    classifier checkpoint records the configuration it was trained with
    (``hitmap_config`` in its JSON), and every scoring path builds the model's input
    from that record.
    """

    vertex = param.Selector(default="fit", objects=["fit", "centroid", "file", "truth"], doc=(
        "Vertex used for the time of flight: 'fit' (the time-likelihood fit of "
        "kamcore.preprocess.vertexfit, as the experiment reconstructs), 'centroid' (bias-corrected charge "
        "centroid; the chain of the models trained before the fit existed), 'file' (the reconstructed vertex "
        "stored with the events, whatever made it), 'truth' (simulated primary vertex).  A stored vertex is "
        "reused only when the file records that this same method made it; otherwise it is recomputed."))
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


class VertexFitConfig(JsonConfig):
    """The time-likelihood vertex fit (:mod:`kamcore.preprocess.vertexfit`): PDF constants and iteration.

    The PDF constants are the detector's timing (DESIGN 2; the fast Monte Carlo's
    :class:`~kamcore.sim.SimConfig` defaults, checked equal by
    ``tests/preprocess/test_vertexfit.py``); for data they are calibration constants.
    """

    c_light_cm_per_ns = param.Number(default=C_LIGHT_CM_PER_NS, bounds=(1.0, 30.0),
                                     doc="Effective light speed for the time of flight, cm/ns.")
    rise_ns = param.Number(default=1.0, bounds=(0.0, 100.0), doc="Scintillation rise time, ns.")
    decay_fast_ns = param.Number(default=5.0, bounds=(0.01, 1000.0), doc="Fast scintillation decay time, ns.")
    decay_slow_ns = param.Number(default=20.0, bounds=(0.01, 1000.0), doc="Slow scintillation decay time, ns.")
    fast_fraction = param.Number(default=0.75, bounds=(0.0, 1.0), doc="Light fraction of the fast component.")
    tts_17in_ns = param.Number(default=1.3, bounds=(0.0, 50.0), doc="Transit-time spread sigma, 17-inch, ns.")
    tts_20in_ns = param.Number(default=2.3, bounds=(0.0, 50.0), doc="Transit-time spread sigma, 20-inch, ns.")
    dark_floor_per_ns = param.Number(default=2e-5, bounds=(1e-12, 1.0), doc=(
        "Constant added to the hit-time PDF for dark and stray hits, ns^-1 (~1.4 dark hits over 250 ns "
        "among ~350 hits)."))
    max_pe = param.Integer(default=8, bounds=(1, 64), doc=(
        "Photo-electrons per hit estimated as round(q), clipped to 1..max_pe (first-of-n PDF)."))
    attenuation_cm = param.Number(default=1200.0, bounds=(1.0, None), doc=(
        "Attenuation length of the start vertex's centroid bias correction, cm."))
    min_hits = param.Integer(default=5, bounds=(1, None), doc="Events with fewer hits keep the start vertex.")
    max_iterations = param.Integer(default=30, bounds=(1, 1000), doc="Levenberg-Marquardt iterations at most.")
    tolerance_cm = param.Number(default=0.5, bounds=(0.0, None), doc=(
        "Converged when the vertex step and c_eff x the t0 step are below this, cm."))
    lm_lambda = param.Number(default=1e-3, bounds=(0.0, None), doc="Initial Levenberg-Marquardt damping.")
    max_radius_cm = param.Number(default=850.0, bounds=(1.0, None), doc="Fitted vertices are kept inside this, cm.")
    chunk_events = param.Integer(default=512, bounds=(1, None), doc="Events fitted together (bounds memory).")

"""Configuration of the live producer (:class:`MonitorConfig`).

The simulated feed is a detector taking data in real time, as a DAQ records it:
a run of ``run_length`` selected events on average lasts

    T_run = run_length / rate_hz            (its live time, s),

runs follow each other with ``gap_s`` of dead time, and every event's time stamp
lies inside its run.  The fit of such a run scales the yield constraints by this
live time, with the feed's own rates (:meth:`SimulatedFeed.fit_config`).  A
history replay (``realtime=False``, ``start_ns`` in the past) has the same run
times, placed before now, and is released at full speed.  At the start of each run a
convection period begins with probability ``convection_probability`` (when none
is under way); it lasts ``1 .. convection_max_length`` runs (uniform) and scales
the Bi214 components by ``convection_strength``.

Faulty PMTs can be simulated to test the detector-health checks (:mod:`kamcore.monitor.health`):
``dead_pmts`` lose all their hits, ``hot_pmts`` fire a noise hit in an event with probability
``hot_rate`` (:func:`kamcore.monitor.health.inject_pmt_faults`).

>>> MonitorConfig(rate_hz=50.0).rate_hz
50.0
"""

from __future__ import annotations


import param

from ..config import JsonConfig
from ..errors import ConfigError

__all__ = ["MonitorConfig"]


class MonitorConfig(JsonConfig):
    """What the live producer follows and how much it keeps (units in the names)."""

    feed = param.String(default="sim", doc="'sim' (simulated DAQ stream) or a directory of run_*.parquet files.")
    rate_hz = param.Number(default=2.0, bounds=(0.001, 100000.0), doc=(
        "Simulated feed: selected events per second of wall-clock time."))
    run_length = param.Integer(default=400, bounds=(1, None), doc=(
        "Simulated feed: mean number of selected events of a run (Poisson)."))
    first_run = param.Integer(default=1, bounds=(0, None), doc="Simulated feed: number of the first run.")
    convection_probability = param.Number(default=0.05, bounds=(0.0, 1.0), doc=(
        "Simulated feed: probability that a convection period starts at a run (when none is under way)."))
    convection_strength = param.Number(default=3.0, bounds=(0.0, None), inclusive_bounds=(False, True), doc=(
        "Simulated feed: factor on the Bi214 yields during a convection period."))
    convection_max_length = param.Integer(default=3, bounds=(1, None), doc=(
        "Simulated feed: a convection period lasts 1..this many runs (uniform)."))
    store_events = param.Integer(default=2000, bounds=(1, None), doc="Live store: latest events kept.")
    batch_events = param.Integer(default=0, bounds=(0, None), doc=(
        "Events per scored batch / store chunk; 0 = about one poll interval of events."))
    poll_interval_s = param.Number(default=1.0, bounds=(0.0, None), doc=(
        "Directory feed: seconds between directory scans; also the simulated feed's batch period."))
    settle_s = param.Number(default=2.0, bounds=(0.0, None), doc=(
        "Directory feed: a run file is picked up only when unchanged for this many seconds."))
    incomplete_s = param.Number(default=300.0, bounds=(0.0, None), doc=(
        "Directory feed: a run file without a Parquet footer is 'incomplete' (still being written) and retried; "
        "unchanged for this many seconds it is marked bad_file (a writer that died)."))
    seed = param.Integer(default=0, bounds=(0, None), doc="Simulated feed: seed of runs and convection periods.")
    gap_s = param.Number(default=2.0, bounds=(0.0, None), doc=(
        "Simulated feed: dead time between two runs, s (run stop to next run start)."))
    start_ns = param.Integer(default=0, bounds=(0, None), doc=(
        "Simulated feed: start of the first run, ns since the epoch; 0 = the wall clock when the feed starts."))
    realtime = param.Boolean(default=True, doc=(
        "Simulated feed: release events when the wall clock passes their time stamps (False: at once, "
        "for a replay of runs in the past)."))

    dead_pmts = param.String(default="", doc=(
        "Simulated feed: ids of PMTs that give no hits (comma-separated, e.g. '17,402'), to test the health checks."))
    hot_pmts = param.String(default="", doc=(
        "Simulated feed: ids of PMTs that fire noise hits (comma-separated), to test the health checks."))
    hot_rate = param.Number(default=0.5, bounds=(0.0, 1.0), doc=(
        "Simulated feed: probability per event that a hot PMT without a hit fires a noise hit."))

    def validate(self) -> "MonitorConfig":
        if not str(self.feed).strip():
            raise ConfigError("MonitorConfig.feed must be 'sim' or a directory, got an empty string")
        self.faulty_pmts()
        return self

    def faulty_pmts(self) -> tuple[list[int], list[int]]:
        """``(dead, hot)`` PMT ids of ``dead_pmts`` / ``hot_pmts``; ConfigError on a bad id or a PMT in both."""
        from .health import parse_pmt_list

        dead = parse_pmt_list(self.dead_pmts, what="MonitorConfig.dead_pmts")
        hot = parse_pmt_list(self.hot_pmts, what="MonitorConfig.hot_pmts")
        both = sorted(set(dead) & set(hot))
        if both:
            raise ConfigError(f"PMT {both[0]} is in both MonitorConfig.dead_pmts and hot_pmts")
        return dead, hot

    def run_duration_s(self) -> float:
        """Live time of a simulated run, s: ``run_length / rate_hz`` (module docstring)."""
        return float(self.run_length) / float(self.rate_hz)

    def batch_size(self) -> int:
        """Events per batch: ``batch_events`` or ``rate_hz * poll_interval_s`` (at least 1)."""
        if self.batch_events:
            return int(self.batch_events)
        return max(1, int(round(self.rate_hz * max(self.poll_interval_s, 0.05))))


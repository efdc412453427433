"""Configuration of the live producer (:class:`MonitorConfig`).

The simulated feed replays detector time faster than real time: a run of
``run_length`` selected events on average covers the live time that
``RunSimConfig()`` gives to ``run_length`` events at its default event rate,

    T_run = RunSimConfig.run_duration_s * run_length / RunSimConfig.events_per_run,

so the yield constraints of the fit (events per hour of live time) hold, while
the events arrive on the wall clock at ``rate_hz``.  At the start of each run a
convection period begins with probability ``convection_probability`` (when none
is under way); it lasts ``1 .. convection_max_length`` runs (uniform) and scales
the Bi214 components by ``convection_strength``.

>>> MonitorConfig(rate_hz=50.0).rate_hz
50.0
"""

from __future__ import annotations

import json

import param

from ..errors import ConfigError

__all__ = ["MonitorConfig"]


class MonitorConfig(param.Parameterized):
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

    def validate(self) -> "MonitorConfig":
        if not str(self.feed).strip():
            raise ConfigError("MonitorConfig.feed must be 'sim' or a directory, got an empty string")
        return self

    def batch_size(self) -> int:
        """Events per batch: ``batch_events`` or ``rate_hz * poll_interval_s`` (at least 1)."""
        if self.batch_events:
            return int(self.batch_events)
        return max(1, int(round(self.rate_hz * max(self.poll_interval_s, 0.05))))

    def to_json(self) -> str:
        """All parameters (except ``name``) as a sorted JSON object."""
        return json.dumps({k: v for k, v in self.param.values().items() if k != "name"}, sort_keys=True)

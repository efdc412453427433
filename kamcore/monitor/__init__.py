"""The live producer (DESIGN 7, issue 6): follow a feed, score events, keep a live store, close runs.

* :mod:`~kamcore.monitor.config` -- :class:`MonitorConfig`;
* :mod:`~kamcore.monitor.feeds` -- :class:`SimulatedFeed` (real-time simulated
  DAQ stream), :class:`DirectoryFeed` (run files a DAQ writes);
* :mod:`~kamcore.monitor.store` -- :class:`LiveStore` (latest events, bounded,
  atomic files; readers poll ``latest(n)`` / ``since(seq)``);
* :mod:`~kamcore.monitor.closing` -- the per-run steps of ``kamcore runs fit``
  (:func:`close_run`, :func:`mark_bad_file`, :func:`flag_stored_sequence`);
* :mod:`~kamcore.monitor.producer` -- :class:`Producer`, the one writer;
* :mod:`~kamcore.monitor.session` -- :func:`run_monitor`, the body of ``kamcore monitor`` (history
  replay, status file and parent of a supervised producer);
* :mod:`~kamcore.monitor.archive` -- :func:`load_event`: an event by (run, event id) from its run and
  score files, after it has left the live store;
* :mod:`~kamcore.monitor.alarms` -- alarms of flags, periods and the feed; expert thresholds;
* :mod:`~kamcore.monitor.health` -- detector health of a run: PMT occupancy with hot and dead PMTs,
  trends, KS compatibility with a reference run, simulated faulty PMTs;
* :mod:`~kamcore.monitor.elog` -- :func:`run_elog`: the Markdown e-log entry of a run (fit, flags, health,
  compatibility, alarms, notes, PNG plots);
* :mod:`~kamcore.monitor.display` -- :func:`display_event`: one event as a display draws it (hit PMTs,
  proper times, time slices, hit map).
"""

from .alarms import flag_config, raise_feed_alarm, sync_alarms
from .archive import format_event_address, load_event, parse_event_address
from .closing import close_run, flag_stored_sequence, mark_bad_file, run_file_health, write_run_scores
from .config import MonitorConfig
from .display import DisplayEvent, DisplayGrid, display_event, display_grid
from .elog import ElogEntry, run_elog
from .feeds import DirectoryFeed, FeedBatch, SimulatedFeed
from .health import HealthConfig, RunHealth, compare_runs, inject_pmt_faults, ks_pvalue, run_health, run_trends
from .producer import Producer, ProducerStats, make_feed
from .session import follow_parent, run_monitor, write_status
from .store import LiveEvents, LiveStore

__all__ = [
    "MonitorConfig", "SimulatedFeed", "DirectoryFeed", "FeedBatch", "LiveStore", "LiveEvents",
    "Producer", "ProducerStats", "make_feed", "run_monitor", "write_status", "follow_parent",
    "close_run", "mark_bad_file", "flag_stored_sequence", "write_run_scores",
    "load_event", "parse_event_address", "format_event_address",
    "sync_alarms", "raise_feed_alarm", "flag_config",
    "DisplayGrid", "DisplayEvent", "display_grid", "display_event", "run_file_health",
    "run_elog", "ElogEntry", "HealthConfig", "RunHealth", "run_health", "inject_pmt_faults", "ks_pvalue", "compare_runs", "run_trends",
]

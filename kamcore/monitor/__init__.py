"""The live producer (DESIGN 7, issue 6): follow a feed, score events, keep a live store, close runs.

* :mod:`~kamcore.monitor.config` -- :class:`MonitorConfig`;
* :mod:`~kamcore.monitor.feeds` -- :class:`SimulatedFeed` (real-time simulated
  DAQ stream), :class:`DirectoryFeed` (run files a DAQ writes);
* :mod:`~kamcore.monitor.store` -- :class:`LiveStore` (latest events, bounded,
  atomic files; readers poll ``latest(n)`` / ``since(seq)``);
* :mod:`~kamcore.monitor.closing` -- the per-run steps of ``kamcore runs fit``
  (:func:`close_run`, :func:`mark_bad_file`, :func:`flag_stored_sequence`);
* :mod:`~kamcore.monitor.producer` -- :class:`Producer`, the one writer.
"""

from .closing import close_run, flag_stored_sequence, mark_bad_file, write_run_scores
from .config import MonitorConfig
from .feeds import DirectoryFeed, FeedBatch, SimulatedFeed
from .producer import Producer, ProducerStats, make_feed
from .store import LiveEvents, LiveStore

__all__ = [
    "MonitorConfig", "SimulatedFeed", "DirectoryFeed", "FeedBatch", "LiveStore", "LiveEvents",
    "Producer", "ProducerStats", "make_feed",
    "close_run", "mark_bad_file", "flag_stored_sequence", "write_run_scores",
]

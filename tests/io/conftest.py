"""Small generated event batches for the I/O tests (no Monte Carlo needed)."""

from __future__ import annotations

import contextlib
import json
import re

import numpy as np
import pytest

from kamcore.events import Events

N_PMTS = 1879
SOURCES = ["Xe136_0vbb", "C10", "Bi214", "data"]


def _make_events(n_events: int = 40, seed: int = 0, *, max_hits: int = 30, truth: bool = True) -> Events:
    """``n_events`` random events; every 5th has no hits, every 3rd has NaN vertex/energy."""
    rng = np.random.default_rng(seed)
    counts = rng.integers(1, max_hits + 1, n_events)
    counts[::5] = 0
    offsets = np.zeros(n_events + 1, np.int64)
    np.cumsum(counts, out=offsets[1:])
    h = int(offsets[-1])
    vertex = rng.uniform(-190, 190, (n_events, 3)).astype(np.float32)
    vertex[::3] = np.nan
    energy = rng.uniform(0.5, 4.0, n_events).astype(np.float32)
    energy[1::3] = np.nan
    kw = {}
    if truth:
        dcounts = rng.integers(0, 5, n_events)
        doffsets = np.zeros(n_events + 1, np.int64)
        np.cumsum(dcounts, out=doffsets[1:])
        d = int(doffsets[-1])
        kw = dict(
            deposit_offsets=doffsets,
            deposit_xyz_cm=rng.uniform(-190, 190, (d, 3)).astype(np.float32),
            deposit_t_ns=rng.exponential(1.0, d).astype(np.float32),
            deposit_e_mev=rng.uniform(0.0, 2.5, d).astype(np.float32),
            true_vertex_cm=rng.uniform(-190, 190, (n_events, 3)).astype(np.float32),
        )
    return Events.from_columns(
        offsets=offsets,
        pmt=rng.integers(0, N_PMTS, h).astype(np.int16),
        t_ns=rng.normal(30.0, 12.0, h).astype(np.float32),
        q_pe=rng.gamma(2.0, 0.8, h).astype(np.float32),
        run=np.full(n_events, 12345, np.int32),
        event_id=(np.int64(2**40) + np.arange(n_events)).astype(np.int64),
        timestamp_ns=(np.int64(1_700_000_000_000_000_000) + rng.integers(0, 10**12, n_events)).astype(np.int64),
        source=np.array([SOURCES[i] for i in rng.integers(0, len(SOURCES), n_events)], dtype=object),
        energy_mev=energy,
        vertex_cm=vertex,
        attrs={"sim_config": json.dumps({"qe": 0.23, "seed": seed}), "pmt_table_digest": "0123456789abcdef"},
        **kw,
    )


@pytest.fixture
def make_events():
    """Factory ``make_events(n_events=40, seed=0, *, max_hits=30, truth=True) -> Events``."""
    return _make_events


@pytest.fixture
def events() -> Events:
    return _make_events()


@pytest.fixture
def expect_error():
    """``with expect_error(ExcType, path, pattern):`` -- the error's message is one line,
    names ``path`` and matches ``pattern`` (a regular expression)."""

    @contextlib.contextmanager
    def check(exc_type, path, pattern):
        with pytest.raises(exc_type, match=re.escape(str(path)) + ".*" + pattern) as info:
            yield info
        msg = str(info.value)
        assert "\n" not in msg, msg

    return check

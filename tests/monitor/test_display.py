"""kamcore.monitor.display: one event as a display draws it holds every hit once, per PMT and per slice."""

import numpy as np

from kamcore.monitor import display_event, display_grid
from kamcore.preprocess import proper_times, time_slice_edges

from synthetic import random_events


def test_every_hit_is_drawn_once(pmts):
    batch = random_events(6, seed=3, max_hits=1500)
    ev = batch.take([int(np.argmax(batch.hits_per_event))])  # a thousand hits or so: PMTs hit several times
    n = ev.n_hits
    tau, _ = proper_times(ev, pmts)
    d = display_event(ev, pmts=pmts)
    assert np.allclose(d.tau_ns, tau) and d.run == 7 and d.event_id == int(ev.event_id[0])
    assert np.array_equal(d.pmt, np.unique(ev.pmt)) and len(d.pmt) < n
    assert np.isclose(d.q_pe.sum(), ev.q_pe.astype(np.float64).sum())  # charges summed per PMT
    for p, t in zip(d.pmt[:20], d.t_first_ns[:20]):  # the first proper time of each PMT
        assert t == np.min(tau[ev.pmt == p])
    assert d.slice_counts.sum() == n and d.maps.shape == (28, 38, 38) and d.maps.sum() == n
    # given proper times (a live event's stored ones) are used as they are
    shifted = display_event(ev, tau_ns=tau + 5.0, pmts=pmts, maps=False)
    assert np.allclose(shifted.t_first_ns, d.t_first_ns + 5.0, atol=1e-4) and shifted.maps is None


def test_an_empty_event_and_the_grid(pmts):
    d = display_event(random_events(2, seed=1).take([0]), pmts=pmts)  # event 0 has no hit
    assert len(d.pmt) == len(d.tau_ns) == 0 and d.slice_counts.sum() == 0 and d.maps.sum() == 0
    g = display_grid()
    assert (g.n_slices, g.size) == (28, 38) and np.array_equal(g.slice_edges_ns, time_slice_edges())

import numpy as np
import pytest

from kamcore import Events
from kamcore.geometry import SphericalGrid
from kamcore.preprocess import HitMapConfig, hitmaps, nhit, proper_times, sparse_hitmaps

from synthetic import random_events


def _one_event(pmts, pmt_ids, t_ns, q_pe, vertex=(0.0, 0.0, 0.0)):
    k = len(pmt_ids)
    return Events.from_columns(offsets=[0, k], pmt=pmt_ids, t_ns=t_ns, q_pe=q_pe, vertex_cm=[vertex])


def test_time_binning_matches_design(pmts):
    # vertex at the centre: TOF is the same for every PMT, T0 is the charge-weighted mean
    ids = np.array([0, 1, 2, 3, 4])
    t = np.array([-30.0, -20.0, -18.51, 0.0, 50.0]) + 1000.0
    q = np.array([1.0, 1.0, 1.0, 1.0, 1.0])
    ev = _one_event(pmts, ids, t, q)
    tau, t0 = proper_times(ev, pmts, HitMapConfig(vertex="file"))
    assert t0[0] == pytest.approx(1000.0 - 900.0 / 16.95 + np.mean([-30, -20, -18.51, 0, 50]), abs=1e-4)
    # shift so tau equals the given offsets exactly: add the T0 back
    maps = hitmaps(ev, pmts, HitMapConfig(vertex="file", t_min_ns=-20.0 - (np.mean([-30, -20, -18.51, 0, 50]))))
    tbin = np.nonzero(maps[0])[0]
    assert sorted(tbin.tolist()) == [0, 0, 0, 13, 27]


def test_cells_follow_pmt_directions(pmts):
    ev = _one_event(pmts, np.arange(1879), np.full(1879, 100.0), np.ones(1879))
    m = hitmaps(ev, pmts)[0]
    g = SphericalGrid(19)
    j, k = g.cell_of(pmts.theta, pmts.phi)
    expected = np.zeros((38, 38))
    np.add.at(expected, (j, k), 1.0)
    np.testing.assert_array_equal(m.sum(0), expected)
    assert m.sum() == 1879 and nhit(m[None])[0] == np.count_nonzero(expected)


def test_charge_maps_sum_charge(pmts):
    ev = random_events(5, seed=2)
    m = hitmaps(ev, pmts, HitMapConfig(value="charge"))
    for i in range(5):
        assert m[i].sum() == pytest.approx(ev.hits(i)[2].sum(), rel=1e-5)


def test_sparse_equals_dense(pmts):
    ev = random_events(12, seed=5)
    dense = hitmaps(ev, pmts)
    sp = sparse_hitmaps(ev, pmts)
    np.testing.assert_array_equal(sp.dense(), dense)
    np.testing.assert_array_equal(sp.dense(np.array([7, 2])), dense[[7, 2]])
    np.testing.assert_array_equal(sp.nhit, nhit(dense))
    assert sp.nhit[0] == 0  # the empty event


def test_tof_moves_vertex_to_centre(pmts):
    # hits emitted at t=0 from a vertex: TOF-corrected times are all equal
    v = np.array([100.0, -50.0, 120.0])
    ids = np.arange(0, 1879, 7)
    t = np.linalg.norm(pmts.xyz_cm[ids] - v, axis=1) / 16.95
    ev = _one_event(pmts, ids, t, np.ones(len(ids)), vertex=v)
    tau, t0 = proper_times(ev, pmts, HitMapConfig(vertex="file"))
    np.testing.assert_allclose(tau, 0.0, atol=1e-4)
    assert t0[0] == pytest.approx(0.0, abs=1e-6)


def test_sparse_take_and_concat(pmts):
    ev = random_events(9, seed=6)
    sp = sparse_hitmaps(ev, pmts)
    both = type(sp).concat([sp.take(slice(0, 4)), sp.take(np.array([4, 5, 6, 7, 8]))])
    np.testing.assert_array_equal(both.dense(), sp.dense())
    np.testing.assert_array_equal(sp.take(sp.nhit > 50).nhit, sp.nhit[sp.nhit > 50])


def test_generated_events_keep_their_proper_times(pmts):
    ev = random_events(3, seed=8)
    ev.attrs["time_reference"] = "proper"
    tau, t0 = proper_times(ev, pmts)
    np.testing.assert_array_equal(tau, ev.t_ns)
    assert np.all(t0 == 0)

import numpy as np
import pytest

from kamcore import Events
from kamcore.errors import EventDataError

from synthetic import random_events


def test_take_and_concat_round_trip():
    ev = random_events(30, seed=3)
    parts = [ev.take(slice(0, 10)), ev.take(slice(10, 11)), ev.take(slice(11, 30))]
    assert Events.concat(parts).equals(ev)
    idx = np.array([5, 0, 29, 5])
    sub = ev.take(idx)
    assert len(sub) == 4
    for j, i in enumerate(idx):
        for a, b in zip(sub.hits(j), ev.hits(i)):
            np.testing.assert_array_equal(a, b)
        for a, b in zip(sub.deposits(j), ev.deposits(i)):
            np.testing.assert_array_equal(a, b)
    assert sub.source[1] == ev.source[0]


def test_boolean_mask_and_int_index():
    ev = random_events(10, seed=1)
    mask = ev.hits_per_event > 100
    assert len(ev.take(mask)) == mask.sum()
    assert len(ev[3]) == 1 and ev[-1].event_id[0] == ev.event_id[-1]
    with pytest.raises(IndexError, match="out of range"):
        ev[10]


def test_inconsistent_columns_rejected():
    with pytest.raises(EventDataError, match="hit column 't_ns' has 2 values, offsets say 3"):
        Events.from_columns(offsets=[0, 3], pmt=[1, 2, 3], t_ns=[0.0, 1.0], q_pe=[1, 1, 1])
    with pytest.raises(EventDataError, match="non-decreasing"):
        Events.from_columns(offsets=[0, 3, 2], pmt=[1, 2, 3], t_ns=[0, 1, 2], q_pe=[1, 1, 1])


def test_validate_names_problem():
    ev = Events.from_columns(offsets=[0, 2, 3], pmt=[1, 2, 3], t_ns=[0.0, 1.0, np.nan], q_pe=[1, 1, 1])
    with pytest.raises(EventDataError, match=r"run\.parquet: non-finite t_ns \(nan\) in event 1"):
        ev.validate(1879, name="run.parquet")
    ev = Events.from_columns(offsets=[0, 1], pmt=[1879], t_ns=[0.0], q_pe=[1.0])
    with pytest.raises(EventDataError, match="PMT id 1879 out of range 0..1878"):
        ev.validate(1879, name="x")


def test_deposit_spread():
    ev = Events.from_columns(offsets=[0, 0, 0], pmt=[], t_ns=[], q_pe=[], deposit_offsets=[0, 1, 3],
                             deposit_xyz_cm=[[0, 0, 0], [0, 0, 0], [20, 0, 0]], deposit_t_ns=[0, 0, 0],
                             deposit_e_mev=[1.0, 1.0, 1.0])
    np.testing.assert_allclose(ev.deposit_spread_cm(), [0.0, 10.0])


def test_concat_merges_attrs():
    a, b = random_events(4, seed=1), random_events(3, seed=2)
    a.attrs.update(sim_request='{"seed": 1}', time_reference="proper", only_a=1)
    b.attrs.update(sim_request='{"seed": 2}', time_reference="proper")
    ev = Events.concat([a, b])
    assert ev.attrs["note"] == "synthetic" and ev.attrs["time_reference"] == "proper"
    assert ev.attrs["sim_request"] == ['{"seed": 1}', '{"seed": 2}'] and ev.attrs["only_a"] == [1, None]
    assert a.attrs["sim_request"] == '{"seed": 1}'  # the parts are left alone

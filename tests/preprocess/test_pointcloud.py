import numpy as np

from kamcore import Events
from kamcore.preprocess import HitMapConfig, point_clouds, proper_times
from kamcore.sim import simulate


def test_point_cloud_layout(pmts):
    ev = simulate("Xe136_0vbb", 20, seed=3, pmts=pmts)
    points, trigger = point_clouds(ev, pmts)
    assert points.shape == (20, 1879, 5) and points.dtype == np.float32 and trigger.shape == (20, 1879)
    # untriggered PMTs sit at the origin with t = q = 0 (the "concentric double sphere")
    assert np.all(points[~trigger] == 0.0)
    # triggered rows carry the PMT position, |tau| <= 30 ns and q >= 0.3 p.e.
    e, p = np.nonzero(trigger)
    np.testing.assert_allclose(points[e, p, :3], pmts.xyz_cm[p], rtol=1e-6)
    assert np.all(np.abs(points[e, p, 3]) <= 30.0) and np.all(points[e, p, 4] >= 0.3)
    # every triggered PMT is a hit of that event with those values
    tau, _ = proper_times(ev, pmts)
    for i in (0, 7):
        pmt, _, q = ev.hits(i)
        t_i = tau[ev.offsets[i]:ev.offsets[i + 1]]
        keep = (np.abs(t_i) <= 30.0) & (q >= 0.3)
        np.testing.assert_array_equal(np.sort(pmt[keep]), np.flatnonzero(trigger[i]))
        np.testing.assert_allclose(points[i, pmt[keep], 3], t_i[keep])
        np.testing.assert_allclose(points[i, pmt[keep], 4], q[keep])


def test_window_and_threshold_are_configurable(pmts):
    # T0 = 50 / 3.7 = 13.5 ns: proper times -13.5 ns (four hits) and 86.5 ns (the late one)
    ev = Events.from_columns(offsets=[0, 5], pmt=[0, 1, 2, 3, 4], t_ns=[0.0, 0.0, 0.0, 0.0, 100.0],
                             q_pe=[0.2, 1.0, 1.0, 1.0, 0.5], vertex_cm=[[0.0, 0.0, 0.0]])
    _, trig = point_clouds(ev, pmts)
    np.testing.assert_array_equal(np.flatnonzero(trig[0]), [1, 2, 3])  # 0.2 p.e. and the late hit dropped
    _, trig = point_clouds(ev, pmts, HitMapConfig(cloud_threshold_pe=0.1, cloud_window_ns=100.0))
    assert trig[0].sum() == 5

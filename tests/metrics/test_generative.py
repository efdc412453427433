"""Generator figures of merit: histogram IoU, normalised Wasserstein distance, classifier two-sample test."""

import numpy as np
import pytest
import torch

from kamcore.errors import ConfigError
from kamcore.events import Events
from kamcore.metrics.generative import (ALL_QUANTITIES, FEATURE_NAMES, QUANTITIES, bootstrap_compare, classifier_two_sample_test,
                                        compare_events, event_features, event_observables, histogram_iou, mc_ceiling,
                                        normalised_wasserstein)
from kamcore.sim import simulate


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def mc(pmts):
    return simulate("Xe136_0vbb", 60, seed=11, pmts=pmts)


def test_iou_identical_and_disjoint():
    x = np.random.default_rng(0).normal(size=500)
    assert histogram_iou(x, x) == 1.0
    assert histogram_iou(x, x[::-1].copy(), bins=17) == 1.0
    assert histogram_iou(x, x + 100.0) == 0.0        # all generated values in the overflow bin
    assert histogram_iou(x, x - 100.0) == 0.0        # ... or the underflow bin
    assert histogram_iou(np.zeros(3), np.ones(3), bins=[-0.5, 0.5, 1.5]) == 0.0


def test_iou_hand_made_histograms():
    # P0 = (1/2, 1/2), Pg = (1/4, 3/4): (1/4 + 1/2) / (1/2 + 3/4)
    assert histogram_iou([0.5, 0.5, 1.5, 1.5], [0.5, 1.5, 1.5, 1.5], bins=[0, 1, 2]) == pytest.approx(0.6)
    # half of the generated sample in the overflow bin: P0 = (0 | 1, 0 | 0), Pg = (0 | 1/2, 0 | 1/2)
    assert histogram_iou([0.5, 0.5], [0.5, 7.0], bins=[0, 1, 2]) == pytest.approx(1 / 3)
    # binning from the reference: 2 bins over [0, 2]
    assert histogram_iou([0.0, 2.0], [0.0, 0.5], bins=2) == pytest.approx(1 / 3)
    assert np.isnan(histogram_iou([], [1.0]))
    with pytest.raises(ConfigError, match="strictly increasing"):
        histogram_iou([1.0], [1.0], bins=[1, 0])


def test_wasserstein_identical_and_shifted():
    x = np.random.default_rng(1).exponential(size=400)
    assert normalised_wasserstein(x, x) == 0.0
    span = x.max() - x.min()
    for shift in (0.3, -1.7):
        assert normalised_wasserstein(x, x + shift) == pytest.approx(abs(shift) / span, rel=1e-9)
    assert np.isnan(normalised_wasserstein(np.ones(3), np.ones(3)))  # no spread to normalise by


def test_classifier_auc_same_and_different_distributions():
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(300, 4)), rng.normal(size=(300, 4))
    same = classifier_two_sample_test(a, b, seed=0, epochs=150)
    assert abs(same["auc"] - 0.5) < 0.1 and same["n_train"] == 300 and same["n_test"] == 300
    far = classifier_two_sample_test(a, b + np.array([4.0, 0, 0, 0]), seed=0, epochs=150)
    assert far["auc"] > 0.97
    again = classifier_two_sample_test(a, b, seed=0, epochs=150)
    assert again["auc"] == same["auc"]  # seeded
    with pytest.raises(ConfigError, match="feature arrays"):
        classifier_two_sample_test(a, b[:, :3])


def test_observables_and_features(mc, pmts):
    obs = event_observables(mc, pmts)
    assert set(obs) == set(ALL_QUANTITIES)
    assert obs["nhit"].shape == (60,) and obs["nhit"].sum() == len(obs["time"]) == len(obs["charge"])
    assert np.abs(obs["time"]).max() <= 30 and obs["charge"].min() >= 0.3
    np.testing.assert_allclose(obs["total_charge"].sum(), obs["charge"].sum())
    f = event_features(mc, pmts)
    assert f.shape == (60, len(FEATURE_NAMES)) and np.isfinite(f).all()
    np.testing.assert_array_equal(f[:, 0], obs["nhit"])
    assert (np.diff(f[:, 4:9], axis=1) >= 0).all()                       # quantiles increase
    # first event by hand
    ev0 = mc[0]
    o0 = event_observables(ev0, pmts)
    np.testing.assert_allclose(f[0, 2:4], [o0["time"].mean(), o0["time"].std()], rtol=1e-6)
    np.testing.assert_allclose(f[0, 6], np.median(o0["time"]), rtol=1e-6)
    assert 0 <= f[0, 9] < 900
    np.testing.assert_allclose(obs["centroid_r"], f[:, 9])
    assert np.all(np.abs(obs["centroid_z"]) <= obs["centroid_r"] + 1e-9)


def test_centroid_distributions_see_the_position_the_four_paper_ones_miss(pmts):
    """Bi214 on the balloon bottom vs Bi214 on the whole film: z of the charge centroid tells them apart
    (the bottom's centroids sit at negative z), while the per-hit time and charge hardly differ."""
    from kamcore.sim import simulate

    bottom = simulate("Bi214_film_bottom", 150, seed=11, energy_window_mev=(2, 3))
    film = simulate("Bi214_film", 150, seed=12, energy_window_mev=(2, 3))
    res = compare_events(film, bottom, pmts, classifier=False)
    assert res["centroid_z"]["iou"] < 0.5 < res["time"]["iou"]
    assert np.median(event_observables(bottom, pmts)["centroid_z"]) < -50
    boot = bootstrap_compare(film, bottom, pmts, n_boot=5, seed=1)
    assert set(ALL_QUANTITIES) <= set(boot) and boot["centroid_z"]["iou_std"] >= 0


def test_events_without_hits_get_zero_features(pmts):
    ev = Events.from_columns(offsets=[0, 0, 2], pmt=[1, 2], t_ns=[0.0, 1.0], q_pe=[1.0, 1.0],
                             attrs={"time_reference": "proper"})
    f = event_features(ev, pmts)
    assert (f[0] == 0).all() and f[1, 0] == 2 and f[1, 2] == pytest.approx(0.5)


def test_compare_identical_samples(mc, pmts):
    res = compare_events(mc, mc, pmts, classifier=False)
    for name in QUANTITIES:
        assert res[name]["iou"] == 1.0 and res[name]["wd"] == 0.0 and res[name]["w"] == 0.0
    assert res["n_real"] == res["n_generated"] == 60 and "classifier_auc" not in res


def test_compare_uses_stored_proper_times(mc, pmts):
    """A batch marked time_reference=proper is compared by its stored times, without a second TOF/T0 correction."""
    obs = event_observables(mc, pmts)
    from kamcore.preprocess.timing import proper_times
    tau, _ = proper_times(mc, pmts)
    proper = Events.from_columns(offsets=mc.offsets, pmt=mc.pmt, t_ns=tau, q_pe=mc.q_pe,
                                 attrs={"time_reference": "proper"})
    res = compare_events(mc, proper, pmts, classifier=False)
    assert res["time"]["iou"] == 1.0 and res["nhit"]["iou"] == 1.0
    np.testing.assert_allclose(event_observables(proper, pmts)["time"], obs["time"])


def test_compare_detects_a_shifted_sample(mc, pmts):
    shifted = Events.from_columns(offsets=mc.offsets, pmt=mc.pmt, t_ns=mc.t_ns, q_pe=mc.q_pe * 3.0)
    res = compare_events(mc, shifted, pmts, seed=0)
    assert res["charge"]["iou"] < 0.5 and res["total_charge"]["iou"] < 0.1
    # a common charge scale leaves T0 alone; the fitted vertex moves a little (its first-of-n PDF reads round(q))
    assert res["time"]["iou"] > 0.97
    assert res["classifier_auc"] > 0.9


def test_mc_ceiling(mc, pmts):
    res = mc_ceiling(mc, 30, pmts, seed=1)
    assert res["n_real"] == res["n_generated"] == 30
    assert 0.7 < res["time"]["iou"] < 1.0 and res["time"]["wd"] < 0.05
    assert 0.2 < res["classifier_auc"] < 0.8
    with pytest.raises(ConfigError, match="2 n <= 60"):
        mc_ceiling(mc, 31, pmts)


def test_classifier_test_runs_on_one_thread_and_restores_the_count():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(40, 3)), rng.normal(size=(40, 3))
    seen = []
    orig = torch.nn.Module.__call__

    def spy(self, *args, **kw):
        seen.append(torch.get_num_threads())
        return orig(self, *args, **kw)

    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        torch.nn.Module.__call__ = spy
        classifier_two_sample_test(a, b, epochs=3)
    finally:
        torch.nn.Module.__call__ = orig
        n_after = torch.get_num_threads()
        torch.set_num_threads(before)
    assert seen and set(seen) == {1} and n_after == 2


def test_bootstrap_compare(mc, pmts):
    res = bootstrap_compare(mc, mc, pmts, n_boot=20, seed=0)
    assert res["n_boot"] == 20
    for name in QUANTITIES:
        r = res[name]
        assert 0.0 < r["iou_mean"] < 1.0 and r["iou_std"] > 0 and r["wd_std"] > 0  # resampling both sides
    again = bootstrap_compare(mc, mc, pmts, n_boot=20, seed=0)
    assert again == res
    shifted = Events.from_columns(offsets=mc.offsets, pmt=mc.pmt, t_ns=mc.t_ns, q_pe=mc.q_pe * 3.0)
    far = bootstrap_compare(mc, shifted, pmts, n_boot=20, seed=0)
    assert far["total_charge"]["iou_mean"] < 0.1 and far["time"]["iou_mean"] == pytest.approx(res["time"]["iou_mean"],
                                                                                               abs=0.1)
    with pytest.raises(ConfigError, match="n_boot must be >= 2"):
        bootstrap_compare(mc, mc, pmts, n_boot=1)


def test_resample_hits_follows_events():
    from kamcore.metrics.generative import _resample_hits
    counts = np.array([2, 0, 3])  # hits 0-1, none, 2-4
    np.testing.assert_array_equal(_resample_hits(counts, np.array([2, 0, 2, 1])), [2, 3, 4, 0, 1, 2, 3, 4])


def test_a_sample_without_any_hit_compares_without_crashing(mc, pmts):
    """Events with no hits at all (a fuzzed file found it: numpy's bincount of nothing is int64 even with
    float weights): float64 zeros for every per-event quantity, and a comparison that runs."""
    empty = Events.from_columns(offsets=[0, 0, 0], pmt=np.zeros(0, np.int64), t_ns=np.zeros(0), q_pe=np.zeros(0),
                                attrs={"time_reference": "proper"})
    obs = event_observables(empty, pmts)
    for k in ("nhit", "total_charge", "centroid_r", "centroid_z"):
        assert obs[k].dtype == np.float64 and obs[k].tolist() == [0.0, 0.0], k
    res = compare_events(mc, empty, pmts, classifier=False)
    assert set(ALL_QUANTITIES) <= set(res)

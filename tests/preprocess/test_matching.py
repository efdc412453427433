import numpy as np

from kamcore.preprocess import match_nhit, nhit_weights


def test_matched_histograms_are_identical():
    rng = np.random.default_rng(0)
    s = rng.normal(300, 30, 3000).astype(int)
    b = rng.normal(340, 40, 5000).astype(int)
    i_s, i_b = match_nhit(s, b, np.random.default_rng(1))
    assert len(i_s) == len(i_b) > 1000
    assert len(np.unique(i_s)) == len(i_s) and len(np.unique(i_b)) == len(i_b)
    np.testing.assert_array_equal(np.bincount(s[i_s], minlength=600), np.bincount(b[i_b], minlength=600))
    # the overlap: every matched Nhit value uses min(count_s, count_b) events
    hs, hb = np.bincount(s, minlength=600), np.bincount(b, minlength=600)
    assert len(i_s) == np.minimum(hs, hb).sum()


def test_groups_share_the_signal_equally():
    rng = np.random.default_rng(2)
    s = rng.integers(100, 110, 3000)
    groups = rng.integers(0, 3, 3000)
    b = rng.integers(100, 110, 900)
    i_s, i_b = match_nhit(s, b, np.random.default_rng(3), signal_groups=groups)
    assert len(i_s) == len(i_b) == 900
    counts = np.bincount(groups[i_s])
    assert counts.max() - counts.min() <= 10


def test_reproducible_and_binned():
    s, b = np.arange(100), np.arange(50, 150)
    a1 = match_nhit(s, b, np.random.default_rng(5), bin_width=10)
    a2 = match_nhit(s, b, np.random.default_rng(5), bin_width=10)
    np.testing.assert_array_equal(a1[0], a2[0])
    assert len(a1[0]) == 50


def test_nhit_weights_give_the_reference_histogram():
    rng = np.random.default_rng(0)
    ref = rng.normal(350, 20, 5000).astype(int)
    smp = rng.normal(320, 40, 8000).astype(int)
    w, cov = nhit_weights(ref, smp, bins=10)
    edges = np.linspace(*np.quantile(ref, (0.005, 0.995)), 11)
    h_ref = np.histogram(ref, edges)[0] / len(ref)
    h_w = np.histogram(smp, edges, weights=w)[0]
    assert cov == 1.0
    np.testing.assert_allclose(h_w / h_w.sum(), h_ref / h_ref.sum(), atol=1e-9)
    assert w[smp < edges[0]].sum() == 0  # outside the reference range: weight 0
    # a sample that misses the upper half of the reference covers only part of it
    w2, cov2 = nhit_weights(ref, smp[smp < 350], bins=10)
    assert 0.3 < cov2 < 0.7

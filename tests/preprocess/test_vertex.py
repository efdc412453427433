import numpy as np
import pytest

from kamcore import Events
from kamcore.geometry import acceptance
from kamcore.preprocess import centroid_bias_table, charge_centroid, reconstruct_vertex


def _poisson_events(pmts, vertices, pe_total=900.0, seed=0):
    """Events whose PMT charges are Poisson draws of the optical model (no timing)."""
    rng = np.random.default_rng(seed)
    f = acceptance(vertices, pmts, pmts.photocathode_area_cm2(0.22, 0.12), attenuation_cm=1200.0)
    mu = pe_total * f / f.sum(1, keepdims=True)
    counts = rng.poisson(mu)
    ev, pmt = np.nonzero(counts)
    off = np.r_[0, np.cumsum(np.bincount(ev, minlength=len(vertices)))]
    return Events.from_columns(offsets=off, pmt=pmt, t_ns=np.zeros(len(pmt)), q_pe=counts[ev, pmt].astype(float))


def test_bias_table_is_monotonic_and_shrinks(pmts):
    r, g = centroid_bias_table(pmts)
    assert np.all(np.diff(g) > 0) and g[0] == pytest.approx(0.0, abs=1e-9)
    assert np.all(g[1:] < r[1:])


@pytest.mark.parametrize("radius", [0.0, 100.0, 190.0, 400.0])
def test_corrected_centroid_is_unbiased(pmts, radius):
    rng = np.random.default_rng(1)
    d = rng.normal(size=(200, 3))
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    v = radius * d
    ev = _poisson_events(pmts, v, seed=2)
    raw = np.linalg.norm(charge_centroid(ev, pmts), axis=1)
    rec = reconstruct_vertex(ev, pmts)
    r_rec = np.linalg.norm(rec, axis=1)
    if radius > 0:
        assert abs(r_rec.mean() - radius) < 0.03 * radius + 3.0
        assert abs(raw.mean() - radius) > abs(r_rec.mean() - radius)  # the correction helps
        cos = (rec * d).sum(1) / r_rec
        assert np.median(cos) > 0.95
    # charge-centroid resolution at ~900 p.e. is ~30 cm (Poisson fluctuations of the far side)
    assert np.median(np.linalg.norm(rec - v, axis=1)) < 40.0


def test_no_charge_gives_nan(pmts):
    ev = Events.from_columns(offsets=[0, 0], pmt=[], t_ns=[], q_pe=[])
    assert np.isnan(reconstruct_vertex(ev, pmts)).all()


def test_simulated_film_events_reconstruct_on_the_balloon(pmts):
    from kamcore.sim import simulate

    film = simulate("Bi214_film", 300, seed=4, pmts=pmts)
    bulk = simulate("Bi214", 300, seed=5, pmts=pmts)
    r_film = np.linalg.norm(reconstruct_vertex(film, pmts), axis=1)
    r_bulk = np.linalg.norm(reconstruct_vertex(bulk, pmts), axis=1)
    np.testing.assert_allclose(np.linalg.norm(film.true_vertex_cm, axis=1), 190.0, atol=1e-3)
    assert abs(np.median(r_film) - 190.0) < 15.0
    # and clearly apart from the bulk, which fills the sphere uniformly (median R = 190 / 2^(1/3))
    assert np.median(r_bulk) < 170.0 and np.std(r_film) < np.std(r_bulk)

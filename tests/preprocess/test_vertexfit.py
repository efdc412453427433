"""The time-likelihood vertex fit: PDF tables, resolution and bias on seeded MC, consistency of the chain."""

import numpy as np
import pytest
import torch

from kamcore.preprocess import (HitMapConfig, VertexFitConfig, event_vertices, fit_vertex, reconstruct_vertex,
                                sparse_hitmaps, time_pdf_table, vertex_method, with_vertex)
from kamcore.sim import SimConfig, simulate


@pytest.fixture(scope="module")
def signal_events(pmts):
    return simulate("Xe136_0vbb", 400, seed=424242, pmts=pmts, energy_window_mev=(2.0, 3.0), max_radius_cm=157.0)


def test_pdf_constants_are_the_detectors():
    sim, fit = SimConfig(), VertexFitConfig()
    for name in ("rise_ns", "decay_fast_ns", "decay_slow_ns", "fast_fraction", "tts_17in_ns", "tts_20in_ns"):
        assert getattr(fit, name) == getattr(sim, name), name
    assert fit.c_light_cm_per_ns == HitMapConfig().c_light_cm_per_ns


def test_pdf_table_is_normalised_and_first_of_n_is_earlier():
    r, tab = time_pdf_table()
    dr = r[1] - r[0]
    n_max = VertexFitConfig().max_pe
    floor = VertexFitConfig().dark_floor_per_ns * (r[-1] - r[0])
    for row in (0, 1, n_max, n_max + 3):  # 1 p.e. 17", 2 p.e., 1 p.e. 20", 4 p.e. 20"
        p = np.exp(tab[row, :, 0].astype(np.float64))
        assert p.sum() * dr == pytest.approx(1.0 + floor, abs=2e-3), row
    mean = lambda row: float((r * np.exp(tab[row, :, 0])).sum() / np.exp(tab[row, :, 0]).sum())  # noqa: E731
    assert mean(1) < mean(0)  # the first of two photo-electrons comes earlier
    # the derivative columns are the derivatives of the first
    np.testing.assert_allclose(np.gradient(tab[0, :, 0].astype(np.float64), dr)[100:-100],
                               tab[0, 100:-100, 1], rtol=1e-3, atol=1e-3)


def test_fit_resolution_and_bias(signal_events, pmts):
    """Issue 15: median 3-D error <= 15 cm at 2-3 MeV in R < 157 cm (centroid ~45 cm), bias < 3 cm."""
    fit = fit_vertex(signal_events, pmts)
    err = fit.vertex_cm - signal_events.true_vertex_cm
    d3 = np.linalg.norm(err, axis=1)
    centroid = np.linalg.norm(reconstruct_vertex(signal_events, pmts) - signal_events.true_vertex_cm, axis=1)
    assert np.median(d3) <= 15.0, np.median(d3)
    assert np.median(centroid) > 3 * np.median(d3)
    assert np.all(np.abs(err.mean(0)) < 3.0), err.mean(0)
    assert fit.converged.mean() > 0.99
    assert np.isfinite(fit.nll).all()


def test_fit_is_start_independent(signal_events, pmts):
    ev = signal_events.take(slice(0, 60))
    a = fit_vertex(ev, pmts).vertex_cm
    b = fit_vertex(ev, pmts, start_cm=np.zeros((60, 3))).vertex_cm
    assert np.median(np.linalg.norm(a - b, axis=1)) < 1.0


def test_float64_agrees_with_float32(signal_events, pmts):
    ev = signal_events.take(slice(0, 40))
    a = fit_vertex(ev, pmts).vertex_cm
    b = fit_vertex(ev, pmts, dtype=torch.float64).vertex_cm
    assert np.median(np.linalg.norm(a - b, axis=1)) < 0.5


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu(signal_events, pmts):
    ev = signal_events.take(slice(0, 40))
    a = fit_vertex(ev, pmts).vertex_cm
    b = fit_vertex(ev, pmts, device="cuda").vertex_cm
    assert np.median(np.linalg.norm(a - b, axis=1)) < 0.5


def test_events_with_few_hits_keep_the_start(pmts, signal_events):
    ev = signal_events.take(slice(0, 3))
    fit = fit_vertex(ev, pmts, VertexFitConfig(min_hits=100_000))
    np.testing.assert_allclose(fit.vertex_cm, reconstruct_vertex(ev, pmts))
    assert (fit.n_iter == 0).all() and not fit.converged.any()


def test_stored_vertex_is_reused_only_from_the_same_method(signal_events, pmts):
    ev = signal_events.take(slice(0, 50))
    fitted = with_vertex(ev, pmts)
    assert fitted.attrs["vertex_method"] == vertex_method(HitMapConfig())
    assert vertex_method(HitMapConfig()).startswith("fit:")
    # a file whose vertex came from another method is re-fitted, never used
    other = with_vertex(ev, pmts, HitMapConfig(vertex="centroid"))
    np.testing.assert_allclose(event_vertices(other, pmts), fitted.vertex_cm, atol=1e-3)
    np.testing.assert_array_equal(sparse_hitmaps(other, pmts).dense(), sparse_hitmaps(fitted, pmts).dense())
    # the same method: the stored vertex is used as it is (here moved, to see that it is read)
    moved = type(fitted)(**{**fitted.__dict__, "vertex_cm": fitted.vertex_cm + 100.0})
    np.testing.assert_allclose(event_vertices(moved, pmts), fitted.vertex_cm + 100.0, atol=1e-3)

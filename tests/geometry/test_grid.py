import numpy as np
import pytest

from kamcore.geometry import SphericalGrid, soft_alpha, soft_beta


@pytest.mark.parametrize("b", [1, 4, 19])
def test_cell_centres_are_the_soft_grid(b):
    g = SphericalGrid(b)
    np.testing.assert_allclose(g.theta_centres, np.pi * (2 * np.arange(2 * b) + 1) / (4 * b))
    np.testing.assert_allclose(soft_alpha(b), 2 * np.pi * np.arange(2 * b) / (2 * b))
    tt, pp = np.meshgrid(soft_beta(b), soft_alpha(b), indexing="ij")
    j, k = g.cell_of(tt.ravel(), pp.ravel())
    np.testing.assert_array_equal(j.reshape(tt.shape), np.arange(2 * b)[:, None].repeat(2 * b, 1))
    np.testing.assert_array_equal(k.reshape(tt.shape), np.arange(2 * b)[None, :].repeat(2 * b, 0))


def test_cell_edges_and_wrap():
    g = SphericalGrid(19)
    w = 2 * np.pi / 38
    j, k = g.cell_of(np.array([np.pi, 0.0, 0.0, 0.0]), np.array([0.0, w / 2 - 1e-9, w / 2 + 1e-9, 2 * np.pi - 1e-9]))
    np.testing.assert_array_equal(j, [37, 0, 0, 0])
    np.testing.assert_array_equal(k, [0, 0, 1, 0])


def test_cells_tile_the_sphere():
    g = SphericalGrid(19)
    assert g.cell_solid_angle().sum() * g.n_phi == pytest.approx(4 * np.pi)

import math

import numpy as np
import pytest
import torch
from numpy.polynomial import legendre

from kamcore.errors import ConfigError
from kamcore.geometry import SphericalGrid
from kamcore.nn import (s2_equatorial_grid, s2_near_identity_grid, so3_equatorial_grid, so3_near_identity_grid,
                        soft_alpha, soft_beta, soft_quadrature_weights)
from kamcore.nn.grid import _as_grid


@pytest.mark.parametrize("b", [1, 2, 4, 7, 19])
def test_quadrature_exact_for_degree_below_2b(b):
    w = soft_quadrature_weights(b, dtype=torch.float64).numpy()
    x = np.cos(soft_beta(b))
    for n in range(2 * b):
        exact = 2.0 if n == 0 else 0.0
        assert abs(w @ legendre.legval(x, [0] * n + [1]) - exact) < 1e-13, n
    assert np.all(w > 0)
    assert np.allclose(w, w[::-1])  # symmetric about the equator


def test_weights_follow_dtype_and_device():
    w = soft_quadrature_weights(3, dtype=torch.float32, device="cpu")
    assert w.dtype == torch.float32 and w.shape == (6,)


def test_soft_grid_is_the_hitmap_grid():
    g = SphericalGrid(19)
    assert np.allclose(soft_beta(19), g.theta_centres)
    assert np.allclose(soft_alpha(19), g.phi_centres)
    assert np.allclose(soft_beta(4), math.pi * (2 * np.arange(8) + 1) / 16)


def test_kernel_grids():
    s2 = s2_near_identity_grid()
    assert s2.shape == (24, 2) and s2.dtype == torch.float64
    assert float(s2[:, 0].max()) == pytest.approx(math.pi / 8) and float(s2[:, 0].min()) > 0
    assert s2_equatorial_grid().shape == (32, 2)
    assert torch.allclose(s2_equatorial_grid()[:, 0], torch.full((32,), math.pi / 2, dtype=torch.float64))
    so3 = so3_near_identity_grid(n_alpha=4, n_beta=2, n_gamma=3)
    assert so3.shape == (24, 3)
    eq = so3_equatorial_grid()
    assert eq.shape == (64, 3)
    assert set(np.round(eq[:, 2].numpy(), 12)) == {round(-math.pi / 8, 12), round(math.pi / 8, 12)}


@pytest.mark.parametrize("bad", [0, -2, 2.5, True, "4"])
def test_bad_bandwidth(bad):
    with pytest.raises(ConfigError, match="positive integer bandwidth"):
        soft_quadrature_weights(bad)


def test_grid_validation():
    assert _as_grid([(0.1, 0.2)], 2, "grid").shape == (1, 2)
    assert _as_grid(torch.zeros(3, 3), 3, "grid").shape == (3, 3)
    with pytest.raises(ConfigError, match=r"shape \(P, 3\).*got shape \(4, 2\)"):
        _as_grid(np.zeros((4, 2)), 3, "grid")
    with pytest.raises(ConfigError, match="non-finite"):
        _as_grid([(np.nan, 0.0)], 2, "grid")
    with pytest.raises(ConfigError, match=r"must be a \(P, 2\) array"):
        _as_grid([("a", "b")], 2, "grid")

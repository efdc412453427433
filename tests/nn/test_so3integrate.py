import math

import pytest
import torch

from kamcore.errors import ConfigError
from kamcore.nn import (S2Convolution, SO3Convolution, SO3Integrate, euler_to_matrix, random_rotation,
                        rotate_s2_grid, rotate_so3_grid, rotate_so3_spectral, so3_integrate, soft_beta)
from kamcore.testing import assert_equivariant, random_so3_signal

PI_X = torch.diag(torch.tensor([1.0, -1.0, -1.0], dtype=torch.float64))
PI_Y = torch.diag(torch.tensor([-1.0, 1.0, -1.0], dtype=torch.float64))


def test_constants(float_dtype):
    x = torch.full((2, 3, 6, 6, 6), 2.5, dtype=float_dtype)
    out = so3_integrate(x)
    assert out.shape == (2, 3) and out.dtype == float_dtype
    torch.testing.assert_close(out, torch.full((2, 3), 2.5, dtype=float_dtype))
    torch.testing.assert_close(so3_integrate(x, normalized=False), torch.full((2, 3), 2.5 * 8 * math.pi ** 2,
                                                                             dtype=float_dtype))
    assert SO3Integrate()(x).shape == (2, 3)


def test_exact_for_bandlimited_signals():
    # int cos(beta) dR = 0 and int cos(beta)^2 dR / 8 pi^2 = 1/3 (degree 2 < 2b)
    b = 3
    beta = torch.tensor(soft_beta(b))
    c = torch.cos(beta)[:, None, None].expand(6, 6, 6)
    assert float(so3_integrate(c)) == pytest.approx(0.0, abs=1e-15)
    assert float(so3_integrate(c ** 2)) == pytest.approx(1 / 3, abs=1e-14)


def test_invariance(float_dtype, gen):
    x = random_so3_signal(2, 3, b=4, generator=gen, dtype=float_dtype)
    for q in (euler_to_matrix(2 * math.pi / 8, 0, 0), PI_X, PI_Y):
        assert_equivariant(so3_integrate, x, lambda t: rotate_so3_grid(t, q), lambda t: t)
    q = random_rotation(gen)
    assert_equivariant(so3_integrate, x, lambda t: rotate_so3_spectral(t, q), lambda t: t)


def test_stack_is_invariant_to_grid_rotations(gen):
    """S2 conv -> ReLU -> SO(3) conv -> ReLU -> integral: exactly invariant to rotations of the grids."""
    torch.manual_seed(0)
    net = torch.nn.Sequential(S2Convolution(2, 3, 6, 3), torch.nn.ReLU(), SO3Convolution(3, 4, 3, 3),
                              torch.nn.ReLU(), SO3Integrate()).double()
    x = torch.rand(2, 2, 12, 12, dtype=torch.float64, generator=gen)
    for q in (euler_to_matrix(2 * math.pi / 6, 0, 0), PI_X, PI_Y, PI_X @ euler_to_matrix(math.pi / 3, 0, 0)):
        assert_equivariant(net, x, lambda t: rotate_s2_grid(t, q), lambda t: t, what="spherical stack")


def test_errors():
    with pytest.raises(ConfigError, match=r"shape \[\.\.\., 2b, 2b, 2b\]"):
        so3_integrate(torch.zeros(2, 4, 4))

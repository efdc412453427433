import math

import numpy as np
import pytest
import torch

from kamcore.errors import ConfigError
from kamcore.nn import (SO3Convolution, euler_to_matrix, random_rotation, rotate_so3_grid, rotate_so3_spectral,
                        so3_equatorial_grid, so3_fft, so3_near_identity_grid, soft_alpha, soft_beta)
from kamcore.nn.rotation import _euler_np, _euler_of_np
from kamcore.testing import assert_equivariant, random_so3_signal

PI_X = torch.diag(torch.tensor([1.0, -1.0, -1.0], dtype=torch.float64))
PI_Y = torch.diag(torch.tensor([-1.0, 1.0, -1.0], dtype=torch.float64))


def _layer(c_in, c_out, b_in, b_out, dtype, **kw):
    conv = SO3Convolution(c_in, c_out, b_in, b_out, **kw).to(dtype)
    with torch.no_grad():
        if conv.bias is not None:
            conv.bias.normal_()
    return conv


@pytest.mark.parametrize("b_in,b_out", [(4, 3), (3, 4), (4, 1)])
def test_shapes_forward_backward(b_in, b_out, float_dtype):
    conv = _layer(3, 2, b_in, b_out, float_dtype)
    x = torch.randn(2, 3, 2 * b_in, 2 * b_in, 2 * b_in, dtype=float_dtype, requires_grad=True)
    y = conv(x)
    assert y.shape == (2, 2, 2 * b_out, 2 * b_out, 2 * b_out) and y.dtype == float_dtype
    y.square().mean().backward()
    assert torch.isfinite(x.grad).all() and conv.weight.grad.shape == (3, 2, 64) and conv.bias.grad.shape == (2,)


def test_equivariant_to_grid_rotations(float_dtype, gen):
    conv = _layer(2, 2, 3, 3, float_dtype)
    x = torch.randn(2, 2, 6, 6, 6, generator=gen, dtype=torch.float64).to(float_dtype)
    for q in (euler_to_matrix(2 * math.pi / 6, 0, 0), PI_X, PI_Y):
        assert_equivariant(conv, x, lambda t: rotate_so3_grid(t, q), lambda t: rotate_so3_grid(t, q), what="SO3Conv")
    conv = _layer(2, 2, 4, 2, float_dtype)
    x = torch.randn(1, 2, 8, 8, 8, generator=gen, dtype=torch.float64).to(float_dtype)
    for q in (euler_to_matrix(2 * math.pi / 4, 0, 0), PI_X, PI_Y):
        assert_equivariant(conv, x, lambda t: rotate_so3_grid(t, q), lambda t: rotate_so3_grid(t, q), what="SO3Conv")


@pytest.mark.parametrize("b_in,b_out", [(3, 3), (4, 2), (2, 4)])
def test_equivariant_to_any_rotation_of_bandlimited_input(b_in, b_out, float_dtype, gen):
    conv = _layer(2, 3, b_in, b_out, float_dtype)
    x = random_so3_signal(2, 2, b=b_in, generator=gen, dtype=float_dtype)
    q = random_rotation(gen)
    assert_equivariant(conv, x, lambda t: rotate_so3_spectral(t, q), lambda t: rotate_so3_spectral(t, q))


def test_matches_definition(gen, so3_series):
    """h_o(R) = bias_o + s sum_{c,p} W_cop f_c(R R_p) for band-limited f."""
    b = 2
    grid = so3_near_identity_grid(n_alpha=3, n_beta=1, n_gamma=2)
    conv = _layer(2, 2, b, b, torch.float64, grid=grid)
    x = random_so3_signal(1, 2, b=b, generator=gen)
    y = conv(x).detach().numpy()
    coeffs = so3_fft(x).numpy()[0]
    beta, alpha, gamma = np.meshgrid(soft_beta(b), soft_alpha(b), soft_alpha(b), indexing="ij")
    g = grid.numpy()
    rp = _euler_np(g[:, 1], g[:, 0], g[:, 2])                              # [P, 3, 3]
    rr = np.einsum("jkpab,qbc->jkpqac", _euler_np(alpha, beta, gamma), rp)  # R R_p
    a, bb, c = _euler_of_np(rr)
    f = so3_series(coeffs, a, bb, c)                                       # [C, j, k, p, P]
    w = (conv.weight * conv.scale).detach().numpy()
    expected = np.einsum("cjkpq,coq->ojkp", f, w) + conv.bias.detach().numpy()[:, None, None, None]
    assert np.allclose(y[0], expected, atol=1e-12)


def test_initial_variance_is_about_one():
    torch.manual_seed(0)
    conv = SO3Convolution(8, 8, 6, 4)
    with torch.no_grad():
        y = conv(torch.randn(2, 8, 12, 12, 12))
    assert 0.5 < float(y.std()) < 2.0


def test_gradcheck_float64(gen):
    conv = _layer(2, 2, 2, 2, torch.float64, grid=so3_equatorial_grid(n_alpha=3))
    x = torch.randn(1, 2, 4, 4, 4, dtype=torch.float64, generator=gen, requires_grad=True)
    assert torch.autograd.gradcheck(conv, (x,))
    w = conv.weight.detach().clone().requires_grad_(True)
    assert torch.autograd.gradcheck(lambda w: torch.func.functional_call(conv, {"weight": w}, (x,)), (w,))


def test_state_dict_and_repr():
    conv = SO3Convolution(2, 3, 4, 3)
    assert set(conv.state_dict()) == {"weight", "bias"}
    assert "b_in=4, b_out=3, grid_points=64" in repr(conv)


def test_errors():
    conv = SO3Convolution(2, 3, 3, 2)
    with pytest.raises(ConfigError, match=r"expects input \(B, 2, 6, 6, 6\), got \(1, 2, 6, 6\)"):
        conv(torch.zeros(1, 2, 6, 6))
    with pytest.raises(ConfigError, match=r"grid must have shape \(P, 3\)"):
        SO3Convolution(1, 1, 3, 3, grid=[(0.1, 0.2)])


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu(gen):
    conv = SO3Convolution(2, 3, 3, 2)
    x = torch.randn(2, 2, 6, 6, 6, generator=gen)
    torch.testing.assert_close(conv.to("cuda")(x.to("cuda")).cpu(), conv.cpu()(x), atol=1e-5, rtol=1e-4)

import math

import numpy as np
import pytest
import torch

from kamcore.errors import ConfigError
from kamcore.nn import (S2Convolution, euler_to_matrix, random_rotation, rotate_s2_grid, rotate_s2_spectral,
                        rotate_so3_grid, rotate_so3_spectral, s2_equatorial_grid, s2_fft, soft_alpha, soft_beta)
from kamcore.nn.rotation import _euler_np
from kamcore.testing import assert_equivariant, random_s2_signal, tolerance

PI_X = torch.diag(torch.tensor([1.0, -1.0, -1.0], dtype=torch.float64))
PI_Y = torch.diag(torch.tensor([-1.0, 1.0, -1.0], dtype=torch.float64))


def _layer(c_in, c_out, b_in, b_out, dtype, **kw):
    conv = S2Convolution(c_in, c_out, b_in, b_out, **kw).to(dtype)
    with torch.no_grad():
        if conv.bias is not None:
            conv.bias.normal_()
    return conv


@pytest.mark.parametrize("b_in,b_out", [(4, 3), (3, 4), (5, 2)])
def test_shapes_forward_backward(b_in, b_out, float_dtype):
    conv = _layer(3, 2, b_in, b_out, float_dtype)
    x = torch.randn(4, 3, 2 * b_in, 2 * b_in, dtype=float_dtype, requires_grad=True)
    y = conv(x)
    assert y.shape == (4, 2, 2 * b_out, 2 * b_out, 2 * b_out) and y.dtype == float_dtype
    y.square().mean().backward()
    assert x.grad.shape == x.shape and torch.isfinite(x.grad).all()
    assert conv.weight.grad.shape == conv.weight.shape and conv.bias.grad.shape == (2,)


def test_equivariant_to_grid_rotations(float_dtype, gen):
    b = 4
    conv = _layer(2, 3, b, b, float_dtype)
    x = torch.randn(2, 2, 2 * b, 2 * b, generator=gen, dtype=torch.float64).to(float_dtype)
    for q in (euler_to_matrix(2 * math.pi / (2 * b), 0, 0), euler_to_matrix(math.pi, 0, 0), PI_X, PI_Y):
        assert_equivariant(conv, x, lambda t: rotate_s2_grid(t, q), lambda t: rotate_so3_grid(t, q), what="S2Conv")
    # with a change of bandwidth: rotations that map both grids onto themselves
    conv = _layer(2, 3, 6, 3, float_dtype)
    x = torch.randn(2, 2, 12, 12, generator=gen, dtype=torch.float64).to(float_dtype)
    for q in (euler_to_matrix(2 * math.pi / 6, 0, 0), PI_X, PI_Y):
        assert_equivariant(conv, x, lambda t: rotate_s2_grid(t, q), lambda t: rotate_so3_grid(t, q), what="S2Conv")


@pytest.mark.parametrize("b_in,b_out", [(4, 4), (5, 3), (3, 5)])
def test_equivariant_to_any_rotation_of_bandlimited_input(b_in, b_out, float_dtype, gen):
    conv = _layer(2, 3, b_in, b_out, float_dtype)
    x = random_s2_signal(2, 2, b=b_in, generator=gen, dtype=float_dtype)
    for _ in range(2):
        q = random_rotation(gen)
        err = assert_equivariant(conv, x, lambda t: rotate_s2_spectral(t, q), lambda t: rotate_so3_spectral(t, q))
        assert err < tolerance(float_dtype)


def test_matches_definition(gen, s2_series):
    """h_o(R) = bias_o + s sum_{c,p} W_cop f_c(R x_p) for band-limited f."""
    b = 3
    grid = s2_equatorial_grid(n_alpha=5)
    conv = _layer(2, 2, b, b, torch.float64, grid=grid)
    x = random_s2_signal(1, 2, b=b, generator=gen)
    y = conv(x).detach().numpy()
    coeffs = s2_fft(x).numpy()[0]                                      # [C, L, 2L-1]
    beta, alpha, gamma = np.meshgrid(soft_beta(b), soft_alpha(b), soft_alpha(b), indexing="ij")
    R = _euler_np(alpha, beta, gamma)                                  # [j, k, p, 3, 3]
    g = grid.numpy()
    pts = np.stack([np.sin(g[:, 0]) * np.cos(g[:, 1]), np.sin(g[:, 0]) * np.sin(g[:, 1]), np.cos(g[:, 0])], -1)
    rx = np.einsum("jkpab,qb->jkpqa", R, pts)                          # R x_p
    nb, na = np.arccos(np.clip(rx[..., 2], -1, 1)), np.arctan2(rx[..., 1], rx[..., 0])
    f = s2_series(coeffs, nb, na)                                      # [C, j, k, p, P]
    w = (conv.weight * conv.scale).detach().numpy()                    # [C, O, P]
    expected = np.einsum("cjkpq,coq->ojkp", f, w) + conv.bias.detach().numpy()[:, None, None, None]
    assert np.allclose(y[0], expected, atol=1e-12)


def test_initial_variance_is_about_one():
    torch.manual_seed(0)
    conv = S2Convolution(8, 8, 8, 6)
    with torch.no_grad():
        y = conv(torch.randn(4, 8, 16, 16))
    assert 0.5 < float(y.std()) < 2.0


def test_gradcheck_float64(gen):
    conv = _layer(2, 2, 3, 2, torch.float64, grid=s2_equatorial_grid(n_alpha=4))
    x = torch.randn(2, 2, 6, 6, dtype=torch.float64, generator=gen, requires_grad=True)
    assert torch.autograd.gradcheck(conv, (x,))
    w = conv.weight.detach().clone().requires_grad_(True)
    assert torch.autograd.gradcheck(lambda w: torch.func.functional_call(conv, {"weight": w}, (x,)), (w,))


def test_float32_layer_converted_to_float64_stays_exact(gen):
    conv = S2Convolution(2, 2, 4, 4)  # built in float32 (default dtype)
    conv = conv.double()
    x = random_s2_signal(1, 2, b=4, generator=gen)
    q = random_rotation(gen)
    assert_equivariant(conv, x, lambda t: rotate_s2_spectral(t, q), lambda t: rotate_so3_spectral(t, q))


def test_state_dict_holds_only_parameters():
    conv = S2Convolution(2, 3, 4, 3)
    assert set(conv.state_dict()) == {"weight", "bias"}
    assert "b_in=4, b_out=3, grid_points=24" in repr(conv)
    assert set(S2Convolution(2, 3, 4, 3, bias=False).state_dict()) == {"weight"}


def test_grid_argument_forms():
    pts = [(0.1, 0.0), (0.2, 1.0), (0.3, 2.0)]
    for grid in (pts, np.array(pts), torch.tensor(pts)):
        assert S2Convolution(1, 1, 3, 3, grid=grid).weight.shape == (1, 1, 3)


def test_errors():
    conv = S2Convolution(2, 3, 4, 3)
    with pytest.raises(ConfigError, match=r"expects input \(B, 2, 8, 8\), got \(1, 3, 8, 8\)"):
        conv(torch.zeros(1, 3, 8, 8))
    with pytest.raises(ConfigError, match=r"expects input \(B, 2, 8, 8\), got \(1, 2, 6, 6\)"):
        conv(torch.zeros(1, 2, 6, 6))
    with pytest.raises(ConfigError, match="float32 parameters but the input is torch.float64"):
        conv(torch.zeros(1, 2, 8, 8, dtype=torch.float64))
    with pytest.raises(ConfigError, match="in_channels must be a positive integer"):
        S2Convolution(0, 3, 4, 3)
    with pytest.raises(ConfigError, match="b_out must be a positive integer bandwidth"):
        S2Convolution(1, 3, 4, 0)
    with pytest.raises(ConfigError, match=r"grid must have shape \(P, 2\)"):
        S2Convolution(1, 1, 4, 3, grid=torch.zeros(3, 3))


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu(gen):
    conv = S2Convolution(2, 3, 4, 3)
    x = torch.randn(2, 2, 8, 8, generator=gen)
    torch.testing.assert_close(conv.to("cuda")(x.to("cuda")).cpu(), conv.cpu()(x), atol=1e-5, rtol=1e-4)

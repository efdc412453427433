import math

import numpy as np
import pytest
import torch

from kamcore.errors import ConfigError
from kamcore.nn import so3_fft, so3_ifft, so3_integrate, soft_alpha, soft_beta
from kamcore.testing import random_so3_signal, relative_error, tolerance


def _hermitian(c: torch.Tensor) -> torch.Tensor:
    L = c.shape[-3]
    m = torch.arange(-(L - 1), L)
    sign = (-1.0) ** (m[:, None] + m[None, :]).double()
    c = (c + sign * c.flip(-1, -2).conj()) / 2
    l = torch.arange(L)[:, None, None]
    return c * ((m.abs()[None, :, None] <= l) & (m.abs()[None, None, :] <= l))


@pytest.mark.parametrize("b", [1, 2, 5])
def test_round_trips(b, float_dtype, gen):
    x = random_so3_signal(2, 2, b=b, generator=gen, dtype=float_dtype)
    c = so3_fft(x)
    assert c.shape == (2, 2, b, 2 * b - 1, 2 * b - 1)
    assert relative_error(so3_ifft(c), x) < tolerance(float_dtype)
    assert relative_error(so3_fft(so3_ifft(c)), c) < tolerance(float_dtype)
    c = _hermitian(torch.randn(3, b, 2 * b - 1, 2 * b - 1, dtype=torch.complex128, generator=gen)).to(c.dtype)
    assert relative_error(so3_fft(so3_ifft(c)), c) < tolerance(float_dtype)


def test_synthesis_matches_direct_evaluation(gen, so3_series):
    b = 3
    c = _hermitian(torch.randn(2, b, 2 * b - 1, 2 * b - 1, dtype=torch.complex128, generator=gen))
    beta, alpha, gamma = np.meshgrid(soft_beta(b), soft_alpha(b), soft_alpha(b), indexing="ij")
    assert np.allclose(so3_ifft(c).numpy(), so3_series(c.numpy(), alpha, beta, gamma), atol=1e-12)


def test_single_wigner_function():
    # f = Re conj(D^2_{1,-1}) has c^2_{1,-1} = 1/2 and c^2_{-1,1} = 1/2 * (-1)^0 = 1/2
    from kamcore.nn.wigner import _wigner_D_padded_np

    b = 3
    beta, alpha, gamma = np.meshgrid(soft_beta(b), soft_alpha(b), soft_alpha(b), indexing="ij")
    D = _wigner_D_padded_np(3, alpha, beta, gamma)[..., 2, 1 + 2, -1 + 2]
    c = so3_fft(torch.tensor(np.conj(D).real)).numpy()
    expected = np.zeros_like(c)
    expected[2, 1 + 2, -1 + 2] = 0.5
    expected[2, -1 + 2, 1 + 2] = 0.5
    assert np.allclose(c, expected, atol=1e-13)


def test_haar_integral_is_the_constant_coefficient(gen):
    x = random_so3_signal(3, b=4, generator=gen)
    c = so3_fft(x)
    assert torch.allclose(so3_integrate(x, normalized=False), 8 * math.pi ** 2 * c[..., 0, 3, 3].real)


def test_bandwidth_change(gen):
    x = random_so3_signal(2, b=4, n_l=3, generator=gen)
    up = so3_fft(x, b_out=5)
    assert up.shape == (2, 5, 9, 9) and up[:, 4:].abs().max() == 0
    fine = so3_ifft(so3_fft(x), b_out=6)
    assert relative_error(so3_ifft(so3_fft(fine, b_out=4)), x) < 1e-12
    assert relative_error(so3_ifft(so3_fft(x, b_out=3), b_out=4), x) < 1e-12


def test_complex_signals(gen):
    x = torch.complex(random_so3_signal(b=3, generator=gen), random_so3_signal(b=3, generator=gen))
    assert relative_error(so3_ifft(so3_fft(x), real=False), x) < 1e-12


def test_errors():
    with pytest.raises(ConfigError, match=r"shape \[\.\.\., 2b, 2b, 2b\]"):
        so3_fft(torch.zeros(4, 4, 6))
    with pytest.raises(ConfigError, match=r"\[\.\.\., L, 2L-1, 2L-1\]"):
        so3_ifft(torch.zeros(2, 3, 4, dtype=torch.complex128))

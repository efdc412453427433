import math

import numpy as np
import pytest
import scipy.special
import torch

from kamcore.errors import ConfigError
from kamcore.nn import s2_fft, s2_ifft, soft_alpha, soft_beta, soft_quadrature_weights
from kamcore.testing import random_s2_signal, relative_error, tolerance


def _hermitian(c: torch.Tensor) -> torch.Tensor:
    """Make random padded coefficients the spectrum of a real signal."""
    L = c.shape[-2]
    m = torch.arange(-(L - 1), L)
    c = (c + ((-1.0) ** m) * c.flip(-1).conj()) / 2
    l = torch.arange(L)[:, None]
    return c * (m.abs()[None, :] <= l)


@pytest.mark.parametrize("b", [1, 3, 6])
def test_round_trips(b, float_dtype, gen):
    x = random_s2_signal(2, 3, b=b, generator=gen, dtype=float_dtype)
    assert relative_error(s2_ifft(s2_fft(x)), x) < tolerance(float_dtype)
    c = s2_fft(x)
    assert c.shape == (2, 3, b, 2 * b - 1) and c.dtype == (torch.complex64 if float_dtype == torch.float32
                                                             else torch.complex128)
    assert relative_error(s2_fft(s2_ifft(c)), c) < tolerance(float_dtype)
    # random spectrum of a real signal
    c = _hermitian(torch.randn(4, b, 2 * b - 1, dtype=torch.complex128, generator=gen)).to(c.dtype)
    assert relative_error(s2_fft(s2_ifft(c)), c) < tolerance(float_dtype)


def test_coefficients_of_known_harmonics():
    b = 4
    beta, alpha = np.meshgrid(soft_beta(b), soft_alpha(b), indexing="ij")
    f = scipy.special.sph_harm_y(2, 1, beta, alpha) + 0.5 * scipy.special.sph_harm_y(3, -2, beta, alpha)
    c = s2_fft(torch.tensor(f)).numpy()
    expected = np.zeros((b, 2 * b - 1), dtype=complex)
    expected[2, 1 + b - 1] = 1.0
    expected[3, -2 + b - 1] = 0.5
    assert np.allclose(c, expected, atol=1e-13)
    # real signal: Re Y_1^1 = (Y_1^1 - Y_1^-1) / 2
    g = scipy.special.sph_harm_y(1, 1, beta, alpha).real
    c = s2_fft(torch.tensor(g)).numpy()
    assert c[1, b] == pytest.approx(0.5) and c[1, b - 2] == pytest.approx(-0.5)


def test_synthesis_matches_direct_evaluation(gen, s2_series):
    b = 4
    c = _hermitian(torch.randn(2, b, 2 * b - 1, dtype=torch.complex128, generator=gen))
    beta, alpha = np.meshgrid(soft_beta(b), soft_alpha(b), indexing="ij")
    assert np.allclose(s2_ifft(c).numpy(), s2_series(c.numpy(), beta, alpha), atol=1e-12)


def test_parseval(gen):
    b = 5
    x = random_s2_signal(b=b, generator=gen)
    w = 2 * math.pi / (2 * b) * soft_quadrature_weights(b, dtype=torch.float64)
    integral = (w[:, None] * x ** 2).sum()
    assert float((s2_fft(x).abs() ** 2).sum()) == pytest.approx(float(integral), rel=1e-12)


def test_bandwidth_change(gen):
    x = random_s2_signal(3, b=4, n_l=3, generator=gen)
    up = s2_fft(x, b_out=6)
    assert up.shape == (3, 6, 11) and up[:, 4:].abs().max() == 0
    fine = s2_ifft(s2_fft(x), b_out=7)  # the same band-limited function on a finer grid
    assert relative_error(s2_ifft(s2_fft(fine, b_out=4), b_out=4), x) < 1e-12
    low = s2_fft(x, b_out=3)
    assert relative_error(s2_ifft(low, b_out=4), x) < 1e-12  # nothing above l = 2 was lost


def test_complex_signals(gen):
    x = torch.complex(random_s2_signal(2, b=3, generator=gen), random_s2_signal(2, b=3, generator=gen))
    c = s2_fft(x)
    assert relative_error(s2_ifft(c, real=False), x) < 1e-12
    assert relative_error(s2_fft(x.real) + 1j * s2_fft(x.imag), c) < 1e-12


def test_errors():
    with pytest.raises(ConfigError, match=r"shape \[\.\.\., 2b, 2b\].*got \(4, 5\)"):
        s2_fft(torch.zeros(4, 5))
    with pytest.raises(ConfigError, match="float32/float64"):
        s2_fft(torch.zeros(4, 4, dtype=torch.int64))
    with pytest.raises(ConfigError, match=r"complex tensor \[\.\.\., L, 2L-1\]"):
        s2_ifft(torch.zeros(3, 5))
    with pytest.raises(ConfigError, match=r"shape \[\.\.\., L, 2L-1\]"):
        s2_ifft(torch.zeros(3, 4, dtype=torch.complex64))

"""kamcore.testing (the helpers of the spherical-CNN tests)."""

import pytest
import torch

from kamcore.testing import (FLOAT_TOLERANCE, assert_equivariant, equivariance_error, random_s2_signal,
                             random_so3_signal, relative_error, tolerance)


def test_tolerances():
    assert tolerance(torch.float32) == 1e-4 and tolerance(torch.float64) == 1e-10
    with pytest.raises(ValueError, match="no tolerance defined for dtype torch.int64"):
        tolerance(torch.int64)
    with pytest.raises(TypeError):
        FLOAT_TOLERANCE[torch.float16] = 1.0  # read-only


def test_fixture_runs_both_dtypes(float_dtype):
    assert float_dtype in (torch.float32, torch.float64)


def test_assert_equivariant_passes_and_fails():
    x = torch.linspace(-1, 1, 7, dtype=torch.float64)
    assert assert_equivariant(torch.sin, x, torch.neg, torch.neg) == 0.0
    assert equivariance_error(torch.cos, x, torch.neg, torch.neg) > 1.0
    with pytest.raises(AssertionError, match=r"cos is not equivariant: relative error .* > tolerance 1.0e-10 "
                                             r"\(input \(7,\) torch.float64\)"):
        assert_equivariant(torch.cos, x, torch.neg, torch.neg, what="cos")
    with pytest.raises(ValueError, match=r"shapes differ: \(2,\) vs \(3,\)"):
        relative_error(torch.zeros(2), torch.zeros(3))


def test_random_signals_are_bandlimited():
    from kamcore.nn import s2_fft, so3_fft

    g = torch.Generator().manual_seed(0)
    x = random_s2_signal(2, b=4, n_l=2, generator=g, dtype=torch.float32)
    assert x.shape == (2, 8, 8) and x.dtype == torch.float32
    assert float(s2_fft(x.double())[:, 2:].abs().max()) < 1e-6
    y = random_so3_signal(b=3, n_l=2, generator=g)
    assert y.shape == (6, 6, 6) and float(so3_fft(y)[2:].abs().max()) < 1e-12

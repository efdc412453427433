import math

import numpy as np
import pytest
import scipy.linalg
import scipy.special
import torch

from kamcore.errors import ConfigError
from kamcore.nn import euler_to_matrix, matrix_to_euler, random_rotation, soft_beta, wigner_D, wigner_d, wigner_d_soft

BETAS = torch.tensor([0.0, 0.3, 1.1, 2.0, 3.0], dtype=torch.float64)


@pytest.mark.parametrize("l", [0, 1, 2, 5, 12])
def test_orthogonality(l):
    d = wigner_d(l, BETAS)
    eye = torch.eye(2 * l + 1, dtype=torch.float64)
    assert torch.allclose(d @ d.transpose(-1, -2), eye, atol=1e-12)  # sum_n d_mn d_m'n = delta
    assert torch.allclose(d.transpose(-1, -2) @ d, eye, atol=1e-12)


@pytest.mark.parametrize("l", [0, 1, 3, 8])
def test_identity_composition_and_inverse(l):
    assert torch.allclose(wigner_d(l, 0.0, dtype=torch.float64), torch.eye(2 * l + 1, dtype=torch.float64))
    a, b = 0.37, 1.21
    da, db, dab = (wigner_d(l, v, dtype=torch.float64) for v in (a, b, a + b))
    assert torch.allclose(da @ db, dab, atol=1e-12)
    assert torch.allclose(wigner_d(l, -a, dtype=torch.float64), da.T, atol=1e-12)


def test_l1_closed_form():
    for beta in [0.2, 1.0, 2.5]:
        c, s = math.cos(beta), math.sin(beta)
        r = math.sqrt(2)
        expected = torch.tensor([[(1 + c) / 2, s / r, (1 - c) / 2],
                                 [-s / r, c, s / r],
                                 [(1 - c) / 2, -s / r, (1 + c) / 2]], dtype=torch.float64)
        assert torch.allclose(wigner_d(1, beta, dtype=torch.float64), expected, atol=1e-14)


def test_matches_matrix_exponential_of_jy():
    l, beta = 6, 0.83
    m = np.arange(-l, l)
    jp = np.zeros((2 * l + 1, 2 * l + 1))
    jp[m + l + 1, m + l] = np.sqrt(l * (l + 1) - m * (m + 1))
    d = scipy.linalg.expm(-1j * beta * (jp - jp.T) / 2j).real
    assert np.allclose(wigner_d(l, beta, dtype=torch.float64).numpy(), d, atol=1e-12)


def test_symmetry_minus_m_minus_n():
    l = 4
    d = wigner_d(l, 0.9, dtype=torch.float64)
    m = torch.arange(-l, l + 1)
    sign = (-1.0) ** (m[:, None] - m[None, :]).double()
    assert torch.allclose(d.flip(0, 1), sign * d, atol=1e-13)


@pytest.mark.parametrize("l", [0, 1, 2, 4])
def test_spherical_harmonics_relation(l):
    beta, alpha = 0.7, 2.1
    D = wigner_D(l, alpha, beta, 0.0, dtype=torch.complex128)
    for m in range(-l, l + 1):
        y = math.sqrt((2 * l + 1) / (4 * math.pi)) * np.conj(D[m + l, l].item())
        assert y == pytest.approx(scipy.special.sph_harm_y(l, m, beta, alpha), abs=1e-12)


def test_wigner_D_is_a_representation():
    g = torch.Generator().manual_seed(0)
    for l in [1, 3]:
        r1, r2 = random_rotation(g), random_rotation(g)
        D1, D2, D12 = (wigner_D(l, *matrix_to_euler(r), dtype=torch.float64) for r in (r1, r2, r1 @ r2))
        assert torch.allclose(D1 @ D2, D12, atol=1e-12)
        assert torch.allclose(D1 @ D1.conj().T, torch.eye(2 * l + 1, dtype=torch.complex128), atol=1e-12)


def test_wigner_D_of_euler_matrix_l1():
    # D^1 in the spherical basis is the rotation matrix itself up to a change of basis: check the trace.
    R = euler_to_matrix(0.4, 1.3, -0.7)
    D = wigner_D(1, 0.4, 1.3, -0.7, dtype=torch.complex128)
    assert complex(torch.trace(D)).real == pytest.approx(float(torch.trace(R)), abs=1e-12)


def test_soft_table():
    b, L = 5, 4
    t = wigner_d_soft(b, L, dtype=torch.float64)
    assert t.shape == (L, 2 * L - 1, 2 * L - 1, 2 * b)
    beta = torch.tensor(soft_beta(b))
    for l in range(L):
        s = slice(L - 1 - l, L + l)
        assert torch.allclose(t[l, s, s].permute(2, 0, 1), wigner_d(l, beta), atol=1e-14)
        mask = torch.ones(2 * L - 1, 2 * L - 1, dtype=torch.bool)
        mask[s, s] = False
        assert t[l][mask].abs().max() == 0 if mask.any() else True
    t32 = wigner_d_soft(b, L, dtype=torch.float32)
    assert t32.dtype == torch.float32
    t32.zero_()  # a copy: the cache is untouched
    assert torch.equal(wigner_d_soft(b, L, dtype=torch.float64), t)


def test_errors():
    with pytest.raises(ConfigError, match="degree l must be a non-negative integer"):
        wigner_d(-1, 0.1)
    with pytest.raises(ConfigError, match="n_l must be a positive integer bandwidth"):
        wigner_d_soft(3, 0)

import math

import numpy as np
import pytest
import torch

from kamcore.errors import ConfigError
from kamcore.nn import (euler_to_matrix, matrix_to_euler, random_rotation, rotate_s2_grid, rotate_s2_spectral,
                        rotate_so3_grid, rotate_so3_spectral, s2_fft, so3_fft, soft_alpha, soft_beta)
from kamcore.testing import random_s2_signal, random_so3_signal, relative_error

B = 4
GRID_ROTATIONS = {
    "z by 2pi/2b": euler_to_matrix(2 * math.pi / (2 * B), 0, 0),
    "z by 3 steps": euler_to_matrix(3 * 2 * math.pi / (2 * B), 0, 0),
    "pi about z": euler_to_matrix(math.pi, 0, 0),
    "pi about x": torch.diag(torch.tensor([1.0, -1.0, -1.0], dtype=torch.float64)),
    "pi about y": torch.diag(torch.tensor([-1.0, 1.0, -1.0], dtype=torch.float64)),
}


def test_euler_round_trip():
    g = torch.Generator().manual_seed(3)
    for _ in range(20):
        r = random_rotation(g)
        assert torch.allclose(r @ r.T, torch.eye(3, dtype=torch.float64), atol=1e-12)
        assert float(torch.linalg.det(r)) == pytest.approx(1.0)
        assert torch.allclose(euler_to_matrix(*matrix_to_euler(r)), r, atol=1e-12)
    for r in GRID_ROTATIONS.values():  # includes beta = 0 and beta = pi (gimbal lock)
        assert torch.allclose(euler_to_matrix(*matrix_to_euler(r)), r, atol=1e-12)
    z = euler_to_matrix(0.3, 0.0, 0.0)
    assert torch.allclose(z, torch.tensor([[math.cos(0.3), -math.sin(0.3), 0], [math.sin(0.3), math.cos(0.3), 0],
                                           [0, 0, 1]], dtype=torch.float64))
    y = euler_to_matrix(0.0, 0.3, 0.0)  # Ry turns e_z towards e_x
    assert float(y[0, 2]) == pytest.approx(math.sin(0.3))


@pytest.mark.parametrize("name", list(GRID_ROTATIONS))
def test_grid_rotation_equals_spectral(name, gen):
    q = GRID_ROTATIONS[name]
    x = random_s2_signal(2, b=B, generator=gen)
    assert relative_error(rotate_s2_grid(x, q), rotate_s2_spectral(x, q)) < 1e-12
    y = random_so3_signal(2, b=B, generator=gen)
    assert relative_error(rotate_so3_grid(y, q), rotate_so3_spectral(y, q)) < 1e-12


def test_s2_rotation_is_f_of_inverse_rotated_point(gen, s2_series):
    q = random_rotation(gen).numpy()
    x = random_s2_signal(b=B, generator=gen)
    beta, alpha = np.meshgrid(soft_beta(B), soft_alpha(B), indexing="ij")
    p = np.stack([np.sin(beta) * np.cos(alpha), np.sin(beta) * np.sin(alpha), np.cos(beta)], axis=-1) @ q
    nb, na = np.arccos(np.clip(p[..., 2], -1, 1)), np.arctan2(p[..., 1], p[..., 0])
    expected = s2_series(s2_fft(x).numpy(), nb, na)[0]
    assert np.allclose(rotate_s2_spectral(x, q).numpy(), expected, atol=1e-12)


def test_so3_rotation_is_left_translation(gen, so3_series):
    from kamcore.nn.rotation import _euler_np, _euler_of_np

    q = random_rotation(gen).numpy()
    y = random_so3_signal(b=3, generator=gen)
    beta, alpha, gamma = np.meshgrid(soft_beta(3), soft_alpha(3), soft_alpha(3), indexing="ij")
    na, nb, ng = _euler_of_np(q.T @ _euler_np(alpha, beta, gamma))
    expected = so3_series(so3_fft(y).numpy(), na, nb, ng)[0]
    assert np.allclose(rotate_so3_spectral(y, q).numpy(), expected, atol=1e-12)


def test_composition(gen):
    q1, q2 = random_rotation(gen), random_rotation(gen)
    x = random_s2_signal(b=B, generator=gen)
    assert relative_error(rotate_s2_spectral(rotate_s2_spectral(x, q2), q1), rotate_s2_spectral(x, q1 @ q2)) < 1e-12
    y = random_so3_signal(b=3, generator=gen)
    assert relative_error(rotate_so3_spectral(rotate_so3_spectral(y, q2), q1),
                          rotate_so3_spectral(y, q1 @ q2)) < 1e-12


def test_random_rotation_reproducible():
    a = random_rotation(torch.Generator().manual_seed(5))
    b = random_rotation(torch.Generator().manual_seed(5))
    assert torch.equal(a, b)


def test_errors(gen):
    x = random_s2_signal(b=B, generator=gen)
    with pytest.raises(ConfigError, match="does not map the SOFT grid of bandwidth 4 onto itself"):
        rotate_s2_grid(x, euler_to_matrix(0.1, 0.0, 0.0))
    with pytest.raises(ConfigError, match="does not map the SOFT grid"):
        rotate_so3_grid(random_so3_signal(b=2, generator=gen), euler_to_matrix(0.0, 0.2, 0.0))
    with pytest.raises(ConfigError, match="3x3 proper orthogonal"):
        rotate_s2_spectral(x, torch.eye(3) * 2)

"""Fixtures of the spherical-CNN tests: dtype parametrisation and direct series evaluation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from kamcore.nn.wigner import _wigner_D_padded_np
from kamcore.testing import float_dtype  # noqa: F401  (fixture: float32 and float64)


def eval_s2_series(c: np.ndarray, beta: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """``sum_lm c_l^m Y_l^m(beta, alpha)`` by explicit sums; ``c`` is ``[..., L, 2L-1]``."""
    L = c.shape[-2]
    D = _wigner_D_padded_np(L, np.zeros_like(beta), beta, np.zeros_like(beta))[..., L - 1]  # d^l_{m0}
    m = np.arange(-(L - 1), L)
    Y = np.sqrt((2 * np.arange(L) + 1) / (4 * np.pi))[:, None] * D * np.exp(1j * m * alpha[..., None, None])
    return np.einsum("...lm,blm->b...", Y, c.reshape(-1, L, 2 * L - 1)).real


def eval_so3_series(c: np.ndarray, alpha: np.ndarray, beta: np.ndarray, gamma: np.ndarray) -> np.ndarray:
    """``sum c^l_mn conj(D^l_mn(alpha, beta, gamma))`` by explicit sums; ``c`` is ``[..., L, 2L-1, 2L-1]``."""
    L = c.shape[-3]
    D = np.conj(_wigner_D_padded_np(L, alpha, beta, gamma))
    return np.einsum("...lmn,blmn->b...", D, c.reshape(-1, L, 2 * L - 1, 2 * L - 1)).real


@pytest.fixture
def gen() -> torch.Generator:
    return torch.Generator().manual_seed(1234)


@pytest.fixture
def s2_series():
    """The function :func:`eval_s2_series` (direct evaluation of an S2 spectrum)."""
    return eval_s2_series


@pytest.fixture
def so3_series():
    """The function :func:`eval_so3_series` (direct evaluation of an SO(3) spectrum)."""
    return eval_so3_series

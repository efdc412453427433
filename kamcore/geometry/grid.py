"""The 38 x 38 (theta, phi) grid of the KamNet hit maps and the SOFT grid.

The spherical CNN samples functions on the SO(3)/S2 grid of bandwidth ``b``
(Kostelec & Rockmore's SOFT grid, DESIGN 4):

    beta_j  = pi (2 j + 1) / (4 b),   j = 0 .. 2b-1
    alpha_k = 2 pi k / (2 b),          k = 0 .. 2b-1
    gamma_l = 2 pi l / (2 b),          l = 0 .. 2b-1   (SO(3) only)

A hit-map cell ``(j, k)`` covers ``theta in [pi j / 2b, pi (j+1) / 2b)`` and
``phi in [2 pi (k - 1/2) / 2b, 2 pi (k + 1/2) / 2b)`` so that its centre is exactly
``(beta_j, alpha_k)``.  With ``b = 19`` that is the 38 x 38 map of KamNet.

>>> g = SphericalGrid(19)
>>> bool(np.allclose(g.theta_centres, soft_beta(19)))
True
>>> g.cell_of(np.array([0.0]), np.array([0.0]))
(array([0]), array([0]))
"""

from __future__ import annotations

import numpy as np

__all__ = ["SphericalGrid", "soft_beta", "soft_alpha", "HITMAP_BANDWIDTH"]

HITMAP_BANDWIDTH = 19  #: b of the KamNet input, 2b = 38 cells per angle (DESIGN 4)


def soft_beta(b: int) -> np.ndarray:
    """``(2b,) float64`` SOFT polar sampling points ``pi (2j+1) / 4b``, rad."""
    return np.pi * (2 * np.arange(2 * b) + 1) / (4 * b)


def soft_alpha(b: int) -> np.ndarray:
    """``(2b,) float64`` SOFT azimuth (and gamma) sampling points ``2 pi k / 2b``, rad."""
    return 2 * np.pi * np.arange(2 * b) / (2 * b)


class SphericalGrid:
    """The ``2b x 2b`` equiangular (theta, phi) grid of bandwidth ``b``.

    Parameters
    ----------
    bandwidth : int
        ``b``; the grid has ``2b`` rows in theta and ``2b`` columns in phi.
    """

    def __init__(self, bandwidth: int = HITMAP_BANDWIDTH):
        if bandwidth < 1:
            raise ValueError(f"bandwidth must be >= 1, got {bandwidth}")
        self.bandwidth = int(bandwidth)
        self.n_theta = self.n_phi = 2 * self.bandwidth
        self.theta_centres = soft_beta(self.bandwidth)
        self.phi_centres = soft_alpha(self.bandwidth)
        self.theta_edges = np.pi * np.arange(self.n_theta + 1) / self.n_theta
        self.phi_edges = 2 * np.pi * (np.arange(self.n_phi + 1) - 0.5) / self.n_phi

    @property
    def shape(self) -> tuple[int, int]:
        return (self.n_theta, self.n_phi)

    def cell_of(self, theta: np.ndarray, phi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Cell indices ``(j, k)`` (int64 arrays) of directions ``theta, phi`` (rad)."""
        j = np.floor(np.asarray(theta) * self.n_theta / np.pi).astype(np.int64)
        j = np.clip(j, 0, self.n_theta - 1)
        k = np.floor(np.asarray(phi) * self.n_phi / (2 * np.pi) + 0.5).astype(np.int64) % self.n_phi
        return j, k

    def flat_cell_of(self, theta: np.ndarray, phi: np.ndarray) -> np.ndarray:
        """Flat cell index ``j * 2b + k``."""
        j, k = self.cell_of(theta, phi)
        return j * self.n_phi + k

    def cell_solid_angle(self) -> np.ndarray:
        """``(2b,) float64`` solid angle of a cell in each theta row, sr."""
        return (2 * np.pi / self.n_phi) * (np.cos(self.theta_edges[:-1]) - np.cos(self.theta_edges[1:]))

    def __repr__(self) -> str:
        return f"SphericalGrid(b={self.bandwidth}, {self.n_theta}x{self.n_phi})"

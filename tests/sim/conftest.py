"""Helpers of the Monte Carlo tests: Nhit and proper times with the true vertex (DESIGN 4).

These mirror the definitions of DESIGN 4 directly (TOF from the true vertex at
16.95 cm/ns, charge-weighted T0, 28 bins of 1.5 ns from -20 ns, the 38 x 38 grid)
so that the tuning tests do not depend on the preprocessing stage;
``test_physics.py`` cross-checks them against :mod:`kamcore.preprocess`.
"""

from __future__ import annotations

import numpy as np
import pytest

from kamcore.geometry import SphericalGrid

C_EFF_CM_PER_NS = 16.95  # DESIGN 2
T_MIN_NS, BIN_NS, N_BINS = -20.0, 1.5, 28  # DESIGN 4


def proper_times_truth(events, pmts) -> np.ndarray:
    """``(H,) float64`` tau = t - |x_pmt - v_true| / c_eff - T0 (T0 charge-weighted per event)."""
    ev = events.event_index()
    d = np.linalg.norm(pmts.xyz_cm[events.pmt.astype(np.int64)] - events.true_vertex_cm[ev].astype(np.float64), axis=1)
    tt = events.t_ns.astype(np.float64) - d / C_EFF_CM_PER_NS
    q = events.q_pe.astype(np.float64)
    t0 = np.bincount(ev, q * tt, minlength=len(events)) / np.maximum(np.bincount(ev, q, minlength=len(events)), 1e-30)
    return tt - t0[ev]


def nhit_truth(events, pmts) -> np.ndarray:
    """``(N,) int64`` non-zero cells of the 28 x 38 x 38 hit map (hit counts, true vertex)."""
    tau = proper_times_truth(events, pmts)
    k = np.clip(np.floor((tau - T_MIN_NS) / BIN_NS), 0, N_BINS - 1).astype(np.int64)
    cell = SphericalGrid().flat_cell_of(pmts.theta, pmts.phi)[events.pmt.astype(np.int64)]
    key = events.event_index() * (N_BINS * 38 * 38) + k * 38 * 38 + cell
    return np.bincount(np.unique(key) // (N_BINS * 38 * 38), minlength=len(events))


@pytest.fixture(scope="session")
def nhit():
    return nhit_truth


@pytest.fixture(scope="session")
def proper_times():
    return proper_times_truth

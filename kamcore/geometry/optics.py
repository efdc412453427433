"""Geometric light acceptance: which fraction of isotropic light reaches each PMT.

A point source at ``r`` emits isotropically; PMT ``i`` at ``R_i`` with effective
photocathode area ``A_i`` (facing the centre) collects the fraction

    f_i(r) = A_i cos(eta_i) / (4 pi d_i^2) * exp(-d_i / L_att),

with ``d_i = |R_i - r|`` and ``cos(eta_i) = (R_i - r) . R_i / (d_i |R_i|)`` the cosine
of the incidence angle on the photocathode (DESIGN 2; the flat-disc approximation,
good when the PMT is small compared with ``d``).  At the centre and without
attenuation ``sum_i f_i`` equals the total photocoverage.
"""

from __future__ import annotations

import numpy as np

from .pmt import PMTTable

__all__ = ["acceptance", "distances_cm"]


def distances_cm(points_cm: np.ndarray, pmts: PMTTable) -> np.ndarray:
    """``(M, P) float64`` distances from points ``(M, 3)`` cm to every PMT, cm."""
    p = np.asarray(points_cm, dtype=np.float64).reshape(-1, 3)
    d2 = (p * p).sum(1)[:, None] + (pmts.xyz_cm**2).sum(1)[None, :] - 2.0 * p @ pmts.xyz_cm.T
    return np.sqrt(np.maximum(d2, 0.0))


def acceptance(points_cm: np.ndarray, pmts: PMTTable, area_cm2: np.ndarray,
               attenuation_cm: float = np.inf, dtype=np.float64) -> np.ndarray:
    """``(M, P)`` fraction of isotropic light from each point that each PMT collects.

    Parameters
    ----------
    points_cm : (M, 3) emission points, cm
    pmts : the PMT table
    area_cm2 : (P,) effective photocathode areas (:meth:`PMTTable.photocathode_area_cm2`)
    attenuation_cm : light attenuation length, cm (``inf`` switches it off)
    """
    p = np.asarray(points_cm, dtype=np.float64).reshape(-1, 3)
    d = distances_cm(p, pmts)
    # (R - r) . R / |R| = |R| - r . u
    proj = pmts.r_cm[None, :] - p @ pmts.unit.T
    cos_eta = np.clip(proj / np.maximum(d, 1e-9), 0.0, 1.0)
    f = area_cm2[None, :] * cos_eta / (4.0 * np.pi * np.maximum(d, 1e-9) ** 2)
    if np.isfinite(attenuation_cm):
        f *= np.exp(-d / attenuation_cm)
    return f.astype(dtype, copy=False)

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
    # |r|^2 + |R|^2 - 2 r.R, evaluated in place in one (M, P) array (same operations, fewer temporaries)
    d = (p * p).sum(1)[:, None] + (pmts.xyz_cm**2).sum(1)[None, :]
    d -= 2.0 * p @ pmts.xyz_cm.T
    np.maximum(d, 0.0, out=d)
    return np.sqrt(d, out=d)


def acceptance(points_cm: np.ndarray, pmts: PMTTable, area_cm2: np.ndarray,
               attenuation_cm: float = np.inf, dtype=np.float64, out: np.ndarray | None = None) -> np.ndarray:
    """``(M, P)`` fraction of isotropic light from each point that each PMT collects.

    Parameters
    ----------
    points_cm : (M, 3) emission points, cm
    pmts : the PMT table
    area_cm2 : (P,) effective photocathode areas (:meth:`PMTTable.photocathode_area_cm2`)
    attenuation_cm : light attenuation length, cm (``inf`` switches it off)
    out : optional C-contiguous ``(M, P) float64`` array to write the result into
        (then ``dtype`` must be float64)
    """
    if out is not None and np.dtype(dtype) != np.float64:
        raise ValueError("acceptance: out= needs dtype float64")
    p = np.asarray(points_cm, dtype=np.float64).reshape(-1, 3)
    d = distances_cm(p, pmts)
    # (R - r) . R / |R| = |R| - r . u.  f is built in place, proj -> cos_eta -> A cos_eta / (4 pi d^2) -> * exp(-d/L),
    # with the operations (and their order) of the plain expressions, so the values are the same bit for bit
    f = np.matmul(p, pmts.unit.T, out=out)
    np.subtract(pmts.r_cm[None, :], f, out=f)
    dmin = np.maximum(d, 1e-9)
    np.divide(f, dmin, out=f)
    np.clip(f, 0.0, 1.0, out=f)  # cos_eta
    np.multiply(area_cm2[None, :], f, out=f)
    np.square(dmin, out=dmin)
    np.multiply(4.0 * np.pi, dmin, out=dmin)
    np.divide(f, dmin, out=f)
    if np.isfinite(attenuation_cm):
        np.divide(d, -attenuation_cm, out=d)  # == (-d) / L bit for bit (the sign is exact)
        f *= np.exp(d, out=d)
    return f if out is not None else f.astype(dtype, copy=False)

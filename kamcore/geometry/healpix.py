"""HEALPix helpers for display (healpy).

PMT hits are painted onto a HEALPix map of ``npix = 12 nside^2`` pixels (RING
ordering), each PMT on the pixel that contains its direction; pixels without a PMT
are ``healpy.UNSEEN`` so projections leave them blank.  Mollweide projection of
that map is how the dashboard shows an event on the sphere.
"""

from __future__ import annotations

import numpy as np

from .pmt import PMTTable

__all__ = ["pmt_pixels", "hits_to_healpix", "mollweide_image"]


def _hp():
    try:
        import healpy
        import healpy.projector  # noqa: F401  (not imported by healpy itself)
    except ModuleNotFoundError as exc:  # pragma: no cover - healpy is a dependency
        raise ModuleNotFoundError("healpy is needed for HEALPix display: pip install healpy") from exc
    return healpy


def pmt_pixels(pmts: PMTTable, nside: int = 16) -> np.ndarray:
    """``(P,) int64`` RING pixel index of every PMT direction."""
    return _hp().ang2pix(nside, pmts.theta, pmts.phi)


def hits_to_healpix(pmt: np.ndarray, value: np.ndarray, pmts: PMTTable, nside: int = 16,
                    reduce: str = "mean") -> np.ndarray:
    """``(12 nside^2,) float64`` map of hit values, UNSEEN where no PMT was hit.

    Several PMTs on one pixel are combined with ``reduce`` (``mean``, ``sum``, ``min``).
    """
    hp = _hp()
    npix = hp.nside2npix(nside)
    pix = pmt_pixels(pmts, nside)[np.asarray(pmt, dtype=np.int64)]
    value = np.asarray(value, dtype=np.float64)
    out = np.full(npix, hp.UNSEEN)
    if len(pix) == 0:
        return out
    if reduce == "min":
        m = np.full(npix, np.inf)
        np.minimum.at(m, pix, value)
        sel = np.isfinite(m)
        out[sel] = m[sel]
        return out
    s = np.bincount(pix, value, minlength=npix)
    n = np.bincount(pix, minlength=npix)
    sel = n > 0
    if reduce == "sum":
        out[sel] = s[sel]
    elif reduce == "mean":
        out[sel] = s[sel] / n[sel]
    else:
        raise ValueError(f"reduce must be 'mean', 'sum' or 'min', got {reduce!r}")
    return out


def mollweide_image(hp_map: np.ndarray, xsize: int = 400) -> np.ndarray:
    """``(xsize/2, xsize) float64`` Mollweide projection; NaN outside the ellipse or UNSEEN."""
    hp = _hp()
    proj = hp.projector.MollweideProj(xsize=xsize)
    nside = hp.npix2nside(len(hp_map))
    img = proj.projmap(np.asarray(hp_map, dtype=np.float64), lambda x, y, z: hp.vec2pix(nside, x, y, z))
    img = np.asarray(img, dtype=np.float64)
    img[(img == hp.UNSEEN) | ~np.isfinite(img)] = np.nan
    return img

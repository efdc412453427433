"""HEALPix helpers for display (healpy).

PMT hits are painted onto a HEALPix map of ``npix = 12 nside^2`` pixels (RING
ordering), each PMT on the pixel that contains its direction; pixels without a PMT
are ``healpy.UNSEEN`` so projections leave them blank.  Mollweide projection of
that map is how the dashboard shows an event on the sphere.
"""

from __future__ import annotations

import numpy as np

from .pmt import PMTTable

__all__ = ["pmt_pixels", "hits_to_healpix", "mollweide_image", "mollweide_xy", "mollweide_outline"]


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


def mollweide_xy(theta: np.ndarray, phi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mollweide coordinates ``(x, y)`` of directions (colatitude ``theta``, azimuth ``phi``, rad).

    healpy's projector convention: the ellipse spans ``|x| <= 2``, ``|y| <= 1``;
    ``theta = 0`` (the detector's +z, the chimney) maps to the top, ``phi = 0`` to
    the centre and ``phi`` grows to the left (sky view from inside).  Arrays ``(N,)``.

    >>> x, y = mollweide_xy(np.array([0.0, np.pi / 2]), np.array([0.0, 0.0]))
    >>> bool(np.allclose([x[1], y[0], y[1]], [0.0, 1.0, 0.0]))
    True
    """
    hp = _hp()
    proj = hp.projector.MollweideProj()
    x, y = proj.ang2xy(np.asarray(theta, np.float64), np.asarray(phi, np.float64))
    return np.asarray(x, np.float64), np.asarray(y, np.float64)


def mollweide_outline(n: int = 181) -> tuple[np.ndarray, np.ndarray]:
    """The closed boundary ellipse of the Mollweide projection, ``(2n+1,)`` x and y."""
    t = np.linspace(0.0, 2.0 * np.pi, 2 * n + 1)
    return 2.0 * np.cos(t), np.sin(t)

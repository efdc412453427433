import numpy as np
import pytest

from kamcore.geometry import acceptance, hits_to_healpix, mollweide_image, pmt_pixels


def test_total_acceptance_at_centre_is_the_photocoverage(pmts):
    area = pmts.photocathode_area_cm2(0.22, 0.12)
    f = acceptance(np.zeros((1, 3)), pmts, area)
    assert f.sum() == pytest.approx(0.34, rel=1e-6)
    # attenuation over 900 cm
    fa = acceptance(np.zeros((1, 3)), pmts, area, attenuation_cm=1000.0)
    assert fa.sum() == pytest.approx(0.34 * np.exp(-0.9), rel=1e-6)


def test_off_centre_source_lights_the_near_side(pmts):
    area = pmts.photocathode_area_cm2(0.22, 0.12)
    f = acceptance(np.array([[0.0, 0.0, 400.0]]), pmts, area)[0]
    assert f[pmts.unit[:, 2] > 0.5].mean() > 3 * f[pmts.unit[:, 2] < -0.5].mean()
    # solid angle of a full sphere around an inside point is still ~the coverage
    assert f.sum() == pytest.approx(0.34, rel=0.03)


def test_healpix_painting(pmts):
    pix = pmt_pixels(pmts, nside=16)
    assert pix.shape == (1879,) and pix.min() >= 0
    m = hits_to_healpix(np.array([0, 0, 5]), np.array([1.0, 3.0, 7.0]), pmts, nside=16, reduce="sum")
    assert m[pix[0]] == 4.0 and m[pix[5]] == 7.0
    assert (m > -1e30).sum() == len({pix[0], pix[5]})
    img = mollweide_image(m, xsize=200)
    assert img.shape == (100, 200) and np.isfinite(img).sum() > 0

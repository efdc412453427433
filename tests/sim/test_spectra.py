import numpy as np
import pytest

from kamcore.sim.spectra import TabulatedSpectrum, b8_recoil_spectrum, beta_spectrum, two_nu_double_beta_spectrum


@pytest.mark.parametrize("spec", [beta_spectrum(3.27, 84), beta_spectrum(1.907, 5, True),
                                  two_nu_double_beta_spectrum(2.45783), b8_recoil_spectrum()],
                         ids=["Bi214", "C10", "2vbb", "B8"])
def test_table_is_a_normalised_cdf(spec):
    assert spec.cdf[0] == 0.0 and spec.cdf[-1] == pytest.approx(1.0)
    assert np.all(np.diff(spec.cdf) >= 0)
    assert (spec.density >= 0).all()
    assert spec.density[-1] == pytest.approx(0.0, abs=1e-9)


def test_samples_follow_the_table():
    spec = two_nu_double_beta_spectrum(2.45783)
    x = spec.sample(np.random.default_rng(0).random(200_000))
    edges = np.linspace(0, spec.endpoint_mev, 41)
    obs, _ = np.histogram(x, edges)
    exp = np.diff(np.interp(edges, spec.t_mev, spec.cdf)) * len(x)
    ok = exp > 20
    chi2 = (((obs - exp) ** 2) / exp)[ok].sum()
    assert chi2 < ok.sum() + 5 * np.sqrt(2 * ok.sum())
    assert x.mean() == pytest.approx(spec.mean(), rel=0.01)


def test_two_neutrino_mean_is_about_a_third_of_q():
    # Primakoff-Rosen summed-electron spectrum of 136Xe peaks near Q/3
    spec = two_nu_double_beta_spectrum(2.45783)
    assert 0.3 < spec.mean() / 2.45783 < 0.4
    assert 0.25 < spec.t_mev[np.argmax(spec.density)] / 2.45783 < 0.4


def test_fermi_function_sign():
    # the Coulomb field pulls beta- to low energy and pushes beta+ up
    minus, plus, free = beta_spectrum(2.0, 50), beta_spectrum(2.0, 50, True), beta_spectrum(2.0, 0)
    assert minus.mean() < free.mean() < plus.mean()


def test_b8_recoil_is_flat_ish_and_falling():
    spec = b8_recoil_spectrum()
    assert 13.0 < spec.endpoint_mev < 16.0
    d = np.interp([1.0, 3.0, 6.0, 10.0], spec.t_mev, spec.density)
    assert np.all(np.diff(d) < 0)
    assert d[1] / d[0] > 0.7  # flat-ish over the 0vbb region


def test_custom_table():
    s = TabulatedSpectrum(np.array([0.0, 1.0]), np.array([1.0, 1.0]))
    assert s.sample(np.array([0.25]))[0] == pytest.approx(0.25)

import numpy as np
import pytest

from kamcore.sim import SimConfig, get_source
from kamcore.sim.sources import ELECTRON, GAMMA, Particles
from kamcore.sim.streams import BLOCK_SIZE, BlockStreams
from kamcore.sim.transport import (
    CLASSICAL_ELECTRON_RADIUS_CM,
    klein_nishina_dsigma_dcos,
    klein_nishina_sigma_cm2,
    mean_free_path_cm,
    rotate,
    sample_klein_nishina,
    transport,
)

THOMSON_CM2 = 8 * np.pi / 3 * CLASSICAL_ELECTRON_RADIUS_CM**2


def gammas_at_origin(e_mev, n_blocks=4, direction=(0.0, 0.0, 1.0)):
    n = n_blocks * BLOCK_SIZE
    ev = np.arange(n)
    return Particles(event=ev, kind=np.full(n, GAMMA, np.int8), e_mev=np.full(n, e_mev), t_ns=np.zeros(n),
                     xyz_cm=np.zeros((n, 3)), direction=np.tile(direction, (n, 1)))


def test_cross_section_limits_and_integral():
    assert klein_nishina_sigma_cm2(1e-5) == pytest.approx(THOMSON_CM2, rel=1e-3)
    assert klein_nishina_sigma_cm2(2e-3) == pytest.approx(THOMSON_CM2 * (1 - 2 * 2e-3 / 0.511), rel=1e-3)
    for e in (0.05, 0.5, 1.0, 2.6):
        c = np.linspace(-1, 1, 20001)
        assert np.trapezoid(klein_nishina_dsigma_dcos(c, e), c) == pytest.approx(klein_nishina_sigma_cm2(e), rel=1e-6)
    # 1 MeV: 0.2112 b per electron (textbook value)
    assert klein_nishina_sigma_cm2(1.0) == pytest.approx(0.2112e-24, rel=2e-3)


def test_mean_free_path_is_10_to_20_cm_near_1_mev():
    assert 15.0 < mean_free_path_cm(1.0) < 20.0
    assert 10.0 < mean_free_path_cm(0.5) < 15.0
    assert 10.0 < mean_free_path_cm(0.511) < mean_free_path_cm(1.0) < mean_free_path_cm(2.0) < 30.0


@pytest.mark.parametrize("e_mev", [0.1, 0.662, 2.0])
def test_klein_nishina_sampler_matches_the_analytic_pdf(e_mev):
    n_blocks = 256
    streams = BlockStreams(1, 0, n_blocks)
    ev = np.arange(n_blocks * BLOCK_SIZE)
    cos, eps = sample_klein_nishina(np.full(len(ev), e_mev), ev, streams)
    assert np.allclose(eps, 1 / (1 + e_mev / 0.51099895 * (1 - cos)))
    edges = np.linspace(-1, 1, 41)
    obs, _ = np.histogram(cos, edges)
    fine = np.linspace(-1, 1, 40 * 200 + 1)
    pdf = klein_nishina_dsigma_dcos(fine, e_mev)
    cdf = np.concatenate([[0], np.cumsum(0.5 * (pdf[1:] + pdf[:-1]) * np.diff(fine))])
    exp = np.diff(np.interp(edges, fine, cdf / cdf[-1])) * len(cos)
    chi2 = ((obs - exp) ** 2 / exp).sum()
    assert chi2 < 40 + 5 * np.sqrt(80), chi2
    mean_exp = np.trapezoid(fine * pdf, fine) / np.trapezoid(pdf, fine)
    assert cos.mean() == pytest.approx(mean_exp, abs=4 * cos.std() / np.sqrt(len(cos)))


def test_rotate_gives_the_requested_angle():
    rng = np.random.default_rng(0)
    d = rng.normal(size=(1000, 3))
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    cos = rng.uniform(-1, 1, 1000)
    out = rotate(d, cos, rng.uniform(0, 2 * np.pi, 1000))
    assert np.allclose(np.linalg.norm(out, axis=1), 1.0)
    assert np.allclose((out * d).sum(1), cos)


def test_gammas_scatter_at_several_points_with_the_first_at_one_mean_free_path():
    p = gammas_at_origin(1.0, n_blocks=32)
    dep = transport(p, len(p), BlockStreams(0, 0, 32), SimConfig())
    counts = np.bincount(dep.event, minlength=len(p))
    assert counts.min() >= 2 and counts.mean() > 5
    first = np.flatnonzero(np.r_[True, dep.event[1:] != dep.event[:-1]])
    r_first = np.linalg.norm(dep.xyz_cm[first], axis=1)
    assert r_first.mean() == pytest.approx(mean_free_path_cm(1.0), rel=0.08)
    # time of the first deposit = path / c
    assert np.allclose(dep.t_ns[first], r_first / 29.9792458)
    assert np.all(np.diff(dep.t_ns)[np.diff(dep.event) == 0] >= 0)  # time-ordered within an event


@pytest.mark.parametrize("name", ["Bi214", "C10", "Xe136_2vbb_2+2", "I124"])
def test_energy_conservation(name):
    config = SimConfig()
    streams = BlockStreams(3, 0, 8)
    v, p = get_source(name).sample(streams, config, position_cm=(0.0, 0.0, 0.0))
    dep = transport(p, len(v), streams, config)
    e_in = p.energy_per_event(len(v))
    e_dep = dep.energy_per_event()
    assert np.all(e_dep <= e_in + 1e-9)
    # from the centre of a 650 cm LS sphere essentially nothing escapes
    contained = dep.escaped_mev == 0
    assert contained.mean() > 0.99
    assert np.allclose(e_dep[contained], e_in[contained])
    assert np.allclose(e_dep + dep.escaped_mev, e_in)


def test_gammas_escape_a_small_sphere():
    config = SimConfig(ls_radius_cm=5.0)
    p = gammas_at_origin(2.0)
    dep = transport(p, len(p), BlockStreams(0, 0, 4), config)
    assert (dep.escaped_mev > 0).mean() > 0.7  # mean free path 26 cm >> 5 cm
    assert np.all(np.linalg.norm(dep.xyz_cm, axis=1) <= 5.0)
    assert np.allclose(dep.energy_per_event() + dep.escaped_mev, 2.0)


def test_electrons_deposit_at_one_point_and_are_merged():
    n = BLOCK_SIZE
    ev = np.repeat(np.arange(n), 2)
    xyz = np.tile([10.0, 0.0, 0.0], (2 * n, 1))
    p = Particles(event=ev, kind=np.full(2 * n, ELECTRON, np.int8), e_mev=np.full(2 * n, 1.2), t_ns=np.zeros(2 * n),
                  xyz_cm=xyz, direction=np.tile([0.0, 0.0, 1.0], (2 * n, 1)))
    dep = transport(p, n, BlockStreams(0, 0, 1), SimConfig())
    assert len(dep) == n
    assert np.allclose(dep.e_mev, 2.4) and np.allclose(dep.xyz_cm, [10.0, 0.0, 0.0])

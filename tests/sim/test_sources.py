import numpy as np
import pytest

from kamcore.errors import ConfigError
from kamcore.sim import SOURCES, SimConfig, get_source, list_sources
from kamcore.sim.sources import ELECTRON, GAMMA, POSITRON, BetaCascade, DoubleBeta
from kamcore.sim.streams import BlockStreams

DESIGN_SOURCES = ["Xe136_0vbb", "Xe136_2vbb", "Xe136_2vbb_0+1", "Xe136_2vbb_2+1", "Xe136_2vbb_2+2", "Bi214",
                  "Bi214_film", "C10", "Solar_nu", "I130", "I124", "Sb118"]


def sample(name, n_blocks=4, seed=0, config=None):
    streams = BlockStreams(seed, 0, n_blocks)
    return get_source(name).sample(streams, config or SimConfig())


def test_registry_has_every_design_source():
    assert set(DESIGN_SOURCES) <= set(SOURCES)
    rows = list_sources()
    assert list(rows) == list(SOURCES)
    assert all(isinstance(d, str) and d and "\n" not in d for d in rows.values())


def test_registry_is_read_only():
    with pytest.raises(TypeError):
        SOURCES["x"] = SOURCES["C10"]


def test_unknown_source_lists_the_known_ones():
    with pytest.raises(ConfigError, match="unknown source 'Co60'.*Xe136_0vbb.*Bi214_film"):
        get_source("Co60")


@pytest.mark.parametrize("name", DESIGN_SOURCES)
def test_particles_are_sane(name):
    v, p = sample(name)
    n = len(v)
    assert v.shape == (256, 3)
    assert np.all(np.diff(p.event) >= 0) and p.event.min() >= 0 and p.event.max() < n
    assert (p.e_mev > 0).all() and (p.t_ns >= 0).all()
    assert np.allclose(np.linalg.norm(p.direction, axis=1), 1.0)
    assert np.array_equal(p.xyz_cm, v[p.event])
    assert set(np.unique(p.kind)) <= {ELECTRON, POSITRON, GAMMA}


def test_vertices_fill_the_balloon_or_sit_on_the_film():
    v, _ = sample("Bi214", n_blocks=16)
    r = np.linalg.norm(v, axis=1)
    assert r.max() < 190.0
    assert np.mean(r < 190.0 * 0.5 ** (1 / 3)) == pytest.approx(0.5, abs=0.05)  # uniform in volume
    vf, _ = sample("Bi214_film")
    assert np.allclose(np.linalg.norm(vf, axis=1), 190.0)


def test_0vbb_electrons_share_q():
    v, p = sample("Xe136_0vbb")
    assert (p.kind == ELECTRON).all()
    assert np.allclose(p.energy_per_event(len(v)), 2.45783)


def test_excited_state_gammas():
    lines = {"Xe136_2vbb_0+1": [{0.7605, 0.8185}], "Xe136_2vbb_2+1": [{0.8185}],
             "Xe136_2vbb_2+2": [{0.7325, 0.8185}, {1.5510}]}
    for name, allowed in lines.items():
        v, p = sample(name)
        for i in range(len(v)):
            g = p.e_mev[(p.event == i) & (p.kind == GAMMA)]
            assert set(np.round(g, 4)) in allowed, name


def test_c10_positron_annihilation_and_delays():
    config = SimConfig()
    v, p = sample("C10", n_blocks=32, config=config)
    n = len(v)
    pos = p.kind == POSITRON
    assert np.bincount(p.event[pos], minlength=n).max() == 1
    assert p.e_mev[pos].max() <= 1.9074 + 1e-9
    gam = p.kind == GAMMA
    ann = gam & np.isclose(p.e_mev, 0.51099895)
    lvl = gam & np.isclose(p.e_mev, 0.7184)
    assert np.array_equal(np.bincount(p.event[ann], minlength=n), np.full(n, 2))
    assert np.array_equal(np.bincount(p.event[lvl], minlength=n), np.ones(n))
    # back to back
    d = p.direction[ann].reshape(-1, 2, 3)
    assert np.allclose(d[:, 0], -d[:, 1])
    # 718 keV level: mean life 0.707 ns / ln 2
    assert p.t_ns[lvl].mean() == pytest.approx(0.707 / np.log(2), rel=0.1)
    # ortho-positronium: a fraction ~0.45 delayed with a 3 ns lifetime
    t_ann = p.t_ns[ann][::2]
    assert np.mean(t_ann > 0) == pytest.approx(config.ops_fraction, abs=0.04)
    assert t_ann[t_ann > 0].mean() == pytest.approx(config.ops_lifetime_ns, rel=0.15)
    no_ops = get_source("C10").sample(BlockStreams(0, 0, 4), SimConfig(ops_fraction=0.0))[1]
    assert (no_ops.t_ns[no_ops.kind == GAMMA][np.isclose(no_ops.e_mev[no_ops.kind == GAMMA], 0.51099895)] == 0).all()


def test_bi214_table():
    em = get_source("Bi214").emitter
    assert isinstance(em, BetaCascade)
    fractions = np.array([b.fraction for b in em.branches])
    assert fractions.sum() == pytest.approx(1.0, abs=1e-9)
    assert em.branches[0].level_mev == 0.0 and em.branches[0].fraction == pytest.approx(0.191)
    for b in em.branches:  # each cascade ends on the ground state
        assert sum(b.gammas_mev) == pytest.approx(b.level_mev, abs=2e-4)
    i609 = sum(b.fraction for b in em.branches if 0.6093 in b.gammas_mev)
    assert i609 == pytest.approx(0.455, abs=0.02)
    v, p = sample("Bi214", n_blocks=32)
    beta = p.e_mev[p.kind == ELECTRON]
    assert beta.max() <= 3.27
    no_gamma = np.bincount(p.event[p.kind == GAMMA], minlength=len(v)) == 0
    assert no_gamma.mean() == pytest.approx(0.191, abs=0.03)


@pytest.mark.parametrize("name", ["Bi214", "C10", "I130", "I124", "Sb118", "Xe136_2vbb_0+1"])
def test_total_energy_within_q(name):
    em = get_source(name).emitter
    v, p = sample(name, n_blocks=8)
    e = p.energy_per_event(len(v))
    q = em.q_mev if isinstance(em, (BetaCascade, DoubleBeta)) else np.inf
    # kinetic energies plus, for beta+, the rest mass of the annihilated pair
    assert e.max() <= q + 1e-6


def test_same_streams_same_particles():
    a = sample("C10", seed=5)[1]
    b = sample("C10", seed=5)[1]
    c = sample("C10", seed=6)[1]
    assert np.array_equal(a.e_mev, b.e_mev) and np.array_equal(a.direction, b.direction)
    assert not np.array_equal(a.e_mev, c.e_mev)


def test_bottom_cap_vertices_lie_on_the_balloon_bottom():
    """Bi214_film_bottom: on the film sphere, within 30 deg of the south pole, uniform in area there
    (cos(alpha) uniform, so its mean is (1 + cos 30 deg) / 2), and with Bi214's particles."""
    cfg = SimConfig()
    v, p = sample("Bi214_film_bottom", n_blocks=64)
    r = np.linalg.norm(v, axis=1)
    np.testing.assert_allclose(r, cfg.xels_radius_cm)
    cos_a = -v[:, 2] / r
    assert cos_a.min() >= np.cos(np.radians(30.0)) - 1e-12
    assert abs(cos_a.mean() - (1 + np.cos(np.radians(30.0))) / 2) < 0.003
    phi = np.arctan2(v[:, 1], v[:, 0])
    assert abs(np.mean(np.cos(phi))) < 0.05 and abs(np.mean(np.sin(phi))) < 0.05
    assert get_source("Bi214_film_bottom").emitter == get_source("Bi214_film").emitter
    assert len(p.event) > len(v)  # beta + gammas

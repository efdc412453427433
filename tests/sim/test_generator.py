import json

import numpy as np
import pytest

from kamcore import Events
from kamcore.errors import ConfigError
from kamcore.sim import DEFAULT_START_NS, SimConfig, simulate, simulate_at


def test_same_seed_same_arrays_different_seed_different():
    a = simulate("C10", 100, seed=11)
    b = simulate("C10", 100, seed=11)
    c = simulate("C10", 100, seed=12)
    assert a.equals(b)
    assert not np.array_equal(a.energy_mev, c.energy_mev)
    assert a.n_hits != c.n_hits or not np.array_equal(a.t_ns, c.t_ns)


def test_result_does_not_depend_on_batch_size_and_is_a_prefix():
    a = simulate("Bi214", 150, seed=3, batch_size=64)
    b = simulate("Bi214", 150, seed=3, batch_size=1000)
    assert a.equals(b)
    c = simulate("Bi214", 90, seed=3, batch_size=128)
    assert c.equals(a[:90])


def test_selection_is_batch_size_independent_too():
    kw = dict(seed=5, energy_window_mev=(2.0, 3.0), max_radius_cm=157.0)
    assert simulate("Bi214", 40, batch_size=64, **kw).equals(simulate("Bi214", 40, batch_size=512, **kw))


def test_event_columns(pmts):
    config = SimConfig(event_rate_hz=100.0)
    ev = simulate("Xe136_2vbb", 300, seed=1, run=42, first_event_id=1000, config=config, pmts=pmts)
    assert isinstance(ev, Events) and len(ev) == 300
    assert (ev.run == 42).all() and np.array_equal(ev.event_id, 1000 + np.arange(300))
    assert set(ev.source) == {"Xe136_2vbb"}
    assert np.isnan(ev.vertex_cm).all()  # reconstruction is preprocessing's job
    assert np.isfinite(ev.true_vertex_cm).all()
    dt = np.diff(np.r_[DEFAULT_START_NS, ev.timestamp_ns])
    assert (dt > 0).all()
    assert dt.mean() == pytest.approx(1e9 / 100.0, rel=0.2)
    # visible energy = sum of the deposits
    sums = np.add.reduceat(ev.deposit_e_mev.astype(np.float64), ev.deposit_offsets[:-1])
    assert np.allclose(ev.energy_mev, sums, rtol=1e-5)
    ev.validate(len(pmts))


def test_attrs_carry_the_configuration(pmts):
    config = SimConfig(qe=0.3)
    ev = simulate("Solar_nu", 5, seed=0, config=config, pmts=pmts)
    assert SimConfig.from_json(ev.attrs["sim_config"]).qe == 0.3
    assert ev.attrs["pmt_table_digest"] == pmts.digest
    req = json.loads(ev.attrs["sim_request"])
    assert req["source"] == "Solar_nu" and req["seed"] == 0


def test_film_vertices_are_on_the_balloon():
    ev = simulate("Bi214_film", 64, seed=0)
    assert np.allclose(np.linalg.norm(ev.true_vertex_cm, axis=1), 190.0, atol=1e-3)


def test_selection_and_progress():
    calls = []
    ev = simulate("Bi214", 70, seed=2, energy_window_mev=(2.0, 3.0), max_radius_cm=157.0,
                  batch_size=64, progress=calls.append)
    assert len(ev) == 70 and sum(calls) == 70 and len(calls) > 1
    assert ev.energy_mev.min() >= 2.0 and ev.energy_mev.max() < 3.0
    assert np.linalg.norm(ev.true_vertex_cm, axis=1).max() < 157.0
    assert ev.has_truth and (np.diff(ev.deposit_offsets) > 0).all()


def test_fixed_vertex():
    ev = simulate_at("C10", 10, (10.0, 20.0, -30.0), seed=0)
    assert np.array_equal(ev.true_vertex_cm, np.tile([10.0, 20.0, -30.0], (10, 1)).astype(np.float32))


def test_zero_events():
    ev = simulate("C10", 0, seed=0)
    assert len(ev) == 0 and ev.n_hits == 0


@pytest.mark.parametrize("kwargs, match", [
    (dict(source="Co60"), "unknown source 'Co60'; known sources: Xe136_0vbb"),
    (dict(n_events=-1), "n_events must be an integer >= 0"),
    (dict(seed=-3), "seed must be an integer >= 0"),
    (dict(seed=1.5), "seed must be an integer"),
    (dict(batch_size=0), "batch_size"),
    (dict(energy_window_mev=(3.0, 2.0)), "lo < hi"),
    (dict(max_radius_cm=0.0), "max_radius_cm must be > 0"),
    (dict(position_cm=(0.0, 0.0, 700.0)), "outside the LS"),
    (dict(position_cm=(0.0, 0.0)), "3 finite numbers"),
    (dict(config={"qe": 0.2}), "config must be a SimConfig"),
])
def test_bad_arguments(kwargs, match):
    args = dict(source="Xe136_0vbb", n_events=5, seed=0)
    args.update(kwargs)
    with pytest.raises(ConfigError, match=match):
        simulate(args.pop("source"), args.pop("n_events"), **args)


def test_impossible_selection_gives_up():
    with pytest.raises(ConfigError, match="accepted 0 of"):
        simulate("Bi214_film", 5, seed=0, max_radius_cm=100.0)

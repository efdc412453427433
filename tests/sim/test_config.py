import json

import param
import pytest

from kamcore.errors import ConfigError
from kamcore.sim import SimConfig


def test_defaults_follow_design():
    c = SimConfig()
    assert (c.qe, c.coverage_17in, c.coverage_20in) == (0.23, 0.22, 0.12)
    assert (c.tts_17in_ns, c.tts_20in_ns, c.spe_sigma, c.threshold_pe) == (1.3, 2.3, 0.30, 0.3)
    assert (c.xels_radius_cm, c.ls_radius_cm) == (190.0, 650.0)
    assert c.rise_ns == 1.0 and (c.decay_fast_ns, c.decay_slow_ns) == (5.0, 20.0)


def test_json_round_trip():
    c = SimConfig(qe=0.3, coverage_17in=0.4, light_yield_per_mev=5000.0)
    back = SimConfig.from_json(c.to_json())
    assert back.to_json() == c.to_json()
    assert "name" not in json.loads(c.to_json())


def test_every_param_has_doc_and_bounds():
    for name, p in SimConfig.param.objects("existing").items():
        if name == "name":
            continue
        assert p.doc, name
        if isinstance(p, param.Selector):
            assert p.objects, name  # a choice: its objects are its bounds
        else:
            assert p.bounds is not None, name


@pytest.mark.parametrize("text, match", [
    ("not json", "not valid JSON"),
    ("[1, 2]", "must be an object"),
    ('{"qe": 0.2, "colour": 3}', "unknown parameters \\['colour'\\]"),
    ('{"qe": 1.5}', "qe"),
])
def test_bad_json_raises_config_error(text, match):
    with pytest.raises(ConfigError, match=match):
        SimConfig.from_json(text)


def test_out_of_bounds_value_is_rejected():
    with pytest.raises(ValueError, match="qe"):
        SimConfig(qe=-0.1)

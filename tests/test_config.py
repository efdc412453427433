"""Every configuration class is a JsonConfig: one JSON round trip and one ``from_preset`` for all."""

import importlib
import inspect
import pkgutil

import param
import pytest

import kamcore
from kamcore.config import JsonConfig
from kamcore.errors import ConfigError


def _config_classes() -> list[type]:
    found = {}
    for mod in pkgutil.walk_packages(kamcore.__path__, "kamcore."):
        if mod.name.startswith("kamcore.cli") or mod.name.endswith("__main__"):
            continue
        m = importlib.import_module(mod.name)
        for _, obj in inspect.getmembers(m, inspect.isclass):
            if obj.__module__ == m.__name__ and obj.__name__.endswith("Config") and issubclass(obj, param.Parameterized):
                found[f"{obj.__module__}.{obj.__name__}"] = obj
    return [found[k] for k in sorted(found)]


CLASSES = _config_classes()


def test_the_config_classes_are_found():
    names = {c.__name__ for c in CLASSES}
    assert {"SimConfig", "HitMapConfig", "KamNetConfig", "VAEConfig", "TrainConfig", "MonitorConfig"} <= names


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_every_config_is_a_json_config_with_a_lossless_round_trip(cls):
    assert issubclass(cls, JsonConfig), f"{cls.__module__}.{cls.__name__} does not derive from JsonConfig"
    cfg = cls()
    again = cls.from_json(cfg.to_json())
    assert again.to_json() == cfg.to_json()
    with pytest.raises(ConfigError, match="unknown parameters"):
        cls.from_json({**cfg.to_dict(), "no_such_parameter": 1})


@pytest.mark.parametrize("cls", [c for c in CLASSES if c.PRESETS], ids=lambda c: c.__name__)
def test_presets_load_record_their_name_and_unknown_ones_are_a_config_error(cls):
    for name in cls.PRESETS:
        cfg = cls.from_preset(name)
        if "preset" in cls.param:
            assert cfg.preset == name
    with pytest.raises(ConfigError, match="unknown .* preset 'no-such-preset'; known: "):
        cls.from_preset("no-such-preset")

"""The JSON round trip shared by kamcore's ``param`` configuration classes.

Every stage's configuration (``SimConfig``, ``HitMapConfig``, ``FitConfig``, ...) is
a :class:`JsonConfig`: it serialises to a sorted JSON object (stored with each run
file, checkpoint and catalog entry) and reads it back, refusing unknown keys and
out-of-bounds values with a :class:`~kamcore.errors.ConfigError`.
"""

from __future__ import annotations

import json
from typing import ClassVar

import param

from .errors import ConfigError

__all__ = ["JsonConfig"]


class JsonConfig(param.Parameterized):
    """``to_dict`` / ``to_json`` / ``from_json`` / ``from_preset`` for kamcore's configuration classes.

    A class with named configurations sets ``PRESETS`` (preset name -> parameter values; missing
    ones take the class defaults); a ``preset`` parameter, when the class has one, records the name.
    """

    __abstract = True
    PRESETS: ClassVar[dict[str, dict]] = {}

    def to_json(self) -> str:
        """All parameters (except ``name``) as a sorted JSON object."""
        return json.dumps(self.to_dict(), sort_keys=True)

    def to_dict(self) -> dict:
        """All parameters (except ``name``) as a JSON-ready dict."""
        return json.loads(json.dumps({k: v for k, v in self.param.values().items() if k != "name"}))

    @classmethod
    def from_json(cls, text: str | dict):
        """Inverse of :meth:`to_json` (also accepts the dict); bad keys or values raise ConfigError."""
        try:
            values = json.loads(text) if isinstance(text, str) else dict(text)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{cls.__name__} JSON is not valid JSON: {exc}") from None
        if not isinstance(values, dict):
            raise ConfigError(f"{cls.__name__} JSON must be an object, got {type(values).__name__}")
        known = set(cls.param.objects("existing")) - {"name"}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(f"{cls.__name__} JSON has unknown parameters {unknown}; known: {sorted(known)}")
        try:
            return cls(**values)
        except ValueError as exc:
            raise ConfigError(f"{cls.__name__}: {exc}") from None

    @classmethod
    def from_preset(cls, name: str, **overrides):
        """The preset ``name`` of :attr:`PRESETS` with ``overrides`` applied; unknown names or bad values
        raise :class:`~kamcore.errors.ConfigError`."""
        if name not in cls.PRESETS:
            kind = cls.__name__.removesuffix("Config")
            raise ConfigError(f"unknown {kind} preset {name!r}; known: {sorted(cls.PRESETS)}")
        values = {**cls.PRESETS[name], **({"preset": name} if "preset" in cls.param else {}), **overrides}
        try:
            return cls(**values)
        except ValueError as exc:
            raise ConfigError(f"{cls.__name__} preset {name!r}: {exc}") from None

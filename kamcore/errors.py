"""Exceptions and warnings raised by kamcore.

Every error derives from :class:`KamcoreError` and from the matching builtin, so
generic code that catches ``ValueError`` or ``OSError`` keeps working.  Messages
say what was expected and what was given, and name the file, column or parameter.
The command line turns any ``KamcoreError`` into one line on stderr and exit
status 2.
"""

from __future__ import annotations

__all__ = [
    "KamcoreError",
    "ConfigError",
    "GeometryError",
    "EventFileError",
    "SchemaError",
    "EventDataError",
    "ModelFileError",
    "CatalogError",
    "ClusterError",
    "MissingDependencyError",
    "ScoreError",
    "KamcoreWarning",
    "RateWarning",
    "one_line",
]


class KamcoreError(Exception):
    """Root of every error kamcore raises on purpose."""


class ConfigError(KamcoreError, ValueError):
    """A configuration value is out of its allowed range or of the wrong kind."""


class GeometryError(KamcoreError, ValueError):
    """A PMT table is malformed (missing columns, wrong count, bad values)."""


class EventFileError(KamcoreError, OSError):
    """An event file is missing, unreadable, truncated or not of a known format."""


class SchemaError(EventFileError):
    """An event file was read but its columns or schema version are not ours."""


class EventDataError(KamcoreError, ValueError):
    """Event contents are invalid: PMT id out of range, NaN/inf times or charges."""


class ModelFileError(KamcoreError, OSError):
    """A model checkpoint is missing, unsafe or does not match its configuration."""


class CatalogError(KamcoreError, OSError):
    """The run catalog database cannot be opened, read or written."""


class ClusterError(KamcoreError, OSError):
    """A Dask cluster cannot be started or reached, or it has no workers."""


class MissingDependencyError(KamcoreError, ImportError):
    """A package that a feature imports on first use is not installed; the message gives the install command."""


class ScoreError(KamcoreError, ValueError):
    """Classifier scores that cannot be fitted: NaN or infinite, or outside the templates' score range."""


class KamcoreWarning(UserWarning):
    """Base class of the warnings kamcore emits."""


class RateWarning(KamcoreWarning):
    """A run's event rate is far from the rate its fit's yield constraints assume (the fit is biased)."""


def one_line(exc: BaseException | str, limit: int | None = 300) -> str:
    """``str(exc)`` on one line (third-party messages may span lines), at most ``limit`` characters.

    The message of every error a user sees: the command line, the catalog's stored errors,
    the dashboard's alerts.  An exception without a message gives its class name.

    >>> one_line(ValueError("bad\\n   value"))
    'bad value'
    >>> one_line(KeyError(), limit=None)
    'KeyError'
    """
    text = " ".join(str(exc).split()) or (type(exc).__name__ if isinstance(exc, BaseException) else "")
    return text if limit is None or len(text) <= limit else text[: limit - 3] + "..."

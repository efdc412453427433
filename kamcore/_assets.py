"""Where the shipped assets (PMT table, weights, templates) are found.

Order: ``$KAMCORE_ASSETS``; the ``assets/`` directory beside the package (a source
checkout or an editable install); the ``kamcore.assets`` package data of a wheel
(``pyproject.toml`` maps ``assets/`` there).
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

__all__ = ["asset_dir", "asset_path", "find_asset"]


def asset_dir() -> Path:
    env = os.environ.get("KAMCORE_ASSETS")
    if env:
        return Path(env)
    here = Path(__file__).resolve().parent.parent / "assets"
    if here.is_dir():
        return here
    try:
        return Path(str(resources.files("kamcore.assets")))
    except ModuleNotFoundError:  # pragma: no cover - broken install
        return here


def asset_path(name: str) -> Path:
    """Path of the shipped asset ``name`` (it may not exist; callers report that)."""
    return asset_dir() / name


def find_asset(name: str | os.PathLike, suffix: str = "") -> Path:
    """``name`` as given, or the shipped asset of that name.

    A bare name (no directory part) that exists here neither as ``name`` nor as
    ``name + suffix`` (e.g. ``".json"`` for a checkpoint prefix) is looked up in
    :func:`asset_dir`; when the asset is not shipped either, ``name`` is returned so
    the caller's error names what the user typed.
    """
    p = Path(name).expanduser()
    if p.parent == Path(".") and not p.exists() and not p.with_name(p.name + suffix).exists():
        shipped = asset_path(p.name)
        if shipped.exists() or shipped.with_name(shipped.name + suffix).exists():
            return shipped
    return p

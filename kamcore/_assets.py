"""Where the shipped assets (PMT table, weights, templates) are found.

Order: ``$KAMCORE_ASSETS``; the ``assets/`` directory beside the package (a source
checkout or an editable install); the ``kamcore.assets`` package data of a wheel
(``pyproject.toml`` maps ``assets/`` there).
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

__all__ = ["asset_dir", "asset_path"]


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

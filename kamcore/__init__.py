"""kamcore: the KamDash physics and model library for KamLAND-Zen.

Subpackages follow the data flow: :mod:`kamcore.geometry`, :mod:`kamcore.sim`,
:mod:`kamcore.io`, :mod:`kamcore.preprocess`, :mod:`kamcore.nn`, :mod:`kamcore.train`,
:mod:`kamcore.models`, :mod:`kamcore.metrics`, :mod:`kamcore.fit`, :mod:`kamcore.catalog`,
:mod:`kamcore.monitor`; :mod:`kamcore.cli` is the ``kamcore`` command.

The top level holds the analyst's path from a run file to a fit (imported on first use,
so ``import kamcore`` stays light)::

    import kamcore
    scores = kamcore.load_model("kamnet_bi214").score(kamcore.open_events("run_000017.parquet"))
    fit = kamcore.fit_run(scores, kamcore.load_templates("templates_kamnet_bi214.json"))
"""

from ._version import __version__
from .errors import KamcoreError
from .events import Events

__all__ = ["Events", "KamcoreError", "__version__", "load_model", "open_events", "fit_run", "load_templates"]

_LAZY = {"load_model": ("kamcore.models", "load_model"), "open_events": ("kamcore.io", "open_events"),
         "fit_run": ("kamcore.fit", "fit_run")}


def load_templates(path):
    """Score templates of a model (:meth:`kamcore.fit.Templates.load`); a bare name is looked up in ``assets/``."""
    from ._assets import find_asset
    from .fit import Templates

    return Templates.load(find_asset(path))


def __getattr__(name):
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'kamcore' has no attribute {name!r}")

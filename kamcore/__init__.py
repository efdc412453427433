"""kamcore: the KamDash physics and model library for KamLAND-Zen.

Subpackages follow the data flow: :mod:`kamcore.geometry`, :mod:`kamcore.sim`,
:mod:`kamcore.io`, :mod:`kamcore.preprocess` (and later ``nn``, ``train``,
``metrics``, ``fit``, ``catalog``, ``monitor``); :mod:`kamcore.cli` is the
``kamcore`` command.  The top level exports only the event container and errors.
"""

from .errors import KamcoreError
from .events import Events

__version__ = "0.1.0"

__all__ = ["Events", "KamcoreError", "__version__"]

"""The dashboard's pages, each a ``panel.viewable.Viewer`` with ``backend`` and ``selection`` params and a
``refresh()`` the session tick calls (importable on their own, e.g. in a notebook)."""

from .attention import AttentionView
from .generated import GeneratedView
from .health import HealthView
from .live import LiveView
from .runs import RunsView
from .shift import ShiftView
from .studies import StudiesView

__all__ = ["ShiftView", "LiveView", "HealthView", "AttentionView", "RunsView", "GeneratedView", "StudiesView"]

"""KamDash: the Panel dashboard of the shift crew (``panel serve dashboard/app.py``).

* :mod:`dashboard.config` -- :class:`DashboardConfig` (embedded defaults, ``KAMDASH_*`` variables);
* :mod:`dashboard.data` -- :class:`~dashboard.data.DataAccess`: the cached reads shared by every
  session (model, templates, catalog, live buffer, sample comparisons);
* :mod:`dashboard.backend` -- :class:`Backend`, one per server process: the data access plus
  the live-store poller and the supervised ``kamcore monitor`` producer (once per deployment);
* :mod:`dashboard.status` -- the header badge's feed state and the producer's supervisor;
* :mod:`dashboard.selection` -- :class:`Selection`, the state all views follow (in the URL);
* :mod:`dashboard.plots` -- Bokeh figure builders (no physics);
* :mod:`dashboard.views` -- the Live, Attention, Runs and Real-vs-generated views;
* :mod:`dashboard.app` -- the served page (template, header, tabs, permalinks).

Physics lives in :mod:`kamcore`; everything here only calls it and draws: no module imports
:mod:`kamcore.sim`, :mod:`kamcore.train` or :mod:`kamcore.preprocess` (``tests/dashboard/test_imports.py``).
"""

__all__ = ["DashboardConfig", "Backend", "Selection", "create_app"]


def __getattr__(name):  # lazy: importing dashboard must not start Panel or torch
    if name == "DashboardConfig":
        from .config import DashboardConfig
        return DashboardConfig
    if name == "Backend":
        from .backend import Backend
        return Backend
    if name == "Selection":
        from .selection import Selection
        return Selection
    if name == "create_app":
        from .layout import create_app
        return create_app
    raise AttributeError(name)

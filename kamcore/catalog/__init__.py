"""The run catalog (SQLAlchemy): runs, fits (with model and template version), flags, periods, shift notes.

SQLite by default (:func:`default_catalog_url`), PostgreSQL or any SQLAlchemy
database by URL.  :class:`Catalog` writes transactionally with upserts and has
the read API the dashboard uses (``list_runs``, ``fit_history``, ``periods``,
``notes``, ``report``), the state of a run and its reference run (:mod:`~kamcore.catalog.state`, one rule
for the report and the dashboard), alarms with their acknowledgements, and the thresholds experts set.
"""

from .models import SCHEMA_VERSION, Alarm, Base, Fit, Flag, Note, PeriodRow, Run, Setting, SettingChange
from .state import RUN_STATES, ReferenceRun, RunState, acked_runs, reference_run, run_state, run_states, unphysical
from .store import SETTINGS, Catalog, CatalogError, default_catalog_path, default_catalog_url, run_time_problems

__all__ = [
    "Catalog", "CatalogError", "default_catalog_url", "default_catalog_path",
    "Base", "Run", "Fit", "Flag", "PeriodRow", "Note", "Alarm", "Setting", "SettingChange", "SETTINGS",
    "SCHEMA_VERSION", "run_time_problems",
    "RUN_STATES", "RunState", "ReferenceRun", "run_state", "run_states", "acked_runs", "unphysical", "reference_run",
]

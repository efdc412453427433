"""The run catalog (SQLAlchemy): runs, fits (with model and template version), flags, periods, shift notes.

SQLite by default (:func:`default_catalog_url`), PostgreSQL or any SQLAlchemy
database by URL.  :class:`Catalog` writes transactionally with upserts and has
the read API the dashboard uses (``list_runs``, ``fit_history``, ``periods``,
``notes``, ``report``), the state of a run and its reference run (:mod:`~kamcore.catalog.state`, one rule
for the report and the dashboard), alarms with their acknowledgements, the thresholds experts set, the detector health of each run, good / bad
marks and the curated reference run (who, when), shifts with their checklist (:mod:`~kamcore.catalog.shift`)
and sign-off, and the e-log export of a run (:mod:`~kamcore.catalog.elog`).
"""

from .models import (SCHEMA_VERSION, Alarm, Base, Fit, Flag, Note, PeriodRow, ReferenceChoice, Run, RunHealthRow,
                     RunMark, Setting, SettingChange, Shift, ShiftCheck)
from .shift import SHIFT_CHECKLIST, checklist_keys
from .state import RUN_STATES, ReferenceRun, RunState, acked_runs, reference_run, run_state, run_states, unphysical
from .store import SETTINGS, Catalog, CatalogError, default_catalog_path, default_catalog_url, run_time_problems

__all__ = [
    "Catalog", "CatalogError", "default_catalog_url", "default_catalog_path",
    "Base", "Run", "Fit", "Flag", "PeriodRow", "Note", "Alarm", "Setting", "SettingChange", "SETTINGS",
    "SCHEMA_VERSION", "run_time_problems", "RunHealthRow", "RunMark", "ReferenceChoice", "Shift", "ShiftCheck",
    "SHIFT_CHECKLIST", "checklist_keys",
    "RUN_STATES", "RunState", "ReferenceRun", "run_state", "run_states", "acked_runs", "unphysical", "reference_run",
]

"""The shift checklist: what a shifter confirms during a shift before signing it off.

Items are ``(key, text)``; the key is what the catalog stores (``shift_checks.item``), so the text can
be reworded without losing what was ticked.  :meth:`kamcore.catalog.Catalog.sign_off_shift` refuses a
sign-off while an item is unticked and names the items left.

>>> [k for k, _ in SHIFT_CHECKLIST][:2]
['feed_live', 'alarms_reviewed']
"""

from __future__ import annotations

__all__ = ["SHIFT_CHECKLIST", "checklist_keys"]

#: (key, what the shifter confirms)
SHIFT_CHECKLIST: tuple[tuple[str, str], ...] = (
    ("feed_live", "The feed is LIVE (not STALE or PRODUCER DOWN) and the event rate is steady"),
    ("alarms_reviewed", "Every alarm of the shift is acknowledged with what was checked"),
    ("health_checked", "The Health page shows no new dead or hot PMT, or it is noted in the e-log"),
    ("trends_checked", "Rate, Nhit, energy peak and background fraction trends look normal"),
    ("runs_marked", "The runs of the shift are marked good or bad"),
    ("elog_written", "The e-log entries of flagged runs are written (Runs page, e-log export)"),
)


def checklist_keys() -> list[str]:
    """The keys of :data:`SHIFT_CHECKLIST`, in order."""
    return [k for k, _ in SHIFT_CHECKLIST]

"""The run catalog's tables (SQLAlchemy 2.x declarative ORM).

* ``runs`` -- one row per run: file, start/stop (ns), live time, events, file
  status (``ok``, ``bad_file``, ``incomplete``) with its one-line ``error``,
  good mark; unique ``run_number``.
* ``fits`` -- one fit of a run by one model with one template version; unique
  ``(run_id, model_digest, template_digest)`` (a re-fit updates it).
* ``flags`` -- flags of a fit (``high_background``, ``bad_fit``,
  ``not_fitted``); unique ``(fit_id, kind)``.
* ``periods`` -- high-background periods of a (model, templates) sequence;
  unique ``(model_digest, template_digest, method, first_run)``.
* ``notes`` -- shift notes and acknowledgements (author, time, text,
  open/resolved), about a run, a period or nothing in particular.
* ``alarms`` -- what the shift crew must see (a flagged run, a new period, a
  stale feed, a producer that went down): unique ``key``, text, when raised,
  open/acknowledged with who, when and the acknowledgement's own text.
* ``settings`` / ``settings_log`` -- thresholds an expert changed (stale
  seconds, flag z, p-value): the current value per key, and every change.
* ``run_health`` -- the detector health of a closed run (:mod:`kamcore.monitor.health`): PMT
  occupancy counts, hot and dead PMTs, mean Nhit, energy peak; unique ``run_number``.
* ``run_marks`` -- every good / bad mark a person gave a run (who, when, why); the run's
  ``good`` column holds the newest (True good, False bad, NULL unmarked).
* ``reference_runs`` -- the curated reference run, every choice with who and when (the newest wins).
* ``shifts`` / ``shift_checks`` -- a shifter's sign-in and sign-off, and the checklist items ticked
  during the shift (who, when); unique ``(shift_id, item)``.

Times of runs are integers (ns since the Unix epoch, as in the event files);
bookkeeping times (``updated_at``, note times) are timezone-aware UTC.
Configurations (:class:`~kamcore.fit.FitConfig`, :class:`~kamcore.fit.FlagConfig`)
and full fit results are stored as JSON text next to the columns a dashboard
filters on.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (BigInteger, Boolean, DateTime, Float, ForeignKey, Integer, String, Text,
                        UniqueConstraint)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

__all__ = ["Base", "Run", "Fit", "Flag", "PeriodRow", "Note", "Alarm", "Setting", "SettingChange", "RunHealthRow",
           "RunMark", "ReferenceChoice", "Shift", "ShiftCheck", "utcnow",
           "SCHEMA_VERSION"]

#: bumped on incompatible table changes
SCHEMA_VERSION = 1


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


class Base(DeclarativeBase):
    pass


class Run(Base):
    __tablename__ = "runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_number: Mapped[int] = mapped_column(Integer, unique=True, index=True)
    path: Mapped[str | None] = mapped_column(Text)
    start_ns: Mapped[int | None] = mapped_column(BigInteger)
    stop_ns: Mapped[int | None] = mapped_column(BigInteger)
    livetime_s: Mapped[float | None] = mapped_column(Float)
    n_events: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(32), default="ok")  # ok | bad_file | incomplete (being written)
    error: Mapped[str | None] = mapped_column(Text)
    good: Mapped[bool | None] = mapped_column(Boolean)  # newest mark of the crew: True good, False bad, None none
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)

    fits: Mapped[list["Fit"]] = relationship(back_populates="run", cascade="all, delete-orphan")


class Fit(Base):
    __tablename__ = "fits"
    __table_args__ = (UniqueConstraint("run_id", "model_digest", "template_digest", name="uq_fit_run_model_tpl"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    model_name: Mapped[str] = mapped_column(String(200))
    model_kind: Mapped[str] = mapped_column(String(32))
    model_digest: Mapped[str] = mapped_column(String(64), index=True)
    template_digest: Mapped[str] = mapped_column(String(64), index=True)
    method: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(32))  # ok | invalid | too_few_events
    valid: Mapped[bool] = mapped_column(Boolean)
    n_events: Mapped[int] = mapped_column(Integer)
    bkg_fraction: Mapped[float | None] = mapped_column(Float)
    bkg_fraction_err: Mapped[float | None] = mapped_column(Float)
    fval: Mapped[float | None] = mapped_column(Float)
    ndof: Mapped[int] = mapped_column(Integer)
    pvalue: Mapped[float | None] = mapped_column(Float)
    seconds: Mapped[float] = mapped_column(Float)
    result_json: Mapped[str] = mapped_column(Text)  # RunFit.to_dict()
    config_json: Mapped[str] = mapped_column(Text)  # FitConfig
    command: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)

    run: Mapped[Run] = relationship(back_populates="fits")
    flags: Mapped[list["Flag"]] = relationship(back_populates="fit", cascade="all, delete-orphan")


class Flag(Base):
    __tablename__ = "flags"
    __table_args__ = (UniqueConstraint("fit_id", "kind", name="uq_flag_fit_kind"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    fit_id: Mapped[int] = mapped_column(ForeignKey("fits.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    significance: Mapped[float | None] = mapped_column(Float)
    reason: Mapped[str] = mapped_column(Text)
    config_json: Mapped[str] = mapped_column(Text)  # FlagConfig
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)

    fit: Mapped[Fit] = relationship(back_populates="flags")


class PeriodRow(Base):
    __tablename__ = "periods"
    __table_args__ = (UniqueConstraint("model_digest", "template_digest", "method", "first_run",
                                       name="uq_period_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model_digest: Mapped[str] = mapped_column(String(64), index=True)
    template_digest: Mapped[str] = mapped_column(String(64), index=True)
    method: Mapped[str] = mapped_column(String(32))
    first_run: Mapped[int] = mapped_column(Integer)
    last_run: Mapped[int] = mapped_column(Integer)
    n_runs: Mapped[int] = mapped_column(Integer)
    start_ns: Mapped[int | None] = mapped_column(BigInteger)
    stop_ns: Mapped[int | None] = mapped_column(BigInteger)
    mean_fraction: Mapped[float] = mapped_column(Float)
    significance: Mapped[float] = mapped_column(Float)
    reference_fraction: Mapped[float | None] = mapped_column(Float)
    config_json: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


class Note(Base):
    __tablename__ = "notes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_number: Mapped[int | None] = mapped_column(Integer, index=True)
    period_id: Mapped[int | None] = mapped_column(ForeignKey("periods.id", ondelete="SET NULL"))
    kind: Mapped[str] = mapped_column(String(16), default="note")  # note | ack
    author: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    text: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="open")  # open | resolved
    resolved_by: Mapped[str | None] = mapped_column(String(200))
    resolved_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class Alarm(Base):
    __tablename__ = "alarms"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(200), unique=True, index=True)  # one alarm per cause
    kind: Mapped[str] = mapped_column(String(32))  # flag | period | stale | producer_down
    run_number: Mapped[int | None] = mapped_column(Integer, index=True)
    text: Mapped[str] = mapped_column(Text)
    raised_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    status: Mapped[str] = mapped_column(String(16), default="open")  # open | acked
    acked_by: Mapped[str | None] = mapped_column(String(200))
    acked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    ack_text: Mapped[str | None] = mapped_column(Text)


class Setting(Base):
    __tablename__ = "settings"

    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    value_json: Mapped[str] = mapped_column(Text)
    updated_by: Mapped[str] = mapped_column(String(200))
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class SettingChange(Base):
    __tablename__ = "settings_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(100), index=True)
    old_json: Mapped[str | None] = mapped_column(Text)
    value_json: Mapped[str] = mapped_column(Text)
    changed_by: Mapped[str] = mapped_column(String(200))
    changed_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class RunHealthRow(Base):
    __tablename__ = "run_health"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_number: Mapped[int] = mapped_column(Integer, unique=True, index=True)
    n_events: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(32))  # ok | too_few_events
    mean_nhit: Mapped[float | None] = mapped_column(Float)
    energy_peak_mev: Mapped[float | None] = mapped_column(Float)
    n_dead: Mapped[int] = mapped_column(Integer)
    n_hot: Mapped[int] = mapped_column(Integer)
    dead_json: Mapped[str] = mapped_column(Text)
    hot_json: Mapped[str] = mapped_column(Text)
    reference: Mapped[str] = mapped_column(String(64))  # neighbours | run N
    result_json: Mapped[str] = mapped_column(Text)  # RunHealth.to_dict(): counts, expected, z per PMT
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


class RunMark(Base):
    __tablename__ = "run_marks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_number: Mapped[int] = mapped_column(Integer, index=True)
    mark: Mapped[str] = mapped_column(String(8))  # good | bad | none (cleared)
    marked_by: Mapped[str] = mapped_column(String(200))
    marked_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    reason: Mapped[str | None] = mapped_column(Text)


class ReferenceChoice(Base):
    __tablename__ = "reference_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_number: Mapped[int | None] = mapped_column(Integer)  # None: back to the automatic rule
    set_by: Mapped[str] = mapped_column(String(200))
    set_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    reason: Mapped[str | None] = mapped_column(Text)


class Shift(Base):
    __tablename__ = "shifts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    shifter: Mapped[str] = mapped_column(String(200))
    signed_in_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    signed_off_by: Mapped[str | None] = mapped_column(String(200))
    signed_off_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    comment: Mapped[str | None] = mapped_column(Text)

    checks: Mapped[list["ShiftCheck"]] = relationship(back_populates="shift", cascade="all, delete-orphan")


class ShiftCheck(Base):
    __tablename__ = "shift_checks"
    __table_args__ = (UniqueConstraint("shift_id", "item", name="uq_shift_check_item"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    shift_id: Mapped[int] = mapped_column(ForeignKey("shifts.id", ondelete="CASCADE"), index=True)
    item: Mapped[str] = mapped_column(String(64))
    checked_by: Mapped[str] = mapped_column(String(200))
    checked_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    shift: Mapped[Shift] = relationship(back_populates="checks")

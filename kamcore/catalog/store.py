"""The run catalog: transactional writes with upserts, and the read API of the dashboard.

:class:`Catalog` wraps one SQLAlchemy engine.  URLs: any SQLAlchemy URL
(``sqlite:///path``, ``postgresql+psycopg://user@host/db``); a plain path is
taken as a SQLite file.  The default (:func:`default_catalog_url`) is
``$KAMDASH_CATALOG`` if set, else the SQLite file
``$XDG_DATA_HOME/kamdash/catalog.sqlite`` (``~/.local/share/kamdash/...``
when ``XDG_DATA_HOME`` is unset), the XDG base-directory convention that
platformdirs follows on Linux.

Every write method is one transaction (``Session.begin()``): it commits whole
or not at all, also when the writing process is killed (SIGKILL) in the middle:
SQLite rolls a hot journal back when the file is next opened, PostgreSQL aborts
the transaction of a dropped connection.  :meth:`Catalog.store_run_fit` writes a
closed run and its fit in one transaction, so a run is never stored as ``ok``
without its fit.  Re-writing the same thing updates the row in place: runs are
keyed by run number, fits by (run, model digest, template digest), flags by
(fit, kind), periods by (model, templates, method, first run); on SQLite and
PostgreSQL this is a native ``INSERT ... ON CONFLICT DO UPDATE``.  Flags and
periods of a (model, templates) sequence are replaced as a set: rows that the
new flagging no longer produces are deleted in the same transaction.

The read methods return plain dicts and lists (no ORM objects escape), so a
dashboard can cache them.

>>> cat = Catalog("sqlite://")            # in memory
>>> cat.upsert_run(7, n_events=10); cat.upsert_run(7, n_events=12)
>>> [(r["run"], r["n_events"]) for r in cat.list_runs()]
[(7, 12)]
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
from pathlib import Path
from typing import Iterable, Sequence

from sqlalchemy import create_engine, delete, event, select
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from ..errors import CatalogError, ConfigError, one_line
from .models import (Alarm, Base, Fit, Flag, Note, PeriodRow, ReferenceChoice, Run, RunHealthRow, RunMark, Setting,
                     SettingChange, Shift, ShiftCheck, utcnow)

__all__ = ["Catalog", "CatalogError", "default_catalog_url", "default_catalog_path", "SETTINGS",
           "run_time_problems"]

#: thresholds an expert may change in the catalog: key -> (type, lower bound, upper bound, meaning)
SETTINGS = {
    "stale_s": (float, 1.0, 86400.0, "seconds without an event before the feed is STALE"),
    "flag.n_sigma": (float, 0.5, 100.0, "z: a run is flagged this many sigma above the reference"),
    "flag.min_pvalue": (float, 0.0, 0.5, "a fit with a smaller p-value is flagged bad"),
}

log = logging.getLogger(__name__)


def default_catalog_path() -> Path:
    """``$XDG_DATA_HOME/kamdash/catalog.sqlite`` (``~/.local/share`` when unset)."""
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(base) / "kamdash" / "catalog.sqlite"


def default_catalog_url() -> str:
    """``$KAMDASH_CATALOG`` or the SQLite URL of :func:`default_catalog_path`."""
    return os.environ.get("KAMDASH_CATALOG") or f"sqlite:///{default_catalog_path()}"


def _normalise_url(url: str | os.PathLike | None) -> str:
    """SQLAlchemy URL of ``url``: a plain path is a SQLite file; ``postgresql://`` / ``postgres://`` without a
    driver use psycopg (version 3, ``pip install 'psycopg[binary]'``) unless psycopg2 is installed.

    >>> _normalise_url("postgres://kamdash@db/kamdash").split("://")[0] in ("postgresql+psycopg", "postgresql")
    True
    """
    if url is None:
        url = default_catalog_url()
    s = os.fspath(url)
    if "://" not in s:  # a plain path: SQLite file
        return f"sqlite:///{Path(s).expanduser().resolve()}"
    scheme, rest = s.split("://", 1)
    if scheme in ("postgresql", "postgres"):
        import importlib.util

        has_pg2 = importlib.util.find_spec("psycopg2") is not None
        s = ("postgresql://" if has_pg2 else "postgresql+psycopg://") + rest
    return s


_RUN_FIELDS = {"path", "start_ns", "stop_ns", "livetime_s", "n_events", "status", "error", "good"}


class Catalog:
    """The run catalog on one database (see module docstring).

    Parameters
    ----------
    url : str or os.PathLike, optional
        SQLAlchemy URL or SQLite file path; default :func:`default_catalog_url`.
    echo : bool
        Log SQL statements.
    """

    def __init__(self, url: str | os.PathLike | None = None, *, echo: bool = False):
        text = _normalise_url(url)
        try:
            u = make_url(text)
        except ArgumentError:
            raise ConfigError(f"catalog URL {text!r} is not a database URL (e.g. sqlite:///file.sqlite)") from None
        self.url = u.render_as_string(hide_password=True)
        if u.get_backend_name() == "sqlite" and u.database not in (None, "", ":memory:"):
            try:
                Path(u.database).parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise CatalogError(f"catalog {self.url}: cannot create its directory ({exc.strerror})") from None
        # a server connection can go away between two polls of a long-running dashboard: test it on checkout
        extra = {} if u.get_backend_name() == "sqlite" else {"pool_pre_ping": True}
        try:
            self.engine: Engine = create_engine(u, echo=echo, future=True, **extra)
        except (SQLAlchemyError, ImportError) as exc:
            raise CatalogError(f"catalog {self.url}: {_db_error(exc)}") from None
        if self.engine.dialect.name == "sqlite":
            @event.listens_for(self.engine, "connect")
            def _fk_on(dbapi_conn, _):  # SQLite enforces foreign keys only when asked
                cur = dbapi_conn.cursor()
                cur.execute("PRAGMA foreign_keys=ON")
                cur.close()
        self._session = sessionmaker(self.engine, expire_on_commit=False)
        try:
            self._create_tables()
        except SQLAlchemyError as exc:
            raise CatalogError(f"catalog {self.url}: cannot open or create the tables ({_db_error(exc)})") from None

    def _create_tables(self) -> None:
        """Create missing tables.  On PostgreSQL under a transaction-level advisory lock: processes that open a
        new catalog at the same moment (a monitor and dashboards starting together) would otherwise race on
        ``CREATE TABLE`` and one of them fail with a duplicate-type error."""
        if self.engine.dialect.name == "sqlite":
            # one transaction: Python's sqlite3 commits each CREATE TABLE on its own, so a process killed
            # while creating a new catalog left some tables and not others (seen: 'runs' without 'fits')
            with self.engine.connect() as conn:
                conn.exec_driver_sql("BEGIN IMMEDIATE")
                Base.metadata.create_all(conn)
                conn.commit()
            return
        if self.engine.dialect.name != "postgresql":
            Base.metadata.create_all(self.engine)
            return
        from sqlalchemy import text

        with self.engine.begin() as conn:
            conn.execute(text("SELECT pg_advisory_xact_lock(7273801)"))  # any constant key: 'kamdash catalog'
            Base.metadata.create_all(conn)

    def __repr__(self) -> str:
        return f"Catalog({self.url!r})"

    def close(self) -> None:
        self.engine.dispose()

    # ---------------------------------------------------------------- helpers
    def _tx(self):
        return _Tx(self)

    def _upsert(self, s: Session, model, keys: Sequence[str], values: dict) -> int:
        """Insert or update the row of ``model`` identified by ``keys``; returns its id."""
        dialect = self.engine.dialect.name
        values = dict(values)
        if "updated_at" in model.__table__.c:
            values["updated_at"] = utcnow()
        if dialect in ("sqlite", "postgresql"):
            if dialect == "sqlite":
                from sqlalchemy.dialects.sqlite import insert
            else:
                from sqlalchemy.dialects.postgresql import insert
            stmt = insert(model).values(**values)
            update = {k: stmt.excluded[k] for k in values if k not in keys}
            stmt = stmt.on_conflict_do_update(index_elements=list(keys), set_=update).returning(model.id)
            return int(s.execute(stmt).scalar_one())
        row = s.execute(select(model).filter_by(**{k: values[k] for k in keys})).scalar_one_or_none()
        if row is None:
            row = model(**values)
            s.add(row)
        else:
            for k, v in values.items():
                setattr(row, k, v)
        s.flush()
        return int(row.id)

    def _run_id(self, s: Session, run_number: int) -> int:
        rid = s.execute(select(Run.id).where(Run.run_number == int(run_number))).scalar_one_or_none()
        if rid is None:
            rid = self._upsert(s, Run, ["run_number"], {"run_number": int(run_number)})
        return int(rid)

    @staticmethod
    def _check_run_fields(fields: dict) -> None:
        bad = sorted(set(fields) - _RUN_FIELDS)
        if bad:
            raise ConfigError(f"unknown run field(s) {bad}; allowed: {sorted(_RUN_FIELDS)}")

    # ----------------------------------------------------------------- writes
    def upsert_run(self, run_number: int, **fields) -> None:
        """Insert or update run ``run_number`` (fields: path, start_ns, stop_ns, livetime_s, n_events,
        status, error, good)."""
        self._check_run_fields(fields)
        with self._tx() as s:
            self._upsert(s, Run, ["run_number"], {"run_number": int(run_number), **fields})

    def mark_good(self, run_numbers: Iterable[int], good: bool = True) -> None:
        """Mark runs as good (reference) or clear the mark (``good=False``)."""
        with self._tx() as s:
            for r in run_numbers:
                self._upsert(s, Run, ["run_number"], {"run_number": int(r), "good": bool(good) or None})

    def store_fit(self, run_number: int, fit, *, model: dict, template_digest: str, config,
                  command: str | None = None) -> int:
        """Insert or update the fit of a run by (model digest, template digest); returns the fit id.

        ``fit`` is a :class:`kamcore.fit.RunFit`, ``config`` its :class:`kamcore.fit.FitConfig`.
        """
        with self._tx() as s:
            return self._store_fit(s, self._run_id(s, run_number), fit, model, template_digest, config, command)

    def store_run_fit(self, run_number: int, fit, *, run_fields: dict, model: dict, template_digest: str, config,
                      command: str | None = None, health: dict | None = None) -> int:
        """:meth:`upsert_run` with ``run_fields`` and :meth:`store_fit` (and :meth:`store_health` of
        ``health``, a :meth:`kamcore.monitor.health.RunHealth.to_dict`) in one transaction; returns the fit id.

        What closing a run writes: either all rows are committed or none (a writer killed in between
        leaves the catalog as it was, and the run is closed again on restart).
        """
        self._check_run_fields(run_fields)
        with self._tx() as s:
            rid = self._upsert(s, Run, ["run_number"], {"run_number": int(run_number), **run_fields})
            fid = self._store_fit(s, rid, fit, model, template_digest, config, command)
            if health is not None:
                self._store_health(s, int(run_number), health)
            return fid

    # ----------------------------------------------------------------- health
    def store_health(self, run_number: int, health: dict) -> None:
        """Insert or replace the detector health of a run (a :meth:`kamcore.monitor.health.RunHealth.to_dict`)."""
        with self._tx() as s:
            self._store_health(s, int(run_number), health)

    def _store_health(self, s: Session, run_number: int, h: dict) -> None:
        self._upsert(s, RunHealthRow, ["run_number"], {
            "run_number": run_number, "n_events": int(h["n_events"]), "status": str(h["status"]),
            "mean_nhit": _finite(h.get("mean_nhit")), "energy_peak_mev": _finite(h.get("energy_peak_mev")),
            "n_dead": len(h["dead"]), "n_hot": len(h["hot"]), "dead_json": json.dumps(list(h["dead"])),
            "hot_json": json.dumps(list(h["hot"])), "reference": str(h.get("reference", "neighbours")),
            "result_json": json.dumps(h)})

    def run_health(self, run_number: int) -> dict | None:
        """The stored health of a run with its per-PMT arrays (:meth:`~kamcore.monitor.health.RunHealth.to_dict`
        plus ``updated_at``), or None."""
        with self._session() as s:
            row = s.execute(select(RunHealthRow).where(RunHealthRow.run_number == int(run_number))).scalar_one_or_none()
            if row is None:
                return None
            return json.loads(row.result_json) | {"updated_at": _iso(row.updated_at)}

    def health_summaries(self) -> dict[int, dict]:
        """``{run: {"n_events", "status", "mean_nhit", "energy_peak_mev", "dead", "hot", "reference",
        "updated_at"}}`` of every run with a stored health (no per-PMT arrays)."""
        with self._session() as s:
            return {r.run_number: {"run": r.run_number, "n_events": r.n_events, "status": r.status,
                                   "mean_nhit": r.mean_nhit, "energy_peak_mev": r.energy_peak_mev,
                                   "dead": json.loads(r.dead_json), "hot": json.loads(r.hot_json),
                                   "reference": r.reference, "updated_at": _iso(r.updated_at)}
                    for r in s.execute(select(RunHealthRow).order_by(RunHealthRow.run_number)).scalars()}

    # -------------------------------------------------------- marks, reference
    def mark_run(self, run_number: int, mark: str, *, by: str, reason: str | None = None) -> None:
        """Mark a run ``"good"`` or ``"bad"`` (or ``"none"``: clear the mark) as ``by``, now; every mark is
        kept (:meth:`run_marks`), the run's ``good`` holds the newest."""
        if mark not in ("good", "bad", "none"):
            raise ConfigError(f"a run mark is 'good', 'bad' or 'none', got {mark!r}")
        by = _required_name(by, "marking a run needs a name (who marks it)")
        with self._tx() as s:
            row = s.execute(select(Run).where(Run.run_number == int(run_number))).scalar_one_or_none()
            if row is None:
                raise ConfigError(f"no run {run_number} in {self.url}")
            row.good = {"good": True, "bad": False, "none": None}[mark]
            s.add(RunMark(run_number=int(run_number), mark=mark, marked_by=by, marked_at=utcnow(),
                          reason=(str(reason).strip() or None) if reason is not None else None))

    def run_marks(self, run: int | None = None, limit: int = 200) -> list[dict]:
        """Good / bad marks, newest first (optionally of one run): ``{"run", "mark", "by", "at", "reason"}``."""
        with self._session() as s:
            q = select(RunMark).order_by(RunMark.marked_at.desc(), RunMark.id.desc()).limit(limit)
            if run is not None:
                q = q.where(RunMark.run_number == int(run))
            return [{"id": m.id, "run": m.run_number, "mark": m.mark, "by": m.marked_by, "at": _iso(m.marked_at),
                     "reason": m.reason} for m in s.execute(q).scalars()]

    def set_reference_run(self, run_number: int | None, *, by: str, reason: str | None = None) -> None:
        """Set the curated reference run (None: back to the automatic rule of
        :func:`kamcore.catalog.reference_run`) as ``by``, now; every choice is kept."""
        by = _required_name(by, "setting the reference run needs a name (who sets it)")
        with self._tx() as s:
            if run_number is not None:
                row = s.execute(select(Run).where(Run.run_number == int(run_number))).scalar_one_or_none()
                if row is None:
                    raise ConfigError(f"no run {run_number} in {self.url}")
                if row.status != "ok":
                    raise ConfigError(f"run {run_number} cannot be the reference: its file is {row.status}")
            s.add(ReferenceChoice(run_number=None if run_number is None else int(run_number), set_by=by,
                                  set_at=utcnow(), reason=(str(reason).strip() or None) if reason else None))

    def reference_choices(self, limit: int = 50) -> list[dict]:
        """Choices of the curated reference run, newest first: ``{"run", "by", "at", "reason"}``
        (``run`` None: the automatic rule was chosen again)."""
        with self._session() as s:
            q = select(ReferenceChoice).order_by(ReferenceChoice.set_at.desc(), ReferenceChoice.id.desc()).limit(limit)
            return [{"id": c.id, "run": c.run_number, "by": c.set_by, "at": _iso(c.set_at), "reason": c.reason}
                    for c in s.execute(q).scalars()]

    def curated_reference(self) -> dict | None:
        """The newest reference choice when it names a run (:meth:`reference_choices`), else None."""
        ch = self.reference_choices(limit=1)
        return ch[0] if ch and ch[0]["run"] is not None else None

    # ----------------------------------------------------------------- shifts
    def start_shift(self, shifter: str) -> int:
        """Sign ``shifter`` in; returns the shift id.  The same shifter signing in again gets the open shift;
        another one is refused while a shift is open (sign it off first: a hand-over is a sign-off)."""
        name = _required_name(shifter, "signing in needs a name")
        with self._tx() as s:
            cur = s.execute(select(Shift).where(Shift.signed_off_at.is_(None))
                            .order_by(Shift.signed_in_at.desc(), Shift.id.desc())).scalars().first()
            if cur is not None:
                if cur.shifter == name:
                    return int(cur.id)
                raise ConfigError(f"shift #{cur.id} of {cur.shifter} (since {_iso(cur.signed_in_at)[:16]} UTC) is "
                                  "still open: sign it off first")
            sh = Shift(shifter=name, signed_in_at=utcnow())
            s.add(sh)
            s.flush()
            return int(sh.id)

    def _shift(self, s, shift_id: int) -> Shift:
        sh = s.get(Shift, int(shift_id))
        if sh is None:
            raise ConfigError(f"no shift with id {shift_id} in {self.url}")
        return sh

    def _open_shift(self, s, shift_id: int, refused: str) -> Shift:
        """The shift ``shift_id`` if it is still open, else ``ConfigError("shift #<id> was <refused>")``.

        ``refused`` may name ``{by}``, who signed the shift off.
        """
        sh = self._shift(s, shift_id)
        if sh.signed_off_at is not None:
            raise ConfigError(f"shift #{shift_id} was " + refused.format(by=sh.signed_off_by))
        return sh

    def check_item(self, shift_id: int, item: str, *, by: str, checked: bool = True) -> None:
        """Tick (or untick) checklist item ``item`` (:data:`kamcore.catalog.shift.SHIFT_CHECKLIST`) of an open
        shift as ``by``, now."""
        from .shift import checklist_keys

        if item not in checklist_keys():
            raise ConfigError(f"unknown checklist item {item!r}; known: {checklist_keys()}")
        by = _required_name(by, "ticking a checklist item needs a name")
        with self._tx() as s:
            sh = self._open_shift(s, shift_id, "signed off; its checklist is closed")
            row = s.execute(select(ShiftCheck).where(ShiftCheck.shift_id == sh.id, ShiftCheck.item == item)
                            ).scalar_one_or_none()
            if checked and row is None:
                s.add(ShiftCheck(shift_id=sh.id, item=item, checked_by=by, checked_at=utcnow()))
            elif not checked and row is not None:
                s.delete(row)

    def sign_off_shift(self, shift_id: int, *, by: str, comment: str | None = None) -> None:
        """Sign an open shift off as ``by``, now; refused while a checklist item is unticked."""
        from .shift import checklist_keys

        by = _required_name(by, "signing off needs a name")
        with self._tx() as s:
            sh = self._open_shift(s, shift_id, "already signed off by {by}")
            done = {c.item for c in sh.checks}
            left = [k for k in checklist_keys() if k not in done]
            if left:
                raise ConfigError(f"shift #{shift_id} cannot be signed off: checklist item(s) {', '.join(left)} "
                                  "not ticked")
            sh.signed_off_by, sh.signed_off_at = by, utcnow()
            sh.comment = (str(comment).strip() or None) if comment else None

    def shifts(self, limit: int = 20) -> list[dict]:
        """Shifts, newest first: ``{"id", "shifter", "signed_in_at", "signed_off_by", "signed_off_at",
        "comment", "open", "checks": {item: {"by", "at"}}}``."""
        with self._session() as s:
            q = select(Shift).order_by(Shift.signed_in_at.desc(), Shift.id.desc()).limit(limit)
            return [{"id": sh.id, "shifter": sh.shifter, "signed_in_at": _iso(sh.signed_in_at),
                     "signed_off_by": sh.signed_off_by, "signed_off_at": _iso(sh.signed_off_at),
                     "comment": sh.comment, "open": sh.signed_off_at is None,
                     "checks": {c.item: {"by": c.checked_by, "at": _iso(c.checked_at)} for c in sh.checks}}
                    for sh in s.execute(q).scalars()]

    def current_shift(self) -> dict | None:
        """The open shift (:meth:`shifts`), or None."""
        return next((sh for sh in self.shifts(limit=5) if sh["open"]), None)

    def _store_fit(self, s: Session, rid: int, fit, model: dict, template_digest: str, config,
                   command: str | None) -> int:
        d = fit.to_dict()
        return self._upsert(s, Fit, ["run_id", "model_digest", "template_digest"], {
            "run_id": rid, "model_name": str(model["name"]), "model_kind": str(model.get("kind", "")),
            "model_digest": str(model["digest"]), "template_digest": str(template_digest),
            "method": str(config.method), "status": fit.status, "valid": bool(fit.valid),
            "n_events": int(fit.n_events), "bkg_fraction": d["bkg_fraction"],
            "bkg_fraction_err": d["bkg_fraction_err"], "fval": d["fval"], "ndof": int(fit.ndof),
            "pvalue": d["pvalue"], "seconds": float(fit.seconds), "result_json": json.dumps(d),
            "config_json": config.to_json(), "command": command})

    def store_flags(self, result, *, model_digest: str, template_digest: str, config) -> None:
        """Replace the flags and periods of the (model, templates) sequence by ``result`` (one transaction).

        ``result`` is a :class:`kamcore.fit.FlagResult` of runs whose fits are in the catalog.
        """
        cfg = config.to_json()
        with self._tx() as s:
            fit_ids = dict(s.execute(
                select(Run.run_number, Fit.id).join(Fit.run)
                .where(Fit.model_digest == model_digest, Fit.template_digest == template_digest)).all())
            missing = sorted({f.run for f in result.flags} - set(fit_ids))
            if missing:
                raise CatalogError(f"catalog {self.url}: no fit stored for flagged run(s) {missing[:5]}")
            keep_flags = set()
            for f in result.flags:
                fid = self._upsert(s, Flag, ["fit_id", "kind"], {
                    "fit_id": fit_ids[f.run], "kind": f.kind, "reason": f.reason, "config_json": cfg,
                    "significance": f.significance if f.significance == f.significance else None})
                keep_flags.add(fid)
            stale = select(Flag.id).where(Flag.fit_id.in_(list(fit_ids.values())))
            if keep_flags:
                stale = stale.where(Flag.id.not_in(keep_flags))
            s.execute(delete(Flag).where(Flag.id.in_(stale)))
            keep_periods = set()
            for p in result.periods:
                key = ["model_digest", "template_digest", "method", "first_run"]
                keep_periods.add(self._upsert(s, PeriodRow, key, {
                    "model_digest": model_digest, "template_digest": template_digest, "method": p.method,
                    "first_run": p.first_run, "last_run": p.last_run, "n_runs": p.n_runs,
                    "start_ns": p.start_ns, "stop_ns": p.stop_ns, "mean_fraction": p.mean_fraction,
                    "significance": p.significance, "reference_fraction": result.f_ref, "config_json": cfg}))
            q = delete(PeriodRow).where(PeriodRow.model_digest == model_digest,
                                        PeriodRow.template_digest == template_digest)
            if keep_periods:
                q = q.where(PeriodRow.id.not_in(keep_periods))
            s.execute(q)

    def add_note(self, text: str, *, author: str, run: int | None = None, period_id: int | None = None,
                 kind: str = "note") -> int:
        """Add a shift note (``kind="note"``) or acknowledgement (``"ack"``); returns its id."""
        if not str(text).strip():
            raise ConfigError("a note needs text")
        if not str(author).strip():
            raise ConfigError("a note needs an author")
        if kind not in ("note", "ack"):
            raise ConfigError(f"note kind must be 'note' or 'ack', got {kind!r}")
        with self._tx() as s:
            if period_id is not None and s.get(PeriodRow, int(period_id)) is None:
                raise ConfigError(f"no period with id {period_id} in {self.url}")
            note = Note(run_number=None if run is None else int(run), period_id=period_id, kind=kind,
                        author=str(author), text=str(text), status="open", created_at=utcnow())
            s.add(note)
            s.flush()
            return int(note.id)

    def resolve_note(self, note_id: int, *, by: str) -> None:
        """Mark a note resolved by ``by`` (now)."""
        with self._tx() as s:
            note = s.get(Note, int(note_id))
            if note is None:
                raise ConfigError(f"no note with id {note_id} in {self.url}")
            note.status, note.resolved_by, note.resolved_at = "resolved", str(by), utcnow()

    # ----------------------------------------------------------------- alarms
    def raise_alarm(self, key: str, *, kind: str, text: str, run: int | None = None) -> tuple[int, bool]:
        """Raise the alarm ``key`` unless it exists (any status); returns ``(id, created)``.

        The key names the cause (``"flag:17:high_background"``), so every process that sees the same
        cause raises one alarm.
        """
        if not str(key).strip() or not str(text).strip():
            raise ConfigError("an alarm needs a key and a text")
        with self._tx() as s:
            row = s.execute(select(Alarm).where(Alarm.key == str(key))).scalar_one_or_none()
            if row is not None:
                return int(row.id), False
            a = Alarm(key=str(key), kind=str(kind), run_number=None if run is None else int(run), text=str(text),
                      raised_at=utcnow(), status="open")
            s.add(a)
            s.flush()
            return int(a.id), True

    def ack_alarms(self, alarm_ids: Iterable[int], *, by: str, text: str) -> list[int]:
        """Acknowledge open alarms: who, now, and the acknowledgement's own ``text``; returns the ids acked.

        For each run concerned an ``ack`` note with that text is stored (resolved: the acknowledgement is
        done), in the same transaction.  An alarm already acknowledged is left as it was.
        """
        if not str(by).strip():
            raise ConfigError("an acknowledgement needs a name (who acknowledges)")
        if not str(text).strip():
            raise ConfigError("an acknowledgement needs its own text (what was checked or done)")
        ids = [int(i) for i in alarm_ids]
        with self._tx() as s:
            rows = s.execute(select(Alarm).where(Alarm.id.in_(ids))).scalars().all()
            missing = sorted(set(ids) - {r.id for r in rows})
            if missing:
                raise ConfigError(f"no alarm with id {missing[0]} in {self.url}")
            now, done, runs = utcnow(), [], set()
            for r in rows:
                if r.status != "open":
                    continue
                r.status, r.acked_by, r.acked_at, r.ack_text = "acked", str(by), now, str(text)
                done.append(int(r.id))
                runs.add(r.run_number)
            for run in sorted(runs, key=lambda x: (x is None, x)):
                s.add(Note(run_number=run, kind="ack", author=str(by), text=str(text), status="resolved",
                           resolved_by=str(by), resolved_at=now, created_at=now))
            return done

    def alarms(self, *, status: str | None = None, run: int | None = None, limit: int | None = None) -> list[dict]:
        """Alarms, newest first (optionally one status / one run)."""
        with self._session() as s:
            q = select(Alarm).order_by(Alarm.raised_at.desc(), Alarm.id.desc())
            if status is not None:
                q = q.where(Alarm.status == status)
            if run is not None:
                q = q.where(Alarm.run_number == int(run))
            if limit is not None:
                q = q.limit(int(limit))
            return [_alarm_dict(a) for a in s.execute(q).scalars()]

    # --------------------------------------------------------------- settings
    def set_setting(self, key: str, value, *, by: str) -> None:
        """Set threshold ``key`` (:data:`SETTINGS`) to ``value``, logged with who and when."""
        if key not in SETTINGS:
            raise ConfigError(f"unknown setting {key!r}; known: {sorted(SETTINGS)}")
        if not str(by).strip():
            raise ConfigError("a setting change needs a name (who changes it)")
        kind, lo, hi, what = SETTINGS[key]
        try:
            v = kind(value)
        except (TypeError, ValueError):
            raise ConfigError(f"setting {key} ({what}) must be a number, got {value!r}") from None
        if not lo <= v <= hi:
            raise ConfigError(f"setting {key} ({what}) must be in [{lo:g}, {hi:g}], got {v:g}")
        with self._tx() as s:
            row = s.get(Setting, key)
            old = None if row is None else row.value_json
            now = utcnow()
            if row is None:
                s.add(Setting(key=key, value_json=json.dumps(v), updated_by=str(by), updated_at=now))
            else:
                row.value_json, row.updated_by, row.updated_at = json.dumps(v), str(by), now
            s.add(SettingChange(key=key, old_json=old, value_json=json.dumps(v), changed_by=str(by), changed_at=now))

    def settings(self) -> dict:
        """``{key: {"value", "by", "at"}}`` of the thresholds an expert set."""
        with self._session() as s:
            return {r.key: {"value": json.loads(r.value_json), "by": r.updated_by, "at": _iso(r.updated_at)}
                    for r in s.execute(select(Setting)).scalars()}

    def settings_log(self, limit: int = 50) -> list[dict]:
        """Changes of the thresholds, newest first."""
        with self._session() as s:
            q = select(SettingChange).order_by(SettingChange.changed_at.desc(), SettingChange.id.desc()).limit(limit)
            return [{"key": r.key, "old": None if r.old_json is None else json.loads(r.old_json),
                     "value": json.loads(r.value_json), "by": r.changed_by, "at": _iso(r.changed_at)}
                    for r in s.execute(q).scalars()]

    # ------------------------------------------------------------------ reads
    def _fit_filter(self, q, model_digest, template_digest):
        if model_digest is not None:
            q = q.where(Fit.model_digest == model_digest)
        if template_digest is not None:
            q = q.where(Fit.template_digest == template_digest)
        return q

    def list_runs(self, *, model_digest: str | None = None, template_digest: str | None = None) -> list[dict]:
        """All runs in run order; each with its latest fit (of the model/templates if given) and flags."""
        with self._session() as s:
            runs = s.execute(select(Run).order_by(Run.run_number)).scalars().all()
            q = self._fit_filter(select(Fit).order_by(Fit.updated_at, Fit.id), model_digest, template_digest)
            latest: dict[int, Fit] = {}
            for f in s.execute(q).scalars():
                latest[f.run_id] = f
            out = []
            for r in runs:
                d = _run_dict(r)
                f = latest.get(r.id)
                d["fit"] = _fit_dict(f) if f is not None else None
                d["flags"] = [_flag_dict(x) for x in f.flags] if f is not None else []
                out.append(d)
            return out

    def fit_history(self, run_number: int) -> list[dict]:
        """Every stored fit of a run (all models and template versions), oldest first."""
        with self._session() as s:
            q = select(Fit).join(Fit.run).where(Run.run_number == int(run_number)).order_by(Fit.updated_at, Fit.id)
            return [_fit_dict(f) | {"flags": [_flag_dict(x) for x in f.flags]} for f in s.execute(q).scalars()]

    def periods(self, *, model_digest: str | None = None, template_digest: str | None = None) -> list[dict]:
        """High-background periods, in run order."""
        with self._session() as s:
            q = select(PeriodRow).order_by(PeriodRow.first_run, PeriodRow.method)
            if model_digest is not None:
                q = q.where(PeriodRow.model_digest == model_digest)
            if template_digest is not None:
                q = q.where(PeriodRow.template_digest == template_digest)
            return [_period_dict(p) for p in s.execute(q).scalars()]

    def notes(self, *, run: int | None = None, status: str | None = None) -> list[dict]:
        """Shift notes and acknowledgements, newest first (optionally of one run / one status)."""
        with self._session() as s:
            q = select(Note).order_by(Note.created_at.desc(), Note.id.desc())
            if run is not None:
                q = q.where(Note.run_number == int(run))
            if status is not None:
                q = q.where(Note.status == status)
            return [_note_dict(n) for n in s.execute(q).scalars()]

    def report(self, *, model_digest: str | None = None, template_digest: str | None = None) -> dict:
        """Everything ``kamcore runs report`` prints: runs (with fit, flags and their ``state``,
        :func:`kamcore.catalog.state.run_state`), periods, open notes."""
        from .state import run_states

        runs = self.list_runs(model_digest=model_digest, template_digest=template_digest)
        for r, st in zip(runs, run_states(runs, self.alarms())):
            r["state"] = st.state
        return {"catalog": self.url, "runs": runs,
                "periods": self.periods(model_digest=model_digest, template_digest=template_digest),
                "notes": self.notes(status="open")}


def run_time_problems(runs: list[dict], *, now_ns: int | None = None, tolerance_s: float = 1e-3) -> list[str]:
    """What is wrong with the run times of catalog runs (:meth:`Catalog.list_runs`), as a DAQ records them:
    each run has ``start_ns < stop_ns``, none lies in the future, the live time is at most ``stop - start``,
    and runs ordered by number do not overlap.  Returns one line per problem (empty: consistent).

    >>> run_time_problems([{"run": 1, "start_ns": 0, "stop_ns": 10**9, "livetime_s": 1.0},
    ...                    {"run": 2, "start_ns": 5 * 10**8, "stop_ns": 2 * 10**9, "livetime_s": 1.5}], now_ns=3 * 10**9)
    ['run 2 starts 0.5 s before run 1 stops']
    """
    import time

    now_ns = time.time_ns() if now_ns is None else int(now_ns)
    out, prev = [], None
    for r in sorted((r for r in runs if r.get("status", "ok") == "ok"), key=lambda r: r["run"]):
        a, b, live = r.get("start_ns"), r.get("stop_ns"), r.get("livetime_s")
        if a is None or b is None or live is None:
            out.append(f"run {r['run']} has no start, stop or live time")
            continue
        if not a < b:
            out.append(f"run {r['run']} stops ({b}) before it starts ({a})")
        if b > now_ns:
            out.append(f"run {r['run']} stops {(b - now_ns) / 1e9:.1f} s in the future")
        if live > (b - a) / 1e9 + tolerance_s or live <= 0:
            out.append(f"run {r['run']}: live time {live:g} s, but it lasts {(b - a) / 1e9:g} s")
        if prev is not None and a < prev["stop_ns"]:
            out.append(f"run {r['run']} starts {(prev['stop_ns'] - a) / 1e9:.1f} s before run {prev['run']} stops")
        prev = r
    return out


class _Tx:
    """``with catalog._tx() as session``: one transaction; SQLAlchemy errors become CatalogError."""

    def __init__(self, cat: Catalog):
        self.cat = cat

    def __enter__(self) -> Session:
        self.s = self.cat._session()
        self.tx = self.s.begin()
        return self.s

    def __exit__(self, et, ev, tb):
        try:
            if et is None:
                try:
                    self.tx.commit()
                except SQLAlchemyError as exc:
                    self.tx.rollback()
                    raise CatalogError(f"catalog {self.cat.url}: write failed ({_db_error(exc)})") from None
            else:
                self.tx.rollback()
                if isinstance(ev, SQLAlchemyError):
                    raise CatalogError(f"catalog {self.cat.url}: write failed ({_db_error(ev)})") from None
        finally:
            self.s.close()
        return False


def _db_error(exc: BaseException, limit: int = 300) -> str:
    """One line of a database error: the driver's own message (SQLAlchemy wraps it as ``exc.orig``)."""
    return one_line(getattr(exc, "orig", None) or exc, limit)


def _required_name(who, message: str) -> str:
    """``who`` (the person doing a change) as a stripped string; ``ConfigError(message)`` when it is blank."""
    name = str(who).strip()
    if not name:
        raise ConfigError(message)
    return name


def _iso(t: dt.datetime | None) -> str | None:
    if t is None:
        return None
    if t.tzinfo is None:  # SQLite hands back naive datetimes; they were stored as UTC
        t = t.replace(tzinfo=dt.timezone.utc)
    return t.isoformat()


def _finite(x) -> float | None:
    if x is None:
        return None
    x = float(x)
    return x if x == x and abs(x) != float("inf") else None


def _run_dict(r: Run) -> dict:
    return {"run": r.run_number, "path": r.path, "start_ns": r.start_ns, "stop_ns": r.stop_ns,
            "livetime_s": r.livetime_s, "n_events": r.n_events, "status": r.status, "error": r.error,
            "good": bool(r.good), "mark": {True: "good", False: "bad"}.get(r.good), "updated_at": _iso(r.updated_at)}


def _fit_dict(f: Fit) -> dict:
    return {"id": f.id, "run": f.run.run_number, "model": {"name": f.model_name, "kind": f.model_kind,
                                                          "digest": f.model_digest},
            "template_digest": f.template_digest, "method": f.method, "status": f.status, "valid": f.valid,
            "n_events": f.n_events, "bkg_fraction": f.bkg_fraction, "bkg_fraction_err": f.bkg_fraction_err,
            "fval": f.fval, "ndof": f.ndof, "pvalue": f.pvalue, "seconds": f.seconds,
            "result": json.loads(f.result_json), "config": json.loads(f.config_json), "command": f.command,
            "updated_at": _iso(f.updated_at)}


def _flag_dict(x: Flag) -> dict:
    return {"id": x.id, "kind": x.kind, "significance": x.significance, "reason": x.reason,
            "updated_at": _iso(x.updated_at)}


def _period_dict(p: PeriodRow) -> dict:
    return {"id": p.id, "method": p.method, "first_run": p.first_run, "last_run": p.last_run, "n_runs": p.n_runs,
            "start_ns": p.start_ns, "stop_ns": p.stop_ns, "mean_fraction": p.mean_fraction,
            "significance": p.significance, "reference_fraction": p.reference_fraction,
            "model_digest": p.model_digest, "template_digest": p.template_digest,
            "config": json.loads(p.config_json), "updated_at": _iso(p.updated_at)}


def _note_dict(n: Note) -> dict:
    return {"id": n.id, "run": n.run_number, "period_id": n.period_id, "kind": n.kind, "author": n.author,
            "created_at": _iso(n.created_at), "text": n.text, "status": n.status, "resolved_by": n.resolved_by,
            "resolved_at": _iso(n.resolved_at)}


def _alarm_dict(a: Alarm) -> dict:
    return {"id": a.id, "key": a.key, "kind": a.kind, "run": a.run_number, "text": a.text,
            "raised_at": _iso(a.raised_at), "status": a.status, "acked_by": a.acked_by,
            "acked_at": _iso(a.acked_at), "ack_text": a.ack_text}

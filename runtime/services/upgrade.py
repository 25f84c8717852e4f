"""Bringing a form's records up to its newest version after a publish.

A record keeps the version it was written with; reads and writes upgrade it
(:meth:`ServiceBase._current_data`). Lists, filters, sorts, aggregates and search read what is
stored, though: after a publish that converts a field to another type, adds or changes a
formula or a lookup, or makes a field unique, the stored values of older records are not
what the new version says until each record is written again. So after a publish the
records behind are written again, in batches, by the system:

- :meth:`UpgradeServices.upgrade_records`: one batch, in the caller's transaction;
- :func:`drain_upgrades`: every record behind, one write transaction per batch (``stageform
  upgrade``);
- :class:`RecordUpgrader`: a background thread of the app server, poked after a publish
  commits; when it starts it also takes up the forms whose last pass did not finish (the
  server stopped, the database was busy): each finished pass is recorded in
  ``forms.upgraded_version`` (:func:`runtime.store.forms.forms_to_upgrade`).

An upgrade is the form's change applied, not an edit: its history entry's action is
``upgrade`` (no actor), no event is sent, ``updated_at`` stays, and it is never refused by a
rule of the new version (see :func:`runtime.pipeline.prepare_upgrade`). A record that cannot
take its converted unique value (another record holds it) is left as it is and counted; it is
still upgraded when read, and its next edit meets the rule. Records in the recycle bin are
upgraded when restored (:meth:`RecordServices.restore_record`). Several upgraders at once are safe: a record written since it was read
is read again and upgraded if it is still behind, and an edit that read an older version
never writes a record back under it (:func:`runtime.store.records.update_record` refuses it as
stale).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from runtime.compiled import CompiledForm
from runtime.errors import NotFoundError, RecordValidationError
from runtime.pipeline import prepare_upgrade
from runtime.services.base import ServiceBase
from runtime.store import forms as form_store
from runtime.store import records as record_store
from runtime.store.background import Background
from runtime.store.database import Database
from runtime.store.records import RecordRow

log = logging.getLogger("stageform.upgrade")

RETRIES = 3  # reads of a record that an edit keeps rewriting under an older version
BATCH = 200  # records a write transaction: short, so that people's writes are not held up
THREAD_NAME = "stageform-record-upgrader"


@dataclass(frozen=True)
class UpgradeBatch:
    upgraded: int  # records now at the newest version
    left: int  # records that could not be (a converted unique value another record holds)
    last_id: int | None  # the last record looked at; None: none was behind after ``after_id``
    version: int  # the version the batch brought records to


class UpgradeServices(ServiceBase):
    def upgrade_records(
        self, conn: Any, form_id: int, *, after_id: int = 0, limit: int = BATCH
    ) -> UpgradeBatch:
        """Write up to ``limit`` records of the form that are behind its newest version (in
        id order, after ``after_id``) as that version derives them."""
        cf = self.compiled_form(conn, form_id)
        rows = record_store.behind(conn, form_id, cf.version, after_id=after_id, limit=limit)
        if not rows:
            return UpgradeBatch(0, 0, None, cf.version)
        upgraded = left = 0
        for row in rows:
            try:
                upgraded += self.upgrade_record(conn, cf, row)
            except RecordValidationError:
                left += 1
        return UpgradeBatch(upgraded, left, rows[-1].id, cf.version)

    def upgrade_record(self, conn: Any, cf: CompiledForm, row: RecordRow) -> bool:
        """Write one record of ``cf``'s form that is behind as ``cf`` derives it; whether it
        was (``False``: it is no longer behind — its writer upgraded it — or was deleted).
        A record written meanwhile by an edit that read an older form version is still
        behind: it is read again (locked) and upgraded from what that edit wrote.

        Raises: RecordValidationError (``not_unique``: a converted unique value another
        record holds; nothing is written).
        """
        ctx = self._system_context()
        for _ in range(RETRIES):
            current, hidden = self._current_data(conn, row, derive=False)
            prepared = prepare_upgrade(
                cf,
                row.data,
                current,
                ctx,
                self._access(conn, cf),
                record_id=row.id,
                stage=row.stage,
            )
            if record_store.upgrade_record(conn, cf, row, prepared, hidden=hidden, now=ctx.now):
                return True
            try:
                row = record_store.get_record(conn, row.id, lock=True)
            except NotFoundError:  # deleted meanwhile: upgraded when restored
                return False
            if row.schema_version >= cf.version:
                return False
        return False


def drain_upgrades(
    database: Database,
    services: UpgradeServices,
    form_ids: Iterable[int] | None = None,
    *,
    batch: int = BATCH,
    progress: Callable[[int, int, int], None] | None = None,
) -> tuple[int, int]:
    """Upgrade every record behind of ``form_ids`` (None: of every published form), one
    write transaction per ``batch``; ``progress(form_id, upgraded, left)`` after each batch
    (the form's totals so far). Returns (upgraded, left) over all. A form's finished pass is
    recorded (``forms.upgraded_version``: the lowest version its batches brought records to,
    as a publish during the pass leaves the records before it one version behind).

    Raises:
        DatabaseBusyError: a batch waited too long for the write lock (what was written
            before stays written; running again continues).
    """
    if form_ids is None:
        with database.read() as conn:
            form_ids = form_store.published_form_ids(conn)
    total_upgraded = total_left = 0
    for form_id in form_ids:
        after_id, upgraded, left = 0, 0, 0
        low: int | None = None
        while True:
            try:
                with database.begin() as conn:
                    done = services.upgrade_records(conn, form_id, after_id=after_id, limit=batch)
            except NotFoundError:  # its app was deleted meanwhile
                break
            low = done.version if low is None else min(low, done.version)
            if done.last_id is None:
                with database.begin() as conn:
                    form_store.mark_upgraded(conn, form_id, low)
                break
            after_id = done.last_id
            upgraded += done.upgraded
            left += done.left
            if progress is not None:
                progress(form_id, upgraded, left)
        total_upgraded += upgraded
        total_left += left
        if upgraded or left:
            log.info("form %s: %s records upgraded, %s left", form_id, upgraded, left)
    return total_upgraded, total_left


class RecordUpgrader(Background):
    """The app server's upgrader: :meth:`poke` with a form id after a publish commits; the
    thread then upgrades that form's records behind (:func:`drain_upgrades`). A form whose
    drain failed (a busy database) is tried again every ``interval`` seconds until done."""

    def __init__(
        self,
        database: Database,
        services: UpgradeServices,
        *,
        delay: float = 0.2,
        interval: float = 30.0,
    ) -> None:
        super().__init__(THREAD_NAME, self._drain, delay=delay, interval=interval)
        self._database = database
        self._services = services
        self._pending: dict[int, int] = {}  # form id → how many pokes
        self._lock = threading.Lock()
        self._resume = True  # the forms an earlier server left unfinished: read on the first run

    def poke(self, form_id: int | None = None) -> None:
        if form_id is not None:
            with self._lock:
                self._pending[form_id] = self._pending.get(form_id, 0) + 1
        super().poke()

    def _drain(self) -> None:
        if self._resume:
            with self._database.read() as conn:
                unfinished = form_store.forms_to_upgrade(conn)
            with self._lock:
                for form_id in unfinished:
                    self._pending.setdefault(form_id, 0)
            self._resume = False
        with self._lock:
            pending = sorted(self._pending.items())
        for form_id, pokes in pending:
            try:
                drain_upgrades(self._database, self._services, [form_id])
            except Exception:  # kept pending, tried again in `interval`; the others go on
                log.warning("upgrading form %s failed; retrying later", form_id, exc_info=True)
                continue
            with self._lock:
                # A publish during the drain pokes again: the form stays for another pass.
                if self._pending.get(form_id) == pokes:
                    del self._pending[form_id]

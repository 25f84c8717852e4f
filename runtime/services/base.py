"""What every service shares: the compiled-form cache, the clock, the time zone, reading a
record's data at the form's newest version, and the one data-permission slot.

The operations themselves live beside this module, one module per area (definitions,
records, workflow …); :class:`runtime.services.Services` combines them. Every operation runs
over the caller's transaction (``conn``, opened and committed by the caller).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from builder import load_form
from builder.diff import upgrade_data
from builder.fields.base import CoerceContext
from runtime import workflow
from runtime.actor import Actor
from runtime.compiled import CompiledForm, CompiledForms
from runtime.errors import ConflictError
from runtime.pipeline import WriteContext
from runtime.store import forms as form_store
from runtime.store.records import AppStoreAccess, RecordRow


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass
class ServiceBase:
    """Process-wide state of the engine: the compiled-form cache, the clock, the time zone."""

    timezone: str = "Asia/Shanghai"
    clock: Callable[[], dt.datetime] = _utcnow
    compiled: CompiledForms = field(default_factory=CompiledForms)

    @property
    def coerce_context(self) -> CoerceContext:
        return CoerceContext(timezone=ZoneInfo(self.timezone))

    def compiled_form(self, conn: Any, form_id: int) -> CompiledForm:
        """The form's newest published version, compiled.

        Raises: NotFoundError, ConflictError (``form_not_published``).
        """
        row = form_store.get_form(conn, form_id)
        if row.published_version is None:
            raise ConflictError(
                "the form has no published version yet; publish it first", code="form_not_published"
            )
        return self._version(conn, form_id, row.published_version)

    def _version(self, conn: Any, form_id: int, version: int) -> CompiledForm:
        found = self.compiled.cached(form_id, version)
        if found is not None:
            return found
        definition = load_form(form_store.get_version(conn, form_id, version))
        return self.compiled.get(form_id, definition)

    def _context(self, actor: Actor) -> WriteContext:
        return WriteContext(
            actor_id=actor.user_id, now=self.clock(), coerce=self.coerce_context, lang=actor.lang
        )

    def _access(self, conn: Any, cf: CompiledForm) -> AppStoreAccess:
        def form_ids() -> dict[str, int]:
            return form_store.app_form_ids(conn, form_store.get_form(conn, cf.form_id).app_id)

        return AppStoreAccess(conn, cf.form_id, form_ids)

    def _current_data(self, conn: Any, row: RecordRow) -> tuple[dict[str, Any], dict[str, Any]]:
        cf = self.compiled_form(conn, row.form_id)
        if row.schema_version == cf.version:
            return row.data, row.hidden or {}
        old = self._version(conn, row.form_id, row.schema_version).definition
        up = upgrade_data(old, cf.definition, row.data, row.hidden, self.coerce_context)
        return up.data, up.hidden

    def _initial_stage_due(
        self, cf: CompiledForm, datas: Sequence[Mapping[str, Any]], now: dt.datetime
    ) -> list[dt.datetime | None] | None:
        """When each new record's stay in the form's initial stage is due (None: the form has
        no workflow, so no stage-log entries)."""
        wf = cf.definition.workflow
        stage = wf.stage(cf.initial_stage) if wf is not None and cf.initial_stage else None
        if stage is None:
            return None
        tz = self.coerce_context.timezone
        return [workflow.stage_deadline(stage, data, now, tz) for data in datas]


def _authorize(actor: Actor, action: str) -> None:
    """The one place the engine asks about *data*: which records, fields and stages ``actor``
    may see or change (issue 5 fills it with data scopes and field permissions).

    Whether an actor may perform an *action* at all is decided by the caller before it calls
    the service (for HTTP: ``app.permissions.require``), so that rule is not repeated here.

    Raises: PermissionDeniedError.
    """
    del actor, action

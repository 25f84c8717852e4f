"""What every service shares: the compiled-form cache, the clock, the time zone, the audit log, reading a
record's data at the form's newest version, and the one data-permission slot.

The operations themselves live beside this module, one module per area (definitions,
records, workflow …); :class:`runtime.services.Services` combines them. Every operation runs
over the caller's transaction (``conn``, opened and committed by the caller).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from builder import load_form
from builder.diff import upgrade_data
from builder.fields.base import CoerceContext
from builder.workflow import Stage, stage_calendar
from runtime import workflow
from runtime.actor import Actor
from runtime.compiled import CompiledForm, CompiledForms
from runtime.errors import ConflictError
from runtime.pipeline import WriteContext
from runtime.sanitize import sanitize_rich_text
from runtime.services import assignees
from runtime.store import audit
from runtime.store import forms as form_store
from runtime.store import records as record_store
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
        app_id = form_store.get_form(conn, cf.form_id).app_id
        return AppStoreAccess(conn, cf.form_id, form_store.app_form_ids(conn, app_id))

    def _current_data(self, conn: Any, row: RecordRow) -> tuple[dict[str, Any], dict[str, Any]]:
        cf = self.compiled_form(conn, row.form_id)
        if row.schema_version == cf.version:
            return row.data, row.hidden or {}
        old = self._version(conn, row.form_id, row.schema_version).definition
        up = upgrade_data(old, cf.definition, row.data, row.hidden, self.coerce_context)
        # A field that became rich_text (or came back from hidden) holds HTML no pipeline has
        # cleaned yet.
        return sanitize_rich_text(cf, up.data), up.hidden

    def _audit(
        self, conn: Any, actor: Actor, action: str, target: str, detail: Mapping[str, Any]
    ) -> None:
        """Append an admin action to the audit log, in the caller's transaction."""
        audit.record(
            conn,
            actor_id=actor.user_id,
            action=action,
            target=target,
            detail=detail,
            ip=actor.ip,
            now=self.clock(),
        )

    def _deadline(
        self, cf: CompiledForm, stage: Stage, data: Mapping[str, Any], entered: dt.datetime
    ) -> dt.datetime | None:
        """When a stay in ``stage`` entered at ``entered`` is due: its SLA counted in the
        stage's (or workflow's) working calendar, or its due-date field."""
        wf = cf.definition.workflow
        calendar = stage_calendar(wf, stage) if wf is not None else None
        return workflow.stage_deadline(stage, data, entered, self.coerce_context.timezone, calendar)

    def _enter_initial_stage(
        self, conn: Any, cf: CompiledForm, row: RecordRow, actor: Actor
    ) -> None:
        wf = cf.definition.workflow
        stage = wf.stage(row.stage) if wf is not None and row.stage else None
        if wf is None or stage is None:
            return
        record_store.enter_stage(
            conn,
            record_id=row.id,
            form_id=cf.form_id,
            from_stage=None,
            to_stage=stage.key,
            transition=None,
            actor_id=actor.user_id,
            comment=None,
            now=row.created_at,
            due_at=self._deadline(cf, stage, row.data, row.created_at),
        )
        state = workflow.RecordState(stage.key, row.data, row.owner_id, None, row.id)
        assignee_id = assignees.stage_assignee(conn, cf, stage, state)
        if assignee_id is not None:
            record_store.set_stage_assignee(conn, row.id, assignee_id)
        assignees.stage_entered(conn, cf, stage, state, row.created_at, actor.lang)


def _authorize(actor: Actor, action: str) -> None:
    """The one place the engine asks about *data*: which records, fields and stages ``actor``
    may see or change (issue 5 fills it with data scopes and field permissions).

    Whether an actor may perform an *action* at all is decided by the caller before it calls
    the service (for HTTP: ``app.permissions.require``), so that rule is not repeated here.

    Raises: PermissionDeniedError.
    """
    del actor, action

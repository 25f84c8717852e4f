"""Stage workflows: firing a transition (ordered checks, one transaction), the transitions
an actor could fire now, and the stage log."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from runtime import approvals, workflow
from runtime.actor import Actor
from runtime.errors import StaleVersionError
from runtime.pipeline import prepare_update
from runtime.services import assignees
from runtime.services.base import ServiceBase, _authorize
from runtime.store import records as record_store


class WorkflowServices(ServiceBase):
    def fire_transition(
        self,
        conn: Any,
        actor: Actor,
        record_id: int,
        key: str,
        *,
        comment: str | None = None,
        data: Mapping[str, Any] | None = None,
        version: int | None = None,
    ) -> dict[str, Any]:
        """Fire transition ``key`` on the record: checks in order (stage, actor, guard on the
        data as it will be, required fields, comment), then moves the stage, writes the stage
        log, sets the new stage's assignee and deadline and emits ``record.stage_changed`` —
        all in the caller's transaction.

        Raises: TransitionRefusedError (422), PermissionDeniedError (403), StaleVersionError,
        RecordValidationError (the transition's ``data``), NotFoundError.
        """
        _authorize(actor, "record:transition")
        row = record_store.get_record(conn, record_id)
        cf = self.compiled_form(conn, row.form_id)
        wf, t = workflow.transition_for(cf, key, actor.lang)
        current, hidden = self._current_data(conn, row)
        state = workflow.RecordState(row.stage, current, row.owner_id, row.assignee_id, row.id)
        workflow.check_can_start(cf, t, state, actor)
        approvals.check_not_decided_by_approval(wf, row.stage, t, actor.lang)
        if version is not None and version != row.version:
            raise StaleVersionError(version, row.as_api())
        ctx = self._context(actor)
        prepared = None
        if data:
            stage = wf.stage(row.stage) if row.stage else None
            prepared = prepare_update(
                cf,
                current,
                data,
                ctx,
                self._access(conn, cf),
                record_id=row.id,
                stage=row.stage,
                editable=stage.editable if stage else None,
            )
        after = workflow.RecordState(
            row.stage, prepared.data if prepared else current, row.owner_id, row.assignee_id, row.id
        )
        workflow.check_can_finish(cf, t, after, actor, comment, ctx.now)
        to = wf.stage(t.to)
        assert to is not None  # validation guarantees transitions name known stages
        moved = record_store.transition_record(
            conn,
            cf,
            row,
            prepared,
            transition=t.key,
            to_stage=to.key,
            assignee_id=assignees.stage_assignee(conn, cf, to, after),
            due_at=self._deadline(cf, to, after.data, ctx.now),
            comment=(comment or "").strip() or None,
            actor_id=actor.user_id,
            now=ctx.now,
            lang=actor.lang,
            hidden=hidden or None,
        )
        assignees.stage_entered(conn, cf, to, after, ctx.now, actor.lang)
        return moved.as_api()

    def available_transitions(
        self, conn: Any, actor: Actor, record_id: int
    ) -> list[dict[str, Any]]:
        """The transitions the actor could fire on the record now: ``[{key, label, to}]``."""
        _authorize(actor, "record:view")
        row = record_store.get_record(conn, record_id)
        cf = self.compiled_form(conn, row.form_id)
        current, _ = self._current_data(conn, row)
        state = workflow.RecordState(row.stage, current, row.owner_id, row.assignee_id, row.id)
        wf = cf.definition.workflow
        stage = wf.stage(row.stage) if wf is not None and row.stage else None
        return [
            {"key": t.key, "label": t.label, "to": t.to}
            for t in workflow.available_transitions(cf, state, actor, self.clock())
            if wf is None or not approvals.decided_by_approval(wf, stage, t)
        ]

    def stage_log(self, conn: Any, actor: Actor, record_id: int) -> list[dict[str, Any]]:
        _authorize(actor, "record:view")
        record_store.get_record(conn, record_id)
        return record_store.stage_log_entries(conn, record_id)

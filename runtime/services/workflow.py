"""Stage workflows: firing a transition (ordered checks, one transaction), the transitions
an actor could fire now, and the stage log."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from builder.workflow import Transition
from runtime import approvals, workflow
from runtime.actor import Actor
from runtime.errors import PermissionDeniedError, StaleVersionError
from runtime.permissions import project
from runtime.pipeline import in_stage
from runtime.services import assignees
from runtime.services.base import ServiceBase, stale_shown, upgraded_hidden
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

        Who may fire it is the transition's own rule (roles, owner, assignee …) over the records
        the actor may view; its ``data`` obeys their field permissions like an edit.

        Raises: TransitionRefusedError (422), PermissionDeniedError (403), StaleVersionError,
        RecordValidationError (the transition's ``data``), NotFoundError.
        """
        row, cf, view = self._record_for(conn, actor, record_id, "view")
        wf, t = workflow.transition_for(cf, key, actor.lang)
        if _open_to_editors(t) and not self._may(conn, actor, cf, "edit", row.id):
            raise PermissionDeniedError(f"transition {t.key}")
        row = self._locked_if_behind(conn, row, cf)
        current, hidden = self._current_data(conn, row)
        state = workflow.RecordState(row.stage, current, row.owner_id, row.assignee_id, row.id)
        workflow.check_can_start(cf, t, state, actor)
        approvals.check_not_decided_by_approval(wf, row.stage, t, actor.lang)
        if version is not None and version != row.version:
            raise StaleVersionError(version, self._shown({**row.as_api(), "data": current}, view))
        ctx = self._context(actor)
        prepared = None
        if data:
            prepared = self._edit(conn, actor, cf, view, row, current, data, ctx)
        after = workflow.RecordState(
            row.stage, prepared.data if prepared else current, row.owner_id, row.assignee_id, row.id
        )
        workflow.check_can_finish(cf, t, after, actor, comment, ctx.now, ctx.coerce, view.hidden)
        to = wf.stage(t.to)
        assert to is not None  # validation guarantees transitions name known stages
        prepared = in_stage(cf, current, prepared, ctx, to.key, row.id)
        prepared = self._from_stored(row, cf, current, prepared)
        with stale_shown(view):  # another write won meanwhile: the 409's record, as they see it
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
                hidden=upgraded_hidden(row, cf, hidden),
            )
        assignees.stage_entered(conn, cf, to, after, ctx.now, actor.lang)
        after_view = self._stage_view(conn, actor, cf, moved.stage)
        return {**moved.as_api(), "data": project(moved.data, after_view.hidden)}

    def available_transitions(
        self, conn: Any, actor: Actor, record_id: int
    ) -> list[dict[str, Any]]:
        """The transitions the actor could fire on the record now: ``[{key, label, to}]``."""
        row, cf, _ = self._record_for(conn, actor, record_id, "view")
        current, _ = self._current_data(conn, row)
        state = workflow.RecordState(row.stage, current, row.owner_id, row.assignee_id, row.id)
        wf = cf.definition.workflow
        stage = wf.stage(row.stage) if wf is not None and row.stage else None
        found = [
            t
            for t in workflow.available_transitions(
                cf, state, actor, self.clock(), self.coerce_context
            )
            if wf is None or not approvals.decided_by_approval(wf, stage, t)
        ]
        if any(_open_to_editors(t) for t in found) and not self._may(
            conn, actor, cf, "edit", row.id
        ):
            found = [t for t in found if not _open_to_editors(t)]
        return [{"key": t.key, "label": t.label, "to": t.to} for t in found]

    def stage_log(self, conn: Any, actor: Actor, record_id: int) -> list[dict[str, Any]]:
        self._record_for(conn, actor, record_id, "view")
        return record_store.stage_log_entries(conn, record_id)


def _open_to_editors(t: Transition) -> bool:
    """A transition naming neither roles nor people: anyone who may edit the record fires it."""
    return t.roles is None and t.allow is None

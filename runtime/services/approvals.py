"""Approval stages and stage owners: vote (approve/reject), add an approver (加签), withdraw
(撤回), reassign (转交), and the approval state a record's page shows.

Each operation takes the record's row lock first (``get_record(lock=True)``), so two votes on
one record are taken one after the other whatever the timing: the second sees the first's
decision — and the stage it moved to. The move itself is the same versioned write as a
transition, so it happens exactly once per round.
"""

from __future__ import annotations

from typing import Any

from builder.i18n import translate
from builder.workflow import Stage, Workflow
from runtime import approvals, workflow
from runtime.actor import Actor
from runtime.compiled import CompiledForm
from runtime.errors import ConflictError, FieldError, PermissionDeniedError, RecordValidationError
from runtime.pipeline import in_stage
from runtime.services import assignees
from runtime.services.base import ServiceBase, upgraded_hidden
from runtime.store import approvals as approval_store
from runtime.store import directory
from runtime.store import records as record_store
from runtime.store.records import RecordRow, _event

DECISIONS = {"approve": "approved", "reject": "rejected"}


class ApprovalServices(ServiceBase):
    def vote(
        self,
        conn: Any,
        actor: Actor,
        record_id: int,
        decision: str,
        comment: str | None = None,
    ) -> dict[str, Any]:
        """Approve or reject the record's current approval round as one of its approvers
        (``decision``: ``approve`` | ``reject``; a rejection needs a comment). When the votes
        meet the stage's policy the record moves on (approved) or back (rejected).

        Returns the record with its approval state after the vote.

        Raises: ConflictError (``not_in_approval``, ``already_decided``), PermissionDeniedError
        (not an approver of the round), RecordValidationError (``comment_required``,
        unknown decision), TransitionRefusedError (the next stage cannot start), NotFoundError.
        """
        lang = actor.lang
        verdict = DECISIONS.get(decision)
        if verdict is None:
            message = translate("invalid_decision", lang)
            raise RecordValidationError([FieldError("decision", "invalid_decision", message)])
        text = (comment or "").strip() or None
        if verdict == "rejected" and text is None:
            message = translate("reject_needs_comment", lang)
            raise RecordValidationError([FieldError("comment", "reject_needs_comment", message)])
        _, _, view = self._record_for(conn, actor, record_id, "view")  # 404 outside their reach
        row = record_store.get_record(conn, record_id, lock=True)
        cf, wf, stage = self._approval_stage(conn, row, lang)
        stay, rows = self._round(conn, row)
        mine = next(
            (r for r in rows if r.approver_id == actor.user_id and r.decision is None), None
        )
        if mine is None:
            if any(r.approver_id == actor.user_id for r in rows):
                raise ConflictError.coded("already_decided")
            raise PermissionDeniedError("approval.decide", reason="not_an_approver")
        votes = [
            approvals.Vote(r.approver_id, verdict if r.id == mine.id else r.decision) for r in rows
        ]
        result = approvals.outcome(stage, votes)
        way = approvals.approval_way(wf, stage) if result == "approved" else None
        read = None
        if way is not None:
            # The deciding vote takes the record out as that transition would, so it meets
            # the transition's guard, required fields and comment — or is refused, and not
            # counted (the record's fields are filled first, as before firing it by hand).
            read = self._current_data(conn, row)
            state = workflow.RecordState(row.stage, read[0], row.owner_id, row.assignee_id, row.id)
            ctx = self._context(actor)
            workflow.check_can_finish(cf, way, state, actor, text, ctx.now, ctx.coerce, view.hidden)
        now = self.clock()
        if not approval_store.decide(conn, mine.id, verdict, text, now):
            raise ConflictError.coded("already_decided")
        _event(
            conn,
            "record.approval_decided",
            {
                "record_id": row.id,
                "form_id": row.form_id,
                "stage": stage.key,
                "round": mine.round,
                "approver_id": actor.user_id,
                "decision": verdict,
                "outcome": result,
            },
            now,
        )
        if result == "approved":
            target = approvals.approve_target(wf, stage)
            self._move(conn, actor, cf, row, target, approvals.APPROVED, text, read=read)
        elif result == "rejected":
            target = approvals.reject_target(stage, _still_there(cf, stay.from_stage))
            self._move(conn, actor, cf, row, target, approvals.REJECTED, text)
        return self._record_with_approval(conn, actor, record_id)

    def add_approver(
        self, conn: Any, actor: Actor, record_id: int, user_id: int, comment: str | None = None
    ) -> dict[str, Any]:
        """Add ``user_id`` to the current round (加签), by a pending approver or an admin.
        The new approver counts like the others (``all`` now needs them too).

        Raises: ConflictError (``not_in_approval``, ``already_approver``),
        PermissionDeniedError, RecordValidationError (``unknown_user``), NotFoundError.
        """
        lang = actor.lang
        self._record_for(conn, actor, record_id, "view")  # 404 outside their reach
        row = record_store.get_record(conn, record_id, lock=True)
        _, _, stage = self._approval_stage(conn, row, lang)
        stay, rows = self._round(conn, row)
        pending = any(r.approver_id == actor.user_id and r.decision is None for r in rows)
        if not (actor.is_admin or pending):
            raise PermissionDeniedError("approval.add_approver", reason="not_an_approver")
        _check_user(conn, user_id, lang)
        if any(r.approver_id == user_id for r in rows):
            raise ConflictError.coded("already_approver")
        now = self.clock()
        if rows:
            approval_store.add_approver(
                conn,
                record_id=row.id,
                stage=stage.key,
                round_number=rows[0].round,
                stay_id=stay.id,
                approver_id=user_id,
                added_by=actor.user_id,
                now=now,
            )
        else:  # no round: the stage gained its approval after the record entered it
            approval_store.start_round(
                conn,
                record_id=row.id,
                stage=stage.key,
                stay_id=stay.id,
                approver_ids=[user_id],
                now=now,
            )
        _event(
            conn,
            "record.approver_added",
            {
                "record_id": row.id,
                "form_id": row.form_id,
                "stage": stage.key,
                "approver_id": user_id,
                "actor_id": actor.user_id,
                "comment": (comment or "").strip() or None,
            },
            now,
        )
        return self._record_with_approval(conn, actor, record_id)

    def transfer_vote(
        self,
        conn: Any,
        actor: Actor,
        record_id: int,
        to_user_id: int,
        from_user_id: int | None = None,
        comment: str | None = None,
    ) -> dict[str, Any]:
        """Hand a pending approver's vote in the current round to another person (转交): by
        that approver (``from_user_id`` omitted: the actor), or by an admin for any pending
        approver — the way to carry on a round whose approver left or was deactivated. The
        new approver counts in their place (an ``all`` round now waits for them instead).

        Raises: ConflictError (``not_in_approval``, ``not_pending_approver``,
        ``already_approver``), PermissionDeniedError, RecordValidationError
        (``unknown_user``), NotFoundError.
        """
        lang = actor.lang
        self._record_for(conn, actor, record_id, "view")  # 404 outside their reach
        row = record_store.get_record(conn, record_id, lock=True)
        _, _, stage = self._approval_stage(conn, row, lang)
        _, rows = self._round(conn, row)
        giver = actor.user_id if from_user_id is None else from_user_id
        if giver != actor.user_id and not actor.is_admin:
            raise PermissionDeniedError("approval.transfer", reason="not_an_approver")
        pending = next((r for r in rows if r.approver_id == giver and r.decision is None), None)
        if pending is None:
            if giver == actor.user_id and not any(r.approver_id == giver for r in rows):
                raise PermissionDeniedError("approval.transfer", reason="not_an_approver")
            raise ConflictError.coded("not_pending_approver", user=giver)
        _check_user(conn, to_user_id, lang)
        if any(r.approver_id == to_user_id for r in rows):
            raise ConflictError.coded("already_approver")
        if not approval_store.transfer(conn, pending.id, to_user_id):
            raise ConflictError.coded("not_pending_approver", user=giver)
        _event(
            conn,
            "record.approval_transferred",
            {
                "record_id": row.id,
                "form_id": row.form_id,
                "stage": stage.key,
                "round": pending.round,
                "from_user_id": giver,
                "to_user_id": to_user_id,
                "actor_id": actor.user_id,
                "comment": (comment or "").strip() or None,
            },
            self.clock(),
        )
        return self._record_with_approval(conn, actor, record_id)

    def withdraw(
        self, conn: Any, actor: Actor, record_id: int, comment: str | None = None
    ) -> dict[str, Any]:
        """Take the record back out of its approval stage (撤回) to the stage it came from —
        by the submitter (who moved it in), while nobody has decided.

        Raises: ConflictError (``not_in_approval``, ``withdraw_not_allowed`` once someone has
        decided, ``nowhere_to_withdraw``), PermissionDeniedError (not the submitter),
        NotFoundError.
        """
        lang = actor.lang
        self._record_for(conn, actor, record_id, "view")  # 404 outside their reach
        row = record_store.get_record(conn, record_id, lock=True)
        cf, _, _ = self._approval_stage(conn, row, lang)
        stay, rows = self._round(conn, row)
        if actor.user_id is None or actor.user_id != stay.actor_id:
            raise PermissionDeniedError("approval.withdraw", reason="withdraw_not_allowed")
        if any(r.decision is not None for r in rows):
            raise ConflictError.coded("withdraw_not_allowed")
        back = _still_there(cf, stay.from_stage)
        if back is None or back == row.stage:
            raise ConflictError.coded("nowhere_to_withdraw")
        text = (comment or "").strip() or None
        self._move(conn, actor, cf, row, back, approvals.WITHDRAWN, text)
        return self._record_with_approval(conn, actor, record_id)

    def reassign(
        self, conn: Any, actor: Actor, record_id: int, user_id: int, comment: str | None = None
    ) -> dict[str, Any]:
        """Hand the record's current stage to another person (转交), by its assignee (or, for
        a stage its role shares, a member of that role) or an admin. Logged in the history
        with the comment and evented as ``record.reassigned``.

        Raises: ConflictError (``no_workflow``, ``same_assignee``), PermissionDeniedError
        (``not_assignee``), RecordValidationError (``unknown_user``), NotFoundError.
        """
        lang = actor.lang
        self._record_for(conn, actor, record_id, "view")  # 404 outside their reach
        row = record_store.get_record(conn, record_id, lock=True)
        cf = self.compiled_form(conn, row.form_id)
        wf = cf.definition.workflow
        stage = wf.stage(row.stage) if wf is not None and row.stage else None
        if stage is None:
            raise ConflictError.coded("no_workflow")
        if not approvals.may_reassign(actor, stage, row.assignee_id):
            raise PermissionDeniedError("record.reassign", reason="not_assignee")
        _check_user(conn, user_id, lang)
        if user_id == row.assignee_id:
            raise ConflictError.coded("same_assignee")
        record_store.reassign_record(
            conn,
            row,
            assignee_id=user_id,
            comment=(comment or "").strip() or None,
            actor_id=actor.user_id,
            now=self.clock(),
        )
        return self._record_with_approval(conn, actor, record_id)

    def workflow_state(self, conn: Any, actor: Actor, record_id: int) -> dict[str, Any]:
        """``{assignee_id, approval}``: the stage's owner and, in an approval stage, the round
        (policy, approvers and their decisions, what the caller may do); ``approval`` is
        ``None`` elsewhere."""
        row, _, _ = self._record_for(conn, actor, record_id, "view")
        cf = self.compiled_form(conn, row.form_id)
        wf = cf.definition.workflow
        stage = wf.stage(row.stage) if wf is not None and row.stage else None
        return {"assignee_id": row.assignee_id, "approval": self._approval(conn, actor, row, stage)}

    # --- helpers -----------------------------------------------------------------------------

    def _approval_stage(
        self, conn: Any, row: RecordRow, lang: str
    ) -> tuple[CompiledForm, Workflow, Stage]:
        cf = self.compiled_form(conn, row.form_id)
        wf = cf.definition.workflow
        stage = wf.stage(row.stage) if wf is not None and row.stage else None
        if wf is None or stage is None or stage.approval is None:
            raise ConflictError.coded("not_in_approval", stage=stage.name if stage else row.stage)
        return cf, wf, stage

    def _round(
        self, conn: Any, row: RecordRow
    ) -> tuple[approval_store.Stay, list[approval_store.ApprovalRow]]:
        stay = approval_store.open_stay(conn, row.id)
        assert stay is not None and stay.stage == row.stage
        return stay, approval_store.round_rows(conn, stay.id)

    def _move(
        self,
        conn: Any,
        actor: Actor,
        cf: CompiledForm,
        row: RecordRow,
        to_key: str,
        marker: str,
        comment: str | None,
        *,
        read: tuple[dict[str, Any], dict[str, Any]] | None = None,
    ) -> None:
        """Move the record as its approval decided: the same versioned write, stage log,
        assignee, deadline and event as a transition (``marker`` in the log's
        ``transition``). ``read``: the record's current data and hidden values, when the caller
        has them already."""
        wf = cf.definition.workflow
        to = wf.stage(to_key) if wf is not None else None
        assert to is not None  # validation guarantees approval targets are known stages
        current, hidden = read if read is not None else self._current_data(conn, row)
        state = workflow.RecordState(row.stage, current, row.owner_id, row.assignee_id, row.id)
        now = self.clock()
        record_store.transition_record(
            conn,
            cf,
            row,
            in_stage(cf, current, None, self._context(actor), to.key, row.id),
            transition=marker,
            to_stage=to.key,
            assignee_id=assignees.stage_assignee(conn, cf, to, state),
            due_at=self._deadline(cf, to, current, now),
            comment=comment,
            actor_id=actor.user_id,
            now=now,
            lang=actor.lang,
            hidden=upgraded_hidden(row, cf, hidden),
        )
        assignees.stage_entered(conn, cf, to, state, now, actor.lang)

    def _approval(
        self, conn: Any, actor: Actor, row: RecordRow, stage: Stage | None
    ) -> dict[str, Any] | None:
        if stage is None or stage.approval is None:
            return None
        stay = approval_store.open_stay(conn, row.id)
        if stay is None or stay.stage != row.stage:
            return None
        rows = approval_store.round_rows(conn, stay.id)
        votes = [approvals.Vote(r.approver_id, r.decision) for r in rows]
        pending = any(r.approver_id == actor.user_id and r.decision is None for r in rows)
        return {
            "stage": stage.key,
            "policy": stage.approval.policy,
            "n": stage.approval.n,
            "required": approvals.required(stage, len(rows)),
            "round": rows[0].round if rows else None,
            "submitted_by": stay.actor_id,
            "approvers": [r.as_api() for r in rows],
            "outcome": approvals.outcome(stage, votes),
            "can_vote": pending,
            "can_withdraw": stay.from_stage is not None
            and approvals.may_withdraw(actor, stay.actor_id, votes),
            "can_add_approver": pending or actor.is_admin,
        }

    def _record_with_approval(self, conn: Any, actor: Actor, record_id: int) -> dict[str, Any]:
        """The record as :meth:`get_record` shows it to ``actor`` (without the fields hidden from
        them in its stage now), with its workflow state."""
        row, _, view = self._record_for(conn, actor, record_id, "view")
        data, _ = self._current_data(conn, row)
        shown = self._shown({**row.as_api(), "data": data}, view)
        return {**shown, **self.workflow_state(conn, actor, record_id)}


def _still_there(cf: CompiledForm, came_from: str | None) -> str | None:
    """Where a record that came from ``came_from`` goes back to: that stage while the
    workflow still has it, else (a later version removed it) the workflow's initial stage."""
    if came_from is None:
        return None
    wf = cf.definition.workflow
    if wf is not None and wf.stage(came_from) is not None:
        return came_from
    return cf.initial_stage


def _check_user(conn: Any, user_id: int, lang: str) -> None:
    """Raises: RecordValidationError (``unknown_user``) unless ``user_id`` is an active user."""
    if not directory.active_user_ids(conn, {user_id}):
        message = translate("unknown_user", lang, value=user_id)
        raise RecordValidationError([FieldError("user_id", "unknown_user", message)])

"""Stage SLAs and process data: a record's deadline and whether it is overdue, the overdue list
of a form, process statistics from the stage log, and moving records out of stages a newly
published workflow removed."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from collections.abc import Mapping
from contextlib import suppress
from typing import Any

from builder.form import FormDefinition
from builder.i18n import register, translate
from builder.workflow import Stage
from runtime import workflow
from runtime.actor import Actor
from runtime.compiled import CompiledForm
from runtime.errors import FieldError, InvalidQueryError, PermissionDeniedError
from runtime.permissions import project, stage_rules
from runtime.services import assignees
from runtime.services.base import ServiceBase
from runtime.store import approvals as approval_store
from runtime.store import process as process_store
from runtime.store import records as record_store
from runtime.store import stages as stage_store
from runtime.store.records import RecordRow
from runtime.timestamps import utc_text_or_none
from runtime.workflow_versions import stage_moves

register(
    {
        "invalid_cursor": {
            "zh": "分页游标无效，请从第一页重新开始",
            "en": "the page cursor is invalid; start again from the first page",
        },
        "invalid_period": {
            "zh": "时间范围无效：开始须早于结束，且最长 {days} 天",
            "en": "invalid period: since must be before until, at most {days} days apart",
        },
    }
)

MAX_PERIOD_DAYS = 366
DEFAULT_PERIOD_DAYS = 30


class StageServices(ServiceBase):
    def record_deadline(self, conn: Any, actor: Actor, record_id: int) -> dict[str, Any]:
        """``{due_at, overdue}`` of the record's current stage (``due_at`` null when the stage
        has no deadline).

        Raises: NotFoundError.
        """
        row, _, _ = self._record_for(conn, actor, record_id, "view")
        stay = stage_store.open_stay(conn, record_id)
        due_at = stay.due_at if stay is not None and stay.stage == row.stage else None
        return {
            "due_at": utc_text_or_none(due_at),
            "overdue": due_at is not None and due_at < self.clock(),
        }

    def overdue(
        self,
        conn: Any,
        actor: Actor,
        form_id: int,
        *,
        stage: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> dict[str, Any]:
        """Live records of the form past their current stage's deadline, most overdue first:
        ``{items: [record + due_at, overdue_hours], next_cursor, count, by_stage}``.

        Raises: InvalidQueryError (cursor), NotFoundError, ConflictError (not published).
        """
        cf = self.compiled_form(conn, form_id)
        access, scope = self._form_action(conn, actor, cf, "view")
        if cf.definition.workflow is None:  # no stages, no deadlines (stays of an earlier one)
            return {"items": [], "next_cursor": None, "count": 0, "by_stage": {}}
        now = self.clock()
        after = _read_cursor(cursor, actor.lang) if cursor else None
        rows = stage_store.overdue_records(
            conn, form_id, now, stage=stage, limit=limit + 1, after=after, scope=scope
        )
        page = rows[:limit]
        items = []
        for row, due_at in page:
            data, _ = self._current_data(conn, row)
            data = project(data, stage_rules(access, cf.definition, row.stage).hidden)
            hours = round((now - due_at).total_seconds() / 3600, 2)
            items.append(
                {
                    **row.as_api(),
                    "data": data,
                    "due_at": utc_text_or_none(due_at),
                    "overdue_hours": hours,
                }
            )
        by_stage = stage_store.count_overdue(conn, form_id, now, stage=stage, scope=scope)
        last = page[-1] if page and len(rows) > limit else None
        return {
            "items": items,
            "next_cursor": _cursor(last[1], last[0].id) if last else None,
            "count": sum(by_stage.values()),
            "by_stage": by_stage,
        }

    def process_stats(
        self,
        conn: Any,
        actor: Actor,
        form_id: int,
        *,
        since: dt.datetime | None = None,
        until: dt.datetime | None = None,
    ) -> dict[str, Any]:
        """Process data over the stays entered in ``[since, until)`` (default: the last 30
        days): per stage ``{count, avg_hours, p50_hours, p90_hours, with_deadline, breached,
        breach_rate}``, and the transition counts.

        Raises: InvalidQueryError (period), NotFoundError, ConflictError (not published).
        """
        cf = self.compiled_form(conn, form_id)
        _, scope = self._form_action(conn, actor, cf, "view")
        if scope is not None:
            # The figures are over every record of the form: for those who see them all.
            raise PermissionDeniedError("record.view")
        now = self.clock()
        until = until or now
        since = since or until - dt.timedelta(days=DEFAULT_PERIOD_DAYS)
        if not since < until <= since + dt.timedelta(days=MAX_PERIOD_DAYS):
            raise InvalidQueryError(
                [
                    FieldError(
                        "since",
                        "invalid_period",
                        translate("invalid_period", actor.lang, days=MAX_PERIOD_DAYS),
                    )
                ]
            )
        cycle = process_store.cycle_times(conn, form_id, since, until)
        sla = process_store.sla_breaches(conn, form_id, since, until, now)
        wf = cf.definition.workflow
        order = [s.key for s in wf.stages] if wf is not None else []
        keys = order + sorted((set(cycle) | set(sla)) - set(order))
        empty_cycle = {"count": 0, "avg_hours": None, "p50_hours": None, "p90_hours": None}
        empty_sla = {"with_deadline": 0, "breached": 0, "breach_rate": None}
        return {
            "since": utc_text_or_none(since),
            "until": utc_text_or_none(until),
            "stages": [
                {"stage": k, **cycle.get(k, empty_cycle), **sla.get(k, empty_sla)} for k in keys
            ],
            "transitions": process_store.transition_counts(conn, form_id, since, until),
        }


def plan_stage_moves(
    conn: Any, form_id: int, new: FormDefinition, mapping: Mapping[str, str] | None, lang: str
) -> dict[str, str]:
    """Before publishing ``new``: the moves its stage mapping asks for, checked against the
    live records in stages ``new`` does not have.

    Raises: StageMappingError.
    """
    if new.workflow is None:
        return {}
    keep = [s.key for s in new.workflow.stages]
    in_removed = stage_store.records_outside_stages(conn, form_id, keep)
    return stage_moves(new, in_removed, mapping or {}, lang)


def move_records(
    svc: ServiceBase, conn: Any, actor: Actor, cf: CompiledForm, moves: Mapping[str, str]
) -> int:
    """After publishing ``cf``: move the records of each removed stage to its mapped stage
    (the new stage's assignee and deadline set, stage log action ``migrated``). Returns how
    many records moved.

    Raises: StaleVersionError (a record changed meanwhile; the publish is rolled back).
    """
    wf = cf.definition.workflow
    if not moves or wf is None:
        return 0
    now = svc.clock()
    moved = 0
    for old, new in moves.items():
        to = wf.stage(new)
        assert to is not None  # stage_moves checked it
        for row in stage_store.live_records_in_stage(conn, cf.form_id, old):
            _migrate(svc, conn, actor, cf, row, to, now)
            moved += 1
    return moved


def follow_workflow(
    svc: ServiceBase, conn: Any, actor: Actor, before: CompiledForm, cf: CompiledForm
) -> None:
    """After publishing ``cf`` over ``before``: the records staying in a stage whose approval
    the new version removed leave their rounds (nobody is asked to vote on a stage that no
    longer votes), and those in a stage that gained one get their round, as on entering it
    (a stage nobody can approve in is left to an admin's add-approver). A version without the
    workflow ends every round and assignment of the form's records; one that brings it back
    opens the rounds of its approval stages again."""
    old_wf, wf = before.definition.workflow, cf.definition.workflow
    if wf is None:
        if old_wf is not None:
            approval_store.retire_rounds(conn, cf.form_id)
            stage_store.clear_assignees(conn, cf.form_id)
        return
    now = svc.clock()
    for stage in wf.stages:
        was = old_wf.stage(stage.key) if old_wf is not None else None
        had = was is not None and was.approval is not None
        if had == (stage.approval is not None):
            continue
        if stage.approval is None:
            approval_store.retire_rounds(conn, cf.form_id, stage.key)
            continue
        for row in stage_store.live_records_in_stage(conn, cf.form_id, stage.key):
            state = workflow.RecordState(row.stage, row.data, row.owner_id, row.assignee_id, row.id)
            with suppress(workflow.TransitionRefusedError):
                assignees.start_round_if_none(conn, cf, stage, state, now)


def _migrate(
    svc: ServiceBase,
    conn: Any,
    actor: Actor,
    cf: CompiledForm,
    row: RecordRow,
    to: Stage,
    now: dt.datetime,
) -> None:
    """Move ``row`` to stage ``to`` as a migration (its new assignee and deadline set), and
    start what entering the stage starts (its cc, its approval round), as on any entry: a
    record moved into an approval stage without a round could never leave it."""
    state = workflow.RecordState(row.stage, row.data, row.owner_id, row.assignee_id, row.id)
    assignee_id = assignees.stage_assignee(conn, cf, to, state)
    stage_store.migrate_stage(
        conn,
        svc._version(conn, cf.form_id, row.schema_version),
        row,
        to_stage=to.key,
        assignee_id=assignee_id,
        due_at=svc._deadline(cf, to, row.data, now),
        actor_id=actor.user_id,
        now=now,
    )
    entered = workflow.RecordState(to.key, row.data, row.owner_id, assignee_id, row.id)
    assignees.stage_entered(conn, cf, to, entered, now, actor.lang)


def rehome(svc: ServiceBase, conn: Any, actor: Actor, cf: CompiledForm, record_id: int) -> None:
    """A record back from the recycle bin in a stage the workflow no longer has (a version
    removed it while the record was deleted, so publishing did not move it): moved to the
    workflow's initial stage, as a migration, with what entering it starts."""
    wf = cf.definition.workflow
    row = record_store.get_record(conn, record_id)
    if wf is None or row.stage is None or wf.stage(row.stage) is not None:
        return
    to = wf.stage(cf.initial_stage) if cf.initial_stage else None
    if to is not None:
        _migrate(svc, conn, actor, cf, row, to, svc.clock())


def _cursor(due_at: dt.datetime, record_id: int) -> str:
    raw = f"{due_at.isoformat()}|{record_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _read_cursor(cursor: str, lang: str) -> tuple[dt.datetime, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        moment, record_id = raw.split("|")
        due_at = dt.datetime.fromisoformat(moment)
        if due_at.tzinfo is None:
            raise ValueError("naive")
        ident = int(record_id)
        if not 0 < ident < 2**63:  # a record id, which the database can bind
            raise ValueError("out of range")
        return due_at, ident
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidQueryError([FieldError.told("cursor", "invalid_cursor", lang)]) from None

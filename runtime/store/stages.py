"""Stays in stages (the open stage_log row of a record): deadlines and overdue lists, the
escalation claims, moving records out of removed stages, and the process data of a form.

Everything runs in the caller's transaction.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from runtime.compiled import CompiledForm
from runtime.store.records import (
    _COLUMNS,
    RecordRow,
    _event,
    _row,
    move_stage,
)
from runtime.store.tables import (
    escalation_runs,
    notifications,
    records,
    stage_log,
)

# An outbox event in the caller's transaction (the same writer the record writes use).
record_event = _event


@dataclass(frozen=True)
class Stay:
    """A record's open stay in a stage."""

    id: int
    record_id: int
    form_id: int
    stage: str
    at: dt.datetime
    due_at: dt.datetime | None


_STAY = (
    stage_log.c.id,
    stage_log.c.record_id,
    stage_log.c.form_id,
    stage_log.c.to_stage.label("stage"),
    stage_log.c.at,
    stage_log.c.due_at,
)


def _stay(r: Any) -> Stay:
    return Stay(r.id, r.record_id, r.form_id, r.stage, r.at, r.due_at)


def open_stay(conn: sa.Connection, record_id: int) -> Stay | None:
    """The record's current stay (``None`` for a record without a workflow)."""
    r = conn.execute(
        sa.select(*_STAY)
        .where(stage_log.c.record_id == record_id, stage_log.c.left_at.is_(None))
        .order_by(stage_log.c.id.desc())
        .limit(1)
    ).first()
    return None if r is None else _stay(r)


def set_due(conn: sa.Connection, stay_id: int, due_at: dt.datetime | None) -> None:
    """Move an open stay's deadline (its due-date field was edited)."""
    conn.execute(
        stage_log.update()
        .where(stage_log.c.id == stay_id, stage_log.c.left_at.is_(None))
        .values(due_at=due_at)
    )


def _overdue_conditions(
    form_id: int, now: dt.datetime, stage: str | None, scope: sa.ColumnElement[bool] | None
) -> list[sa.ColumnElement[bool]]:
    conds = [
        stage_log.c.form_id == form_id,
        stage_log.c.left_at.is_(None),
        stage_log.c.due_at < now,
        records.c.deleted_at.is_(None),
    ]
    if stage is not None:
        conds.append(stage_log.c.to_stage == stage)
    if scope is not None:
        conds.append(scope)
    return conds


def overdue_records(
    conn: sa.Connection,
    form_id: int,
    now: dt.datetime,
    *,
    stage: str | None = None,
    limit: int = 50,
    after: tuple[dt.datetime, int] | None = None,
    scope: sa.ColumnElement[bool] | None = None,
) -> list[tuple[RecordRow, dt.datetime]]:
    """Live records of the form whose current stay was due before ``now``, most overdue first
    (``due_at``, then record id), from after the keyset ``after``; each with its ``due_at``.
    Served by ``ix_stage_log_form_id_open_due_at``."""
    query = (
        sa.select(*_COLUMNS, stage_log.c.due_at.label("stay_due_at"))
        .select_from(stage_log.join(records, records.c.id == stage_log.c.record_id))
        .where(*_overdue_conditions(form_id, now, stage, scope))
        .order_by(stage_log.c.due_at, stage_log.c.record_id)
        .limit(limit)
    )
    if after is not None:
        query = query.where(
            sa.tuple_(stage_log.c.due_at, stage_log.c.record_id) > sa.tuple_(*after)
        )
    return [(_row(r), r.stay_due_at) for r in conn.execute(query)]


def count_overdue(
    conn: sa.Connection,
    form_id: int,
    now: dt.datetime,
    *,
    stage: str | None = None,
    scope: sa.ColumnElement[bool] | None = None,
) -> dict[str, int]:
    """Overdue live records of the form per stage (of those ``scope`` reaches)."""
    rows = conn.execute(
        sa.select(stage_log.c.to_stage, sa.func.count())
        .select_from(stage_log.join(records, records.c.id == stage_log.c.record_id))
        .where(*_overdue_conditions(form_id, now, stage, scope))
        .group_by(stage_log.c.to_stage)
    )
    return {r[0]: int(r[1]) for r in rows}


# --- escalation ---------------------------------------------------------------------------------


def due_stays(
    conn: sa.Connection, now: dt.datetime, *, after: tuple[dt.datetime, int] | None, limit: int
) -> list[Stay]:
    """Open stays of live records that were due by ``now``, in (``due_at``, id) order from after
    the keyset ``after`` (``ix_stage_log_open_due_at``)."""
    query = (
        sa.select(*_STAY)
        .select_from(stage_log.join(records, records.c.id == stage_log.c.record_id))
        .where(
            stage_log.c.left_at.is_(None),
            stage_log.c.due_at <= now,
            records.c.deleted_at.is_(None),
        )
        .order_by(stage_log.c.due_at, stage_log.c.id)
        .limit(limit)
    )
    if after is not None:
        query = query.where(sa.tuple_(stage_log.c.due_at, stage_log.c.id) > sa.tuple_(*after))
    return [_stay(r) for r in conn.execute(query)]


def claimed_rules(conn: sa.Connection, stay_ids: Collection[int]) -> set[tuple[int, str]]:
    """``(stay id, rule key)`` of the escalations already fired for these stays."""
    if not stay_ids:
        return set()
    rows = conn.execute(
        sa.select(escalation_runs.c.stage_log_id, escalation_runs.c.rule).where(
            escalation_runs.c.stage_log_id.in_(list(stay_ids))
        )
    )
    return {(r[0], r[1]) for r in rows}


def claim_escalation(
    conn: sa.Connection, stay: Stay, rule: str, now: dt.datetime, outcome: str = "claimed"
) -> bool:
    """Claim escalation ``rule`` (its key) of ``stay``; ``False`` when it was claimed already. The
    primary key decides between concurrent claimers: on PostgreSQL the second insert waits for
    the first transaction and then does nothing; on SQLite writers are serialized."""
    values = {
        "stage_log_id": stay.id,
        "rule": rule,
        "record_id": stay.record_id,
        "fired_at": now,
        "outcome": outcome,
    }
    stmt: Any = (
        postgresql.insert(escalation_runs)
        if conn.dialect.name == "postgresql"
        else sqlite.insert(escalation_runs)
    )
    claimed = conn.execute(
        stmt.values(**values).on_conflict_do_nothing().returning(escalation_runs.c.rule)
    ).first()
    return claimed is not None


def set_escalation_outcome(conn: sa.Connection, stay: Stay, rule: str, outcome: str) -> None:
    conn.execute(
        escalation_runs.update()
        .where(escalation_runs.c.stage_log_id == stay.id, escalation_runs.c.rule == rule)
        .values(outcome=outcome)
    )


def add_notifications(
    conn: sa.Connection,
    user_ids: Iterable[int],
    *,
    kind: str,
    title: str,
    body: str | None,
    record_id: int,
    now: dt.datetime,
) -> None:
    rows = [
        {
            "user_id": uid,
            "kind": kind,
            "title": title,
            "body": body,
            "record_id": record_id,
            "created_at": now,
        }
        for uid in sorted(set(user_ids))
    ]
    if rows:
        conn.execute(notifications.insert(), rows)


# --- workflow versions --------------------------------------------------------------------------


def records_outside_stages(
    conn: sa.Connection, form_id: int, keep: Collection[str]
) -> dict[str, int]:
    """Live records of the form per stage, for the stages not in ``keep``
    (``ix_records_form_id_stage``)."""
    rows = conn.execute(
        sa.select(records.c.stage, sa.func.count())
        .where(
            records.c.form_id == form_id,
            records.c.stage.is_not(None),
            records.c.stage.not_in(list(keep)),
            records.c.deleted_at.is_(None),
        )
        .group_by(records.c.stage)
    )
    return {r[0]: int(r[1]) for r in rows}


def clear_assignees(conn: sa.Connection, form_id: int) -> None:
    """Nobody is the assignee of the form's records any more (its new version has no
    workflow: no work list shows them). Their stays stay open, with the stage they are in, so
    a version that brings the workflow back finds them where they were; without a workflow no
    deadline, overdue list or escalation reads them."""
    conn.execute(
        records.update()
        .where(records.c.form_id == form_id, records.c.assignee_id.is_not(None))
        .values(assignee_id=None)
    )


def live_records_in_stage(conn: sa.Connection, form_id: int, stage: str) -> list[RecordRow]:
    rows = conn.execute(
        sa.select(*_COLUMNS)
        .where(
            records.c.form_id == form_id,
            records.c.stage == stage,
            records.c.deleted_at.is_(None),
        )
        .order_by(records.c.id)
    )
    return [_row(r) for r in rows]


def migrate_stage(
    conn: sa.Connection,
    cf_of_row: CompiledForm,
    current: RecordRow,
    *,
    to_stage: str,
    assignee_id: int | None,
    due_at: dt.datetime | None,
    actor_id: int | None,
    now: dt.datetime,
) -> None:
    """Move a record out of a stage a new workflow version removed: only its stage (and
    assignee) change — its data stays at its own version, upgraded on the next write like any
    other record's. History ``migrate``, stage log action ``migrated``, event
    ``record.stage_changed`` with ``"migrated": true``.

    ``cf_of_row`` is the compiled version the record was written with.

    Raises: StaleVersionError.
    """
    move_stage(
        conn,
        cf_of_row,
        current,
        current.data,
        {"stage": [current.stage, to_stage]},
        {},
        to_stage=to_stage,
        transition=None,
        assignee_id=assignee_id,
        due_at=due_at,
        comment=None,
        actor_id=actor_id,
        now=now,
        lang="en",
        hidden=None,
        migrated=True,
    )

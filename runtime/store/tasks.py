"""Work lists (``/me/tasks``): the records a user must act on, must approve, started, or
handled — one keyset page at a time, newest record first.

Each box is one indexed query over live records, joined to the record's open stay for the
stage's deadline:

- ``todo``: ``records.assignee_id`` (ix_records_assignee_id), or, for a stage a role shares,
  ``(form_id, stage)`` (ix_records_form_id_stage) with no single assignee;
- ``approvals``: pending rows of the user (ix_approvals_approver_id_decided_at) in a round
  whose stay is still open;
- ``started``: ``records.owner_id`` (ix_records_owner_id);
- ``handled``: stage moves by the user (ix_stage_log_actor_id_record_id) and decisions they
  made (ix_approvals_approver_id_decided_at);
- ``cc``: records copied to the user (notifications of kind ``cc``,
  ix_notifications_user_id_created_at).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import sqlalchemy as sa

from runtime.store.tables import approvals, apps, forms, notifications, records, stage_log

Box = Literal["todo", "approvals", "started", "handled", "cc"]
BOXES: tuple[Box, ...] = ("todo", "approvals", "started", "handled", "cc")


@dataclass(frozen=True)
class TaskRow:
    record_id: int
    form_id: int
    stage: str | None
    data: dict[str, Any]
    assignee_id: int | None
    owner_id: int | None
    due_at: dt.datetime | None


def published_forms(conn: sa.Connection, app_id: int | None) -> list[tuple[int, int, int]]:
    """``(form_id, app_id, published_version)`` of the published forms of live apps (of one
    app when ``app_id`` is given)."""
    query = (
        sa.select(forms.c.id, forms.c.app_id, forms.c.published_version)
        .join(apps, apps.c.id == forms.c.app_id)
        .where(apps.c.deleted_at.is_(None), forms.c.published_version.is_not(None))
        .order_by(forms.c.id)
    )
    if app_id is not None:
        query = query.where(forms.c.app_id == app_id)
    return [(r.id, r.app_id, r.published_version) for r in conn.execute(query)]


def task_page(
    conn: sa.Connection,
    box: Box,
    *,
    user_id: int,
    role_stages: Mapping[int, Sequence[str]],
    form_ids: Sequence[int],
    overdue_at: dt.datetime | None,
    limit: int,
    before_id: int | None,
) -> list[TaskRow]:
    """Up to ``limit`` records of ``box`` among ``form_ids``, newest first, with ids below
    ``before_id`` (the cursor). ``role_stages``: per form, the stages owned by a role the user
    is in. ``overdue_at``: only records whose stage was due before that moment."""
    stay = stage_log.alias("stay")
    query = (
        sa.select(
            records.c.id,
            records.c.form_id,
            records.c.stage,
            records.c.data,
            records.c.assignee_id,
            records.c.owner_id,
            stay.c.due_at,
        )
        .select_from(
            records.outerjoin(
                stay, sa.and_(stay.c.record_id == records.c.id, stay.c.left_at.is_(None))
            )
        )
        .where(
            records.c.deleted_at.is_(None),
            records.c.form_id.in_(list(form_ids)),
            _in_box(box, user_id, role_stages),
        )
        .order_by(records.c.id.desc())
        .limit(limit)
    )
    if before_id is not None:
        query = query.where(records.c.id < before_id)
    if overdue_at is not None:
        query = query.where(stay.c.due_at < overdue_at)
    return [TaskRow(*r) for r in conn.execute(query)]


def _in_box(
    box: Box, user_id: int, role_stages: Mapping[int, Sequence[str]]
) -> sa.ColumnElement[bool]:
    if box == "todo":
        shared = [
            sa.and_(records.c.form_id == form_id, records.c.stage.in_(list(stages)))
            for form_id, stages in role_stages.items()
            if stages
        ]
        mine = records.c.assignee_id == user_id
        if not shared:
            return mine
        return sa.or_(mine, sa.and_(records.c.assignee_id.is_(None), sa.or_(*shared)))
    if box == "approvals":
        open_stay = stage_log.alias("round_stay")
        pending = (
            sa.select(approvals.c.record_id)
            .join(open_stay, open_stay.c.id == approvals.c.stay_id)
            .where(
                approvals.c.approver_id == user_id,
                approvals.c.decided_at.is_(None),
                open_stay.c.left_at.is_(None),
            )
        )
        return records.c.id.in_(pending)
    if box == "started":
        return records.c.owner_id == user_id
    if box == "cc":
        copied = sa.select(notifications.c.record_id).where(
            notifications.c.user_id == user_id, notifications.c.kind == "cc"
        )
        return records.c.id.in_(copied)
    moved = sa.select(stage_log.c.record_id).where(
        stage_log.c.actor_id == user_id, stage_log.c.from_stage.is_not(None)
    )
    decided = sa.select(approvals.c.record_id).where(
        approvals.c.approver_id == user_id, approvals.c.decided_at.is_not(None)
    )
    return records.c.id.in_(sa.union(moved, decided))

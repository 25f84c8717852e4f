"""Approval rounds and round-robin turns.

A round belongs to one stay of a record in an approval stage (``approvals.stay_id`` →
``stage_log.id``): it is live while that stay is open, so a record that leaves the stage by any
path ends its round, and one that comes back starts a new one. Every function runs in the
caller's transaction; the service holds the record's row lock (``get_record(lock=True)``)
while it reads a round and writes decisions, so concurrent votes are taken one after the other.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from runtime.store.tables import approvals, notifications, round_robin_counters, stage_log
from runtime.timestamps import utc_text_or_none


@dataclass(frozen=True)
class Stay:
    """The record's open stay in a stage: who moved it there (the submitter) and from where."""

    id: int
    stage: str
    from_stage: str | None
    actor_id: int | None
    at: dt.datetime
    due_at: dt.datetime | None


@dataclass(frozen=True)
class ApprovalRow:
    id: int
    round: int
    approver_id: int
    decision: str | None
    comment: str | None
    decided_at: dt.datetime | None
    added_by: int | None

    def as_api(self) -> dict[str, Any]:
        return {
            "user_id": self.approver_id,
            "decision": self.decision,
            "comment": self.comment,
            "decided_at": utc_text_or_none(self.decided_at),
            "added_by": self.added_by,
        }


def open_stay(conn: sa.Connection, record_id: int) -> Stay | None:
    """The record's current stay (``None`` for a record without a workflow)."""
    r = conn.execute(
        sa.select(
            stage_log.c.id,
            stage_log.c.to_stage,
            stage_log.c.from_stage,
            stage_log.c.actor_id,
            stage_log.c.at,
            stage_log.c.due_at,
        )
        .where(stage_log.c.record_id == record_id, stage_log.c.left_at.is_(None))
        .order_by(stage_log.c.id.desc())
        .limit(1)
    ).first()
    if r is None:
        return None
    return Stay(r.id, r.to_stage, r.from_stage, r.actor_id, r.at, r.due_at)


def start_round(
    conn: sa.Connection,
    *,
    record_id: int,
    stage: str,
    stay_id: int,
    approver_ids: Sequence[int],
    now: dt.datetime,
) -> int:
    """Open the approval round of a stay with ``approver_ids`` pending; returns its number
    (1 for the first time the record is in ``stage``, 2 the next …)."""
    last = conn.execute(
        sa.select(sa.func.max(approvals.c.round)).where(
            approvals.c.record_id == record_id, approvals.c.stage == stage
        )
    ).scalar()
    number = int(last or 0) + 1
    conn.execute(
        approvals.insert(),
        [
            {
                "record_id": record_id,
                "stage": stage,
                "round": number,
                "approver_id": approver_id,
                "stay_id": stay_id,
                "created_at": now,
            }
            for approver_id in approver_ids
        ],
    )
    return number


def retire_rounds(conn: sa.Connection, form_id: int, stage: str | None = None) -> int:
    """End the open rounds of ``form_id``'s records in ``stage`` (None: in any stage), when a
    new version removed the stage's approval or the whole workflow: their approvers, pending
    or decided, are taken out of the stay (the rows stay, with their record, stage and round,
    for the log), so nobody keeps a vote to cast, and an approval the stage gets back later
    starts a round of its own rather than count the old votes. Returns how many rows."""
    open_stays = sa.select(stage_log.c.id).where(
        stage_log.c.form_id == form_id, stage_log.c.left_at.is_(None)
    )
    if stage is not None:
        open_stays = open_stays.where(stage_log.c.to_stage == stage)
    result = conn.execute(
        approvals.update().where(approvals.c.stay_id.in_(open_stays)).values(stay_id=None)
    )
    return result.rowcount


_ROW_COLUMNS = (
    approvals.c.id,
    approvals.c.round,
    approvals.c.approver_id,
    approvals.c.decision,
    approvals.c.comment,
    approvals.c.decided_at,
    approvals.c.added_by,
)


def round_rows(conn: sa.Connection, stay_id: int) -> list[ApprovalRow]:
    """The approvers of the stay's round, in the order they were added."""
    rows = conn.execute(
        sa.select(*_ROW_COLUMNS).where(approvals.c.stay_id == stay_id).order_by(approvals.c.id)
    )
    return [ApprovalRow(*r) for r in rows]


def decide(
    conn: sa.Connection, approval_id: int, decision: str, comment: str | None, now: dt.datetime
) -> bool:
    """Record a pending approver's decision; ``False`` if it was no longer pending."""
    result = conn.execute(
        approvals.update()
        .where(approvals.c.id == approval_id, approvals.c.decision.is_(None))
        .values(decision=decision, comment=comment, decided_at=now)
    )
    return result.rowcount == 1


def transfer(conn: sa.Connection, approval_id: int, to_user_id: int) -> bool:
    """Hand a pending approver's place in a round to ``to_user_id`` (转交); ``False`` if it
    was no longer pending."""
    result = conn.execute(
        approvals.update()
        .where(approvals.c.id == approval_id, approvals.c.decision.is_(None))
        .values(approver_id=to_user_id)
    )
    return result.rowcount == 1


def add_approver(
    conn: sa.Connection,
    *,
    record_id: int,
    stage: str,
    round_number: int,
    stay_id: int,
    approver_id: int,
    added_by: int | None,
    now: dt.datetime,
) -> None:
    """Add a pending approver to a live round (加签)."""
    conn.execute(
        approvals.insert().values(
            record_id=record_id,
            stage=stage,
            round=round_number,
            approver_id=approver_id,
            stay_id=stay_id,
            added_by=added_by,
            created_at=now,
        )
    )


def copy_to(
    conn: sa.Connection, user_ids: Sequence[int], record_id: int, title: str, now: dt.datetime
) -> None:
    """Copy the record to ``user_ids`` (抄送): one in-app notification of kind ``cc`` each."""
    if user_ids:
        conn.execute(
            notifications.insert(),
            [
                {
                    "user_id": u,
                    "kind": "cc",
                    "title": title,
                    "record_id": record_id,
                    "created_at": now,
                }
                for u in user_ids
            ],
        )


def next_turn(conn: sa.Connection, form_id: int, stage: str) -> int:
    """The next round-robin turn of a stage (1, 2, 3 …): an upsert that takes the counter's
    row lock, so concurrent transactions get distinct turns."""
    values = {"form_id": form_id, "stage": stage, "value": 1}
    stmt: Any
    if conn.dialect.name == "postgresql":
        stmt = postgresql.insert(round_robin_counters).values(**values)
    else:
        stmt = sqlite.insert(round_robin_counters).values(**values)
    stmt = stmt.on_conflict_do_update(
        index_elements=["form_id", "stage"],
        set_={"value": round_robin_counters.c.value + 1},
    ).returning(round_robin_counters.c.value)
    return int(conn.execute(stmt).scalar_one())

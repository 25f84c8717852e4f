"""The audit log: an append-only record of administrative actions (the ``audit_log`` table).

Who (``actor_id``; ``None`` for the system or the command line), what (``action``, e.g.
``form.publish``), on what (``target``, e.g. ``form:12``), the particulars (``detail``, a JSON
object) and from where (``ip``). Every admin action calls :func:`record` inside the
transaction of the change it describes, so an entry exists exactly when the change does.

There is deliberately no function that updates or deletes entries, and no route either.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from runtime.store.sqltypes import utcnow
from runtime.store.tables import audit_log

MAX_PAGE = 200


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: dt.datetime
    actor_id: int | None
    action: str
    target: str
    detail: dict[str, Any]
    ip: str | None


def record(
    conn: sa.Connection,
    *,
    actor_id: int | None,
    action: str,
    target: str,
    detail: Mapping[str, Any] | None = None,
    ip: str | None = None,
    now: dt.datetime | None = None,
) -> int:
    """Append one entry; returns its id."""
    entry_id: int = conn.execute(
        audit_log.insert()
        .values(
            actor_id=actor_id,
            action=action,
            target=target,
            detail=dict(detail or {}),
            ip=ip,
            at=now or utcnow(),
        )
        .returning(audit_log.c.id)
    ).scalar_one()
    return entry_id


def entries(
    conn: sa.Connection,
    *,
    action: str | None = None,
    actor_id: int | None = None,
    before_id: int | None = None,
    limit: int = 50,
) -> list[AuditEntry]:
    """The newest entries first (ids only grow), continuing below ``before_id``; optionally
    only one ``action`` (``form.publish``) or a prefix of actions (``link.``) and one actor."""
    query = sa.select(audit_log).order_by(audit_log.c.id.desc()).limit(min(limit, MAX_PAGE + 1))
    if action is not None:
        if action.endswith("."):
            query = query.where(audit_log.c.action.startswith(action, autoescape=True))
        else:
            query = query.where(audit_log.c.action == action)
    if actor_id is not None:
        query = query.where(audit_log.c.actor_id == actor_id)
    if before_id is not None:
        query = query.where(audit_log.c.id < before_id)
    return [
        AuditEntry(
            id=row.id,
            at=row.at,
            actor_id=row.actor_id,
            action=row.action,
            target=row.target,
            detail=dict(row.detail or {}),
            ip=row.ip,
        )
        for row in conn.execute(query)
    ]

"""The append-only audit log of admin actions: who, when, what, from where."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from runtime.store.tables import audit_log


def record(
    conn: sa.Connection,
    actor_id: int | None,
    action: str,
    target: str,
    detail: Mapping[str, Any] | None = None,
    ip: str | None = None,
) -> None:
    """Append one entry, in the caller's transaction (so it exists exactly when the change
    does). ``target`` names what was acted on (``"user:3"``, ``"permission_set:7"``)."""
    conn.execute(
        audit_log.insert().values(
            actor_id=actor_id, action=action, target=target, detail=dict(detail or {}), ip=ip
        )
    )

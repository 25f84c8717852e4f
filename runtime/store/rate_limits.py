"""Counted events for rate limits (the ``rate_events`` table): failed logins per account and
per IP, requests to a public link per link and IP.

In the database so that every server process (``--workers``, several machines) counts the
same events and a lockout outlives a restart. A check reads at most ``limit`` rows per key
through the ``(key, at)`` index; callers record an event only when they let the request
through, so a locked-out client adds nothing. Check and count are atomic when done in one
write transaction after :func:`lock` (concurrent attempts cannot all pass one check).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import sqlalchemy as sa

from runtime.store.tables import rate_events

# No limit looks further back than this; older events are pruned.
MAX_WINDOW = dt.timedelta(days=1)


def retry_after(
    conn: sa.Connection,
    limits: Sequence[tuple[str, int]],
    *,
    window: dt.timedelta,
    now: dt.datetime,
) -> dt.timedelta | None:
    """How long until every ``(key, limit)`` allows one more event, or ``None`` if all do now.

    A key is at its limit when it has ``limit`` events in the last ``window``; it allows
    another once the oldest of its newest ``limit`` events is ``window`` old.
    """
    since = now - window
    waits: list[dt.timedelta] = []
    for key, limit in limits:
        newest = (
            conn.execute(
                sa.select(rate_events.c.at)
                .where(rate_events.c.key == key, rate_events.c.at > since)
                .order_by(rate_events.c.at.desc())
                .limit(limit)
            )
            .scalars()
            .all()
        )
        if len(newest) >= limit:
            waits.append(newest[-1] + window - now)
    return max(waits) if waits else None


def lock(conn: sa.Connection, keys: Sequence[str]) -> None:
    """Serialise checks of ``keys`` until the transaction ends.

    SQLite: a write transaction already holds the database's write lock (``BEGIN
    IMMEDIATE``). PostgreSQL: a transaction-scoped advisory lock per key, taken in sorted
    order so that two callers never wait for each other in a circle.
    """
    if conn.dialect.name != "postgresql":
        return
    for key in sorted(set(keys)):
        conn.execute(
            sa.text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"), {"key": key}
        )


def add(conn: sa.Connection, keys: Sequence[str], *, now: dt.datetime) -> list[int]:
    """Count one event under each key; returns the events' ids."""
    return [
        conn.execute(
            rate_events.insert().values(key=key, at=now).returning(rate_events.c.id)
        ).scalar_one()
        for key in keys
    ]


def remove(conn: sa.Connection, ids: Sequence[int]) -> None:
    """Forget counted events (an attempt that turned out to be allowed)."""
    if ids:
        conn.execute(rate_events.delete().where(rate_events.c.id.in_(ids)))


def clear(conn: sa.Connection, key: str) -> None:
    """Forget a key's events (e.g. an account's failed logins after it logs in)."""
    conn.execute(rate_events.delete().where(rate_events.c.key == key))


def prune(conn: sa.Connection, *, now: dt.datetime) -> int:
    """Delete events older than :data:`MAX_WINDOW`; returns how many."""
    result = conn.execute(rate_events.delete().where(rate_events.c.at < now - MAX_WINDOW))
    return result.rowcount

"""Process data of a form from its stage log: time spent per stage, SLA breaches per stage and
transition counts, over the stays *entered* in a period ``[since, until)``.

Served by ``ix_stage_log_form_id_to_stage_at`` and ``ix_stage_log_form_id_at``; percentiles are
nearest-rank, picked in SQL with a window function so only two rows per stage leave the
database.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa

from runtime.store.tables import records, stage_log

PERCENTILES = (50, 90)


def _hours(conn: sa.Connection, start: Any, end: Any) -> sa.ColumnElement[Any]:
    if conn.dialect.name == "postgresql":
        return sa.extract("epoch", end - start) / 3600.0
    return (sa.func.julianday(end) - sa.func.julianday(start)) * 24.0


def _period(form_id: int, since: dt.datetime, until: dt.datetime) -> list[sa.ColumnElement[bool]]:
    # Not the stays of records in the recycle bin (an open one would count as breached for
    # good), as the overdue list and escalation leave them out.
    binned = sa.select(records.c.id).where(
        records.c.form_id == form_id, records.c.deleted_at.is_not(None)
    )
    return [
        stage_log.c.form_id == form_id,
        stage_log.c.at >= since,
        stage_log.c.at < until,
        stage_log.c.record_id.not_in(binned),
    ]


def cycle_times(
    conn: sa.Connection, form_id: int, since: dt.datetime, until: dt.datetime
) -> dict[str, dict[str, Any]]:
    """Per stage, over the finished stays entered in the period: ``{count, avg_hours,
    p50_hours, p90_hours}``."""
    hours = _hours(conn, stage_log.c.at, stage_log.c.left_at).label("hours")
    inner = (
        sa.select(stage_log.c.to_stage.label("stage"), hours)
        .where(*_period(form_id, since, until), stage_log.c.left_at.is_not(None))
        .subquery()
    )
    ranked = sa.select(
        inner.c.stage,
        inner.c.hours,
        sa.func.row_number().over(partition_by=inner.c.stage, order_by=inner.c.hours).label("rank"),
        sa.func.count().over(partition_by=inner.c.stage).label("n"),
        sa.func.avg(inner.c.hours).over(partition_by=inner.c.stage).label("avg"),
    ).subquery()
    # nearest rank: ceil(p * n / 100), in integer arithmetic on both databases
    wanted = [(p * ranked.c.n + 99) // 100 for p in PERCENTILES]
    rows = conn.execute(
        sa.select(ranked.c.stage, ranked.c.hours, ranked.c.rank, ranked.c.n, ranked.c.avg)
        .where(sa.or_(*(ranked.c.rank == w for w in wanted)))
        .order_by(ranked.c.stage, ranked.c.rank)
    )
    out: dict[str, dict[str, Any]] = {}
    for r in rows:
        entry = out.setdefault(r.stage, {"count": int(r.n), "avg_hours": _round(r.avg)})
        for p in PERCENTILES:
            if r.rank == (p * r.n + 99) // 100:
                entry[f"p{p}_hours"] = _round(r.hours)
    return out


def sla_breaches(
    conn: sa.Connection, form_id: int, since: dt.datetime, until: dt.datetime, now: dt.datetime
) -> dict[str, dict[str, Any]]:
    """Per stage, over the stays with a deadline entered in the period: ``{with_deadline,
    breached, breach_rate}`` — breached when left after the deadline, or still open past it."""
    ended = sa.func.coalesce(stage_log.c.left_at, now)
    breached = sa.func.sum(sa.case((ended > stage_log.c.due_at, 1), else_=0))
    rows = conn.execute(
        sa.select(stage_log.c.to_stage, sa.func.count(), breached)
        .where(*_period(form_id, since, until), stage_log.c.due_at.is_not(None))
        .group_by(stage_log.c.to_stage)
    )
    return {
        stage: {
            "with_deadline": int(total),
            "breached": int(late or 0),
            "breach_rate": round(int(late or 0) / int(total), 4),
        }
        for stage, total, late in rows
    }


def transition_counts(
    conn: sa.Connection, form_id: int, since: dt.datetime, until: dt.datetime
) -> list[dict[str, Any]]:
    """Moves between stages in the period, most frequent first: ``{transition, from, to,
    action, count}`` (``transition`` is null for moves made by publishing, action
    ``migrated``)."""
    count = sa.func.count().label("n")
    rows = conn.execute(
        sa.select(
            stage_log.c.transition,
            stage_log.c.from_stage,
            stage_log.c.to_stage,
            stage_log.c.action,
            count,
        )
        .where(*_period(form_id, since, until), stage_log.c.from_stage.is_not(None))
        .group_by(
            stage_log.c.transition,
            stage_log.c.from_stage,
            stage_log.c.to_stage,
            stage_log.c.action,
        )
        .order_by(count.desc(), stage_log.c.from_stage, stage_log.c.to_stage)
    )
    return [
        {"transition": t, "from": f, "to": to, "action": a, "count": int(n)}
        for t, f, to, a, n in rows
    ]


def _round(value: Any) -> float:
    return round(float(value), 2)

"""Process data from the stage log with known data: time per stage (avg, p50, p90), SLA breach
rate per stage, transition counts, over a period; on both databases."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from runtime.errors import InvalidQueryError
from runtime.services import Services
from tests.runtime.sla_factories import MONDAY_10, Clock, publish_ticket
from tests.runtime.test_record_service import make_user

T0 = MONDAY_10  # "open" is due 4 working hours later: T0 + 4h (Monday 14:00 in Shanghai)


def _at(clock: Clock, hours: float) -> None:
    clock.now = T0 + dt.timedelta(hours=hours)


def test_cycle_times_breaches_and_transitions(conn: sa.Connection) -> None:
    clock = Clock(T0)
    svc = Services(clock=clock)
    actor = make_user(conn)
    form_id = publish_ticket(conn, svc, actor)
    r1, r2, r3, _r4 = (
        svc.create_record(conn, actor, form_id, {"title": f"工单{i}"})["id"] for i in range(4)
    )
    _at(clock, 1)
    svc.fire_transition(conn, actor, r1, "start")  # open 1h; working due T0+9h
    _at(clock, 3)
    svc.fire_transition(conn, actor, r3, "start")  # open 3h; working due T0+11h, never left
    _at(clock, 5)
    svc.fire_transition(conn, actor, r2, "start")  # open 5h: late
    _at(clock, 7)
    svc.fire_transition(conn, actor, r2, "close")  # working 2h
    _at(clock, 11)
    svc.fire_transition(conn, actor, r1, "close")  # working 10h: late
    _at(clock, 30)  # r4 still open, r3 still working: both past their deadlines

    stats = svc.process_stats(
        conn, actor, form_id, since=T0 - dt.timedelta(hours=1), until=T0 + dt.timedelta(days=2)
    )
    by_stage = {s["stage"]: s for s in stats["stages"]}
    assert [s["stage"] for s in stats["stages"]] == [
        "open",
        "working",
        "waiting",
        "closed",
        "expired",
    ]
    assert by_stage["open"] == {
        "stage": "open",
        "count": 3,
        "avg_hours": 3.0,
        "p50_hours": 3.0,
        "p90_hours": 5.0,
        "with_deadline": 4,
        "breached": 2,
        "breach_rate": 0.5,
    }
    assert by_stage["working"] == {
        "stage": "working",
        "count": 2,
        "avg_hours": 6.0,
        "p50_hours": 2.0,
        "p90_hours": 10.0,
        "with_deadline": 3,
        "breached": 2,
        "breach_rate": 0.6667,
    }
    assert by_stage["closed"] == {
        "stage": "closed",
        "count": 0,
        "avg_hours": None,
        "p50_hours": None,
        "p90_hours": None,
        "with_deadline": 0,
        "breached": 0,
        "breach_rate": None,
    }
    assert stats["transitions"] == [
        {"transition": "start", "from": "open", "to": "working", "action": None, "count": 3},
        {"transition": "close", "from": "working", "to": "closed", "action": None, "count": 2},
    ]

    # a later period sees only the stays entered in it
    later = svc.process_stats(
        conn, actor, form_id, since=T0 + dt.timedelta(hours=2), until=T0 + dt.timedelta(days=1)
    )
    by_stage = {s["stage"]: s for s in later["stages"]}
    assert by_stage["open"]["count"] == 0 and by_stage["open"]["with_deadline"] == 0
    assert (by_stage["working"]["count"], by_stage["working"]["avg_hours"]) == (1, 2.0)
    assert by_stage["working"]["with_deadline"] == 2  # r3 and r2 entered after T0+2h
    assert [(t["transition"], t["count"]) for t in later["transitions"]] == [
        ("start", 2),
        ("close", 2),
    ]
    assert later["since"] == "2026-11-23T04:00:00Z"


def test_default_period_and_invalid_periods(conn: sa.Connection) -> None:
    clock = Clock(T0)
    svc = Services(clock=clock)
    actor = make_user(conn)
    form_id = publish_ticket(conn, svc, actor)
    stats = svc.process_stats(conn, actor, form_id)
    assert stats["until"] == "2026-11-23T02:00:00Z" and stats["since"] == "2026-10-24T02:00:00Z"
    assert stats["transitions"] == []
    for since, until in [
        (T0, T0),
        (T0, T0 - dt.timedelta(hours=1)),
        (T0, T0 + dt.timedelta(days=400)),
    ]:
        with pytest.raises(InvalidQueryError) as exc:
            svc.process_stats(conn, actor, form_id, since=since, until=until)
        assert exc.value.errors[0].code == "invalid_period"

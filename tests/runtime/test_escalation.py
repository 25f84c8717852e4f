"""Deadlines with working calendars through the service, overdue flags and lists, and
escalations that fire once each — also under two concurrent runs — on both databases."""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

import pytest
import sqlalchemy as sa

from builder.calendar import WorkCalendar
from builder.i18n import translate
from builder.workflow import Stage, escalation_keys
from runtime.actor import SYSTEM
from runtime.errors import InvalidQueryError
from runtime.escalation import due_rules, run_escalations
from runtime.services import Services
from runtime.store.tables import escalation_runs, notifications, outbox, record_history, records
from tests.runtime.sla_factories import (
    MONDAY_10,
    SH,
    Clock,
    make_role,
    publish_ticket,
    ticket_form,
)
from tests.runtime.test_record_service import make_user


def _local(value: str | None) -> dt.datetime:
    assert value is not None
    return dt.datetime.fromisoformat(value).astimezone(SH)


def _notified(conn: sa.Connection, record_id: int) -> list[tuple[int, str]]:
    rows = conn.execute(
        sa.select(notifications.c.user_id, notifications.c.kind)
        .where(notifications.c.record_id == record_id)
        .order_by(notifications.c.user_id)
    )
    return [(r[0], r[1]) for r in rows]


def _topics(conn: sa.Connection, topic: str) -> list[dict[str, Any]]:
    rows = conn.execute(sa.select(outbox.c.payload).where(outbox.c.topic == topic))
    return [r[0] for r in rows]


def test_deadline_counts_working_hours_and_flags_overdue(conn: sa.Connection) -> None:
    clock = Clock(MONDAY_10 + dt.timedelta(days=2, hours=6))  # Wednesday 16:00
    svc = Services(clock=clock)
    actor = make_user(conn)
    form_id = publish_ticket(conn, svc)
    rec = svc.create_record(conn, actor, form_id, {"title": "打印机坏了"})
    # 2 hours on Wednesday, Thursday 26th is a holiday, 2 hours on Friday
    sla = svc.record_deadline(conn, actor, rec["id"])
    assert _local(sla["due_at"]) == dt.datetime(2026, 11, 27, 11, 0, tzinfo=SH)
    assert sla["overdue"] is False
    clock.now = dt.datetime(2026, 11, 27, 11, 0, tzinfo=SH)
    assert svc.record_deadline(conn, actor, rec["id"])["overdue"] is False  # due, not past
    clock.advance(seconds=1)
    assert svc.record_deadline(conn, actor, rec["id"])["overdue"] is True
    # the next stage runs round the clock (its own calendar): 8 hours, through the night
    clock.now = dt.datetime(2026, 11, 27, 20, 0, tzinfo=SH)
    svc.fire_transition(conn, actor, rec["id"], "start")
    sla = svc.record_deadline(conn, actor, rec["id"])
    assert _local(sla["due_at"]) == dt.datetime(2026, 11, 28, 4, 0, tzinfo=SH)
    # a due_field stage: the end of the promised day; without a value, no deadline
    svc.fire_transition(conn, actor, rec["id"], "wait", data={"promised": "2026-12-01"})
    sla = svc.record_deadline(conn, actor, rec["id"])
    assert _local(sla["due_at"]) == dt.datetime(2026, 12, 1, 23, 59, 59, tzinfo=SH)
    svc.fire_transition(conn, actor, rec["id"], "close")
    assert svc.record_deadline(conn, actor, rec["id"]) == {"due_at": None, "overdue": False}


def test_deadline_across_a_weekend_with_the_working_calendar(conn: sa.Connection) -> None:
    clock = Clock(dt.datetime(2026, 11, 20, 16, 0, tzinfo=SH))  # Friday 16:00
    svc = Services(clock=clock)
    actor = make_user(conn)
    form_id = publish_ticket(conn, svc)
    rec = svc.create_record(conn, actor, form_id, {"title": "周五下午"})
    sla = svc.record_deadline(conn, actor, rec["id"])
    # 2 hours on Friday, none on the weekend, 2 on Monday
    assert _local(sla["due_at"]) == dt.datetime(2026, 11, 23, 11, 0, tzinfo=SH)
    clock.now = dt.datetime(2026, 11, 22, 23, 0, tzinfo=SH)  # Sunday night: not yet
    assert svc.overdue(conn, actor, form_id)["count"] == 0
    assert run_escalations(conn, svc, clock.now).fired == 0
    clock.now = dt.datetime(2026, 11, 23, 11, 1, tzinfo=SH)
    assert svc.record_deadline(conn, actor, rec["id"])["overdue"] is True
    assert svc.overdue(conn, actor, form_id)["count"] == 1


def test_escalation_rules_fire_once_each_as_their_hours_pass(conn: sa.Connection) -> None:
    clock = Clock(MONDAY_10)
    svc = Services(clock=clock)
    owner = make_user(conn)
    duty1, duty2, handler = make_user(conn), make_user(conn), make_user(conn)
    make_role(conn, "duty", duty1, duty2)
    form_id = publish_ticket(conn, svc)
    rec = svc.create_record(conn, owner, form_id, {"title": "网络中断", "handler": handler.user_id})
    quiet = svc.create_record(conn, owner, form_id, {"title": "已处理"})
    svc.fire_transition(conn, owner, quiet["id"], "start")
    svc.fire_transition(conn, owner, quiet["id"], "wait")  # no deadline there
    due = MONDAY_10 + dt.timedelta(hours=4)  # 14:00 Shanghai

    # before the deadline nothing happens
    report = run_escalations(conn, svc, due - dt.timedelta(minutes=1))
    assert report.fired == 0 and _notified(conn, rec["id"]) == []

    # at the deadline: the notify rule (after 0 hours), to the duty role and the record owner
    report = run_escalations(conn, svc, due)
    assert (report.fired, report.notified, report.reassigned, report.moved) == (1, 3, 0, 0)
    expected = sorted((u.user_id, "stage_overdue") for u in (owner, duty1, duty2))
    assert _notified(conn, rec["id"]) == expected
    title, body = conn.execute(
        sa.select(notifications.c.title, notifications.c.body).where(
            notifications.c.record_id == rec["id"]
        )
    ).first() or (None, None)
    assert title == "工单“网络中断”在“待处理”阶段已超时"
    assert title == translate(
        "escalation_overdue_title", "zh", form="工单", record="网络中断", stage="待处理"
    )
    assert body == translate(
        "escalation_overdue_body", "zh", due_at="2026-11-23T06:00:00Z", hours=0.0
    )

    # the same moment again: nothing fires twice
    assert run_escalations(conn, svc, due).fired == 0
    assert len(_notified(conn, rec["id"])) == 3

    # two working hours later: reassigned to the handler field's user (history, event, version)
    report = run_escalations(conn, svc, due + dt.timedelta(hours=2))
    assert (report.fired, report.reassigned) == (1, 1)
    row = conn.execute(sa.select(records).where(records.c.id == rec["id"])).one()
    assert row.assignee_id == handler.user_id and row.version == 2
    actions = (
        conn.execute(
            sa.select(record_history.c.action).where(record_history.c.record_id == rec["id"])
        )
        .scalars()
        .all()
    )
    assert list(actions) == ["create", "reassign"]

    # "8 hours after" counts working hours, like the deadline: not at 22:00 the same evening
    assert run_escalations(conn, svc, due + dt.timedelta(hours=8)).fired == 0
    # but at 13:00 the next day (4 hours on Monday, 4 on Tuesday): moved by the expire
    # transition, as the system
    report = run_escalations(conn, svc, dt.datetime(2026, 11, 24, 13, 0, tzinfo=SH))
    assert (report.fired, report.moved, report.failed) == (1, 1, [])
    assert svc.get_record(conn, owner, rec["id"])["stage"] == "expired"
    log = svc.stage_log(conn, owner, rec["id"])
    assert [(e["to"], e["transition"], e["actor_id"]) for e in log][-1] == (
        "expired",
        "expire",
        None,
    )
    escalated = [p for p in _topics(conn, "record.escalated") if p["record_id"] == rec["id"]]
    assert [(p["notified"] != [], p["reassigned_to"], p["transition"]) for p in escalated] == [
        (True, None, None),
        (False, handler.user_id, None),
        (False, None, "expire"),
    ]
    # and a run much later finds nothing left to do
    assert run_escalations(conn, svc, due + dt.timedelta(days=30)).fired == 0


def test_a_refused_escalation_transition_is_spent_and_reported(conn: sa.Connection) -> None:
    clock = Clock(MONDAY_10)
    svc = Services(clock=clock)
    actor = make_user(conn)
    form_id = publish_ticket(conn, svc)
    rec = svc.create_record(conn, actor, form_id, {"title": "无原因"})
    svc.fire_transition(conn, actor, rec["id"], "start")
    # working: 8 hours round the clock; give_up after 1 more hour needs a reason
    report = run_escalations(conn, svc, MONDAY_10 + dt.timedelta(hours=9))
    assert report.fired == 1 and report.moved == 0
    assert [(f["record_id"], f["rule"]) for f in report.failed] == [(rec["id"], 0)]
    assert report.failed[0]["error"].startswith("transition_refused")
    assert svc.get_record(conn, actor, rec["id"])["stage"] == "working"
    outcome = conn.execute(
        sa.select(escalation_runs.c.outcome).where(escalation_runs.c.record_id == rec["id"])
    ).scalar_one()
    assert outcome.startswith("transition_refused") and "reason" in outcome
    assert run_escalations(conn, svc, MONDAY_10 + dt.timedelta(hours=10)).fired == 0


def test_deleted_records_do_not_escalate(conn: sa.Connection) -> None:
    svc = Services(clock=Clock(MONDAY_10))
    actor = make_user(conn)
    form_id = publish_ticket(conn, svc)
    rec = svc.create_record(conn, actor, form_id, {"title": "删除"})
    svc.delete_record(conn, actor, rec["id"], 1)
    assert run_escalations(conn, svc, MONDAY_10 + dt.timedelta(days=3)).fired == 0


def test_overdue_list_count_pages_and_filter(conn: sa.Connection) -> None:
    clock = Clock(MONDAY_10)
    svc = Services(clock=clock)
    actor = make_user(conn)
    form_id = publish_ticket(conn, svc)
    ids = []
    for i in range(5):  # created an hour apart: due 14:00, 15:00, 16:00, 17:00, 18:00
        ids.append(svc.create_record(conn, actor, form_id, {"title": f"工单{i}"})["id"])
        clock.advance(hours=1)
    svc.fire_transition(conn, actor, ids[4], "start")  # working: due 8 hours from 15:00
    svc.delete_record(conn, actor, ids[3], 1)
    clock.now = dt.datetime(2026, 11, 23, 16, 30, tzinfo=SH)
    page = svc.overdue(conn, actor, form_id, limit=2)
    assert [r["id"] for r in page["items"]] == ids[:2]  # most overdue first
    assert page["count"] == 3 and page["by_stage"] == {"open": 3}
    assert page["items"][0]["overdue_hours"] == 2.5
    assert _local(page["items"][0]["due_at"]) == dt.datetime(2026, 11, 23, 14, 0, tzinfo=SH)
    rest = svc.overdue(conn, actor, form_id, limit=2, cursor=page["next_cursor"])
    assert [r["id"] for r in rest["items"]] == [ids[2]] and rest["next_cursor"] is None
    assert svc.overdue(conn, actor, form_id, stage="working")["count"] == 0
    clock.now = dt.datetime(2026, 11, 24, 0, 0, tzinfo=SH)
    late = svc.overdue(conn, actor, form_id)
    assert late["by_stage"] == {"open": 3, "working": 1}
    assert svc.overdue(conn, actor, form_id, stage="working")["items"][0]["id"] == ids[4]
    with pytest.raises(InvalidQueryError) as exc:
        svc.overdue(conn, actor, form_id, cursor="not-a-cursor")
    assert exc.value.errors[0].code == "invalid_cursor"


def test_two_escalation_runs_at_once_fire_each_rule_once(fresh_engine: sa.Engine) -> None:
    svc = Services(clock=Clock(MONDAY_10))
    with fresh_engine.begin() as conn:
        owner = make_user(conn)
        duty = make_user(conn)
        make_role(conn, "duty", duty)
        form_id = publish_ticket(conn, svc)
        rec_ids = [
            svc.create_record(conn, owner, form_id, {"title": f"并发{i}"})["id"] for i in range(6)
        ]
    later = MONDAY_10 + dt.timedelta(days=3)  # every rule of "open" is due
    barrier = threading.Barrier(2)
    results: list[Any] = []
    lock = threading.Lock()

    def worker() -> None:
        barrier.wait()
        try:
            with fresh_engine.begin() as conn:
                outcome: Any = run_escalations(conn, svc, later)
        except Exception as exc:  # anything else is a failure of the test
            outcome = exc
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not [r for r in results if isinstance(r, Exception)], results
    # 3 rules × 6 records, split between the two runs however they raced
    assert sum(r.fired for r in results) == 18
    assert sum(r.moved for r in results) == 6
    with fresh_engine.begin() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(escalation_runs)).scalar() == 18
        per_record = conn.execute(
            sa.select(notifications.c.record_id, sa.func.count()).group_by(
                notifications.c.record_id
            )
        ).all()
        assert sorted(per_record) == [(rid, 2) for rid in rec_ids]  # owner + duty, once
        stages = (
            conn.execute(sa.select(records.c.stage).where(records.c.id.in_(rec_ids)))
            .scalars()
            .all()
        )
        assert set(stages) == {"expired"}
        assert len(_topics(conn, "record.escalated")) == 18


def test_a_rule_added_before_others_fires_and_the_others_do_not_fire_again(
    conn: sa.Connection,
) -> None:
    clock = Clock(MONDAY_10)
    svc = Services(clock=clock)
    owner, duty, handler = make_user(conn), make_user(conn), make_user(conn)
    make_role(conn, "duty", duty)
    definition = ticket_form()
    form_id = publish_ticket(conn, svc, definition)
    rec = svc.create_record(conn, owner, form_id, {"title": "网络中断", "handler": handler.user_id})
    due = MONDAY_10 + dt.timedelta(hours=4)
    assert run_escalations(conn, svc, due + dt.timedelta(minutes=1)).fired == 1
    assert sorted(u for u, _ in _notified(conn, rec["id"])) == sorted([owner.user_id, duty.user_id])
    # The admin puts a new first rule before the others (and so moves each of them down).
    rules = definition["workflow"]["stages"][0]["escalation"]
    rules.insert(0, {"after_hours": 0, "notify": [{"field": "handler"}]})
    svc.save_draft(conn, SYSTEM, form_id, definition)
    svc.publish_form(conn, SYSTEM, form_id)
    report = run_escalations(conn, svc, due + dt.timedelta(minutes=2))
    assert report.fired == 1 and report.failed == []
    assert sorted(u for u, _ in _notified(conn, rec["id"])) == sorted(
        [owner.user_id, duty.user_id, handler.user_id]
    )


def test_due_rules_count_after_hours_in_the_stages_working_hours() -> None:
    stage = Stage.model_validate(
        {
            "key": "s",
            "name": "S",
            "sla_hours": 4,
            "escalation": [{"after_hours": 0, "notify": [{"role": "a"}]}, {"after_hours": 2}],
        }
    )
    friday_17 = dt.datetime(2026, 11, 27, 17, 0, tzinfo=SH)
    friday_19 = friday_17 + dt.timedelta(hours=2)
    monday_10 = dt.datetime(2026, 11, 30, 10, 0, tzinfo=SH)
    office = WorkCalendar()
    first, second = escalation_keys(stage)
    assert [k for k, _ in due_rules(stage, friday_17, friday_19)] == [first, second]  # 24 h
    assert [k for k, _ in due_rules(stage, friday_17, friday_19, office, SH)] == [first]
    assert [k for k, _ in due_rules(stage, friday_17, monday_10, office, SH)] == [first, second]


def test_a_round_robin_reassign_takes_turns_and_skips_the_current_assignee(
    conn: sa.Connection,
) -> None:
    clock = Clock(MONDAY_10)
    svc = Services(clock=clock)
    owner = make_user(conn)
    duty1, duty2 = make_user(conn), make_user(conn)
    make_role(conn, "duty", duty1, duty2)
    definition = ticket_form()
    stages = definition["workflow"]["stages"]
    stages[0]["escalation"] = [{"after_hours": 2, "reassign": {"round_robin": {"role": "duty"}}}]
    form_id = publish_ticket(conn, svc, definition)
    first, second, third = (
        svc.create_record(conn, owner, form_id, {"title": f"工单{i}"}) for i in range(3)
    )
    # the third is already with duty1: its turn (duty1's) passes to duty2
    row = conn.execute(sa.select(records).where(records.c.id == third["id"])).one()
    assert row.assignee_id is None  # the stage has no owner rule of its own
    conn.execute(
        records.update().where(records.c.id == third["id"]).values(assignee_id=duty1.user_id)
    )

    report = run_escalations(conn, svc, MONDAY_10 + dt.timedelta(hours=6, minutes=1))
    assert (report.fired, report.reassigned, report.failed) == (3, 3, [])
    assignees = dict(
        conn.execute(
            sa.select(records.c.id, records.c.assignee_id).where(
                records.c.id.in_([first["id"], second["id"], third["id"]])
            )
        ).all()
    )
    # stays are escalated most overdue first, then by stay id: the records' order here
    assert [assignees[r["id"]] for r in (first, second, third)] == [
        duty1.user_id,
        duty2.user_id,
        duty2.user_id,
    ]
    escalated = {p["record_id"]: p["reassigned_to"] for p in _topics(conn, "record.escalated")}
    assert escalated == {
        first["id"]: duty1.user_id,
        second["id"]: duty2.user_id,
        third["id"]: duty2.user_id,
    }


def test_a_round_robin_reassign_with_only_the_current_assignee_changes_nothing(
    conn: sa.Connection,
) -> None:
    clock = Clock(MONDAY_10)
    svc = Services(clock=clock)
    owner, duty = make_user(conn), make_user(conn)
    make_role(conn, "duty", duty)
    definition = ticket_form()
    stages = definition["workflow"]["stages"]
    stages[0]["escalation"] = [{"after_hours": 2, "reassign": {"round_robin": {"role": "duty"}}}]
    form_id = publish_ticket(conn, svc, definition)
    rec = svc.create_record(conn, owner, form_id, {"title": "只有一人"})
    conn.execute(records.update().where(records.c.id == rec["id"]).values(assignee_id=duty.user_id))
    report = run_escalations(conn, svc, MONDAY_10 + dt.timedelta(hours=6, minutes=1))
    assert (report.fired, report.reassigned, report.failed) == (1, 0, [])
    row = conn.execute(sa.select(records).where(records.c.id == rec["id"])).one()
    assert (row.assignee_id, row.version) == (duty.user_id, 1)


def test_rule_keys_are_a_stored_format_and_do_not_change() -> None:
    # Claims in escalation_runs hold these keys: a change of how they are computed (or of a
    # default of the rule's model) would make every overdue stay fire its rules again.
    stage = Stage.model_validate(
        {
            "key": "open",
            "name": "O",
            "sla_hours": 4,
            "escalation": [
                {"after_hours": 0, "notify": [{"role": "duty"}, {"record_owner": True}]},
                {"after_hours": 2, "reassign": {"field": "handler"}},
                {"after_hours": 2.0, "reassign": {"field": "handler"}},
            ],
        }
    )
    assert escalation_keys(stage) == [
        "r912e4967dc50ab3e",
        "r41c8769636c5c1a8",
        "r41c8769636c5c1a8#2",
    ]

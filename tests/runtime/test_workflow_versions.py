"""Publishing a workflow that removes stages holding records: refused with the count per stage,
or the records moved by the admin's mapping in the same transaction; on both databases."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import sqlalchemy as sa

from runtime.services import Services
from runtime.store.tables import form_versions, outbox, stage_log
from runtime.workflow_versions import StageMappingError
from tests.runtime.sla_factories import MONDAY_10, SH, Clock, publish_ticket, ticket_form
from tests.runtime.test_record_service import make_user


def _without_waiting() -> dict[str, Any]:
    """Version 2: 等待客户 is gone (and a new stage 挂起 arrives)."""
    form = ticket_form()
    wf = form["workflow"]
    wf["stages"] = [s for s in wf["stages"] if s["key"] != "waiting"]
    wf["stages"].insert(2, {"key": "hold", "name": "挂起", "sla_hours": 24})
    wf["transitions"] = [t for t in wf["transitions"] if t["key"] not in ("wait", "resume")]
    wf["transitions"] += [
        {"key": "hold", "label": "挂起", "from": ["working"], "to": "hold"},
        {"key": "unhold", "label": "恢复", "from": ["hold"], "to": "working"},
    ]
    next(t for t in wf["transitions"] if t["key"] == "close")["from"] = ["working", "hold"]
    return form


def _codes(exc: pytest.ExceptionInfo[StageMappingError]) -> list[tuple[str, str]]:
    return [(e.field, e.code) for e in exc.value.errors]


@pytest.fixture
def setup(conn: sa.Connection) -> tuple[Services, Clock, Any, int, list[int]]:
    clock = Clock(MONDAY_10)
    svc = Services(clock=clock)
    admin = make_user(conn, admin=True)
    form_id = publish_ticket(conn, svc, admin)
    ids = [svc.create_record(conn, admin, form_id, {"title": f"工单{i}"})["id"] for i in range(4)]
    for rid in ids[:3]:
        svc.fire_transition(conn, admin, rid, "start")
    for rid in ids[:2]:
        svc.fire_transition(conn, admin, rid, "wait")
    svc.delete_record(conn, admin, ids[1], 3)  # in the bin: not counted, not moved
    svc.save_draft(conn, admin, form_id, _without_waiting())
    return svc, clock, admin, form_id, ids


def test_publish_refuses_and_reports_records_in_removed_stages(
    conn: sa.Connection, setup: tuple[Services, Clock, Any, int, list[int]]
) -> None:
    svc, _, admin, form_id, _ = setup
    with pytest.raises(StageMappingError) as exc:
        svc.publish_form(conn, admin, form_id)
    assert _codes(exc) == [("stage_mapping.waiting", "stage_in_use")]
    assert exc.value.errors[0].params == {"count": 1}
    assert "1" in exc.value.errors[0].message
    # nothing was published
    versions = (
        conn.execute(sa.select(form_versions.c.version).where(form_versions.c.form_id == form_id))
        .scalars()
        .all()
    )
    assert list(versions) == [1]


def test_a_wrong_mapping_is_refused(
    conn: sa.Connection, setup: tuple[Services, Clock, Any, int, list[int]]
) -> None:
    svc, _, admin, form_id, _ = setup
    with pytest.raises(StageMappingError) as exc:
        svc.publish_form(conn, admin, form_id, stage_mapping={"waiting": "limbo", "open": "hold"})
    assert _codes(exc) == [
        ("stage_mapping.open", "stage_mapping_not_removed"),
        ("stage_mapping.waiting", "stage_mapping_unknown_target"),
    ]


def test_mapping_moves_the_records_in_the_same_transaction(
    conn: sa.Connection, setup: tuple[Services, Clock, Any, int, list[int]]
) -> None:
    svc, clock, admin, form_id, ids = setup
    clock.advance(hours=1)
    published = svc.publish_form(conn, admin, form_id, stage_mapping={"waiting": "hold"})
    assert published.published_version == 2
    moved = svc.get_record(conn, admin, ids[0])
    assert moved["stage"] == "hold" and moved["version"] == 4
    log = svc.stage_log(conn, admin, ids[0])
    assert [(e["from"], e["to"], e["action"]) for e in log][-2:] == [
        ("working", "waiting", None),
        ("waiting", "hold", "migrated"),
    ]
    assert log[-2]["left_at"] == log[-1]["at"]
    # the new stage's deadline: 24 hours of the workflow's calendar from the move
    assert dt.datetime.fromisoformat(log[-1]["due_at"]).astimezone(SH) == dt.datetime(
        2026, 11, 25, 17, 0, tzinfo=SH
    )  # Monday 11:00: 7 hours that day, 9 on Tuesday, 8 on Wednesday
    history = svc.record_history(conn, admin, ids[0])
    assert history[-1]["action"] == "migrate" and history[-1]["diff"] == {
        "stage": ["waiting", "hold"]
    }
    events = (
        conn.execute(sa.select(outbox.c.payload).where(outbox.c.topic == "record.stage_changed"))
        .scalars()
        .all()
    )
    assert any(e["record_id"] == ids[0] and e.get("migrated") for e in events)
    # the others stayed where they were; the deleted one too; it can go on from the new stage
    assert [svc.get_record(conn, admin, r)["stage"] for r in (ids[2], ids[3])] == [
        "working",
        "open",
    ]
    assert svc.fire_transition(conn, admin, ids[0], "unhold")["stage"] == "working"
    # process data counts the move, marked as a migration
    clock.advance(minutes=1)
    moves = svc.process_stats(conn, admin, form_id)["transitions"]
    assert {
        "transition": None,
        "from": "waiting",
        "to": "hold",
        "action": "migrated",
        "count": 1,
    } in moves
    # no live record remains in a stage the workflow does not have
    stranded = conn.execute(
        sa.select(sa.func.count())
        .select_from(stage_log)
        .where(
            stage_log.c.form_id == form_id,
            stage_log.c.left_at.is_(None),
            stage_log.c.to_stage == "waiting",
            stage_log.c.record_id != ids[1],
        )
    ).scalar()
    assert stranded == 0


def test_publishing_without_removed_stages_needs_no_mapping(conn: sa.Connection) -> None:
    svc = Services(clock=Clock(MONDAY_10))
    admin = make_user(conn, admin=True)
    form_id = publish_ticket(conn, svc, admin)
    svc.create_record(conn, admin, form_id, {"title": "一"})
    form = ticket_form()
    form["workflow"]["stages"][0]["name"] = "新工单"
    svc.save_draft(conn, admin, form_id, form)
    assert svc.publish_form(conn, admin, form_id).published_version == 2
    # a removed stage with no records needs no mapping either
    svc.save_draft(conn, admin, form_id, _without_waiting())
    assert svc.publish_form(conn, admin, form_id).published_version == 3

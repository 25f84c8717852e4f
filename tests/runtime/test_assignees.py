"""Stage owners: every assignee rule, round-robin under concurrent creates, and reassignment
(转交) — on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import replace
from typing import Any

import pytest
import sqlalchemy as sa

from builder.i18n import translate
from runtime.actor import Actor
from runtime.errors import ConflictError, PermissionDeniedError, RecordValidationError
from runtime.services import Services
from runtime.store.tables import notifications, outbox, records
from tests.runtime.org import deactivate, make_department, make_role
from tests.runtime.test_record_service import NOW, make_user
from tests.runtime.workflow_forms import expense_form, publish


@pytest.fixture
def svc() -> Services:
    return Services(clock=lambda: NOW)


def _assignee(conn: sa.Connection, record_id: int) -> int | None:
    value: int | None = conn.execute(
        sa.select(records.c.assignee_id).where(records.c.id == record_id)
    ).scalar_one()
    return value


def _form(conn: sa.Connection, svc: Services, assignee: dict[str, Any]) -> tuple[Actor, int]:
    admin = make_user(conn, admin=True)
    return admin, publish(conn, svc, admin, expense_form(draft={"assignee": assignee}))


def test_record_owner_field_and_named_users(conn: sa.Connection, svc: Services) -> None:
    owner, manager, named, gone = (make_user(conn) for _ in range(4))
    deactivate(conn, gone.user_id)
    cases: list[tuple[dict[str, Any], dict[str, Any], int | None]] = [
        ({"record_owner": True}, {}, owner.user_id),
        ({"field": "manager"}, {"manager": manager.user_id}, manager.user_id),
        ({"field": "manager"}, {}, None),
        # an inactive user in the field is skipped for the next one
        ({"field": "reviewers"}, {"reviewers": [gone.user_id, named.user_id]}, named.user_id),
        ({"users": [named.user_id, owner.user_id]}, {}, named.user_id),
    ]
    for rule, data, expected in cases:
        _, form_id = _form(conn, svc, rule)
        rec = svc.create_record(conn, owner, form_id, {"title": "x", **data})
        assert _assignee(conn, rec["id"]) == expected, rule
        assert svc.workflow_state(conn, owner, rec["id"])["assignee_id"] == expected


def test_a_role_shares_the_stage(conn: sa.Connection, svc: Services) -> None:
    a, b = make_user(conn), make_user(conn)
    make_role(conn, "clerks", [a.user_id, b.user_id])
    _, form_id = _form(conn, svc, {"role": "clerks"})
    rec = svc.create_record(conn, a, form_id, {"title": "x"})
    assert _assignee(conn, rec["id"]) is None  # nobody in particular: every clerk's task


def test_department_heads(conn: sa.Connection, svc: Services) -> None:
    owner, boss, vp, other = (make_user(conn) for _ in range(4))
    company = make_department(conn, "公司", head=vp.user_id)
    sales = make_department(
        conn, "销售部", head=boss.user_id, parent=company, members=[owner.user_id]
    )
    team = make_department(conn, "华东组", parent=sales)  # no head of its own
    make_department(conn, "采购部", head=other.user_id)

    _, form_id = _form(conn, svc, {"department_head": True})
    rec = svc.create_record(conn, owner, form_id, {"title": "x"})
    assert _assignee(conn, rec["id"]) == boss.user_id  # the record owner's department

    _, form_id = _form(conn, svc, {"department_head": {"field": "dept"}})
    rec = svc.create_record(conn, owner, form_id, {"title": "x", "dept": team})
    assert _assignee(conn, rec["id"]) == boss.user_id  # up the tree to the nearest head
    deactivate(conn, boss.user_id)
    rec = svc.create_record(conn, owner, form_id, {"title": "x", "dept": team})
    assert _assignee(conn, rec["id"]) == vp.user_id  # an inactive head is skipped
    rec = svc.create_record(conn, owner, form_id, {"title": "x"})
    assert _assignee(conn, rec["id"]) is None


def test_round_robin_takes_turns_among_active_members(conn: sa.Connection, svc: Services) -> None:
    a, b, c, owner = (make_user(conn) for _ in range(4))
    make_role(conn, "desk", [c.user_id, a.user_id, b.user_id])
    _, form_id = _form(conn, svc, {"round_robin": {"role": "desk"}})
    got = [
        _assignee(conn, svc.create_record(conn, owner, form_id, {"title": str(i)})["id"])
        for i in range(6)
    ]
    assert got == [a.user_id, b.user_id, c.user_id] * 2
    created = svc.bulk_create(conn, owner, form_id, [{"data": {"title": "b"}}] * 3)
    assert [_assignee(conn, r["id"]) for r in created] == [a.user_id, b.user_id, c.user_id]


def test_round_robin_is_fair_under_concurrent_creates(fresh_engine: sa.Engine) -> None:
    svc = Services(clock=lambda: NOW)
    with fresh_engine.begin() as conn:
        members = [make_user(conn) for _ in range(3)]
        owner = make_user(conn)
        make_role(conn, "desk", [m.user_id for m in members])
        _, form_id = _form(conn, svc, {"round_robin": {"role": "desk"}})
    workers, each = 6, 4
    barrier = threading.Barrier(workers)
    errors: list[BaseException] = []

    def create() -> None:
        barrier.wait()
        try:
            for i in range(each):
                with fresh_engine.begin() as conn:
                    svc.create_record(conn, owner, form_id, {"title": f"并发{i}"})
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=create) for _ in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == []
    with fresh_engine.connect() as conn:
        counts = Counter(
            conn.execute(sa.select(records.c.assignee_id).where(records.c.form_id == form_id))
            .scalars()
            .all()
        )
    assert counts == {m.user_id: workers * each // 3 for m in members}


def test_reassign(conn: sa.Connection, svc: Services) -> None:
    owner, other, third = make_user(conn), make_user(conn), make_user(conn)
    admin, form_id = _form(conn, svc, {"record_owner": True})
    rec = svc.create_record(conn, owner, form_id, {"title": "x"})
    with pytest.raises(PermissionDeniedError) as denied:
        svc.reassign(conn, other, rec["id"], other.user_id)
    assert denied.value.localized("zh") == translate("not_assignee", "zh")
    with pytest.raises(RecordValidationError) as exc:
        svc.reassign(conn, owner, rec["id"], 999_999)
    assert [(e.field, e.code) for e in exc.value.errors] == [("user_id", "unknown_user")]
    with pytest.raises(ConflictError) as conflict:
        svc.reassign(conn, owner, rec["id"], owner.user_id)
    assert conflict.value.code == "same_assignee"

    moved = svc.reassign(conn, owner, rec["id"], other.user_id, "我出差，请代办")
    assert moved["assignee_id"] == other.user_id and moved["version"] == 2
    # now the new assignee may pass it on, and an admin always may
    assert svc.reassign(conn, other, rec["id"], third.user_id)["assignee_id"] == third.user_id
    with pytest.raises(PermissionDeniedError):
        svc.reassign(conn, owner, rec["id"], owner.user_id)
    assert svc.reassign(conn, admin, rec["id"], owner.user_id)["assignee_id"] == owner.user_id

    history = svc.record_history(conn, owner, rec["id"])
    assert [(h["action"], h["diff"], h["comment"]) for h in history[1:]] == [
        ("reassign", {"assignee": [owner.user_id, other.user_id]}, "我出差，请代办"),
        ("reassign", {"assignee": [other.user_id, third.user_id]}, None),
        ("reassign", {"assignee": [third.user_id, owner.user_id]}, None),
    ]
    events = conn.execute(
        sa.select(outbox.c.payload).where(outbox.c.topic == "record.reassigned")
    ).scalars()
    assert next((e["from"], e["to"]) for e in events if e["record_id"] == rec["id"]) == (
        owner.user_id,
        other.user_id,
    )


def test_role_members_may_hand_a_shared_stage_to_one_person(
    conn: sa.Connection, svc: Services
) -> None:
    a, b, outsider = make_user(conn), make_user(conn), make_user(conn)
    make_role(conn, "clerks", [a.user_id, b.user_id])
    _, form_id = _form(conn, svc, {"role": "clerks"})
    rec = svc.create_record(conn, outsider, form_id, {"title": "x"})
    clerk = replace(a, role_keys=frozenset({"clerks"}))
    with pytest.raises(PermissionDeniedError):
        svc.reassign(conn, outsider, rec["id"], b.user_id)
    assert svc.reassign(conn, clerk, rec["id"], b.user_id)["assignee_id"] == b.user_id
    # a record without a workflow has no stage to hand over
    admin = make_user(conn, admin=True)
    plain = expense_form()
    del plain["workflow"]
    plain["key"] = "plain"
    rec = svc.create_record(conn, admin, publish(conn, svc, admin, plain), {"title": "x"})
    with pytest.raises(ConflictError) as exc:
        svc.reassign(conn, admin, rec["id"], a.user_id)
    assert exc.value.code == "no_workflow"


def test_cc_copies_the_record_to_the_people_named(conn: sa.Connection, svc: Services) -> None:
    owner, manager, auditor, gone = (make_user(conn) for _ in range(4))
    make_role(conn, "auditors", [auditor.user_id, gone.user_id, manager.user_id])
    deactivate(conn, gone.user_id)
    admin = make_user(conn, admin=True)
    definition = expense_form(review={"cc": [{"role": "auditors"}, {"field": "manager"}]})
    form_id = publish(conn, svc, admin, definition)
    rec = svc.create_record(conn, owner, form_id, {"title": "x", "manager": manager.user_id})
    assert svc.my_tasks(conn, auditor, "cc")["items"] == []  # 填写 copies nobody
    svc.fire_transition(conn, owner, rec["id"], "submit")
    copies = conn.execute(
        sa.select(notifications.c.user_id, notifications.c.title)
        .where(notifications.c.record_id == rec["id"], notifications.c.kind == "cc")
        .order_by(notifications.c.user_id)
    ).all()
    title = translate("cc_title", "zh", form="报销", stage="审批")
    # each person once, active users only
    assert [tuple(c) for c in copies] == sorted(
        [(auditor.user_id, title), (manager.user_id, title)]
    )
    page = svc.my_tasks(conn, auditor, "cc")
    assert [(t["record_id"], t["stage"], t["title"]) for t in page["items"]] == [
        (rec["id"], "review", "x")
    ]
    assert svc.my_tasks(conn, owner, "cc")["items"] == []


def test_escalations_name_the_same_department_heads(conn: sa.Connection, svc: Services) -> None:
    from builder.workflow import Assignee
    from runtime.escalation import people
    from runtime.store import records as record_store
    from runtime.workflow import RecordState

    owner, boss, vp = (make_user(conn) for _ in range(3))
    company = make_department(conn, "公司", head=vp.user_id)
    sales = make_department(
        conn, "销售部", head=boss.user_id, parent=company, members=[owner.user_id]
    )
    team = make_department(conn, "华东组", parent=sales)  # no head of its own
    _, form_id = _form(conn, svc, {"department_head": {"field": "dept"}})
    rec = svc.create_record(conn, owner, form_id, {"title": "x", "dept": team})
    row = record_store.get_record(conn, rec["id"])
    state = RecordState(row.stage, row.data, row.owner_id, row.assignee_id, row.id)
    cf = svc.compiled_form(conn, form_id)
    assert cf.definition.workflow is not None
    stage = cf.definition.workflow.stages[0]
    owners_head = Assignee.model_validate({"department_head": True})
    field_head = Assignee.model_validate({"department_head": {"field": "dept"}})
    assert people(conn, cf, stage, owners_head, state) == [boss.user_id]
    # up the tree from 华东组
    assert people(conn, cf, stage, field_head, state) == [boss.user_id]
    deactivate(conn, boss.user_id)
    assert people(conn, cf, stage, field_head, state) == [vp.user_id]

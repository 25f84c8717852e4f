"""Firing transitions: every check, in order, enforced by the engine; on both databases."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import pytest
import sqlalchemy as sa

from runtime.actor import SYSTEM
from runtime.errors import PermissionDeniedError, RecordValidationError
from runtime.services import Services
from runtime.workflow import TransitionRefusedError
from tests.runtime.org import make_role
from tests.runtime.test_record_service import NOW, crm, grant, make_user


@pytest.fixture
def svc() -> Services:
    return Services(clock=lambda: NOW)


def _codes(exc: pytest.ExceptionInfo[RecordValidationError]) -> list[tuple[str, str]]:
    return [(e.field, e.code) for e in exc.value.errors]


def test_customer_follow_up_through_its_stages(conn: sa.Connection, svc: Services) -> None:
    actor = make_user(conn)
    manager = replace(make_user(conn), role_keys=frozenset({"sales_manager"}))
    ids = crm(conn, svc, actor)
    rec = svc.create_record(conn, actor, ids["customer"], {"name": "华为", "budget": 0})
    assert [t["key"] for t in svc.available_transitions(conn, actor, rec["id"])] == [
        "first_contact",
        "lose",
    ]

    # requires: phone must be filled — here it comes with the transition's data
    with pytest.raises(TransitionRefusedError) as exc:
        svc.fire_transition(conn, actor, rec["id"], "first_contact")
    assert _codes(exc) == [("phone", "required_for_transition")]
    moved = svc.fire_transition(
        conn, actor, rec["id"], "first_contact", data={"phone": "138 1234 5678"}
    )
    assert moved["stage"] == "contacted" and moved["data"]["phone"] == "13812345678"
    assert moved["version"] == 2

    # guard: budget > 0, judged on the data as it will be
    with pytest.raises(TransitionRefusedError) as exc:
        svc.fire_transition(conn, actor, rec["id"], "negotiate")
    assert _codes(exc) == [("transition", "guard_failed")]
    moved = svc.fire_transition(conn, actor, rec["id"], "negotiate", data={"budget": 10000})
    assert moved["stage"] == "negotiating"

    # roles: only a sales manager may close the deal
    with pytest.raises(PermissionDeniedError):
        svc.fire_transition(conn, actor, rec["id"], "win")
    assert "win" not in [t["key"] for t in svc.available_transitions(conn, actor, rec["id"])]
    assert "win" in [t["key"] for t in svc.available_transitions(conn, manager, rec["id"])]
    won = svc.fire_transition(conn, manager, rec["id"], "win")
    assert won["stage"] == "won"

    # wrong stage: nothing leaves a final stage here
    with pytest.raises(TransitionRefusedError) as exc:
        svc.fire_transition(conn, actor, rec["id"], "first_contact")
    assert _codes(exc) == [("transition", "wrong_stage")]

    log = svc.stage_log(conn, actor, rec["id"])
    assert [(e["from"], e["to"], e["transition"]) for e in log] == [
        (None, "new", None),
        ("new", "contacted", "first_contact"),
        ("contacted", "negotiating", "negotiate"),
        ("negotiating", "won", "win"),
    ]
    assert all(e["left_at"] is not None for e in log[:-1]) and log[-1]["left_at"] is None
    # 已首次沟通 has a 48-hour SLA from the moment it was entered
    assert log[1]["due_at"] == (NOW + dt.timedelta(hours=48)).isoformat().replace("+00:00", "Z")
    history = svc.record_history(conn, actor, rec["id"])
    assert [h["action"] for h in history] == ["create", "transition", "transition", "transition"]
    assert history[1]["diff"]["stage"] == ["new", "contacted"]
    assert history[1]["diff"]["phone"] == [None, "13812345678"]


def test_comment_required_and_every_reason_at_once(conn: sa.Connection, svc: Services) -> None:
    actor = make_user(conn)
    ids = crm(conn, svc, actor)
    rec = svc.create_record(conn, actor, ids["customer"], {"name": "腾讯"})
    with pytest.raises(TransitionRefusedError) as exc:
        svc.fire_transition(conn, actor, rec["id"], "lose", comment="  ")
    assert _codes(exc) == [("comment", "comment_required")]
    lost = svc.fire_transition(conn, actor, rec["id"], "lose", comment="预算取消")
    assert lost["stage"] == "lost"
    assert svc.stage_log(conn, actor, rec["id"])[-1]["comment"] == "预算取消"


def test_order_stage_assignee_and_allowed_people(conn: sa.Connection, svc: Services) -> None:
    actor = make_user(conn)
    seller = make_user(conn)
    stranger = make_user(conn)
    sales = replace(actor, role_keys=frozenset({"sales"}))
    ids = crm(conn, svc, actor)
    order = svc.create_record(
        conn, actor, ids["order"], {"order_no": "SO-1", "sales": seller.user_id, "amount": 0}
    )
    moved = svc.fire_transition(conn, sales, order["id"], "confirm")
    assert moved["stage"] == "contract"
    row = conn.execute(
        sa.text("SELECT assignee_id FROM records WHERE id = :id"), {"id": order["id"]}
    ).scalar_one()
    assert row == seller.user_id  # 合同签订 is owned by the order's sales person
    # sign: allowed to the assignee or the `sales` field's user; guard amount > 0; contract_no
    with pytest.raises(PermissionDeniedError):
        svc.fire_transition(conn, stranger, order["id"], "sign")
    with pytest.raises(TransitionRefusedError) as exc:
        svc.fire_transition(conn, seller, order["id"], "sign")
    assert _codes(exc) == [
        ("transition", "guard_failed"),
        ("contract_no", "required_for_transition"),
    ]
    # 审批 needs two of the sales managers
    make_role(conn, "sales_manager", [stranger.user_id, actor.user_id])
    signed = svc.fire_transition(
        conn, seller, order["id"], "sign", data={"amount": 5000, "contract_no": "HT-2026-001"}
    )
    assert signed["stage"] == "review"


def test_unknown_transition_and_invalid_transition_data(conn: sa.Connection, svc: Services) -> None:
    actor = make_user(conn)
    ids = crm(conn, svc, actor)
    rec = svc.create_record(conn, actor, ids["customer"], {"name": "A"})
    with pytest.raises(TransitionRefusedError) as exc:
        svc.fire_transition(conn, actor, rec["id"], "teleport")
    assert _codes(exc) == [("transition", "unknown_transition_key")]
    with pytest.raises(RecordValidationError) as bad:
        svc.fire_transition(conn, actor, rec["id"], "first_contact", data={"phone": "12"})
    assert _codes(bad)[0] == ("phone", "invalid_phone")
    assert svc.get_record(conn, actor, rec["id"])["stage"] == "new"


def test_a_form_without_a_workflow_has_no_transitions(conn: sa.Connection, svc: Services) -> None:
    actor = make_user(conn)
    ids = crm(conn, svc, actor)
    rec = svc.create_record(conn, actor, ids["followup"], {"content": "电话沟通"})
    assert rec["stage"] is None
    assert svc.available_transitions(conn, actor, rec["id"]) == []
    with pytest.raises(TransitionRefusedError) as exc:
        svc.fire_transition(conn, actor, rec["id"], "anything")
    assert _codes(exc) == [("transition", "no_workflow")]


def test_a_transition_that_clears_a_unique_value_frees_it(
    conn: sa.Connection, svc: Services
) -> None:
    actor = make_user(conn)
    app = svc.create_app(conn, SYSTEM, key="tickets", name="工单")
    form = svc.create_form(
        conn,
        SYSTEM,
        app.id,
        {
            "key": "ticket",
            "name": "工单",
            "fields": [
                {"key": "title", "type": "text", "label": "标题", "required": True},
                {"key": "slot", "type": "text", "label": "工位", "unique": True},
            ],
            "workflow": {
                "stages": [
                    {"key": "open", "name": "处理中", "initial": True},
                    {"key": "done", "name": "完成", "kind": "done"},
                ],
                "transitions": [{"key": "finish", "label": "完成", "from": ["open"], "to": "done"}],
            },
        },
    )
    svc.publish_form(conn, SYSTEM, form.id)
    grant(conn, svc, form.id)
    first = svc.create_record(conn, actor, form.id, {"title": "A", "slot": "S1"})
    with pytest.raises(RecordValidationError):
        svc.create_record(conn, actor, form.id, {"title": "B", "slot": "S1"})
    svc.fire_transition(conn, actor, first["id"], "finish", data={"slot": None})
    second = svc.create_record(conn, actor, form.id, {"title": "B", "slot": "S1"})
    assert second["data"]["slot"] == "S1"

"""Approval stages: every policy, reject/return, withdraw, add an approver, approver rules,
and two approvers voting at the same moment — on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from dataclasses import replace
from typing import Any

import pytest
import sqlalchemy as sa

from builder.i18n import translate
from runtime.actor import Actor
from runtime.errors import ConflictError, PermissionDeniedError, RecordValidationError
from runtime.services import Services
from runtime.store.tables import approvals, outbox, records, stage_log
from runtime.workflow import TransitionRefusedError
from tests.runtime.org import deactivate, make_department, make_role
from tests.runtime.test_record_service import NOW, make_user
from tests.runtime.workflow_forms import expense_form, publish


@pytest.fixture
def svc() -> Services:
    return Services(clock=lambda: NOW)


def _submitted(
    conn: sa.Connection, svc: Services, approval: dict[str, Any], data: dict[str, Any] | None = None
) -> tuple[Actor, dict[str, Any]]:
    """A published expense form with ``approval``; a record submitted into 审批 by its owner."""
    admin = make_user(conn, admin=True)
    owner = make_user(conn)
    form_id = publish(conn, svc, admin, expense_form(approval))
    rec = svc.create_record(conn, owner, form_id, {"title": "差旅", "amount": 800, **(data or {})})
    assert svc.fire_transition(conn, owner, rec["id"], "submit")["stage"] == "review"
    return owner, rec


def _log(svc: Services, conn: sa.Connection, admin: Actor, rid: int) -> list[tuple[Any, ...]]:
    return [(e["from"], e["to"], e["transition"]) for e in svc.stage_log(conn, admin, rid)]


def test_any_first_approval_decides(conn: sa.Connection, svc: Services) -> None:
    a, b = make_user(conn), make_user(conn)
    owner, rec = _submitted(
        conn, svc, {"policy": "any", "approvers": {"users": [a.user_id, b.user_id]}}
    )
    state = svc.workflow_state(conn, a, rec["id"])["approval"]
    assert state["policy"] == "any" and state["required"] == 1 and state["can_vote"]
    assert [p["user_id"] for p in state["approvers"]] == [a.user_id, b.user_id]
    assert svc.workflow_state(conn, owner, rec["id"])["approval"]["can_vote"] is False
    moved = svc.vote(conn, a, rec["id"], "approve", "同意")
    assert moved["stage"] == "paid" and moved["approval"] is None
    with pytest.raises(ConflictError) as exc:
        svc.vote(conn, b, rec["id"], "approve")
    assert exc.value.code == "not_in_approval"
    assert _log(svc, conn, owner, rec["id"])[-1] == ("review", "paid", "@approve")
    assert svc.stage_log(conn, owner, rec["id"])[-1]["comment"] == "同意"


def test_any_first_rejection_decides_and_returns(conn: sa.Connection, svc: Services) -> None:
    a, b = make_user(conn), make_user(conn)
    owner, rec = _submitted(
        conn,
        svc,
        {"policy": "any", "approvers": {"users": [a.user_id, b.user_id]}, "reject_to": "draft"},
    )
    with pytest.raises(RecordValidationError) as exc:
        svc.vote(conn, a, rec["id"], "reject", "  ")
    assert [(e.field, e.code) for e in exc.value.errors] == [("comment", "reject_needs_comment")]
    with pytest.raises(RecordValidationError) as exc:
        svc.vote(conn, a, rec["id"], "maybe")
    assert exc.value.errors[0].code == "invalid_decision"
    back = svc.vote(conn, a, rec["id"], "reject", "金额不对")
    assert back["stage"] == "draft"
    assert _log(svc, conn, owner, rec["id"])[-1] == ("review", "draft", "@reject")


def test_all_needs_everyone_from_a_role(conn: sa.Connection, svc: Services) -> None:
    a, b, stranger = make_user(conn), make_user(conn), make_user(conn)
    make_role(conn, "finance", [a.user_id, b.user_id])
    owner, rec = _submitted(conn, svc, {"policy": "all", "approvers": {"role": "finance"}})
    with pytest.raises(PermissionDeniedError) as denied:
        svc.vote(conn, stranger, rec["id"], "approve")
    assert denied.value.localized("zh") == translate("not_an_approver", "zh")
    half = svc.vote(conn, a, rec["id"], "approve", "可以")
    assert half["stage"] == "review"
    assert half["approval"]["outcome"] == "pending" and half["approval"]["required"] == 2
    assert [p["decision"] for p in half["approval"]["approvers"]] == ["approved", None]
    with pytest.raises(ConflictError) as exc:
        svc.vote(conn, a, rec["id"], "approve")
    assert exc.value.code == "already_decided"
    assert svc.vote(conn, b, rec["id"], "approve")["stage"] == "paid"
    assert [t for *_, t in _log(svc, conn, owner, rec["id"])].count("@approve") == 1


def test_all_one_rejection_rejects(conn: sa.Connection, svc: Services) -> None:
    a, b = make_user(conn), make_user(conn)
    _owner, rec = _submitted(
        conn, svc, {"policy": "all", "approvers": {"users": [a.user_id, b.user_id]}}
    )
    # no reject_to: back where it came from
    assert svc.vote(conn, b, rec["id"], "reject", "不批")["stage"] == "draft"


def test_n_of_m_passes_at_n_and_fails_when_out_of_reach(conn: sa.Connection, svc: Services) -> None:
    a, b, c = make_user(conn), make_user(conn), make_user(conn)
    approval = {
        "policy": "n_of_m",
        "n": 2,
        "approvers": {"users": [a.user_id, b.user_id, c.user_id]},
        "reject_to": "draft",
    }
    owner, rec = _submitted(conn, svc, approval)
    assert svc.vote(conn, a, rec["id"], "reject", "不行")["stage"] == "review"  # 2 of 2 left
    assert svc.vote(conn, b, rec["id"], "reject", "不行")["stage"] == "draft"  # 1 left < 2

    # re-entering the stage starts a new round with everyone pending again
    svc.fire_transition(conn, owner, rec["id"], "submit")
    state = svc.workflow_state(conn, a, rec["id"])["approval"]
    assert state["round"] == 2 and all(p["decision"] is None for p in state["approvers"])
    assert svc.vote(conn, a, rec["id"], "approve")["stage"] == "review"
    assert svc.vote(conn, c, rec["id"], "approve")["stage"] == "paid"
    rounds = conn.execute(
        sa.select(approvals.c.round, sa.func.count())
        .where(approvals.c.record_id == rec["id"])
        .group_by(approvals.c.round)
        .order_by(approvals.c.round)
    ).all()
    assert [tuple(r) for r in rounds] == [(1, 3), (2, 3)]


def test_withdraw_by_the_submitter_before_anyone_acts(conn: sa.Connection, svc: Services) -> None:
    a, b = make_user(conn), make_user(conn)
    owner, rec = _submitted(
        conn, svc, {"policy": "all", "approvers": {"users": [a.user_id, b.user_id]}}
    )
    assert svc.workflow_state(conn, owner, rec["id"])["approval"]["can_withdraw"] is True
    with pytest.raises(PermissionDeniedError):
        svc.withdraw(conn, a, rec["id"])
    back = svc.withdraw(conn, owner, rec["id"], "改一下金额")
    assert back["stage"] == "draft"
    assert _log(svc, conn, owner, rec["id"])[-1] == ("review", "draft", "@withdraw")
    with pytest.raises(ConflictError) as exc:
        svc.withdraw(conn, owner, rec["id"])
    assert exc.value.code == "not_in_approval"

    svc.fire_transition(conn, owner, rec["id"], "submit")
    svc.vote(conn, a, rec["id"], "approve")
    assert svc.workflow_state(conn, owner, rec["id"])["approval"]["can_withdraw"] is False
    with pytest.raises(ConflictError) as exc:
        svc.withdraw(conn, owner, rec["id"])
    assert exc.value.code == "withdraw_not_allowed"


def test_nowhere_to_withdraw_when_created_in_the_approval(
    conn: sa.Connection, svc: Services
) -> None:
    admin, a = make_user(conn, admin=True), make_user(conn)
    definition = expense_form()
    stages = definition["workflow"]["stages"]
    stages[0]["approval"] = {"approvers": {"users": [a.user_id]}, "approve_to": "review"}
    form_id = publish(conn, svc, admin, definition)
    rec = svc.create_record(conn, admin, form_id, {"title": "直接审批"})
    assert svc.workflow_state(conn, a, rec["id"])["approval"]["can_vote"] is True
    with pytest.raises(ConflictError) as exc:
        svc.withdraw(conn, admin, rec["id"])
    assert exc.value.code == "nowhere_to_withdraw"
    # no reject_to and no stage before: a rejection starts the stage over, in a new round
    again = svc.vote(conn, a, rec["id"], "reject", "重填")
    assert again["stage"] == "draft" and again["approval"]["round"] == 2


def test_add_approver(conn: sa.Connection, svc: Services) -> None:
    a, b, c = make_user(conn), make_user(conn), make_user(conn)
    admin = make_user(conn, admin=True)
    owner, rec = _submitted(conn, svc, {"policy": "all", "approvers": {"users": [a.user_id]}})
    with pytest.raises(PermissionDeniedError):
        svc.add_approver(conn, owner, rec["id"], b.user_id)
    with pytest.raises(RecordValidationError) as exc:
        svc.add_approver(conn, a, rec["id"], 999_999)
    assert [(e.field, e.code) for e in exc.value.errors] == [("user_id", "unknown_user")]
    added = svc.add_approver(conn, a, rec["id"], b.user_id, "请法务也看看")
    assert [(p["user_id"], p["added_by"]) for p in added["approval"]["approvers"]] == [
        (a.user_id, None),
        (b.user_id, a.user_id),
    ]
    with pytest.raises(ConflictError) as exc:
        svc.add_approver(conn, admin, rec["id"], b.user_id)
    assert exc.value.code == "already_approver"
    svc.add_approver(conn, admin, rec["id"], c.user_id)
    assert svc.vote(conn, a, rec["id"], "approve")["stage"] == "review"  # 会签: b and c too
    assert svc.vote(conn, b, rec["id"], "approve")["stage"] == "review"
    assert svc.vote(conn, c, rec["id"], "approve")["stage"] == "paid"
    topics = conn.execute(
        sa.select(outbox.c.topic).where(outbox.c.topic == "record.approver_added")
    ).all()
    assert len(topics) == 2


def test_the_deciding_vote_needs_the_way_outs_comment_and_hides_hidden_fields(
    conn: sa.Connection, svc: Services
) -> None:
    a = make_user(conn)
    definition = expense_form(
        {"policy": "any", "approvers": {"users": [a.user_id]}},
        review={"hidden": ["comment", "manager"]},
    )
    # A field named like the request's comment, hidden from the approver, must not turn the
    # missing comment into "a hidden field is invalid"; the hidden required field is not named.
    definition["fields"].append({"key": "comment", "type": "text", "label": "备注"})
    definition["workflow"]["transitions"][1].update(requires=["manager"], requires_comment=True)
    admin, owner = make_user(conn, admin=True), make_user(conn)
    form_id = publish(conn, svc, admin, definition)
    rec = svc.create_record(conn, owner, form_id, {"title": "差旅", "amount": 1})
    svc.fire_transition(conn, owner, rec["id"], "submit")
    with pytest.raises(TransitionRefusedError) as exc:
        svc.vote(conn, a, rec["id"], "approve")
    assert sorted((e.field, e.code) for e in exc.value.errors) == [
        ("comment", "comment_required"),
        ("data", "hidden_field_invalid"),
    ]
    assert all("经理" not in e.message for e in exc.value.errors)
    # Filled before the record reached the stage where it is hidden: only the comment lacks.
    rec = svc.create_record(
        conn, owner, form_id, {"title": "差旅", "amount": 1, "manager": admin.user_id}
    )
    svc.fire_transition(conn, owner, rec["id"], "submit")
    with pytest.raises(TransitionRefusedError) as exc:
        svc.vote(conn, a, rec["id"], "approve")
    assert [e.code for e in exc.value.errors] == ["comment_required"]
    assert svc.vote(conn, a, rec["id"], "approve", "同意")["stage"] == "paid"


def test_a_pending_vote_is_handed_on_by_its_approver(conn: sa.Connection, svc: Services) -> None:
    a, b, c, other = make_user(conn), make_user(conn), make_user(conn), make_user(conn)
    _, rec = _submitted(
        conn, svc, {"policy": "all", "approvers": {"users": [a.user_id, b.user_id]}}
    )
    with pytest.raises(PermissionDeniedError):
        svc.transfer_vote(conn, other, rec["id"], c.user_id)  # not an approver
    with pytest.raises(PermissionDeniedError):
        svc.transfer_vote(conn, other, rec["id"], c.user_id, from_user_id=a.user_id)
    with pytest.raises(ConflictError) as exc:
        svc.transfer_vote(conn, a, rec["id"], b.user_id)
    assert exc.value.code == "already_approver"
    with pytest.raises(RecordValidationError) as exc_user:
        svc.transfer_vote(conn, a, rec["id"], 999_999)
    assert [e.code for e in exc_user.value.errors] == ["unknown_user"]
    moved = svc.transfer_vote(conn, a, rec["id"], c.user_id, comment="我出差，请 C 审批")
    assert [p["user_id"] for p in moved["approval"]["approvers"]] == [c.user_id, b.user_id]
    with pytest.raises(PermissionDeniedError):
        svc.vote(conn, a, rec["id"], "approve")  # no longer in the round
    assert svc.vote(conn, b, rec["id"], "approve")["stage"] == "review"
    with pytest.raises(ConflictError) as exc:
        svc.transfer_vote(conn, b, rec["id"], other.user_id)  # b has decided
    assert exc.value.code == "not_pending_approver"
    assert svc.vote(conn, c, rec["id"], "approve")["stage"] == "paid"
    payloads = conn.execute(
        sa.select(outbox.c.payload).where(outbox.c.topic == "record.approval_transferred")
    ).scalars()
    assert [(p["from_user_id"], p["to_user_id"]) for p in payloads] == [(a.user_id, c.user_id)]


def test_an_admin_hands_on_the_vote_of_an_approver_who_left(
    conn: sa.Connection, svc: Services
) -> None:
    a, b, c = make_user(conn), make_user(conn), make_user(conn)
    admin = make_user(conn, admin=True)
    _, rec = _submitted(
        conn, svc, {"policy": "all", "approvers": {"users": [a.user_id, b.user_id]}}
    )
    assert svc.vote(conn, a, rec["id"], "approve")["stage"] == "review"
    deactivate(conn, b.user_id)  # the 会签 round now waits for someone who cannot sign in
    with pytest.raises(ConflictError) as exc:
        svc.transfer_vote(conn, admin, rec["id"], c.user_id, from_user_id=a.user_id)
    assert exc.value.code == "not_pending_approver"  # a has decided already
    svc.transfer_vote(conn, admin, rec["id"], c.user_id, from_user_id=b.user_id)
    assert svc.vote(conn, c, rec["id"], "approve")["stage"] == "paid"


def test_approvers_from_several_rules(conn: sa.Connection, svc: Services) -> None:
    manager, head, gone, reviewer = (make_user(conn) for _ in range(4))
    dept = make_department(conn, "财务部", head=head.user_id)
    deactivate(conn, gone.user_id)
    approval = {
        "policy": "all",
        "approvers": [
            {"field": "manager"},
            {"department_head": {"field": "dept"}},
            {"field": "reviewers"},
        ],
    }
    owner, rec = _submitted(
        conn,
        svc,
        approval,
        {
            "manager": manager.user_id,
            "dept": dept,
            "reviewers": [head.user_id, gone.user_id, reviewer.user_id],
        },
    )
    state = svc.workflow_state(conn, owner, rec["id"])["approval"]
    # each person once, inactive users left out, in rule order
    assert [p["user_id"] for p in state["approvers"]] == [
        manager.user_id,
        head.user_id,
        reviewer.user_id,
    ]


def test_record_owner_approves(conn: sa.Connection, svc: Services) -> None:
    owner, rec = _submitted(conn, svc, {"approvers": {"record_owner": True}})
    assert svc.vote(conn, owner, rec["id"], "approve")["stage"] == "paid"


def test_nobody_to_approve_refuses_the_move(conn: sa.Connection, svc: Services) -> None:
    admin, owner, a = make_user(conn, admin=True), make_user(conn), make_user(conn)
    make_role(conn, "auditors")
    make_role(conn, "pair", [a.user_id, owner.user_id])
    for approval, code in (
        ({"approvers": {"role": "auditors"}}, "no_approvers"),
        ({"policy": "n_of_m", "n": 3, "approvers": {"role": "pair"}}, "not_enough_approvers"),
    ):
        definition = expense_form(approval)
        definition["key"] = f"expense_{code}"
        form_id = publish(conn, svc, admin, definition)
        rec = svc.create_record(conn, owner, form_id, {"title": "x"})
        with pytest.raises(TransitionRefusedError) as exc:
            svc.fire_transition(conn, owner, rec["id"], "submit")
        assert [(e.field, e.code) for e in exc.value.errors] == [("stage", code)]


def test_the_approval_exit_is_not_fired_by_hand(conn: sa.Connection, svc: Services) -> None:
    a = make_user(conn)
    owner, rec = _submitted(conn, svc, {"approvers": {"users": [a.user_id]}})
    admin = replace(owner, is_admin=True)
    keys = [t["key"] for t in svc.available_transitions(conn, admin, rec["id"])]
    assert keys == ["cancel"]
    with pytest.raises(TransitionRefusedError) as exc:
        svc.fire_transition(conn, admin, rec["id"], "pay")
    assert [(e.field, e.code) for e in exc.value.errors] == [("transition", "approval_decides")]
    # leaving another way ends the round: the approver has nothing left to vote on
    svc.fire_transition(conn, owner, rec["id"], "cancel")
    with pytest.raises(ConflictError):
        svc.vote(conn, a, rec["id"], "approve")


@pytest.mark.parametrize("approve_to", [None, "paid"])
def test_the_deciding_vote_meets_the_way_outs_guard_and_required_fields(
    conn: sa.Connection, svc: Services, approve_to: str | None
) -> None:
    a = make_user(conn)
    approval: dict[str, Any] = {"policy": "any", "approvers": {"users": [a.user_id]}}
    if approve_to:
        approval["approve_to"] = approve_to
    definition = expense_form(approval)
    pay = definition["workflow"]["transitions"][1]
    pay.update(requires=["manager"], when="amount < 1000")
    admin = make_user(conn, admin=True)
    owner = make_user(conn)
    form_id = publish(conn, svc, admin, definition)
    rec = svc.create_record(conn, owner, form_id, {"title": "差旅", "amount": 800})
    svc.fire_transition(conn, owner, rec["id"], "submit")
    with pytest.raises(TransitionRefusedError) as exc:
        svc.vote(conn, a, rec["id"], "approve")
    assert [(e.field, e.code) for e in exc.value.errors] == [("manager", "required_for_transition")]
    # Refused, and not counted: the round still waits for the vote.
    approval_state = svc.workflow_state(conn, a, rec["id"])["approval"]
    assert approval_state["stage"] == "review" and approval_state["can_vote"] is True
    rec = svc.get_record(conn, owner, rec["id"])
    rec = svc.update_record(
        conn, owner, rec["id"], rec["version"], {"manager": admin.user_id, "amount": 5000}
    )
    with pytest.raises(TransitionRefusedError) as exc:
        svc.vote(conn, a, rec["id"], "approve")
    assert [e.code for e in exc.value.errors] == ["guard_failed"]
    rec = svc.update_record(conn, owner, rec["id"], rec["version"], {"amount": 900})
    assert svc.vote(conn, a, rec["id"], "approve")["stage"] == "paid"


def _race(engine: sa.Engine, svc: Services, calls: list[tuple[Actor, int]]) -> list[Any]:
    """Every ``(approver, record)`` votes approve in its own connection, all released at once."""
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def run(i: int, actor: Actor, record_id: int) -> None:
        barrier.wait()
        try:
            with engine.begin() as conn:
                results[i] = svc.vote(conn, actor, record_id, "approve")["stage"]
        except Exception as exc:
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i, *c)) for i, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results


@pytest.mark.parametrize("policy", ["all", "any"])
def test_two_approvers_at_the_same_moment_move_the_stage_once(
    fresh_engine: sa.Engine, policy: str
) -> None:
    svc = Services(clock=lambda: NOW)
    with fresh_engine.begin() as conn:
        admin, owner, a, b = (
            make_user(conn, admin=True),
            make_user(conn),
            make_user(conn),
            make_user(conn),
        )
        approval = {"policy": policy, "approvers": {"users": [a.user_id, b.user_id]}}
        form_id = publish(conn, svc, admin, expense_form(approval))
        records = []
        for _ in range(5):
            rec = svc.create_record(conn, owner, form_id, {"title": "并发"})
            svc.fire_transition(conn, owner, rec["id"], "submit")
            records.append(rec)
    for rec in records:
        results = _race(fresh_engine, svc, [(a, rec["id"]), (b, rec["id"])])
        if policy == "all":
            assert sorted(results) == ["paid", "review"], results
        else:
            assert results.count("paid") == 1, results
            (other,) = [r for r in results if r != "paid"]
            assert isinstance(other, ConflictError) and other.code == "not_in_approval"
        with fresh_engine.connect() as conn:
            moves = conn.execute(
                sa.select(sa.func.count()).where(
                    stage_log.c.record_id == rec["id"], stage_log.c.to_stage == "paid"
                )
            ).scalar_one()
            decided = conn.execute(
                sa.select(sa.func.count()).where(
                    approvals.c.record_id == rec["id"], approvals.c.decision == "approved"
                )
            ).scalar_one()
        assert moves == 1
        assert decided == (2 if policy == "all" else 1)


def test_bulk_create_enters_an_initial_approval_stage_record_by_record(
    conn: sa.Connection, svc: Services
) -> None:
    """A batch written set-based still gives every record, in row order, its stage owner and
    its approval round; the owner's and the approver's round-robin turns alternate per record
    (as one create after the other would take them)."""
    admin = make_user(conn, admin=True)
    desk = [make_user(conn).user_id for _ in range(3)]
    make_role(conn, "desk", desk)
    definition = expense_form(draft={"assignee": {"round_robin": {"role": "desk"}}})
    definition["workflow"]["stages"][0]["approval"] = {
        "approvers": {"round_robin": {"role": "desk"}},
        "approve_to": "review",
    }
    form_id = publish(conn, svc, admin, definition)
    created = svc.bulk_create(
        conn, admin, form_id, [{"data": {"title": f"批{i}"}} for i in range(3)]
    )
    ids = [r["id"] for r in created]
    assert {r["stage"] for r in created} == {"draft"}
    owners: dict[int, int] = dict(
        conn.execute(
            sa.select(records.c.id, records.c.assignee_id).where(records.c.id.in_(ids))
        ).all()
    )
    voters: dict[int, int] = dict(
        conn.execute(
            sa.select(approvals.c.record_id, approvals.c.approver_id).where(
                approvals.c.record_id.in_(ids), approvals.c.round == 1
            )
        ).all()
    )
    # turns 1…6 go owner, approver, owner, approver … over desk[0], desk[1], desk[2]
    assert [owners[i] for i in ids] == [desk[0], desk[2], desk[1]]
    assert [voters[i] for i in ids] == [desk[1], desk[0], desk[2]]
    stays = conn.execute(
        sa.select(stage_log.c.record_id, stage_log.c.id).where(
            stage_log.c.record_id.in_(ids), stage_log.c.left_at.is_(None)
        )
    ).all()
    assert sorted(r for r, _ in stays) == sorted(ids)  # one open stay each, in the draft stage
    for rid, voter in voters.items():
        state = svc.workflow_state(conn, admin, rid)
        assert state["approval"]["round"] == 1
        assert [p["user_id"] for p in state["approval"]["approvers"]] == [voter]


def test_a_batch_with_a_record_nobody_could_approve_writes_nothing(
    conn: sa.Connection, svc: Services
) -> None:
    admin, manager = make_user(conn, admin=True), make_user(conn)
    desk = [make_user(conn).user_id for _ in range(2)]
    make_role(conn, "desk", desk)
    definition = expense_form(draft={"assignee": {"round_robin": {"role": "desk"}}})
    definition["workflow"]["stages"][0]["approval"] = {
        "approvers": {"field": "manager"},
        "approve_to": "review",
    }
    form_id = publish(conn, svc, admin, definition)
    rows = [{"data": {"title": "有经理", "manager": manager.user_id}}, {"data": {"title": "无"}}]
    with pytest.raises(TransitionRefusedError) as exc:
        svc.bulk_create(conn, admin, form_id, rows)
    assert [e.code for e in exc.value.errors] == ["no_approvers"]
    count = sa.select(sa.func.count()).select_from(records).where(records.c.form_id == form_id)
    assert conn.execute(count).scalar_one() == 0
    assert conn.execute(sa.select(sa.func.count()).select_from(approvals)).scalar_one() == 0
    # the refused batch took no round-robin turn
    rec = svc.create_record(conn, admin, form_id, rows[0]["data"])
    owner = sa.select(records.c.assignee_id).where(records.c.id == rec["id"])
    assert conn.execute(owner).scalar_one() == desk[0]

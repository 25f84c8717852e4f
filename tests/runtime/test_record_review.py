"""Record-engine answers a review found wrong (session 15), each test failing before its fix:
a serial field's ``start``, an edit blocked by a related record in the recycle bin, a cleared
value coming back after a form change, a removed field's values in lists, a sub-form sent back
as read refused in a stage that does not let it change, a blank on create stored as a key."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import sqlalchemy as sa

from runtime.actor import SYSTEM
from runtime.pipeline import prepare_create, prepare_update
from runtime.services import Services
from runtime.store.tables import records
from tests.runtime.test_pipeline import CTX, DictStore, _compiled
from tests.runtime.test_record_service import NOW, grant, make_user

NAME = {"key": "name", "type": "text", "label": "名"}
EMAIL = {"key": "email", "type": "email", "label": "邮箱"}
MEMO = {"key": "memo", "type": "text", "label": "备注"}


@pytest.fixture
def svc() -> Services:
    return Services(clock=lambda: NOW)


def _form(conn: Any, svc: Services, fields: list[dict[str, Any]]) -> int:
    app = svc.create_app(conn, SYSTEM, key=f"a_{uuid.uuid4().hex[:8]}", name="应用")
    fid = svc.create_form(conn, SYSTEM, app.id, {"key": "f", "name": "表", "fields": fields}).id
    svc.publish_form(conn, SYSTEM, fid)
    grant(conn, svc, fid)
    return fid


def _republish(conn: Any, svc: Services, fid: int, fields: list[dict[str, Any]]) -> None:
    svc.save_draft(conn, SYSTEM, fid, {"key": "f", "name": "表", "fields": fields})
    svc.publish_form(conn, SYSTEM, fid)


def test_a_serial_counts_from_its_start(conn: Any, svc: Services) -> None:
    actor = make_user(conn)
    serial = {"key": "no", "type": "serial", "label": "号", "pattern": "S{SEQ:4}", "start": 1000}
    fid = _form(conn, svc, [NAME, serial])
    numbers = [svc.create_record(conn, actor, fid, {"name": n})["data"]["no"] for n in "ab"]
    assert numbers == ["S1000", "S1001"]


def test_a_related_record_in_the_recycle_bin_does_not_block_editing_other_fields(
    conn: Any, svc: Services
) -> None:
    actor = make_user(conn)
    app = svc.create_app(conn, SYSTEM, key=f"a_{uuid.uuid4().hex[:8]}", name="应用")
    order_def = {
        "key": "order",
        "name": "订单",
        "fields": [
            {"key": "customer", "type": "relation", "label": "客户", "target": "customer"},
            MEMO,
        ],
    }
    ids = {}
    for d in ({"key": "customer", "name": "客户", "fields": [NAME]}, order_def):
        ids[d["key"]] = svc.create_form(conn, SYSTEM, app.id, d).id
        svc.publish_form(conn, SYSTEM, ids[d["key"]])
        grant(conn, svc, ids[d["key"]])
    c = svc.create_record(conn, actor, ids["customer"], {"name": "华为"})
    o = svc.create_record(conn, actor, ids["order"], {"customer": c["id"]})
    svc.delete_record(conn, actor, c["id"], 1)
    assert svc.update_record(conn, actor, o["id"], 1, {"memo": "只改备注"})["data"]["memo"] == (
        "只改备注"
    )


def test_a_value_cleared_after_its_field_came_back_stays_cleared(conn: Any, svc: Services) -> None:
    actor = make_user(conn)
    fid = _form(conn, svc, [NAME, EMAIL])
    rec = svc.create_record(conn, actor, fid, {"name": "a", "email": "a@b.cn"})
    _republish(conn, svc, fid, [NAME])  # email removed: an edit moves its value to hidden
    rec = svc.update_record(conn, actor, rec["id"], 1, {"name": "b"})
    _republish(conn, svc, fid, [NAME, EMAIL])  # back: the value with it
    assert svc.get_record(conn, actor, rec["id"])["data"]["email"] == "a@b.cn"
    rec = svc.update_record(conn, actor, rec["id"], 2, {"email": None})  # cleared
    hidden = conn.execute(sa.select(records.c.hidden).where(records.c.id == rec["id"])).scalar()
    assert not hidden or "email" not in hidden
    _republish(conn, svc, fid, [NAME, EMAIL, MEMO])
    assert "email" not in svc.get_record(conn, actor, rec["id"])["data"]


def test_a_list_never_shows_a_removed_fields_value(conn: Any, svc: Services) -> None:
    actor = make_user(conn)
    fid = _form(conn, svc, [NAME, EMAIL])
    rec = svc.create_record(conn, actor, fid, {"name": "a", "email": "a@b.cn"})
    _republish(conn, svc, fid, [NAME])
    assert svc.get_record(conn, actor, rec["id"])["data"] == {"name": "a"}
    assert svc.query(conn, actor, fid, {})["items"][0]["data"] == {"name": "a"}


def test_a_sub_form_sent_back_as_read_is_unchanged_in_a_stage_that_locks_it() -> None:
    cf = _compiled(
        {
            "key": "f",
            "name": "表",
            "fields": [
                MEMO,
                {
                    "key": "items",
                    "type": "subform",
                    "label": "明细",
                    "fields": [
                        {"key": "price", "type": "number", "label": "价"},
                        {"key": "qty", "type": "number", "label": "量"},
                        {"key": "amount", "type": "formula", "label": "额", "expr": "price * qty"},
                    ],
                },
            ],
        }
    )
    created = prepare_create(cf, {"items": [{"price": 2, "qty": 3}]}, CTX, DictStore())
    assert created.data["items"][0]["amount"] == 6
    patch = {"memo": "x", "items": created.data["items"]}  # as a client read it
    updated = prepare_update(
        cf, created.data, patch, CTX, DictStore(), record_id=1, editable={"memo"}
    )
    assert updated.data["items"] == created.data["items"]


def test_a_blank_on_create_is_no_key() -> None:
    cf = _compiled({"key": "f", "name": "表", "fields": [NAME, MEMO]})
    created = prepare_create(cf, {"name": "a", "memo": None}, CTX, DictStore())
    assert created.data == {"name": "a"} and "memo" not in created.changes


def test_a_row_formula_reading_a_record_formula_sees_its_new_value() -> None:
    cf = _compiled(
        {
            "key": "f",
            "name": "表",
            "fields": [
                {"key": "vip", "type": "checkbox", "label": "VIP"},
                {"key": "rate", "type": "formula", "label": "折扣", "expr": "IF(vip, 0.5, 1)"},
                {
                    "key": "items",
                    "type": "subform",
                    "label": "明细",
                    "fields": [
                        {"key": "price", "type": "number", "label": "价"},
                        {"key": "net", "type": "formula", "label": "净", "expr": "price * rate"},
                    ],
                },
                {"key": "total", "type": "formula", "label": "合计", "expr": "SUM(items.net)"},
            ],
        }
    )
    created = prepare_create(cf, {"vip": True, "items": [{"price": 100}]}, CTX, DictStore())
    assert (created.data["rate"], created.data["items"][0]["net"]) == (0.5, 50)
    assert created.data["total"] == 50
    plain = prepare_create(cf, {"vip": False, "items": [{"price": 100}]}, CTX, DictStore())
    assert plain.data["total"] == 100
    updated = prepare_update(cf, plain.data, {"vip": True}, CTX, DictStore(), record_id=1)
    assert (updated.data["items"][0]["net"], updated.data["total"]) == (50, 50)


def test_a_default_reading_another_defaulted_field_sees_its_default() -> None:
    cf = _compiled(
        {
            "key": "f",
            "name": "表",
            "fields": [
                {"key": "a", "type": "text", "label": "a", "default": {"expr": "UPPER(b)"}},
                {"key": "b", "type": "text", "label": "b", "default": "hello"},
            ],
        }
    )
    created = prepare_create(cf, {}, CTX, DictStore())
    assert (created.data["a"], created.data["b"]) == ("HELLO", "hello")
    given = prepare_create(cf, {"b": "x"}, CTX, DictStore())
    assert given.data["a"] == "X"


def test_a_field_made_unique_holds_the_values_records_already_have(
    conn: Any, svc: Services
) -> None:
    from runtime.errors import RecordValidationError

    actor = make_user(conn)
    fid = _form(conn, svc, [NAME, MEMO])
    first = svc.create_record(conn, actor, fid, {"name": "X"})
    twin = svc.create_record(conn, actor, fid, {"name": "X"})  # allowed: not unique yet
    _republish(conn, svc, fid, [{**NAME, "unique": True}, MEMO])
    with pytest.raises(RecordValidationError) as taken:
        svc.create_record(conn, actor, fid, {"name": "X"})
    assert [e.code for e in taken.value.errors] == ["not_unique"]
    # The records that shared it before are edited as usual (the twin until it renames).
    svc.update_record(conn, actor, first["id"], 1, {"memo": "a"})
    svc.update_record(conn, actor, twin["id"], 1, {"memo": "b"})
    svc.update_record(conn, actor, twin["id"], 2, {"name": "Y"})
    with pytest.raises(RecordValidationError):
        svc.create_record(conn, actor, fid, {"name": "Y"})


def test_a_formula_never_keeps_a_value_computed_from_a_hidden_one() -> None:
    cf = _compiled(
        {
            "key": "f",
            "name": "表",
            "fields": [
                {"key": "vip", "type": "checkbox", "label": "VIP"},
                {"key": "amount", "type": "number", "label": "金额"},
                {"key": "discount", "type": "number", "label": "折扣", "visible_when": "vip"},
                {"key": "net", "type": "formula", "label": "净", "expr": "amount - discount"},
                MEMO,
            ],
        }
    )
    created = prepare_create(cf, {"vip": False, "amount": 100, "discount": 30}, CTX, DictStore())
    assert "discount" not in created.data and created.data["net"] == 100
    updated = prepare_update(cf, created.data, {"memo": "x"}, CTX, DictStore(), record_id=1)
    assert updated.data["net"] == 100  # an unrelated edit does not change it


def test_a_field_shown_because_of_a_hidden_value_is_hidden_too() -> None:
    cf = _compiled(
        {
            "key": "f",
            "name": "表",
            "fields": [
                {"key": "kind", "type": "select", "label": "类", "options": ["a", "b"]},
                {
                    "key": "sub",
                    "type": "select",
                    "label": "子",
                    "options": ["x", "y"],
                    "visible_when": 'kind = "a"',
                },
                {"key": "detail", "type": "text", "label": "细", "visible_when": 'sub = "x"'},
                MEMO,
            ],
        }
    )
    created = prepare_create(cf, {"kind": "b", "sub": "x", "detail": "d"}, CTX, DictStore())
    assert "sub" not in created.data and "detail" not in created.data
    shown = prepare_create(cf, {"kind": "a", "sub": "x", "detail": "d"}, CTX, DictStore())
    assert (shown.data["sub"], shown.data["detail"]) == ("x", "d")


def test_a_formula_reading_the_stage_follows_a_transition(conn: Any, svc: Services) -> None:
    actor = make_user(conn, admin=True)
    app = svc.create_app(conn, SYSTEM, key=f"a_{uuid.uuid4().hex[:8]}", name="应用")
    state = {
        "key": "state",
        "type": "formula",
        "label": "状态",
        "expr": 'IF(stage = "done", "已完成", "未完成")',
        "result_type": "text",
    }
    workflow = {
        "stages": [
            {"key": "open", "name": "进行中", "initial": True},
            {"key": "done", "name": "完成", "kind": "done"},
        ],
        "transitions": [
            {"key": "finish", "label": "完成", "from": ["open"], "to": "done"},
            {"key": "reopen", "label": "重开", "from": ["done"], "to": "open"},
        ],
    }
    definition = {"key": "f", "name": "表", "fields": [NAME, state], "workflow": workflow}
    fid = svc.create_form(conn, SYSTEM, app.id, definition).id
    svc.publish_form(conn, SYSTEM, fid)
    made = svc.create_record(conn, actor, fid, {"name": "a"})
    assert made["data"]["state"] == "未完成"
    done = svc.fire_transition(conn, actor, made["id"], "finish")  # no data
    assert (done["stage"], done["data"]["state"]) == ("done", "已完成")
    back = svc.fire_transition(conn, actor, made["id"], "reopen", data={"name": "b"})
    assert (back["stage"], back["data"]["state"]) == ("open", "未完成")
    history = svc.record_history(conn, actor, made["id"])
    assert history[1]["diff"]["state"] == ["未完成", "已完成"]


def test_history_shows_what_the_record_held_before_an_upgraded_edit(
    conn: Any, svc: Services
) -> None:
    actor = make_user(conn)
    fid = _form(conn, svc, [NAME, {"key": "n", "type": "number", "label": "数"}])
    made = svc.create_record(conn, actor, fid, {"name": "a", "n": 5})
    _republish(conn, svc, fid, [NAME, {"key": "n", "type": "text", "label": "数"}])
    svc.update_record(conn, actor, made["id"], 1, {"n": "7"})
    history = svc.record_history(conn, actor, made["id"])
    assert [h["diff"]["n"] for h in history] == [[None, 5], [5, "7"]]


def test_a_formula_without_result_type_is_its_inferred_type(conn: Any, svc: Services) -> None:
    """The CRM's 价值评分 has no result_type: published with the inferred one (number), it is
    found by eq on SQLite too, and it can be compared, sorted and summed."""
    actor = make_user(conn)
    fid = _form(
        conn,
        svc,
        [
            NAME,
            {"key": "budget", "type": "number", "label": "预算"},
            {"key": "score", "type": "formula", "label": "评分", "expr": "budget / 1000 + 20"},
        ],
    )
    for name, budget in (("a", 100_000), ("b", 50_000)):
        svc.create_record(conn, actor, fid, {"name": name, "budget": budget})

    def names(body: dict[str, Any]) -> list[str]:
        return [i["data"]["name"] for i in svc.query(conn, actor, fid, body)["items"]]

    assert names({"filter": {"field": "score", "op": "eq", "value": 120}}) == ["a"]
    assert names({"filter": {"field": "score", "op": "gt", "value": 80}}) == ["a"]
    assert names({"sort": [{"field": "score", "dir": "asc"}]}) == ["b", "a"]
    total = svc.aggregate(conn, actor, fid, {"metrics": [{"op": "sum", "field": "score"}]})
    assert float(total["groups"][0]["values"]["sum_score"]) == 190


def test_a_read_only_value_may_be_sent_back_as_input_reads_it(conn: Any, svc: Services) -> None:
    from runtime.errors import RecordValidationError
    from runtime.permissions import FieldRules, from_preset
    from tests.runtime.test_record_service import company

    actor = make_user(conn)
    price = {"key": "price", "type": "number", "label": "价格"}
    at = {"key": "at", "type": "datetime", "label": "时间"}
    app = svc.create_app(conn, SYSTEM, key=f"a_{uuid.uuid4().hex[:8]}", name="应用")
    form = {"key": "f", "name": "表", "fields": [NAME, price, at]}
    fid = svc.create_form(conn, SYSTEM, app.id, form).id
    svc.publish_form(conn, SYSTEM, fid)
    rid = svc.create_record(
        conn, SYSTEM, fid, {"name": "a", "price": 100, "at": "2026-11-22T02:00:00Z"}
    )["id"]
    spec = from_preset("edit", "manage_all", FieldRules(read_only=["price", "at"]))
    svc.save_permission_set(conn, SYSTEM, fid, spec, [("department", company(conn))])
    # The record as a form posts it back: the number as text, the time in local time.
    same = {"name": "b", "price": "100", "at": "2026-11-22 10:00"}
    assert svc.update_record(conn, actor, rid, 1, same)["data"]["name"] == "b"
    with pytest.raises(RecordValidationError) as refused:
        svc.update_record(conn, actor, rid, 2, {"price": "101"})
    assert [(e.field, e.code) for e in refused.value.errors] == [("price", "read_only_field")]


def test_users_and_departments_a_write_names_must_exist(conn: Any, svc: Services) -> None:
    from runtime.errors import RecordValidationError
    from tests.runtime.test_record_service import company

    actor = make_user(conn)
    other = make_user(conn)
    people = [
        NAME,
        {"key": "rep", "type": "user", "label": "负责人"},
        {"key": "team", "type": "users", "label": "团队"},
        {"key": "dept", "type": "department", "label": "部门"},
        {
            "key": "items",
            "type": "subform",
            "label": "明细",
            "fields": [{"key": "who", "type": "user", "label": "经办"}],
        },
    ]
    fid = _form(conn, svc, people)
    ok = {
        "name": "a",
        "rep": other.user_id,
        "team": [actor.user_id, other.user_id],
        "dept": company(conn),
        "items": [{"who": other.user_id}],
    }
    rid = svc.create_record(conn, actor, fid, ok)["id"]
    ghost = 10**9
    with pytest.raises(RecordValidationError) as refused:
        svc.create_record(
            conn,
            actor,
            fid,
            {
                "name": "b",
                "rep": ghost,
                "team": [other.user_id, ghost + 1],
                "dept": ghost,
                "items": [{"who": other.user_id}, {"who": ghost}],
            },
        )
    assert [(e.field, e.code) for e in refused.value.errors] == [
        ("rep", "unknown_user"),
        ("team", "unknown_user"),
        ("dept", "unknown_department"),
        ("items[1].who", "unknown_user"),
    ]
    # Values the edit does not touch are not checked again.
    assert svc.update_record(conn, actor, rid, 1, {"name": "c"})["data"]["rep"] == other.user_id


def test_a_department_with_the_writers_user_id_is_still_checked() -> None:
    import dataclasses

    from runtime.errors import RecordValidationError

    class NoDepartments(DictStore):
        def existing_people(self, kind: str, ids: Any) -> set[int]:
            return set() if kind == "department" else set(ids)

    cf = _compiled(
        {
            "key": "f",
            "name": "表",
            "fields": [{"key": "dept", "type": "department", "label": "部门"}],
        }
    )
    ctx = dataclasses.replace(CTX, actor_id=7)
    with pytest.raises(RecordValidationError) as refused:
        prepare_create(cf, {"dept": 7}, ctx, NoDepartments())
    assert [e.code for e in refused.value.errors] == ["unknown_department"]

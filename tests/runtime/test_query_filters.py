"""Filters of the query engine: every operator per storage kind, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from runtime.errors import InvalidQueryError
from runtime.store.query import query_records
from runtime.store.tables import records
from tests.runtime.test_query_support import LIVE, NOW, World, build_world, insert_record


@pytest.fixture
def world(conn: sa.Connection) -> World:
    return build_world(conn)


def run(w: World, conn: sa.Connection, flt: Any, **kw: Any) -> list[str]:
    kw.setdefault("actor", w.actor())
    page = query_records(conn, w.cf, filter=flt, now=NOW, limit=100, **kw)
    return sorted(w.labels(page))


def cond(field: str, op: str, value: Any = None) -> dict[str, Any]:
    out: dict[str, Any] = {"field": field, "op": op}
    if value is not None:
        out["value"] = value
    return out


def test_no_filter_lists_live_records_of_the_form_only(world: World, conn: sa.Connection) -> None:
    assert run(world, conn, None) == LIVE


TEXT_CASES = [
    (cond("name", "eq", "华为技术"), ["r1"]),
    (cond("name", "ne", "华为技术"), ["r2", "r3", "r4", "r5"]),
    (cond("name", "in", ["华为技术", "小米科技"]), ["r1", "r2"]),
    (cond("name", "not_in", ["华为技术", "小米科技"]), ["r3", "r4", "r5"]),
    (cond("name", "contains", "华为"), ["r1", "r5"]),
    (cond("name", "contains", "ACME"), ["r3"]),  # case-insensitive
    (cond("name", "contains", "%"), ["r3"]),  # % is literal
    (cond("name", "contains", "e_1"), ["r3"]),  # _ is literal
    (cond("name", "contains", "_"), ["r3"]),
    (cond("name", "not_contains", "华为"), ["r2", "r3", "r4"]),
    (cond("name", "starts_with", "华为"), ["r1", "r5"]),
    (cond("name", "starts_with", "acme_"), ["r3"]),
    (cond("name", "starts_with", "为"), []),
    (cond("name", "empty"), ["r4"]),
    (cond("name", "not_empty"), ["r1", "r2", "r3", "r5"]),
    (cond("source", "eq", "web"), ["r1"]),
    (cond("grade", "in", ["A", "B"]), ["r1", "r2", "r3"]),
    (cond("grade", "empty"), ["r4"]),
]

NUMBER_CASES = [
    (cond("budget", "eq", 100000), ["r1", "r5"]),
    (cond("budget", "eq", "100000"), ["r1", "r5"]),  # coerced like input
    (cond("budget", "ne", 100000), ["r2", "r3", "r4"]),
    (cond("budget", "gt", 50000), ["r1", "r2", "r5"]),
    (cond("budget", "gte", 50000.5), ["r1", "r2", "r5"]),
    (cond("budget", "lt", 50000.5), ["r3"]),
    (cond("budget", "lte", 50000.5), ["r2", "r3"]),
    (cond("budget", "between", [0, 50000.5]), ["r2", "r3"]),
    (cond("budget", "in", [0, 100000]), ["r1", "r3", "r5"]),
    (cond("budget", "not_in", [0, 100000]), ["r2", "r4"]),
    (cond("budget", "empty"), ["r4"]),
    (cond("budget", "not_empty"), ["r1", "r2", "r3", "r5"]),
    (cond("score", "gte", 3), ["r1", "r2"]),
]

DATE_CASES = [
    (cond("due", "eq", "2026-11-22"), ["r1", "r5"]),
    (cond("due", "gt", "2026-11-22"), ["r3"]),
    (cond("due", "between", ["2026-11-20", "2026-11-22"]), ["r1", "r2", "r5"]),
    (cond("due", "today"), ["r1", "r5"]),
    (cond("due", "this_week"), ["r1", "r2", "r5"]),  # Mon 16 – Sun 22
    (cond("due", "this_month"), ["r1", "r2", "r5"]),
    (cond("due", "last_n_days", 2), ["r1", "r5"]),  # 21–22
    (cond("due", "last_n_days", 3), ["r1", "r2", "r5"]),  # 20–22
    (cond("due", "next_n_days", 10), ["r1", "r3", "r5"]),  # 22 – Dec 1
    (cond("due", "empty"), ["r4"]),
    # Datetimes: days of Asia/Shanghai. r2 is 2026-11-22 01:00 there (21st in UTC).
    (cond("next_at", "today"), ["r1", "r2"]),
    (cond("next_at", "gte", "2026-11-22"), ["r1", "r2", "r3"]),  # local midnight
    (cond("next_at", "lt", "2026-11-22T10:00:00+08:00"), ["r2"]),
    (cond("next_at", "next_n_days", 40), ["r1", "r2"]),  # to Dec 31
    (cond("next_at", "next_n_days", 41), ["r1", "r2", "r3"]),
    (cond("next_at", "this_month"), ["r1", "r2"]),  # r3 is 2027-01-01 00:30 in Shanghai
    (cond("next_at", "not_empty"), ["r1", "r2", "r3"]),
]

BOOL_AND_PEOPLE_CASES = [
    (cond("vip", "eq", True), ["r1"]),
    (cond("vip", "eq", False), ["r2", "r3", "r4", "r5"]),  # unset reads as "no"
    (cond("vip", "ne", True), ["r2", "r3", "r4", "r5"]),
    (cond("vip", "empty"), ["r3", "r4"]),
    (cond("vip", "not_empty"), ["r1", "r2", "r5"]),
]

ARRAY_CASES = [
    (cond("tags", "contains", "重点"), ["r1", "r5"]),
    (cond("tags", "not_contains", "重点"), ["r2", "r3", "r4"]),
    (cond("tags", "in", ["渠道", "老客户"]), ["r1", "r2"]),
    (cond("tags", "not_in", ["渠道", "老客户"]), ["r3", "r4", "r5"]),
    (cond("tags", "empty"), ["r3", "r4"]),
    (cond("tags", "not_empty"), ["r1", "r2", "r5"]),
    (cond("addr", "not_empty"), ["r1"]),
    (cond("files", "empty"), ["r2", "r3", "r4", "r5"]),
    (cond("contacts", "not_empty"), ["r2"]),
]


@pytest.mark.parametrize(
    ("flt", "expected"),
    TEXT_CASES + NUMBER_CASES + DATE_CASES + BOOL_AND_PEOPLE_CASES + ARRAY_CASES,
    ids=lambda v: v["field"] + ":" + v["op"] if isinstance(v, dict) else None,
)
def test_operator(
    world: World, conn: sa.Connection, flt: dict[str, Any], expected: list[str]
) -> None:
    assert run(world, conn, flt) == expected


def test_people_and_departments(world: World, conn: sa.Connection) -> None:
    w = world
    assert run(w, conn, cond("rep", "eq", w.u1)) == ["r1", "r5"]
    assert run(w, conn, cond("rep", "in", [w.u2])) == ["r2"]
    assert run(w, conn, cond("rep", "me")) == ["r1", "r5"]
    assert run(w, conn, cond("rep", "me"), actor=w.actor(w.u2)) == ["r2"]
    assert run(w, conn, cond("rep", "me"), actor=w.actor().__class__(user_id=None)) == []
    assert run(w, conn, cond("rep", "empty")) == ["r3", "r4"]
    assert run(w, conn, cond("watchers", "contains", w.u2)) == ["r1", "r2"]
    assert run(w, conn, cond("watchers", "me")) == ["r1"]
    assert run(w, conn, cond("watchers", "me"), actor=w.actor(w.u2)) == ["r1", "r2"]
    assert run(w, conn, cond("watchers", "not_contains", w.u1)) == ["r2", "r3", "r4", "r5"]
    assert run(w, conn, cond("watchers", "empty")) == ["r3", "r4", "r5"]
    mine = w.actor(w.u1, frozenset({w.d1}))
    assert run(w, conn, cond("dept", "my_department"), actor=mine) == ["r1", "r5"]
    both = w.actor(w.u1, frozenset({w.d1, w.d2}))
    assert run(w, conn, cond("dept", "my_department"), actor=both) == ["r1", "r2", "r5"]
    assert run(w, conn, cond("dept", "my_department")) == []  # no departments
    assert run(w, conn, cond("dept", "eq", w.d2)) == ["r2"]


def test_system_fields(world: World, conn: sa.Connection) -> None:
    w = world
    assert run(w, conn, cond("id", "eq", w.ids["r3"])) == ["r3"]
    assert run(w, conn, cond("id", "in", [w.ids["r3"], w.ids["deleted"]])) == ["r3"]
    assert run(w, conn, cond("stage", "eq", "won")) == ["r1"]
    assert run(w, conn, cond("stage", "ne", "won")) == ["r2", "r3", "r4", "r5"]
    assert run(w, conn, cond("owner", "eq", w.u1)) == ["r1", "r5"]
    assert run(w, conn, cond("owner", "me"), actor=w.actor(w.u2)) == ["r2"]
    assert run(w, conn, cond("created_by", "me")) == ["r1", "r5"]
    assert run(w, conn, cond("updated_by", "empty")) == ["r3", "r4", "r5"]
    assert run(w, conn, cond("created_at", "gte", "2026-11-11T00:00:00Z")) == [
        "r2",
        "r3",
        "r4",
        "r5",
    ]
    assert run(w, conn, cond("created_at", "lt", "2026-11-11")) == ["r1"]  # Shanghai midnight
    assert run(w, conn, cond("created_at", "lt", "2026-11-11T08:00:01+08:00")) == ["r1", "r2"]
    assert run(w, conn, cond("created_at", "today")) == ["r4", "r5"]
    assert run(w, conn, cond("updated_at", "last_n_days", 3)) == ["r3", "r4", "r5"]


def test_a_form_field_named_owner_shadows_the_system_owner(conn: sa.Connection) -> None:
    from tests.runtime.test_query_support import make_form, make_user

    definition = {
        "format": "stageform.form/1",
        "key": "cust",
        "name": "Cust",
        "fields": [{"key": "owner", "type": "user", "label": "负责人"}],
    }
    cf = make_form(conn, definition)
    u1, u2 = make_user(conn, "a"), make_user(conn, "b")
    r = insert_record(conn, cf, {"owner": u2}, owner_id=u1)
    page = query_records(conn, cf, filter=cond("owner", "eq", u2), actor=_actor(u1))
    assert [i["id"] for i in page.items] == [r]
    page = query_records(conn, cf, filter=cond("owner", "eq", u1), actor=_actor(u1))
    assert page.items == []


def _actor(user: int) -> Any:
    from runtime.store.query import Actor

    return Actor(user_id=user)


def test_nested_and_or(world: World, conn: sa.Connection) -> None:
    flt = {
        "and": [
            {"field": "grade", "op": "in", "value": ["A", "B", "C"]},
            {
                "or": [
                    {"field": "budget", "op": "gte", "value": 100000},
                    {"field": "tags", "op": "contains", "value": "渠道"},
                    {
                        "and": [
                            {"field": "name", "op": "contains", "value": "acme"},
                            {"field": "due", "op": "gt", "value": "2026-11-30"},
                        ]
                    },
                ]
            },
            {"field": "name", "op": "ne", "value": "华为终端"},
        ]
    }
    assert run(world, conn, flt) == ["r1", "r2", "r3"]
    assert run(world, conn, {"or": [cond("grade", "eq", "C"), cond("name", "empty")]}) == [
        "r4",
        "r5",
    ]
    assert run(world, conn, {"and": []}) == LIVE


def test_relative_dates_follow_the_timezone(world: World, conn: sa.Connection) -> None:
    assert run(world, conn, cond("next_at", "today"), timezone="UTC") == ["r1"]
    assert run(world, conn, cond("next_at", "last_n_days", 2), timezone="UTC") == ["r1", "r2"]
    assert run(world, conn, cond("next_at", "today"), timezone="America/Los_Angeles") == [
        "r1",
        "r2",
    ]
    # It is still the 21st in Los Angeles: the 22nd there starts at 08:00 UTC.
    assert run(world, conn, cond("next_at", "next_n_days", 1), timezone="America/Los_Angeles") == [
        "r1",
        "r2",
    ]
    assert run(world, conn, cond("due", "today"), timezone="America/Los_Angeles") == []


def test_a_corrupt_stored_value_never_breaks_a_query(world: World, conn: sa.Connection) -> None:
    bad = insert_record(
        conn, world.cf, {"budget": "abc", "due": "not a date", "tags": "重点", "next_at": 12}
    )
    world.ids["bad"] = bad
    assert "bad" not in run(world, conn, cond("budget", "gt", 0))
    assert run(world, conn, cond("budget", "lt", 1)) == ["r3"]
    run(world, conn, cond("due", "gte", "2026-01-01"))
    run(world, conn, cond("tags", "contains", "重点"))
    run(world, conn, cond("next_at", "today"))
    page = query_records(
        conn, world.cf, sort=[{"field": "budget", "dir": "desc"}], actor=world.actor()
    )
    assert len(page.items) == 6


def errors_of(w: World, conn: sa.Connection, **kw: Any) -> list[tuple[str, str]]:
    kw.setdefault("actor", w.actor())
    with pytest.raises(InvalidQueryError) as caught:
        query_records(conn, w.cf, **kw)
    assert caught.value.code == "invalid_query"
    return [(e.field, e.code) for e in caught.value.errors]


def test_bad_filters_are_refused_with_codes(world: World, conn: sa.Connection) -> None:
    w = world
    assert errors_of(w, conn, filter=cond("nope", "eq", 1)) == [
        ("filter.conditions[0].field", "unknown_field")
    ]
    assert errors_of(w, conn, filter=cond("name", "gt", "a")) == [
        ("filter.conditions[0].op", "operator_not_supported")
    ]
    assert errors_of(w, conn, filter=cond("tags", "starts_with", "a")) == [
        ("filter.conditions[0].op", "operator_not_supported")
    ]
    assert errors_of(w, conn, filter=cond("budget", "gt", "lots")) == [
        ("filter.conditions[0].value", "invalid_filter_value")
    ]
    assert errors_of(w, conn, filter=cond("due", "eq", "2026-02-30")) == [
        ("filter.conditions[0].value", "invalid_filter_value")
    ]
    assert errors_of(w, conn, filter=cond("due", "last_n_days", 0)) == [
        ("filter.conditions[0].value", "invalid_filter_value")
    ]
    assert errors_of(w, conn, filter=cond("budget", "between", [1])) == [
        ("filter.conditions[0].value", "invalid_filter_value")
    ]
    assert errors_of(w, conn, filter=cond("created_at", "gt", "yesterday")) == [
        ("filter.conditions[0].value", "invalid_filter_value")
    ]
    assert errors_of(w, conn, filter=cond("vip", "eq", "perhaps")) == [
        ("filter.conditions[0].value", "invalid_filter_value")
    ]
    codes = errors_of(w, conn, filter={"xor": []})
    assert [c for _, c in codes] == ["invalid_filter"]
    codes = errors_of(w, conn, filter={"field": "name", "op": "like", "value": "x"})
    assert [c for _, c in codes] == ["invalid_filter"]
    # Every problem is reported at once.
    both = errors_of(
        w,
        conn,
        filter={"and": [cond("nope", "eq", 1), cond("name", "gt", "a")]},
        limit=0,
        fields=["zzz"],
    )
    assert {c for _, c in both} == {"unknown_field", "operator_not_supported", "invalid_limit"}
    assert errors_of(w, conn, timezone="Mars/Olympus") == [("timezone", "invalid_timezone")]


def test_deep_filters_are_refused(world: World, conn: sa.Connection) -> None:
    flt: dict[str, Any] = cond("name", "eq", "x")
    for _ in range(20):
        flt = {"and": [flt]}
    assert [c for _, c in errors_of(world, conn, filter=flt)] == ["filter_too_deep"]


INJECTIONS = [
    "x' OR '1'='1",
    "'; DROP TABLE records; --",
    '" OR 1=1 --',
    "华为') OR ('1'='1",
    "%",
    "\\",
    "$.name') OR 1=1 --",
]


@pytest.mark.parametrize("attack", INJECTIONS)
def test_injection_attempts_in_values_are_just_values(
    world: World, conn: sa.Connection, attack: str
) -> None:
    w = world
    assert run(w, conn, cond("name", "eq", attack)) == []
    assert run(w, conn, cond("name", "in", [attack])) == []
    assert run(w, conn, cond("name", "starts_with", attack)) == []
    expected_contains = ["r3"] if attack == "%" else []
    assert run(w, conn, cond("name", "contains", attack)) == expected_contains
    assert run(w, conn, cond("tags", "contains", attack)) == []
    assert run(w, conn, cond("stage", "eq", attack)) == []
    assert run(w, conn, None, search=attack) == ([] if attack != "%" else ["r3"])
    assert conn.execute(sa.select(sa.func.count()).select_from(records)).scalar_one() >= 7
    # Field keys never reach SQL unchecked: an attack as a key is an unknown field.
    assert [c for _, c in errors_of(w, conn, filter=cond(attack, "eq", 1))] == ["unknown_field"]
    assert [c for _, c in errors_of(w, conn, sort=[{"field": attack}])] == ["unknown_field"]


def test_builder_models_are_accepted_as_well_as_dicts(world: World, conn: sa.Connection) -> None:
    from builder.query import AndFilter, Condition, Sort

    flt = AndFilter.model_validate({"and": [{"field": "grade", "op": "eq", "value": "A"}]})
    page = query_records(
        conn, world.cf, filter=flt, sort=[Sort(field="budget", dir="desc")], actor=world.actor()
    )
    assert world.labels(page) == ["r1", "r3"]
    page = query_records(
        conn, world.cf, filter=Condition(field="name", op="empty"), actor=world.actor()
    )
    assert world.labels(page) == ["r4"]

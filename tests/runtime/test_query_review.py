"""Query and aggregate answers a review found wrong (session 15), each test failing before
its fix: the server's time zone in queries and aggregates, a date filter value read in it,
blank comparison values and made-up cursors refused instead of a 500, ``count`` of a field
counting values (not distinct ones), a text spelling JSON not taken for blank, and text
filters folding case beyond ASCII on SQLite."""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import hashlib
import json
import uuid

import pytest

from runtime.actor import SYSTEM
from runtime.errors import InvalidQueryError
from runtime.permissions import FieldRules, from_preset
from runtime.services import Services
from runtime.store.query import Actor, aggregate_records, query_records
from tests.runtime.test_query_support import DEAL, insert_record, make_form
from tests.runtime.test_record_service import company, make_user

NOW = dt.datetime(
    2026, 11, 22, 2, 0, tzinfo=dt.UTC
)  # 21 Nov 21:00 in New York, 22 Nov 10:00 in Shanghai

TZ_FORM = {
    "format": "stageform.form/1",
    "key": "ev",
    "name": "Ev",
    "fields": [
        {"key": "name", "type": "text", "label": "名称"},
        {"key": "at", "type": "datetime", "label": "时间", "sortable": True},
    ],
}


def _tz_setup(conn, tz):
    svc = Services(timezone=tz, clock=lambda: NOW)
    app = svc.create_app(conn, SYSTEM, key=f"a{uuid.uuid4().hex[:8]}", name="A")
    form = svc.create_form(conn, SYSTEM, app.id, TZ_FORM)
    svc.publish_form(conn, SYSTEM, form.id)
    svc.create_record(conn, SYSTEM, form.id, {"name": "x", "at": "2026-11-22T02:00:00Z"})
    return svc, form.id


def test_aggregate_day_bucket_uses_configured_timezone(conn):
    svc, fid = _tz_setup(conn, "America/New_York")
    out = svc.aggregate(conn, SYSTEM, fid, {"group_by": [{"field": "at", "bucket": "day"}]})
    # 2026-11-22T02:00Z is 2026-11-21 in New York
    assert out["groups"][0]["keys"]["at"] == "2026-11-21"


def test_query_date_filter_on_datetime_uses_configured_timezone(conn):
    svc, fid = _tz_setup(conn, "America/New_York")
    # "on or after 2026-11-22" in New York starts at 2026-11-22T05:00Z: the record (02:00Z) is before it
    out = svc.query(
        conn, SYSTEM, fid, {"filter": {"field": "at", "op": "gte", "value": "2026-11-22"}}
    )
    assert out["count"] == 0


@pytest.mark.parametrize("value", ["2026-11-22", "2026-11-22 00:00"])
def test_datetime_field_filter_value_is_read_in_the_query_timezone(conn, value):
    cf = make_form(conn, DEAL)
    at = dt.datetime(2026, 11, 22, 2, 0, tzinfo=dt.UTC)  # 21 Nov, 21:00 in New York
    insert_record(conn, cf, {"next_at": "2026-11-22T02:00:00Z"}, created_at=at, updated_at=at)
    kw = dict(actor=Actor(1), timezone="America/New_York")
    system = query_records(
        conn, cf, filter={"field": "created_at", "op": "gte", "value": value}, **kw
    )
    field = query_records(conn, cf, filter={"field": "next_at", "op": "gte", "value": value}, **kw)
    assert system.count == 0  # New York midnight of the 22nd is 05:00Z: after the record
    assert field.count == system.count  # the same instant, the same question


@pytest.mark.parametrize("field", ["budget", "due", "next_at", "score"])
@pytest.mark.parametrize(
    "op,value", [("gt", ""), ("lte", " "), ("between", ["", "5"]), ("between", [1, ""])]
)
def test_a_blank_comparison_value_is_a_422_not_a_500(conn, field, op, value):
    cf = make_form(conn, DEAL)
    insert_record(conn, cf, {"budget": 1})
    with pytest.raises(InvalidQueryError):
        query_records(conn, cf, filter={"field": field, "op": op, "value": value}, actor=Actor(1))


def reforge(cursor, values):
    raw = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    body = json.loads(raw["b"])
    body["v"] = values
    b = json.dumps(body, separators=(",", ":"))
    c = hashlib.sha256(("stageform-cursor:" + b).encode()).hexdigest()[:16]
    return base64.urlsafe_b64encode(json.dumps({"b": b, "c": c}).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "sort,values",
    [
        ([{"field": "created_at"}], [{"t": "0001-01-01T00:00:00+05:00"}, 1]),
        ([{"field": "updated_at", "dir": "desc"}], [{"t": "9999-12-31T23:00:00-05:00"}, 1]),
        ([{"field": "budget"}], [{"d": "1e999"}, 1]),
        ([{"field": "name"}], [{"d": "5"}, 1]),
    ],
)
def test_a_made_up_cursor_is_refused_not_a_crash(conn, sort, values):
    cf = make_form(conn, DEAL)
    for i in range(3):
        insert_record(conn, cf, {"name": f"n{i}", "budget": i})
    page = query_records(conn, cf, sort=sort, limit=1, actor=Actor(1))
    forged = reforge(page.next_cursor, values)
    with contextlib.suppress(InvalidQueryError):  # refused is fine; a crash is not
        query_records(conn, cf, sort=sort, limit=1, cursor=forged, actor=Actor(1))


def test_count_of_a_field_is_not_a_distinct_count(conn):
    cf = make_form(conn, DEAL)
    for b in (100, 100, 100, None):
        insert_record(conn, cf, {"budget": b} if b is not None else {})
    out = aggregate_records(
        conn,
        cf,
        metrics=[{"op": "count", "field": "budget"}, {"op": "distinct", "field": "budget"}],
        actor=Actor(1),
    )
    values = out[0]["values"]
    print(values)
    assert values["distinct_budget"] == 1
    # three records have a budget: "count_budget" must not be the distinct count
    assert values["count_budget"] == 3


@pytest.mark.parametrize("text", ["null", "[]", "{}"])
def test_a_text_value_that_spells_json_is_not_empty(conn, text):
    cf = make_form(conn, DEAL)
    rid = insert_record(conn, cf, {"name": text})
    empty = query_records(conn, cf, filter={"field": "name", "op": "empty"}, actor=Actor(1))
    filled = query_records(conn, cf, filter={"field": "name", "op": "not_empty"}, actor=Actor(1))
    assert [i["id"] for i in filled.items] == [rid]
    assert empty.count == 0


@pytest.mark.parametrize(
    "name,op,value",
    [
        ("Москва", "contains", "Моск"),  # the very same letters
        ("Москва", "starts_with", "М"),
        ("Éclair", "contains", "Éc"),
        ("ＡＢＣ商贸", "starts_with", "ＡＢＣ"),  # full-width Latin, common in Chinese text
        ("ΟΔΟΣ ΑΘΗΝΑΣ", "contains", "ΑΘΗΝΑΣ"),  # final sigma: Python and PostgreSQL differ
        ("ΟΔΟΣ ΑΘΗΝΑΣ", "starts_with", "ΟΔΟΣ"),
        ("İzmir", "contains", "İzmir"),  # İ: Python lowers it to two characters
        ("Straße", "contains", "STRASSE".lower()[:3]),  # control: ASCII
    ],
)
def test_contains_finds_the_same_non_ascii_text(conn, name, op, value):
    cf = make_form(conn, DEAL)
    insert_record(conn, cf, {"name": name})
    page = query_records(
        conn, cf, filter={"field": name and "name", "op": op, "value": value}, actor=Actor(1)
    )
    assert page.count == 1, (name, op, value)


def test_not_contains_keeps_a_record_that_contains_the_text(conn):
    cf = make_form(conn, DEAL)
    insert_record(conn, cf, {"name": "Москва"})
    page = query_records(
        conn, cf, filter={"field": "name", "op": "not_contains", "value": "Москва"}, actor=Actor(1)
    )
    assert page.count == 0


SEARCH_FORM = {
    "format": "stageform.form/1",
    "key": "deal",
    "name": "Deal",
    "fields": [
        {"key": "name", "type": "text", "label": "名称"},
        {
            "key": "source",
            "type": "select",
            "label": "来源",
            "options": [{"value": "web", "label": "官网"}, {"value": "event", "label": "展会"}],
        },
        {"key": "notes", "type": "rich_text", "label": "备注"},
        {"key": "secret", "type": "text", "label": "内部备注"},
    ],
}


def _search_setup(conn, hidden):
    svc = Services(clock=lambda: NOW)
    app = svc.create_app(conn, SYSTEM, key=f"a{uuid.uuid4().hex[:8]}", name="A")
    form = svc.create_form(conn, SYSTEM, app.id, SEARCH_FORM)
    svc.publish_form(conn, SYSTEM, form.id)
    user = make_user(conn)
    svc.save_permission_set(
        conn,
        SYSTEM,
        form.id,
        from_preset("v", "manage_all", FieldRules(hidden=hidden)),
        [("department", company(conn))],
    )
    svc.create_record(
        conn,
        SYSTEM,
        form.id,
        {
            "name": "Москва 华为 ＡＢＣ",
            "source": "web",
            "notes": "<p>浦东大客户</p>",
            "secret": "机密",
        },
    )
    return svc, form.id, user


@pytest.mark.parametrize("word", ["华为", "москва", "Москва", "ａｂｃ"])
def test_visible_text_is_found_whatever_is_hidden(conn, word):
    svc, fid, user = _search_setup(conn, [])
    assert svc.query(conn, user, fid, {"search": word})["count"] == 1  # nothing hidden: found
    svc2, fid2, user2 = _search_setup(conn, ["secret"])
    assert svc2.query(conn, user2, fid2, {"search": word})["count"] == 1, word


@pytest.mark.parametrize(
    ("op", "value", "expected"),
    [("contains", "5", "match"), ("in", ["5"], "match"), ("contains", 7, "match"),
     ("contains", "abc", "422"), ("not_contains", "abc", "422"), ("in", [1.5], "422")],
)  # fmt: skip
def test_a_users_filter_value_is_an_id_or_refused(conn, op, value, expected):
    """A users field's elements are ids: "5" reads as 5 (as a single user field's does), and
    "abc" or 1.5 is a 422, not a silent no-match (or, negated, everything)."""
    cf = make_form(conn, DEAL)
    rid = insert_record(conn, cf, {"rep": 5, "watchers": [5, 7]})
    cond = {"field": "watchers", "op": op, "value": value}
    if expected == "422":
        with pytest.raises(InvalidQueryError):
            query_records(conn, cf, filter=cond, actor=Actor(1))
    else:
        page = query_records(conn, cf, filter=cond, actor=Actor(1))
        assert [i["id"] for i in page.items] == [rid]


def test_sums_of_money_are_exact_on_both_databases(conn) -> None:
    from tests.runtime.test_record_review import NAME, _form

    svc = Services()
    actor = make_user(conn)
    amount = {"key": "amount", "type": "money", "label": "金额"}
    rate = {"key": "rate", "type": "number", "label": "比率", "precision": 1}
    fid = _form(conn, svc, [NAME, amount, rate])
    for name, a, r in (("a", 0.1, 0.1), ("a", 0.2, 0.2), ("b", 1000000.07, 0.7)):
        svc.create_record(conn, actor, fid, {"name": name, "amount": a, "rate": r})
    metrics = [{"op": "sum", "field": "amount"}, {"op": "sum", "field": "rate"}]
    whole = svc.aggregate(conn, actor, fid, {"metrics": metrics})["groups"][0]["values"]
    assert whole == {"sum_amount": 1000000.37, "sum_rate": 1.0}
    grouped = svc.aggregate(
        conn, actor, fid, {"group_by": [{"field": "name"}], "metrics": metrics}
    )["groups"]
    assert {g["keys"]["name"]: g["values"]["sum_amount"] for g in grouped} == {
        "a": 0.3,
        "b": 1000000.07,
    }


def test_a_cursor_continues_only_the_query_it_came_from(conn) -> None:
    from tests.runtime.test_record_review import NAME, _form

    svc = Services()
    actor = make_user(conn)
    grade = {"key": "grade", "type": "text", "label": "等级", "filterable": True}
    fid = _form(conn, svc, [NAME, grade])
    for i in range(5):
        svc.create_record(conn, actor, fid, {"name": f"n{i}", "grade": "A" if i % 2 else "B"})
    body = {"filter": {"field": "grade", "op": "eq", "value": "A"}, "limit": 1}
    first = svc.query(conn, actor, fid, body)
    # The same filter written another way continues it.
    same = {"filter": {"value": "A", "op": "eq", "field": "grade"}, "limit": 1}
    assert svc.query(conn, actor, fid, {**same, "cursor": first["next_cursor"]})["items"]
    for other in (
        {"filter": {"field": "grade", "op": "eq", "value": "B"}, "limit": 1},
        {"limit": 1},
        {**body, "search": "n1"},
    ):
        with pytest.raises(InvalidQueryError) as refused:
            svc.query(conn, actor, fid, {**other, "cursor": first["next_cursor"]})
        assert [e.code for e in refused.value.errors] == ["invalid_cursor"]


def test_an_empty_filter_group_is_no_condition(conn) -> None:
    from tests.runtime.test_record_review import NAME, _form

    svc = Services()
    actor = make_user(conn)
    fid = _form(conn, svc, [NAME])
    for i in range(3):
        svc.create_record(conn, actor, fid, {"name": f"n{i}"})
    for group in ({"and": []}, {"or": []}, {"and": [{"or": []}]}):
        assert svc.query(conn, actor, fid, {"filter": group})["count"] == 3, group

"""Value tables (runtime.store.values): typed copies of records' scalar values, kept in step by
triggers on every write and rebuilt when a publish changes their layout; queries over them
answer exactly what the JSON answers."""

from __future__ import annotations

import copy
import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa

from runtime.actor import Actor
from runtime.errors import InvalidQueryError
from runtime.permissions import without_fields
from runtime.services import Services
from runtime.store import migrate
from runtime.store.batch_insert import insert_many
from runtime.store.engine import dialect_name
from runtime.store.query import aggregate_records, filter_condition, query_records
from runtime.store.scope import record_in_scope
from runtime.store.tables import records
from runtime.store.values import BY_STATEMENT, drop_value_tables, live_value_table, value_table
from tests.runtime.test_query_support import (
    DEAL,
    NOW,
    World,
    build_world,
    insert_record,
    make_form,
    update_record,
)
from tests.runtime.test_record_service import NOW as NOW_SERVICE
from tests.runtime.test_record_service import crm, make_user


@pytest.fixture
def svc() -> Services:
    return Services(clock=lambda: NOW_SERVICE)


def _rows(conn: sa.Connection, cf: Any) -> dict[int, dict[str, Any]]:
    vt = live_value_table(conn, cf)
    assert vt is not None
    return {r.record_id: dict(r._mapping) for r in conn.execute(sa.select(vt.table))}


def _num(value: Any) -> Any:
    return float(value) if isinstance(value, Decimal) else value


def test_the_table_follows_every_write_through_the_services(
    conn: sa.Connection, svc: Services
) -> None:
    actor = make_user(conn, admin=True)
    ids = crm(conn, svc, actor)
    form_id = ids["customer"]
    cf = svc.compiled_form(conn, form_id)
    assert _rows(conn, cf) == {}

    a = svc.create_record(
        conn,
        actor,
        form_id,
        {"name": "华为", "grade": "A", "budget": 50000, "next_followup_at": "2026-11-30T02:00:00Z"},
    )
    b = svc.create_record(conn, actor, form_id, {"name": "小米"})
    rows = _rows(conn, cf)
    assert set(rows) == {a["id"], b["id"]}
    ra = rows[a["id"]]
    assert (ra["f_grade"], ra["f_source"], _num(ra["f_budget"])) == ("A", None, 50000)
    assert ra["f_next_followup_at"] == "2026-11-30T02:00:00Z"
    assert ra["stage"] == "new" and ra["owner_id"] == actor.user_id
    assert ra["created_by"] == actor.user_id and ra["created_at"] == NOW_SERVICE
    # blanks are NULL; the select's default applies
    rb = rows[b["id"]]
    assert (rb["f_grade"], rb["f_budget"], rb["f_next_followup_at"]) == ("C", None, None)
    # free text that is neither filterable nor sortable, and arrays, stay in the JSON only
    assert not {"f_name", "f_phone", "f_vip_notes", "f_tags"} & set(ra)

    updated = svc.update_record(conn, actor, a["id"], 1, {"grade": "B", "budget": None})
    row = _rows(conn, cf)[a["id"]]
    assert (row["f_grade"], row["f_budget"]) == ("B", None)

    svc.delete_record(conn, actor, a["id"], updated["version"])
    assert set(_rows(conn, cf)) == {b["id"]}
    svc.restore_record(conn, actor, a["id"])
    assert _rows(conn, cf)[a["id"]]["f_grade"] == "B"
    deleted = svc.get_record(conn, actor, a["id"])
    svc.delete_record(conn, actor, a["id"], deleted["version"])
    svc.purge_record(conn, actor, a["id"])
    assert set(_rows(conn, cf)) == {b["id"]}

    # a transition moves the stage and writes its data in one versioned update
    moved = svc.fire_transition(
        conn, actor, b["id"], "first_contact", data={"phone": "138 1234 5678"}
    )
    row = _rows(conn, cf)[b["id"]]
    assert moved["stage"] == "contacted" and row["stage"] == "contacted"
    assert row["updated_at"] == NOW_SERVICE and "f_phone" not in row

    # bulk creates go through the same triggers
    made = svc.bulk_create(conn, actor, form_id, [{"data": {"name": f"n{i}"}} for i in range(3)])
    assert set(_rows(conn, cf)) == {b["id"], *(m["id"] for m in made)}


def test_a_publish_with_a_new_layout_rebuilds_the_table(conn: sa.Connection, svc: Services) -> None:
    actor = make_user(conn, admin=True)
    ids = crm(conn, svc, actor)
    form_id = ids["customer"]
    rec = svc.create_record(conn, actor, form_id, {"name": "华为", "email": "a@b.cn"})
    old = live_value_table(conn, svc.compiled_form(conn, form_id))
    assert old is not None

    # Same layout (only a label changed): the same table, its rows untouched.
    from tests.builder.factories import customer_form

    same = customer_form()
    same["fields"][0]["label"] = "名称"
    svc.save_draft(conn, actor, form_id, same)
    svc.publish_form(conn, actor, form_id)
    cf2 = svc.compiled_form(conn, form_id)
    assert value_table(cf2, dialect_name(conn)).name == old.name
    assert set(_rows(conn, cf2)) == {rec["id"]}

    # A field made sortable and one removed: a new table, backfilled; the old one is gone.
    changed = customer_form()
    changed["fields"] = [f for f in changed["fields"] if f["key"] != "email"]
    for f in changed["fields"]:
        if f["key"] == "budget":
            f["sortable"] = True
    svc.save_draft(conn, actor, form_id, changed)
    svc.publish_form(conn, actor, form_id)
    cf3 = svc.compiled_form(conn, form_id)
    new = live_value_table(conn, cf3)
    assert new is not None and new.name != old.name
    assert new.index_of("budget") is not None
    assert live_value_table(conn, cf2) is None
    rows = _rows(conn, cf3)
    assert rows[rec["id"]]["f_grade"] == "C" and rows[rec["id"]]["f_owner"] == actor.user_id
    # and the new triggers keep it in step
    later = svc.create_record(conn, actor, form_id, {"name": "小米", "budget": 7})
    assert _num(_rows(conn, cf3)[later["id"]]["f_budget"]) == 7
    page = svc.query(
        conn, actor, form_id, {"sort": [{"field": "budget", "dir": "desc"}], "limit": 10}
    )
    assert [i["id"] for i in page["items"]] == [later["id"], rec["id"]]


def test_a_publish_by_another_process_is_seen_by_the_next_query(
    conn: sa.Connection, svc: Services
) -> None:
    # Each server process caches compiled versions; the published version is read on every
    # request, so a publish through another process's Services is seen at once.
    from tests.builder.factories import customer_form

    actor = make_user(conn, admin=True)
    form_id = crm(conn, svc, actor)["customer"]
    rec = svc.create_record(conn, actor, form_id, {"name": "华为", "email": "a@b.cn"})
    by_email = {"filter": {"field": "email", "op": "not_empty"}}
    assert [i["id"] for i in svc.query(conn, actor, form_id, by_email)["items"]] == [rec["id"]]

    other = Services(clock=lambda: NOW_SERVICE)
    changed = customer_form()
    changed["fields"] = [f for f in changed["fields"] if f["key"] != "email"]
    for f in changed["fields"]:
        if f["key"] == "budget":
            f["sortable"] = True
    other.save_draft(conn, actor, form_id, changed)
    other.publish_form(conn, actor, form_id)

    with pytest.raises(InvalidQueryError) as caught:
        svc.query(conn, actor, form_id, by_email)  # email is gone in version 2
    assert caught.value.errors[0].code == "unknown_field"
    page = svc.query(conn, actor, form_id, {"sort": [{"field": "budget", "dir": "desc"}]})
    assert [i["id"] for i in page["items"]] == [rec["id"]]
    assert svc.compiled_form(conn, form_id).version == 2


def test_stored_values_of_another_type_read_as_the_json_reads_them(conn: sa.Connection) -> None:
    # After a field changed type, old records keep their old values until rewritten.
    cf = make_form(conn, DEAL)
    good = insert_record(conn, cf, {"budget": 5, "due": "2026-11-01", "vip": True})
    odd = insert_record(conn, cf, {"budget": "five", "due": 20261101, "vip": "yes"})
    rows = _rows(conn, cf)
    assert _num(rows[good]["f_budget"]) == 5
    if dialect_name(conn) == "postgresql":
        assert rows[odd]["f_budget"] is None  # not a JSON number: NULL, as the guarded cast
        assert rows[odd]["f_due"] == "20261101"
    else:
        assert rows[odd]["f_budget"] == "five"  # what json_extract gives, unconverted
        assert rows[odd]["f_due"] == 20261101


def test_other_forms_and_deleted_records_never_enter(conn: sa.Connection) -> None:
    w = build_world(conn)
    rows = _rows(conn, w.cf)
    assert set(rows) == {w.ids[k] for k in ("r1", "r2", "r3", "r4", "r5")}
    assert set(_rows(conn, w.other)) == {w.ids["elsewhere"]}
    conn.execute(sa.update(records).where(records.c.id == w.ids["r1"]).values(deleted_at=NOW))
    assert w.ids["r1"] not in _rows(conn, w.cf)
    conn.execute(sa.update(records).where(records.c.id == w.ids["r1"]).values(deleted_at=None))
    assert w.ids["r1"] in _rows(conn, w.cf)
    update_record(conn, w.cf, w.ids["r1"], {"name": "改名"})
    assert _rows(conn, w.cf)[w.ids["r1"]]["f_grade"] is None  # the whole data was replaced
    conn.execute(sa.delete(records).where(records.c.id == w.ids["r2"]))
    assert w.ids["r2"] not in _rows(conn, w.cf)


@pytest.mark.parametrize("by_statement", [False, True])
def test_one_statement_of_many_records_fills_the_tables_of_their_forms(
    conn: sa.Connection, by_statement: bool
) -> None:
    # A batch write is one statement for many records. PostgreSQL fills the value tables by
    # the row trigger or, when a batch sets BY_STATEMENT, by one statement-level trigger call
    # per form; either way each form's table gets its own live records, each once (a second
    # fill would break the table's primary key). SQLite: row triggers only.
    if by_statement and conn.dialect.name != "postgresql":
        pytest.skip("PostgreSQL only")
    w = build_world(conn)
    if by_statement:
        conn.execute(sa.text("SELECT set_config(:name, 'on', true)"), {"name": BY_STATEMENT})
    before_cf, before_other = set(_rows(conn, w.cf)), set(_rows(conn, w.other))
    rows = [
        (w.cf.form_id, 1, "new", {"name": "批量一", "grade": "A", "budget": 7}, None, NOW, NOW, 1),
        (w.other.form_id, 1, "new", {"name": "别的表单"}, None, NOW, NOW, 1),
        (w.cf.form_id, 1, "new", {"name": "批量删除", "grade": "B"}, NOW, NOW, NOW, 1),
        (w.cf.form_id, 1, "won", {"name": "批量二", "grade": "C"}, None, NOW, NOW, 1),
    ]
    columns = ("form_id", "schema_version", "stage", "data", "deleted_at", "created_at")
    ids = insert_many(conn, records, (*columns, "updated_at", "version"), rows, new_ids=True)
    mine, others = _rows(conn, w.cf), _rows(conn, w.other)
    assert set(mine) == before_cf | {ids[0], ids[3]}
    assert set(others) == before_other | {ids[1]}
    assert (mine[ids[0]]["f_grade"], _num(mine[ids[0]]["f_budget"])) == ("A", 7)
    assert (mine[ids[3]]["f_grade"], mine[ids[3]]["stage"]) == ("C", "won")
    # The same rows through the row path (an update) give the same values.
    first = dict(mine[ids[0]])
    conn.execute(sa.update(records).where(records.c.id == ids[0]).values(version=2))
    assert _rows(conn, w.cf)[ids[0]] == first


def test_upgrade_to_0009_moves_inserts_to_a_statement_trigger(fresh_engine: sa.Engine) -> None:
    def triggers(conn: sa.Connection) -> set[str]:
        names = conn.exec_driver_sql(
            "SELECT tgname FROM pg_trigger WHERE tgrelid = 'records'::regclass "
            "AND tgname LIKE 'rv%%'"
        ).scalars()
        return {name.rsplit("_", 1)[1] for name in names}

    if fresh_engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL only: SQLite has row triggers only")
    with fresh_engine.begin() as conn:
        w = build_world(conn)
        assert triggers(conn) == {"ai", "i", "u", "d"}
    migrate.downgrade(fresh_engine, "0008")
    with fresh_engine.begin() as conn:
        assert triggers(conn) == {"iu", "d"}  # as 0005-0008 wrote them
        old = insert_record(conn, w.cf, {"name": "旧触发器", "grade": "A"})
        assert _rows(conn, w.cf)[old]["f_grade"] == "A"
    migrate.upgrade(fresh_engine)
    with fresh_engine.begin() as conn:
        assert triggers(conn) == {"ai", "i", "u", "d"}
        new = insert_record(conn, w.cf, {"name": "新触发器", "grade": "B"})
        update_record(conn, w.cf, old, {"name": "旧触发器", "grade": "C"})
        rows = _rows(conn, w.cf)
        assert (rows[new]["f_grade"], rows[old]["f_grade"]) == ("B", "C")
        conn.execute(sa.delete(records).where(records.c.id == new))
        assert new not in _rows(conn, w.cf)


# The same questions asked of the value table and of the JSON (the table dropped) must get the
# same answers: filters of every kind (nulls, relative dates, multi-selects), sorts with blanks,
# pages, counts, and aggregates with date buckets and array groups.
FILTERS: list[dict[str, Any] | None] = [
    None,
    {"field": "grade", "op": "in", "value": ["A", "B"]},
    {"field": "grade", "op": "ne", "value": "A"},
    {"field": "grade", "op": "empty"},
    {"field": "budget", "op": "gte", "value": 50000},
    {"field": "budget", "op": "empty"},
    {"field": "name", "op": "contains", "value": "科技"},
    {"field": "due", "op": "between", "value": ["2026-11-01", "2026-11-21"]},
    {"field": "next_at", "op": "today"},
    {"field": "next_at", "op": "last_n_days", "value": 7},
    {"field": "vip", "op": "eq", "value": False},
    {"field": "tags", "op": "contains", "value": "重点"},
    {"field": "watchers", "op": "not_contains", "value": 1},
    {"field": "stage", "op": "eq", "value": "won"},
    {"field": "created_at", "op": "gte", "value": "2026-11-02"},
    {"or": [{"field": "grade", "op": "eq", "value": "A"}, {"field": "vip", "op": "empty"}]},
]
SORTS = [
    [{"field": "budget", "dir": "desc"}],
    [{"field": "next_at", "dir": "asc"}, {"field": "name", "dir": "desc"}],
    [{"field": "due"}],
    [{"field": "created_at", "dir": "desc"}],
]
GROUPS: list[dict[str, Any]] = [
    {
        "group_by": [{"field": "grade"}],
        "metrics": [{"op": "count"}, {"op": "sum", "field": "budget"}],
    },
    {
        "group_by": [{"field": "grade"}, {"field": "next_at", "bucket": "month"}],
        "metrics": [{"op": "avg", "field": "score"}, {"op": "max", "field": "due"}],
    },
    {
        "group_by": [{"field": "due", "bucket": "week"}],
        "metrics": [{"op": "distinct", "field": "name"}],
    },
    {"group_by": [{"field": "next_at", "bucket": "day"}, {"field": "vip"}], "metrics": []},
    {"group_by": [{"field": "tags"}], "metrics": [{"op": "min", "field": "budget"}]},
    {"group_by": [{"field": "created_at", "bucket": "quarter"}, {"field": "stage"}], "metrics": []},
]


def _answers(conn: sa.Connection, w: World) -> list[Any]:
    actor = w.actor()
    out: list[Any] = []
    for flt in FILTERS:
        for sort in SORTS:
            pages, cursor = [], None
            while True:
                page = query_records(
                    conn, w.cf, filter=flt, sort=sort, limit=2, cursor=cursor, actor=actor, now=NOW
                )
                pages.append((w.labels(page), page.count))
                cursor = page.next_cursor
                if cursor is None:
                    break
            out.append(pages)
    for body in GROUPS:
        for flt in FILTERS[:5]:
            out.append(aggregate_records(conn, w.cf, filter=flt, actor=actor, now=NOW, **body))
    out.append(query_records(conn, w.cf, search="华为", actor=actor).items)
    return out


def test_the_value_table_answers_what_the_json_answers(conn: sa.Connection) -> None:
    w = build_world(conn)
    # A few more rows with blanks and ties.
    for i in range(6):
        data = {"name": f"华为{i}", "grade": "AB"[i % 2] if i % 3 else None, "budget": i % 2}
        w.ids[f"x{i}"] = insert_record(conn, w.cf, data, created_at=NOW - dt.timedelta(days=i))
    assert live_value_table(conn, w.cf) is not None
    with_table = _answers(conn, w)
    drop_value_tables(conn, w.cf.form_id)
    assert live_value_table(conn, w.cf) is None
    assert _answers(conn, w) == copy.deepcopy(with_table)


def _count_sql(seen: list[str]) -> str:
    """The capped count of a query: the subquery selected beside the page's rows."""
    page = next(s for s in seen if "AS capped_count" in s)
    return page[page.index("(SELECT count(") : page.index("AS capped_count")]


def test_counts_and_groups_read_only_the_value_table(conn: sa.Connection) -> None:
    w = build_world(conn)
    seen: list[str] = []

    def capture(*args: Any) -> None:
        seen.append(args[2])

    sa.event.listen(conn, "before_cursor_execute", capture)
    try:
        query_records(
            conn, w.cf, filter={"field": "grade", "op": "eq", "value": "A"}, actor=Actor(1)
        )
        queried = len(seen)
        aggregate_records(conn, w.cf, group_by=[{"field": "grade"}], actor=Actor(1))
    finally:
        sa.event.remove(conn, "before_cursor_execute", capture)
    count = _count_sql(seen[:queried])
    grouped = seen[queried:]  # a GROUP BY, or (SQLite, few groups) index seeks and one scan
    assert grouped and "records" not in count.replace("record_id", "")
    assert not any("records" in s.replace("record_id", "") for s in grouped), grouped


# Data-permission scopes (runtime.store.scope) are conditions on ``records``: ANDed to a query
# that reads the value table they must mean what they mean on the JSON path, and a single-record
# check (record_in_scope, over ``records`` alone) must not read the value table.
def _scoped_answers(conn: sa.Connection, w: World) -> list[Any]:
    actor = w.actor()

    def rule(flt: dict[str, Any]) -> Any:
        return filter_condition(conn, w.cf, flt, actor=actor, now=NOW)

    scopes = [
        records.c.owner_id == w.u1,
        rule({"field": "budget", "op": "gte", "value": 50000}),
        sa.or_(
            records.c.owner_id == w.u2, rule({"field": "tags", "op": "contains", "value": "重点"})
        ),
        rule({"field": "stage", "op": "eq", "value": "won"}),
    ]
    out: list[Any] = []
    for scope in scopes:
        for flt in (None, {"field": "grade", "op": "ne", "value": "B"}):
            for sort in (None, [{"field": "budget", "dir": "desc"}]):
                page = query_records(
                    conn, w.cf, filter=flt, sort=sort, scope=scope, actor=actor, now=NOW
                )
                out.append((w.labels(page), page.count))
            body: dict[str, Any] = {"group_by": [{"field": "grade"}], "metrics": []}
            out.append(aggregate_records(conn, w.cf, filter=flt, scope=scope, actor=actor, **body))
        out.append(sorted(k for k, i in w.ids.items() if record_in_scope(conn, i, scope)))
    return out


def test_scopes_mean_the_same_on_the_value_table_and_the_json(conn: sa.Connection) -> None:
    w = build_world(conn)
    assert live_value_table(conn, w.cf) is not None
    with_table = _scoped_answers(conn, w)
    # own records: r1 and r5 (u1), whatever the value table holds
    assert with_table[0] == (["r1", "r5"], 2)
    assert with_table[2] == [
        {"keys": {"grade": "A"}, "values": {"count": 1}},
        {"keys": {"grade": "C"}, "values": {"count": 1}},
    ]
    assert with_table[6] == ["r1", "r5"]  # record_in_scope: the owner's, deleted ones aside
    assert with_table[13] == ["r1", "r2", "r5"]  # budget >= 50000
    drop_value_tables(conn, w.cf.form_id)
    assert live_value_table(conn, w.cf) is None
    assert _scoped_answers(conn, w) == copy.deepcopy(with_table)


def test_a_form_without_hidden_fields_still_reads_the_value_table(conn: sa.Connection) -> None:
    w = build_world(conn)
    seen: list[str] = []

    def capture(*args: Any) -> None:
        seen.append(args[2])

    visible = without_fields(w.cf, frozenset({"budget", "score"}))
    sa.event.listen(conn, "before_cursor_execute", capture)
    try:
        page = query_records(
            conn,
            visible,
            filter={"field": "grade", "op": "eq", "value": "A"},
            actor=Actor(1),
            published=w.cf,
        )
    finally:
        sa.event.remove(conn, "before_cursor_execute", capture)
    assert w.labels(page) == ["r1", "r3"]
    count = _count_sql(seen)
    assert "records" not in count.replace("record_id", "")
    # the hidden fields stay unknown
    with pytest.raises(InvalidQueryError) as caught:
        query_records(
            conn,
            visible,
            sort=[{"field": "budget"}],
            actor=Actor(1),
            published=w.cf,
        )
    assert caught.value.errors[0].code == "unknown_field"

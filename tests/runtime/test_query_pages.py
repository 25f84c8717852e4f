"""Sorting, keyset pages, cursors, ``fields``, capped counts and index use."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
import sqlalchemy as sa

from runtime.errors import InvalidQueryError
from runtime.store.engine import dialect_name
from runtime.store.indexes import create_indexes, index_statements
from runtime.store.query import query_records
from runtime.store.tables import records
from runtime.store.values import live_value_table
from tests.runtime.test_query_support import (
    DEAL,
    LIVE,
    World,
    build_world,
    insert_record,
    make_form,
)


@pytest.fixture
def world(conn: sa.Connection) -> World:
    return build_world(conn)


def all_pages(
    w: World, conn: sa.Connection, sort: list[dict[str, Any]], limit: int, **kw: Any
) -> list[list[str]]:
    pages: list[list[str]] = []
    cursor = None
    while True:
        page = query_records(
            conn, w.cf, sort=sort, limit=limit, cursor=cursor, actor=w.actor(), **kw
        )
        pages.append(w.labels(page))
        cursor = page.next_cursor
        if cursor is None:
            return pages
        assert len(pages) < 50


def test_default_order_is_id(world: World, conn: sa.Connection) -> None:
    page = query_records(conn, world.cf, actor=world.actor())
    assert world.labels(page) == LIVE
    assert page.next_cursor is None
    assert (page.count, page.count_capped) == (5, False)


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        # blanks last both ways; ties (r1/r5 budget 100000) broken by id, in the direction of
        # the last key unless id is named
        ([{"field": "budget", "dir": "asc"}], ["r3", "r2", "r1", "r5", "r4"]),
        ([{"field": "budget", "dir": "desc"}], ["r5", "r1", "r2", "r3", "r4"]),
        (
            [{"field": "budget", "dir": "desc"}, {"field": "id", "dir": "asc"}],
            ["r1", "r5", "r2", "r3", "r4"],
        ),
        ([{"field": "name"}], ["r3", "r1", "r5", "r2", "r4"]),
        (
            [{"field": "due", "dir": "asc"}, {"field": "name", "dir": "desc"}],
            ["r2", "r5", "r1", "r3", "r4"],
        ),
        ([{"field": "next_at", "dir": "desc"}], ["r3", "r1", "r2", "r5", "r4"]),
        ([{"field": "vip", "dir": "desc"}], ["r1", "r5", "r2", "r4", "r3"]),
        (
            [{"field": "grade", "dir": "desc"}, {"field": "budget", "dir": "asc"}],
            ["r5", "r2", "r3", "r1", "r4"],
        ),
        ([{"field": "created_at", "dir": "desc"}], ["r5", "r4", "r3", "r2", "r1"]),
        ([{"field": "rep", "dir": "asc"}], None),
        ([{"field": "id", "dir": "desc"}], ["r5", "r4", "r3", "r2", "r1"]),
    ],
)
@pytest.mark.parametrize("limit", [1, 2, 3, 10])
def test_keyset_pages_cover_every_row_once_in_order(
    world: World,
    conn: sa.Connection,
    sort: list[dict[str, Any]],
    expected: list[str] | None,
    limit: int,
) -> None:
    first = query_records(conn, world.cf, sort=sort, limit=100, actor=world.actor())
    whole = world.labels(first)
    if expected is not None:
        # PostgreSQL's text order follows the database collation; names here are ASCII or CJK
        # whose code points and collation agree.
        assert whole == expected
    pages = all_pages(world, conn, sort, limit)
    flat = [label for page in pages for label in page]
    assert flat == whole
    assert all(len(p) == limit for p in pages[:-1])
    assert sorted(flat) == LIVE


def test_pages_with_many_ties_and_blanks(conn: sa.Connection) -> None:
    cf = make_form(conn, DEAL)
    ids = []
    for i in range(23):
        data: dict[str, Any] = {"grade": "ABC"[i % 3] if i % 4 else None}
        if i % 5:
            data["budget"] = (i % 3) * 10
        ids.append(insert_record(conn, cf, data))
    from runtime.store.query import Actor

    for sort in (
        [{"field": "grade"}, {"field": "budget", "dir": "desc"}],
        [{"field": "budget", "dir": "asc"}, {"field": "grade", "dir": "desc"}],
    ):
        whole = [
            i["id"] for i in query_records(conn, cf, sort=sort, limit=100, actor=Actor(1)).items
        ]
        seen: list[int] = []
        cursor = None
        while True:
            page = query_records(conn, cf, sort=sort, limit=4, cursor=cursor, actor=Actor(1))
            seen.extend(i["id"] for i in page.items)
            cursor = page.next_cursor
            if cursor is None:
                break
        assert seen == whole
        assert sorted(seen) == sorted(ids)


def test_keyset_pages_respect_the_filter_and_search(world: World, conn: sa.Connection) -> None:
    pages = all_pages(
        world,
        conn,
        [{"field": "budget", "dir": "desc"}],
        1,
        filter={"field": "grade", "op": "in", "value": ["A", "C"]},
        search="华为",
    )
    assert pages == [["r5"], ["r1"]]


def test_a_cursor_from_another_sort_or_tampered_is_refused(
    world: World, conn: sa.Connection
) -> None:
    w = world
    page = query_records(conn, w.cf, sort=[{"field": "budget"}], limit=2, actor=w.actor())
    assert page.next_cursor is not None
    cursor = page.next_cursor

    def code(**kw: Any) -> list[tuple[str, str]]:
        with pytest.raises(InvalidQueryError) as caught:
            query_records(conn, w.cf, limit=2, actor=w.actor(), **kw)
        return [(e.field, e.code) for e in caught.value.errors]

    bad = [("cursor", "invalid_cursor")]
    assert code(sort=[{"field": "budget", "dir": "desc"}], cursor=cursor) == bad
    assert code(sort=[{"field": "name"}], cursor=cursor) == bad
    assert code(cursor=cursor) == bad
    for garbage in ("", "x", "!!!", "e30", "a" * 5000, cursor[:-3], cursor + "AAAA", "null"):
        assert code(sort=[{"field": "budget"}], cursor=garbage) == bad, garbage
    # Edit a value inside and the checksum no longer fits.
    raw = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    body = json.loads(raw["b"])
    body["v"][0] = "'; DROP TABLE records; --"
    raw["b"] = json.dumps(body)
    forged = base64.urlsafe_b64encode(json.dumps(raw).encode()).decode()
    assert code(sort=[{"field": "budget"}], cursor=forged) == bad
    assert code(sort=[{"field": "budget"}], cursor=12) == bad  # type: ignore[arg-type]
    # The same cursor from the same sort still works, and on another form it is refused.
    again = query_records(
        conn, w.cf, sort=[{"field": "budget"}], limit=2, cursor=cursor, actor=w.actor()
    )
    assert w.labels(again) == ["r1", "r5"]
    with pytest.raises(InvalidQueryError):
        query_records(conn, w.other, sort=[{"field": "budget"}], cursor=cursor, actor=w.actor())


def test_bad_sorts_are_refused(world: World, conn: sa.Connection) -> None:
    def codes(sort: Any) -> list[str]:
        with pytest.raises(InvalidQueryError) as caught:
            query_records(conn, world.cf, sort=sort, actor=world.actor())
        return [e.code for e in caught.value.errors]

    assert codes([{"field": "nope"}]) == ["unknown_field"]
    assert codes([{"field": "tags"}]) == ["not_sortable"]
    assert codes([{"field": "addr"}]) == ["not_sortable"]
    assert codes([{"field": "name", "dir": "up"}]) == ["invalid_sort"]
    assert codes([{"field": k} for k in ("name", "grade", "budget", "due", "vip", "score")]) == [
        "too_many_sort_keys"
    ]


def test_fields_limit_the_data_keys(world: World, conn: sa.Connection) -> None:
    page = query_records(conn, world.cf, fields=["name", "budget"], actor=world.actor())
    first = page.items[0]
    assert first["data"] == {"name": "华为技术", "budget": 100000}
    assert set(first) == {
        "id",
        "form_id",
        "version",
        "stage",
        "data",
        "created_at",
        "created_by",
        "updated_at",
        "updated_by",
    }
    assert first["created_at"] == "2026-11-01T00:00:00Z"
    assert first["stage"] == "won" and first["version"] == 1
    assert page.items[3]["data"] == {}
    with pytest.raises(InvalidQueryError) as caught:
        query_records(conn, world.cf, fields=["name", "nope", "id", "Name"], actor=world.actor())
    assert [(e.field, e.code) for e in caught.value.errors] == [
        ("fields[1]", "unknown_field"),
        ("fields[3]", "unknown_field"),
    ]
    page = query_records(conn, world.cf, fields=["id", "stage", "grade"], actor=world.actor())
    assert page.items[0]["data"] == {"grade": "A"} and page.items[0]["stage"] == "won"
    full = query_records(conn, world.cf, actor=world.actor()).items[0]["data"]
    assert full["tags"] == ["重点", "老客户"] and full["addr"]["district"] == "浦东新区"


def test_page_timestamps_are_the_records_utc_times_in_iso_form(
    world: World, conn: sa.Connection
) -> None:
    """On SQLite a page turns the stored UTC text into ISO text without parsing it; any
    shape of stored time gives what the datetime path gives."""
    import datetime as dt

    from runtime.store.records import get_record

    at = dt.datetime(2026, 11, 5, 8, 30, 15, 120000, tzinfo=dt.UTC)
    shapes = [at, at.replace(microsecond=0), at.replace(microsecond=7)]
    ids = [
        insert_record(conn, world.cf, {"name": f"时间{i}"}, created_at=t, updated_at=t)
        for i, t in enumerate(shapes)
    ]
    expected = {
        "2026-11-05T08:30:15.120000Z",
        "2026-11-05T08:30:15Z",
        "2026-11-05T08:30:15.000007Z",
    }
    if dialect_name(conn) == "sqlite":
        # text written by hand, not by the engine: no fraction; an offset; a "T"
        hand = ["2026-11-05 08:30:15", "2026-11-05T16:30:15+08:00", "2026-11-05T08:30:15.5"]
        for text in hand:
            ids.append(insert_record(conn, world.cf, {"name": text}))
            conn.execute(
                sa.update(records)
                .where(records.c.id == ids[-1])
                .values(created_at=sa.literal(text), updated_at=sa.literal(text))
            )
        expected.add("2026-11-05T08:30:15.500000Z")
    page = query_records(
        conn,
        world.cf,
        filter={"field": "id", "op": "in", "value": ids},
        actor=world.actor(),
    )
    got = {item["id"]: (item["created_at"], item["updated_at"]) for item in page.items}
    assert set(got) == set(ids)
    for record_id in ids:
        created = get_record(conn, record_id).created_at
        iso = created.isoformat().replace("+00:00", "Z")
        assert got[record_id] == (iso, iso)
    assert {created for created, _ in got.values()} == expected


def test_counts_are_capped(world: World, conn: sa.Connection) -> None:
    w = world
    page = query_records(conn, w.cf, limit=2, count_cap=3, actor=w.actor())
    assert (page.count, page.count_capped) == (3, True)
    assert len(page.items) == 2
    page = query_records(conn, w.cf, limit=2, count_cap=5, actor=w.actor())
    assert (page.count, page.count_capped) == (5, False)
    page = query_records(
        conn,
        w.cf,
        filter={"field": "grade", "op": "eq", "value": "A"},
        count_cap=1,
        actor=w.actor(),
    )
    assert (page.count, page.count_capped) == (1, True)
    assert len(page.items) == 2  # the cap bounds the count, not the page


def _statements(conn: sa.Connection, fn: Any) -> tuple[Any, list[str]]:
    """What ``fn()`` returns and the SQL statements it ran on ``conn``."""
    seen: list[str] = []

    def listener(*args: Any) -> None:
        seen.append(args[2])

    sa.event.listen(conn, "before_cursor_execute", listener)
    try:
        return fn(), seen
    finally:
        sa.event.remove(conn, "before_cursor_execute", listener)


BUDGET_ASC = [{"field": "budget", "dir": "asc"}]  # r3, r2, r1, r5, then r4 (blank)


@pytest.mark.parametrize("scoped", [False, True])
def test_the_capped_count_comes_with_the_page_in_one_statement(
    world: World, conn: sa.Connection, scoped: bool
) -> None:
    w = world
    scope = records.c.owner_id == w.u1 if scoped else None  # r1, r5
    query_records(conn, w.cf, actor=w.actor())  # the value table's existence is remembered
    for cap, count, capped in ((1, 1, True), (2, 2, not scoped), (10, 2 if scoped else 5, False)):
        page, seen = _statements(
            conn,
            lambda cap=cap: query_records(
                conn, w.cf, sort=BUDGET_ASC, limit=1, count_cap=cap, scope=scope, actor=w.actor()
            ),
        )
        assert len(seen) == 1, seen
        assert w.labels(page) == (["r1"] if scoped else ["r3"])
        assert (page.count, page.count_capped) == (count, capped)
    # The count is the filter's and the scope's, not the cursor's: the same on every page.
    pages = all_pages(w, conn, BUDGET_ASC, 1, scope=scope, count_cap=10)
    assert pages == ([["r1"], ["r5"]] if scoped else [["r3"], ["r2"], ["r1"], ["r5"], ["r4"]])


def test_the_capped_count_is_right_when_the_first_statement_has_no_row(
    world: World, conn: sa.Connection
) -> None:
    w = world
    actor = w.actor()
    query_records(conn, w.cf, actor=actor)  # the value table's existence is remembered
    # After r5, the last non-blank budget: the page is the blank part's (r4) alone.
    page = query_records(conn, w.cf, sort=BUDGET_ASC, limit=4, actor=actor)
    assert w.labels(page) == ["r3", "r2", "r1", "r5"]
    after_r5, seen = _statements(
        conn,
        lambda: query_records(
            conn, w.cf, sort=BUDGET_ASC, limit=4, cursor=page.next_cursor, count_cap=3, actor=actor
        ),
    )
    assert w.labels(after_r5) == ["r4"] and after_r5.next_cursor is None
    assert (after_r5.count, after_r5.count_capped) == (3, True)
    assert len(seen) == 2  # the non-blank part (empty), the blank part with the count
    # Nothing matches: 0 without a statement more (a miss does a hit's database work).
    nothing, seen = _statements(
        conn,
        lambda: query_records(
            conn, w.cf, filter={"field": "name", "op": "eq", "value": "无"}, actor=actor
        ),
    )
    assert (nothing.items, nothing.count, nothing.count_capped) == ([], 0, False)
    assert len(seen) == 1
    # A page past the end: no rows at all, the count still counts the live records.
    page = query_records(conn, w.cf, limit=4, actor=actor)
    conn.execute(
        records.update()
        .where(records.c.id == w.ids["r5"])
        .values(deleted_at=sa.func.current_timestamp())
    )
    empty = query_records(conn, w.cf, limit=4, cursor=page.next_cursor, actor=actor)
    assert (empty.items, empty.count, empty.count_capped) == ([], 4, False)


def test_limits(world: World, conn: sa.Connection) -> None:
    for bad in (0, -1, 1001, True, "10"):
        with pytest.raises(InvalidQueryError) as caught:
            query_records(conn, world.cf, limit=bad, actor=world.actor())  # type: ignore[arg-type]
        assert [e.code for e in caught.value.errors] == ["invalid_limit"]


def test_index_statements_name_and_scope_the_indexes(world: World) -> None:
    sqlite = index_statements(world.cf, "sqlite")
    pg = index_statements(world.cf, "postgresql")
    fid = world.cf.form_id
    # JSON expression indexes of scalars (earlier versions) are dropped: the value table has
    # the typed values; arrays keep a GIN index on PostgreSQL.
    scalars = ("name", "grade", "source", "budget", "score", "due", "next_at", "rep")
    dropped = {f"DROP INDEX IF EXISTS ix_rec_f{fid}_{k}" for k in (*scalars, "dept", "notes")}
    assert {s for s in sqlite if s.startswith("DROP")} >= dropped
    assert not [s for s in sqlite if not s.startswith("DROP")]
    created = [s for s in pg if not s.startswith("DROP")]
    assert {s.split()[5] for s in created} == {f"ix_rec_f{fid}_{k}" for k in ("tags", "watchers")}
    assert all(s.endswith(f"WHERE form_id = {fid} AND deleted_at IS NULL") for s in created)
    assert any("gin ((data -> 'tags') jsonb_path_ops)" in s for s in created)


def _plan(conn: sa.Connection, statement: str, params: dict[str, Any]) -> str:
    if dialect_name(conn) == "sqlite":
        rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, params).all()
        return "\n".join(str(r[-1]) for r in rows)
    rows = conn.exec_driver_sql("EXPLAIN " + statement, params).all()
    return "\n".join(r[0] for r in rows)


def _index(conn: sa.Connection, w: World, key: str) -> str:
    """The value-table index of ``key`` (runtime.store.values)."""
    vt = live_value_table(conn, w.cf)
    assert vt is not None
    name = vt.index_of(key)
    assert name is not None
    return name


def _compiled(conn: sa.Connection, fn: Any) -> tuple[str, dict[str, Any]]:
    """The SQL text and parameters of the page query ``fn`` runs, captured on the way out."""
    seen: list[tuple[str, Any]] = []

    def capture(
        _conn: Any, _cursor: Any, statement: str, parameters: Any, _ctx: Any, _many: bool
    ) -> None:
        seen.append((statement, parameters))

    sa.event.listen(conn, "before_cursor_execute", capture)
    try:
        fn()
    finally:
        sa.event.remove(conn, "before_cursor_execute", capture)
    return next(s for s in seen if "ORDER BY" in s[0])


@pytest.mark.parametrize(
    ("flt", "sort", "index_key"),
    [
        (
            {"field": "budget", "op": "gte", "value": 50000},
            [{"field": "budget", "dir": "desc"}],
            "budget",
        ),
        (
            {"field": "name", "op": "in", "value": ["华为技术", "n1", "n2"]},
            [{"field": "name"}],
            "name",
        ),
        (
            {"field": "due", "op": "between", "value": ["2026-11-01", "2026-11-30"]},
            [{"field": "due"}],
            "due",
        ),
    ],
)
def test_an_indexed_filter_and_sort_uses_the_expression_index(
    world: World,
    conn: sa.Connection,
    flt: dict[str, Any],
    sort: list[dict[str, Any]],
    index_key: str,
) -> None:
    w = world
    create_indexes(conn, w.cf)
    for i in range(300):  # enough rows for the planner to care
        insert_record(conn, w.cf, {"name": f"n{i}", "budget": i, "due": "2025-01-01"})
    create_indexes(conn, w.cf)  # idempotent; refreshes SQLite's statistics
    if dialect_name(conn) == "postgresql":
        conn.exec_driver_sql("ANALYZE")
        conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
    statement, params = _compiled(
        conn, lambda: query_records(conn, w.cf, filter=flt, sort=sort, limit=50, actor=w.actor())
    )
    plan = _plan(conn, statement, params)
    assert _index(conn, w, index_key) in plan, plan
    # And the keyset next page too.
    page = query_records(conn, w.cf, filter=flt, sort=sort, limit=1, actor=w.actor())
    assert page.next_cursor is not None
    statement, params = _compiled(
        conn,
        lambda: query_records(
            conn, w.cf, filter=flt, sort=sort, limit=1, cursor=page.next_cursor, actor=w.actor()
        ),
    )
    plan = _plan(conn, statement, params)
    assert _index(conn, w, index_key) in plan, plan


@pytest.mark.parametrize("direction", ["asc", "desc"])
@pytest.mark.parametrize("with_cursor", [False, True])
def test_a_sort_walks_the_index_in_either_direction_without_sorting(
    world: World, conn: sa.Connection, direction: str, with_cursor: bool
) -> None:
    w = world
    for i in range(300):
        insert_record(conn, w.cf, {"budget": i % 50} if i % 7 else {})
    create_indexes(conn, w.cf)
    if dialect_name(conn) == "postgresql":
        conn.exec_driver_sql("ANALYZE")
        conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
        conn.exec_driver_sql("SET LOCAL enable_bitmapscan = off")
    sort = [{"field": "budget", "dir": direction}]
    cursor = None
    if with_cursor:
        cursor = query_records(conn, w.cf, sort=sort, limit=20, actor=w.actor()).next_cursor
    statement, params = _compiled(
        conn, lambda: query_records(conn, w.cf, sort=sort, limit=20, cursor=cursor, actor=w.actor())
    )
    plan = _plan(conn, statement, params)
    assert _index(conn, w, "budget") in plan, plan
    assert "TEMP B-TREE" not in plan and "Sort" not in plan, plan


def test_odd_shapes_from_a_request_body_are_refused_not_crashed(
    world: World, conn: sa.Connection
) -> None:
    bodies: list[dict[str, Any]] = [
        {"sort": "name"},
        {"sort": {"field": "name"}},
        {"sort": [None]},
        {"filter": ["name"]},
        {"filter": "name = 1"},
        {"filter": {"field": "name", "op": "eq", "value": {"$ne": 1}}},
        {"filter": {"field": "name", "op": "in", "value": "abc"}},
        {"fields": "name"},
        {"fields": [1]},
        {"limit": None},
        {"limit": 2.5},
        {"cursor": ["x"]},
        {"search": ["x"]},
    ]
    for body in bodies:
        with pytest.raises(InvalidQueryError):
            query_records(conn, world.cf, actor=world.actor(), **body)

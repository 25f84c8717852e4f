"""The cheaper aggregate shapes of runtime.store.fast_groups give exactly what the plain
``GROUP BY`` gives: date buckets by boundary (PostgreSQL) across offset changes, year and ISO
week boundaries in many zones, and few groups from an index plus one scan (SQLite) with NULLs,
values outside the option set and values of another type. The plain answers are those of the
JSON path (the value table dropped), which never takes either shape."""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Iterator
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from runtime.store import fast_groups
from runtime.store.engine import dialect_name
from runtime.store.fast_groups import FEW, BucketLookup, OutOfRange
from runtime.store.query import aggregate_records
from runtime.store.tables import records
from runtime.store.values import drop_value_tables, live_value_table
from tests.runtime.test_query_support import DEAL, NOW, insert_record, make_form, make_user

ZONES = [
    "UTC",
    "Asia/Shanghai",
    "America/New_York",
    "Europe/London",
    "Australia/Lord_Howe",  # a 30-minute daylight saving shift
    "America/Santiago",  # changes at local midnight
    "Asia/Kathmandu",  # +05:45
    "Pacific/Apia",  # skipped a whole day in 2011
]
BUCKETS = ["day", "week", "month", "quarter", "year"]


def _changes(tz: ZoneInfo, start: dt.datetime, end: dt.datetime) -> Iterator[dt.datetime]:
    """The instants between ``start`` and ``end`` at which ``tz``'s offset changes (hourly)."""
    at = start
    while at < end:
        nxt = at + dt.timedelta(hours=1)
        if at.astimezone(tz).utcoffset() != nxt.astimezone(tz).utcoffset():
            yield nxt
        at = nxt


def _instants() -> list[dt.datetime]:
    out: list[dt.datetime] = []
    start = dt.datetime(2025, 12, 1, tzinfo=dt.UTC)
    end = dt.datetime(2027, 1, 10, tzinfo=dt.UTC)
    for name in ZONES:
        tz = ZoneInfo(name)
        for change in _changes(tz, start, end):
            for delta in (-3600, -1, 0, 1, 1800, 3600):
                out.append(change + dt.timedelta(seconds=delta))
        # Local midnights around the year's end, ISO week 53 and a month's end.
        for day in (dt.date(2025, 12, 31), dt.date(2026, 1, 1), dt.date(2026, 12, 28)):
            for d in range(0, 8):
                midnight = dt.datetime.combine(day + dt.timedelta(days=d), dt.time(), tz)
                for delta in (-1, 0, 1):
                    out.append(midnight.astimezone(dt.UTC) + dt.timedelta(seconds=delta))
    return sorted(set(out))


def _at(value: dt.datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture
def form(conn: sa.Connection) -> Any:
    cf = make_form(conn, DEAL)
    make_form(conn, {**DEAL, "key": "other", "name": "Other"})  # never counted
    for i, at in enumerate(_instants()):
        grade = "ABCD"[i % 4] if i % 7 else None
        created = dt.datetime.fromisoformat(_at(at).replace("Z", "+00:00"))
        data = {"name": "x", "grade": grade, "budget": i, "next_at": _at(at)}
        insert_record(conn, cf, data, created_at=created)
    # Stored values a write through the services would refuse: they must group as before.
    for odd in ("soon", "2026-02-30T10:00:00Z", "2026-12-31T23:59:59.5Z", None, 12):
        insert_record(conn, cf, {"name": "odd", "grade": "B", "next_at": odd})
    return cf


def _statements(conn: sa.Connection, run: Any) -> list[str]:
    seen: list[str] = []

    def capture(*args: Any) -> None:
        seen.append(args[2])

    sa.event.listen(conn, "before_cursor_execute", capture)
    try:
        run()
    finally:
        sa.event.remove(conn, "before_cursor_execute", capture)
    return seen


def _buckets(conn: sa.Connection, cf: Any, zones: list[str]) -> list[Any]:
    out = []
    actor = _actor(conn)
    for zone in zones:
        for bucket in BUCKETS:
            for field in ("next_at", "created_at"):
                body: dict[str, Any] = {
                    "group_by": [{"field": "grade"}, {"field": field, "bucket": bucket}],
                    "metrics": [{"op": "count"}, {"op": "sum", "field": "budget"}],
                }
                out.append(aggregate_records(conn, cf, actor=actor, timezone=zone, **body))
            out.append(
                aggregate_records(
                    conn,
                    cf,
                    actor=actor,
                    timezone=zone,
                    group_by=[{"field": "next_at", "bucket": bucket}],
                    filter={"field": "grade", "op": "in", "value": ["A", "C"]},
                )
            )
            # A data-permission scope (a condition on ``records``, which is then joined).
            out.append(
                aggregate_records(
                    conn,
                    cf,
                    actor=actor,
                    timezone=zone,
                    group_by=[{"field": "next_at", "bucket": bucket}, {"field": "grade"}],
                    scope=records.c.id % 3 == 0,
                )
            )
    return out


def _actor(conn: sa.Connection) -> Any:
    from runtime.actor import Actor

    return Actor(user_id=make_user(conn, "reader"), is_admin=True)


@pytest.mark.parametrize("zones", [ZONES[:4], ZONES[4:]], ids=["common", "odd"])
def test_buckets_by_boundary_answer_what_the_plain_shape_answers(
    conn: sa.Connection, form: Any, zones: list[str]
) -> None:
    with_table = _buckets(conn, form, zones)
    assert with_table[0], "the month groups are there"
    drop_value_tables(conn, form.form_id)
    assert live_value_table(conn, form) is None
    assert _buckets(conn, form, zones) == copy.deepcopy(with_table)


def test_postgresql_buckets_read_positions_not_formatted_text(
    conn: sa.Connection, form: Any
) -> None:
    actor = _actor(conn)
    seen = _statements(
        conn,
        lambda: aggregate_records(
            conn,
            form,
            actor=actor,
            timezone="America/New_York",
            group_by=[{"field": "next_at", "bucket": "month"}],
        ),
    )
    grouped = [s for s in seen if "GROUP BY" in s]
    assert len(grouped) == 1
    if dialect_name(conn) == "postgresql":
        assert "width_bucket" in grouped[0] and "to_char" not in grouped[0]
    else:
        assert "width_bucket" not in grouped[0]


def test_postgresql_is_told_that_bucket_positions_are_few(conn: sa.Connection, form: Any) -> None:
    """Grouped by ``width_bucket(…)`` itself, PostgreSQL estimates as many groups as there
    are distinct instants and never plans a parallel partial aggregate; grouped by the
    column of the joined positions it knows their number."""
    if dialect_name(conn) != "postgresql":
        pytest.skip("PostgreSQL's planner")
    vt = live_value_table(conn, form)
    assert vt is not None
    conn.exec_driver_sql(f"ANALYZE {vt.table.name}")
    seen: list[tuple[str, Any]] = []

    def capture(*args: Any) -> None:
        seen.append((args[2], args[3]))

    body: dict[str, Any] = {
        "group_by": [{"field": "grade"}, {"field": "next_at", "bucket": "month"}],
        "metrics": [{"op": "count"}, {"op": "sum", "field": "budget"}],
    }
    sa.event.listen(conn, "before_cursor_execute", capture)
    try:
        groups = aggregate_records(conn, form, actor=_actor(conn), timezone="UTC", **body)
    finally:
        sa.event.remove(conn, "before_cursor_execute", capture)
    statement, params = next((s, p) for s, p in seen if "width_bucket" in s)
    plan = conn.exec_driver_sql("EXPLAIN (FORMAT JSON) " + statement, params).scalar_one()

    def estimates(node: dict[str, Any]) -> Iterator[int]:
        if node["Node Type"] == "Aggregate":
            yield node["Plan Rows"]
        for child in node.get("Plans", []):
            yield from estimates(child)

    distinct_instants = conn.exec_driver_sql(
        f"SELECT count(DISTINCT i_next_at) FROM {vt.table.name}"
    ).scalar_one()
    assert distinct_instants > 5 * 17  # what the estimate follows without the positions
    # 5 grades (NULL too) x 14 months + the 2 outside positions and NULL.
    assert len(groups) <= 5 * 17
    assert 0 < max(estimates(plan[0]["Plan"])) <= 5 * 17


def test_a_position_outside_the_bounds_is_refused() -> None:
    lookup = BucketLookup(sa.literal_column("1"), ["2026-01", "2026-02"])
    assert lookup.label(1) == "2026-01" and lookup.label(2) == "2026-02"
    assert lookup.label(None) is None
    for code in (0, 3):
        with pytest.raises(OutOfRange):
            lookup.label(code)


# --- few groups (SQLite) --------------------------------------------------------------------


def _few(conn: sa.Connection, cf: Any) -> list[Any]:
    actor = _actor(conn)
    bodies: list[dict[str, Any]] = [
        {"group_by": [{"field": "grade"}]},
        {
            "group_by": [{"field": "grade"}],
            "metrics": [
                {"op": "count"},
                {"op": "sum", "field": "budget"},
                {"op": "avg", "field": "score"},
                {"op": "min", "field": "due"},
                {"op": "max", "field": "next_at"},
                {"op": "distinct", "field": "source"},
            ],
        },
        {"group_by": [{"field": "stage"}], "metrics": [{"op": "sum", "field": "budget"}]},
        {"group_by": [{"field": "budget"}], "metrics": [{"op": "count"}]},
    ]
    return [aggregate_records(conn, cf, actor=actor, **body) for body in bodies]


def test_few_groups_answer_what_the_plain_shape_answers(conn: sa.Connection) -> None:
    cf = make_form(conn, DEAL)
    assert _few(conn, cf) == [[], [], [], []]  # an empty form
    values: list[Any] = ["A", "B", "A", None, "Z", 12, 12.0, "b", "A", None]
    for i, grade in enumerate(values):
        data = {
            "grade": grade,
            "budget": [100, 2.5, None, "abc", 7][i % 5],
            "score": i,
            "due": f"2026-11-{i + 10}",
            "next_at": f"2026-11-{i + 10}T08:00:00Z",
            "source": ["web", "ad", None][i % 3],
        }
        insert_record(conn, cf, data, stage=["new", "won"][i % 2], created_at=NOW)
    with_table = _few(conn, cf)
    if dialect_name(conn) == "sqlite":  # 12 and 12.0 are one value there, text on PostgreSQL
        grades = [g["keys"]["grade"] for g in with_table[0]]
        assert grades == [12, "A", "B", "Z", "b", None]
        assert [g["values"]["count"] for g in with_table[0]] == [2, 3, 1, 1, 1, 2]
    drop_value_tables(conn, cf.form_id)
    assert _few(conn, cf) == copy.deepcopy(with_table)


def test_few_groups_read_the_index_and_one_scan_on_sqlite(conn: sa.Connection) -> None:
    cf = make_form(conn, DEAL)
    for grade in ("A", "B", None):
        insert_record(conn, cf, {"grade": grade, "budget": 1})
    actor = _actor(conn)
    body: dict[str, Any] = {
        "group_by": [{"field": "grade"}],
        "metrics": [{"op": "count"}, {"op": "sum", "field": "budget"}],
    }
    seen = _statements(conn, lambda: aggregate_records(conn, cf, actor=actor, **body))
    if dialect_name(conn) == "sqlite":
        # The values from index seeks, their counts from index ranges, the sums from one scan.
        assert not any("GROUP BY" in s for s in seen)
        assert len([s for s in seen if "FILTER (WHERE" in s]) == 1
    else:
        assert not any("FILTER (WHERE" in s for s in seen)
    # Filtered, or more than FEW groups: the plain GROUP BY.
    flt = {"field": "budget", "op": "gte", "value": 0}
    seen = _statements(conn, lambda: aggregate_records(conn, cf, actor=actor, filter=flt, **body))
    assert not any("FILTER (WHERE" in s for s in seen)
    for i in range(FEW + 1):
        insert_record(conn, cf, {"grade": f"g{i}", "budget": i})
    seen = _statements(conn, lambda: aggregate_records(conn, cf, actor=actor, **body))
    assert not any("FILTER (WHERE" in s for s in seen)
    assert len(aggregate_records(conn, cf, actor=actor, **body)) == FEW + 4


def test_rows_outside_the_bounds_fall_back_to_the_plain_shape(
    conn: sa.Connection, form: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A range read too narrow (as a misleading index order could give): positions 0 and n+1
    # occur, and the aggregate answers in the plain shape instead.
    body: dict[str, Any] = {"group_by": [{"field": "next_at", "bucket": "month"}]}
    actor = _actor(conn)
    right = aggregate_records(conn, form, actor=actor, timezone="Europe/London", **body)
    monkeypatch.setattr(fast_groups, "_day_of", lambda value: dt.date(2026, 6, 15))
    seen_answer: list[Any] = []
    seen = _statements(
        conn,
        lambda: seen_answer.append(
            aggregate_records(conn, form, actor=actor, timezone="Europe/London", **body)
        ),
    )
    assert seen_answer == [right] and len(right) > 3
    if dialect_name(conn) == "postgresql":
        grouped = [s for s in seen if "GROUP BY" in s]
        assert len(grouped) == 2 and "width_bucket" in grouped[0] and "to_char" in grouped[1]

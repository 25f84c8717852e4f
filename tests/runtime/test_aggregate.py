"""Aggregates: group by one or two fields, date buckets, arrays per element, every metric."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from runtime.errors import InvalidQueryError
from runtime.store.query import aggregate_records
from tests.runtime.test_query_support import NOW, World, build_world, insert_record


@pytest.fixture
def world(conn: sa.Connection) -> World:
    return build_world(conn)


def agg(w: World, conn: sa.Connection, **kw: Any) -> list[dict[str, Any]]:
    kw.setdefault("actor", w.actor())
    return aggregate_records(conn, w.cf, now=NOW, **kw)


def table(groups: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [tuple(g["keys"].values()) + tuple(g["values"].values()) for g in groups]


def test_totals_without_groups(world: World, conn: sa.Connection) -> None:
    out = agg(
        world,
        conn,
        metrics=[
            {"op": "count"},
            {"op": "sum", "field": "budget"},
            {"op": "avg", "field": "score"},
            {"op": "min", "field": "budget"},
            {"op": "max", "field": "due"},
            {"op": "distinct", "field": "grade"},
            {"op": "max", "field": "created_at"},
        ],
    )
    assert out == [
        {
            "keys": {},
            "values": {
                "count": 5,
                "sum_budget": 250000.5,
                "avg_score": 4,
                "min_budget": 0,
                "max_due": "2026-12-01",
                "distinct_grade": 3,
                "max_created_at": "2026-11-22T04:00:00Z",
            },
        }
    ]
    assert agg(world, conn) == [{"keys": {}, "values": {"count": 5}}]


def test_group_by_one_field(world: World, conn: sa.Connection) -> None:
    out = agg(
        world,
        conn,
        group_by=[{"field": "grade"}],
        metrics=[{"op": "count"}, {"op": "sum", "field": "budget"}],
    )
    assert out == [
        {"keys": {"grade": "A"}, "values": {"count": 2, "sum_budget": 100000}},
        {"keys": {"grade": "B"}, "values": {"count": 1, "sum_budget": 50000.5}},
        {"keys": {"grade": "C"}, "values": {"count": 1, "sum_budget": 100000}},
        {"keys": {"grade": None}, "values": {"count": 1, "sum_budget": None}},
    ]


def test_group_by_two_fields_with_filter_and_search(world: World, conn: sa.Connection) -> None:
    out = agg(
        world,
        conn,
        group_by=[{"field": "rep"}, {"field": "vip"}],
        metrics=[{"op": "count"}],
        filter={"field": "name", "op": "not_empty"},
    )
    w = world
    assert table(out) == [(w.u1, False, 1), (w.u1, True, 1), (w.u2, False, 1), (None, None, 1)]
    assert table(agg(w, conn, group_by=[{"field": "grade"}], search="华为")) == [("A", 1), ("C", 1)]


def test_bool_keys_order_false_before_true(world: World, conn: sa.Connection) -> None:
    out = agg(world, conn, group_by=[{"field": "vip"}])
    assert table(out) == [(False, 2), (True, 1), (None, 2)]


@pytest.mark.parametrize(
    ("bucket", "expected"),
    [
        ("day", [("2026-11-20", 1), ("2026-11-22", 2), ("2026-12-01", 1), (None, 1)]),
        ("week", [("2026-W47", 3), ("2026-W49", 1), (None, 1)]),
        ("month", [("2026-11", 3), ("2026-12", 1), (None, 1)]),
        ("quarter", [("2026-Q4", 4), (None, 1)]),
        ("year", [("2026", 4), (None, 1)]),
    ],
)
def test_date_buckets(world: World, conn: sa.Connection, bucket: str, expected: list[Any]) -> None:
    assert table(agg(world, conn, group_by=[{"field": "due", "bucket": bucket}])) == expected


@pytest.mark.parametrize(
    ("tz", "bucket", "expected"),
    [
        # r2 is 2026-11-21T17:00Z = the 22nd in Shanghai; r3 2026-12-31T16:30Z = 2027 there.
        ("Asia/Shanghai", "day", [("2026-11-22", 2), ("2027-01-01", 1), (None, 2)]),
        ("UTC", "day", [("2026-11-21", 1), ("2026-11-22", 1), ("2026-12-31", 1), (None, 2)]),
        ("Asia/Shanghai", "year", [("2026", 2), ("2027", 1), (None, 2)]),
        ("UTC", "year", [("2026", 3), (None, 2)]),
        ("Asia/Shanghai", "week", [("2026-W47", 2), ("2026-W53", 1), (None, 2)]),
        ("UTC", "quarter", [("2026-Q4", 3), (None, 2)]),
        ("America/New_York", "day", [("2026-11-21", 2), ("2026-12-31", 1), (None, 2)]),
    ],
)
def test_datetime_buckets_use_the_timezone(
    world: World, conn: sa.Connection, tz: str, bucket: str, expected: list[Any]
) -> None:
    out = agg(world, conn, group_by=[{"field": "next_at", "bucket": bucket}], timezone=tz)
    assert table(out) == expected


def test_dst_zones_bucket_by_the_local_day(world: World, conn: sa.Connection) -> None:
    # New York: EDT (-4) until 2026-11-01 06:00Z, then EST (-5).
    for at in ("2026-07-01T03:30:00Z", "2026-11-01T05:30:00Z", "2026-11-01T06:30:00Z"):
        insert_record(conn, world.cf, {"name": "dst", "next_at": at})
    out = agg(
        world,
        conn,
        group_by=[{"field": "next_at", "bucket": "day"}],
        filter={"field": "name", "op": "eq", "value": "dst"},
        timezone="America/New_York",
    )
    assert table(out) == [("2026-06-30", 1), ("2026-11-01", 2)]


def test_system_datetime_buckets(world: World, conn: sa.Connection) -> None:
    out = agg(
        world, conn, group_by=[{"field": "created_at", "bucket": "month"}, {"field": "grade"}]
    )
    assert table(out) == [
        ("2026-11", "A", 2),
        ("2026-11", "B", 1),
        ("2026-11", "C", 1),
        ("2026-11", None, 1),
    ]
    out = agg(world, conn, group_by=[{"field": "created_at", "bucket": "day"}])
    assert table(out) == [
        ("2026-11-01", 1),
        ("2026-11-11", 1),
        ("2026-11-21", 1),
        ("2026-11-22", 2),
    ]


def test_arrays_group_per_element(world: World, conn: sa.Connection) -> None:
    out = agg(
        world,
        conn,
        group_by=[{"field": "tags"}],
        metrics=[{"op": "count"}, {"op": "sum", "field": "budget"}],
    )
    assert table(out) == [
        ("渠道", 1, 50000.5),
        ("老客户", 1, 100000),
        ("重点", 2, 200000),
        (None, 2, 0),
    ]
    w = world
    out = agg(w, conn, group_by=[{"field": "watchers"}, {"field": "grade"}])
    assert table(out) == [
        (w.u1, "A", 1),
        (w.u2, "A", 1),
        (w.u2, "B", 1),
        (None, "A", 1),
        (None, "C", 1),
        (None, None, 1),
    ]


def test_user_groups_are_ordered_as_numbers(world: World, conn: sa.Connection) -> None:
    """User ids order as numbers on both databases (PostgreSQL unnested them as text: 10
    before 9); a JSON null in the array is the blank group, as with no user at all."""
    for watchers in ([9], [10, 9], [100], [2, None]):
        insert_record(conn, world.cf, {"name": "w", "watchers": watchers})
    groups = [g["keys"]["watchers"] for g in agg(world, conn, group_by=[{"field": "watchers"}])]
    numbers = [k for k in groups if k is not None]
    assert numbers == sorted(numbers) and {2, 9, 10, 100} <= set(numbers)
    assert groups[-1] is None and groups.count(None) == 1


def test_bad_aggregates_are_refused(world: World, conn: sa.Connection) -> None:
    def codes(**kw: Any) -> list[str]:
        with pytest.raises(InvalidQueryError) as caught:
            agg(world, conn, **kw)
        return [e.code for e in caught.value.errors]

    assert codes(group_by=[{"field": "nope"}]) == ["unknown_field"]
    assert codes(group_by=[{"field": "addr"}]) == ["not_groupable"]
    assert codes(group_by=[{"field": "grade", "bucket": "month"}]) == ["bucket_needs_date"]
    assert codes(group_by=[{"field": "due", "bucket": "decade"}]) == ["invalid_group_by"]
    assert codes(group_by=[{"field": "grade"}, {"field": "rep"}, {"field": "vip"}]) == [
        "too_many_groups"
    ]
    assert codes(metrics=[{"op": "sum", "field": "name"}]) == ["not_numeric"]
    assert codes(metrics=[{"op": "sum"}]) == ["missing_property"]
    assert codes(metrics=[{"op": "median", "field": "budget"}]) == ["invalid_metrics"]
    assert codes(filter={"field": "budget", "op": "contains", "value": 1}) == [
        "operator_not_supported"
    ]
    assert codes(search="x" * 500) == ["invalid_search"]
    assert codes(timezone="nowhere") == ["invalid_timezone"]


def test_corrupt_values_do_not_break_aggregates(world: World, conn: sa.Connection) -> None:
    insert_record(
        conn,
        world.cf,
        {"budget": "abc", "due": "2026-02-30", "next_at": "soon", "tags": "重点", "vip": "x"},
    )
    odd = [
        ("2026-02-30", "2026-02-30T10:00:00Z"),  # no such day
        ("0000-01-01", "0000-01-01T00:00:00Z"),  # no year 0
        ("2026-13-01", "2026-13-01T25:61:00Z"),
        ("abcd-ef-gh", "abcd-ef-ghTij:kl:mnZ"),
        ("2026-1-1", "2026-01-31T23:59:59.5Z"),  # the last one is fine
        (12, 12),
    ]
    for due, at in odd:
        insert_record(conn, world.cf, {"name": "odd", "due": due, "next_at": at})
    for bucket in ("day", "week", "month", "quarter", "year"):
        agg(world, conn, group_by=[{"field": "next_at", "bucket": bucket}])
        agg(world, conn, group_by=[{"field": "due", "bucket": bucket}])
    out = agg(
        world,
        conn,
        group_by=[{"field": "next_at", "bucket": "day"}],
        filter={"field": "name", "op": "eq", "value": "odd"},
        timezone="UTC",
    )
    keys = [g["keys"]["next_at"] for g in out]
    assert "2026-01-31" in keys
    out = agg(world, conn, metrics=[{"op": "sum", "field": "budget"}, {"op": "count"}])
    assert out[0]["values"]["count"] == 12
    agg(world, conn, group_by=[{"field": "tags"}, {"field": "vip"}])


def test_odd_shapes_from_a_request_body_are_refused_not_crashed(
    world: World, conn: sa.Connection
) -> None:
    assert agg(world, conn, group_by=None, metrics=None) == [  # type: ignore[arg-type]
        {"keys": {}, "values": {"count": 5}}
    ]
    for bad in ({"group_by": "grade"}, {"group_by": {"field": "grade"}}, {"metrics": "count"}):
        with pytest.raises(InvalidQueryError):
            agg(world, conn, **bad)

"""Two cheaper shapes of a grouped aggregate over a form's value table
(:mod:`runtime.store.values`), used by :func:`runtime.store.query.aggregate_records` when they
apply and giving exactly the groups and figures of the plain ``GROUP BY``:

- **PostgreSQL date buckets by boundary** (:func:`pg_bucket_lookup`): a datetime grouped by
  day/week/month/quarter/year in a time zone is formatted per row by the plain shape
  (``to_char(timezone(tz, ts), …)``), which over a million rows costs more than the rest of
  the aggregate. Instead the bucket boundaries of the data's range (its min and max, read from
  the field's index) are computed once, and each row's bucket is its position among them,
  ``width_bucket(ts, ARRAY[…])``: an integer, hashed and compared cheaply. The labels of the
  positions are computed *by the database* with the plain shape's own expression at both ends
  of every interval (the intervals are cut at every bucket start and every offset change of
  the zone in the range, so the local clock runs steadily inside each), and the lookup is
  used only if each interval has one label and the labels rise strictly with the position.
  A row outside the boundaries (the min/max were read from the stored text, which a corrupt
  value can mislead) makes the aggregate run again in the plain shape. The rows are grouped
  by the column of a small joined table of the positions (:meth:`BucketLookup.positions`),
  which tells the planner how few groups there are: it then aggregates in parallel workers.
- **SQLite, few groups of one indexed column, whole form** (:func:`sqlite_few_groups`): SQLite
  has no hash aggregate; every ``GROUP BY`` sorts all rows (≈ 0.5 s of CPU per million). When
  the key has a ``(value, record_id)`` index and no filter applies, the groups and their
  counts come from walking that index (no sort, no table rows), and other metrics from one
  scan of the table with one conditional aggregate per group and metric (``sum(x) FILTER
  (WHERE key IS ?)``). Used for up to :data:`FEW` groups.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable, Iterator, Sequence
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.sql.elements import ColumnElement

from runtime.store.query_sql import Target, bucket_expr
from runtime.store.split_scan import combine_rows, halves, run_both, same_snapshot, sqlite_order

UTC = dt.UTC
FEW = 12  # groups up to which the conditional-aggregate scan beats the sort (≈ 45 ms each)
MAX_INTERVALS = 5000
_TIMESTAMPTZ_ARRAY = postgresql.ARRAY(sa.DateTime(timezone=True))


# --- PostgreSQL: date buckets by boundary --------------------------------------------------------


class BucketLookup:
    """A bucket key as a position among boundaries (see the module docstring)."""

    def __init__(self, code: ColumnElement[Any], labels: Sequence[str]) -> None:
        self.code = code  # width_bucket(ts, bounds): 1..len(labels) inside, 0 / n+1 outside
        self.labels = tuple(labels)

    def positions(self, name: str) -> sa.Values:
        """Every value :attr:`code` can take but NULL, as a small table to join the rows to
        (``LEFT JOIN positions ON positions.n = code``) and group by its ``n``: the same
        groups, but PostgreSQL then knows there are few of them. Grouped by ``code`` itself
        it estimates as many groups as the column has distinct instants, and so never hashes
        partial groups in parallel workers; with the join's column it does (measured at
        1,000,000 rows: one worker 366 ms → a parallel partial aggregate)."""
        column = sa.column("n", sa.Integer)
        return sa.values(column, name=name).data([(i,) for i in range(len(self.labels) + 2)])

    def label(self, code: int | None) -> str | None:
        """The bucket of ``code``; raises :class:`OutOfRange` for a row outside the bounds."""
        if code is None:
            return None
        if not 1 <= code <= len(self.labels):
            raise OutOfRange
        return self.labels[code - 1]


class OutOfRange(Exception):
    """A grouped row fell outside the boundaries: run the plain shape instead."""


def pg_bucket_lookup(
    conn: sa.Connection,
    t: Target,
    table: sa.FromClause,
    instant: ColumnElement[Any],
    ordered: ColumnElement[Any],
    bucket: str,
    tz: ZoneInfo,
) -> BucketLookup | None:
    """The lookup for bucketing ``instant`` (a ``timestamptz`` column of the value ``table``)
    as :func:`~runtime.store.query_sql.bucket_expr` buckets ``t``, or ``None`` when it does
    not apply. ``ordered`` is an indexed column in about the order of ``instant`` — the
    instant itself or the stored datetime text it was parsed from — whose first and last
    rows with an instant give the data's range (two short index walks)."""

    def end(direction: Any) -> sa.ScalarSelect[Any]:
        return (
            sa.select(instant)
            .select_from(table)
            # "ordered IS NOT NULL" is an index condition: a descending walk skips the
            # NULLs (PostgreSQL sorts them last) without reading their rows.
            .where(ordered.is_not(None), instant.is_not(None))
            .order_by(direction(ordered))
            .limit(1)
            .scalar_subquery()
        )

    low, high = conn.execute(sa.select(end(sa.asc), end(sa.desc))).one()
    first, last = _day_of(low), _day_of(high)
    if first is None or last is None:
        return None
    # Padding: text of a day past the month's end reads as a day of the next month.
    cuts = _cuts(tz.key, bucket, first - dt.timedelta(days=2), last + dt.timedelta(days=5))
    if cuts is None:
        return None
    labels = _labels(conn, t, bucket, tz, cuts)
    if labels is None:
        return None
    # Neighbouring intervals of one bucket (cut at an offset change) become one.
    bounds, merged = [cuts[0]], list[str]()
    for i, label in enumerate(labels):
        if merged and merged[-1] == label:
            bounds[-1] = cuts[i + 1]
        else:
            merged.append(label)
            bounds.append(cuts[i + 1])
    if any(a >= b for a, b in itertools.pairwise(merged)):
        return None  # a bucket in two places (a zone that turns its clock back over midnight)
    array = sa.bindparam(None, bounds, type_=_TIMESTAMPTZ_ARRAY)
    return BucketLookup(sa.func.width_bucket(instant, array), merged)


def _labels(
    conn: sa.Connection, t: Target, bucket: str, tz: ZoneInfo, cuts: Sequence[dt.datetime]
) -> list[str] | None:
    """The label of each interval ``[cuts[i], cuts[i+1])`` by the plain expression at its
    first and last microsecond; ``None`` if some interval is not one bucket."""

    def plain(at: str) -> ColumnElement[Any]:
        probe = sa.literal_column(at, sa.DateTime(timezone=True))
        as_column = Target(t.key, t.storage, t.field_type, t.column, value=probe, instant=probe)
        return bucket_expr(as_column, bucket, "postgresql", tz)

    intervals = sa.text(
        "unnest(CAST(:starts AS timestamptz[]), CAST(:ends AS timestamptz[])) "
        "WITH ORDINALITY AS iv(s, e, n)"
    ).bindparams(
        sa.bindparam("starts", list(cuts[:-1]), type_=_TIMESTAMPTZ_ARRAY),
        sa.bindparam("ends", list(cuts[1:]), type_=_TIMESTAMPTZ_ARRAY),
    )
    statement = (
        sa.select(plain("iv.s"), plain("iv.e - interval '1 microsecond'"))
        .select_from(intervals)
        .order_by(sa.literal_column("iv.n"))
    )
    labels: list[str] = []
    for at_start, at_end in conn.execute(statement):
        if at_start is None or at_start != at_end:
            return None
        labels.append(at_start)
    return labels


def _day_of(value: Any) -> dt.date | None:
    """The UTC day of an instant, if it is one (not near the ends of the calendar)."""
    if not isinstance(value, dt.datetime):
        return None
    day = value.astimezone(UTC).date() if value.tzinfo else value.date()
    return day if dt.date(2, 1, 1) <= day <= dt.date(9998, 1, 1) else None


@lru_cache(maxsize=64)
def _cuts(
    tzname: str, bucket: str, first: dt.date, last: dt.date
) -> tuple[dt.datetime, ...] | None:
    """UTC instants where the bucket may change between the days ``first`` and ``last``: each
    local bucket start in ``tzname`` and each change of the zone's UTC offset; the first cut
    is at or before ``first``, the last after ``last``. ``None`` when too many."""
    try:
        tz = ZoneInfo(tzname)
        start = _bucket_start(first, bucket)
        end = _next_start(_bucket_start(last, bucket), bucket)
    except (ValueError, OverflowError):
        return None
    cuts: set[dt.datetime] = set()
    day = start
    while day <= end:
        cuts.add(dt.datetime.combine(day, dt.time(), tz).astimezone(UTC))
        if len(cuts) > MAX_INTERVALS:
            return None
        day = _next_start(day, bucket)
    lo, hi = min(cuts), max(cuts)
    cuts.update(_offset_changes(tz, lo, hi))
    if len(cuts) > MAX_INTERVALS:
        return None
    return tuple(sorted(cuts))


def _bucket_start(day: dt.date, bucket: str) -> dt.date:
    if bucket == "day":
        return day
    if bucket == "week":
        return day - dt.timedelta(days=day.weekday())
    if bucket == "month":
        return day.replace(day=1)
    if bucket == "quarter":
        return day.replace(month=(day.month - 1) // 3 * 3 + 1, day=1)
    return day.replace(month=1, day=1)


def _next_start(start: dt.date, bucket: str) -> dt.date:
    if bucket == "day":
        return start + dt.timedelta(days=1)
    if bucket == "week":
        return start + dt.timedelta(days=7)
    months = {"month": 1, "quarter": 3, "year": 12}[bucket]
    index = start.year * 12 + start.month - 1 + months
    return dt.date(index // 12, index % 12 + 1, 1)


def _offset_changes(tz: ZoneInfo, lo: dt.datetime, hi: dt.datetime) -> list[dt.datetime]:
    """The instants in ``[lo, hi]`` at which ``tz``'s UTC offset changes (to the second)."""

    def offset(at: dt.datetime) -> dt.timedelta | None:
        return at.astimezone(tz).utcoffset()

    out = []
    at, step = lo, dt.timedelta(hours=6)
    while at < hi:
        nxt = min(at + step, hi)
        if offset(nxt) != offset(at):
            a, b = at, nxt
            while b - a > dt.timedelta(seconds=1):
                mid = a + (b - a) / 2
                a, b = (mid, b) if offset(mid) == offset(at) else (a, mid)
            out.append(b.replace(microsecond=0))
        at = nxt
    return out


# --- SQLite: few groups of one indexed column ------------------------------------------------------


def sqlite_few_groups(
    conn: sa.Connection,
    table: sa.Table,
    key: ColumnElement[Any],
    metrics: Sequence[tuple[str, ColumnElement[Any] | None]],
) -> list[tuple[Any, list[Any]]] | None:
    """``[(key value, [metric values])]`` of the whole ``table`` grouped by ``key`` (a column
    with a ``(key, record_id)`` index), in ``GROUP BY`` order with NULL last. A metric is
    ``(op, value)``: ``("count", None)`` counts rows, ``sum``/``avg``/``min``/``max`` take a
    value expression. ``None`` when there are more than :data:`FEW` groups, or a metric is a
    distinct count (not worth it, and it cannot be split).

    Over a large table the work is split into two halves of the ``record_id`` range, run at
    once on two connections reading one snapshot (:mod:`runtime.store.split_scan`)."""
    if any(op not in _PARTS for op, _ in metrics):
        return None
    middle = halves(conn, table)
    if middle is None:
        return _few_groups_on(conn, table, key, metrics, [None])
    with same_snapshot(conn) as pair:
        if pair is None:
            return _few_groups_on(conn, table, key, metrics, [None])
        rid = table.c.record_id
        return _few_groups_on(pair, table, key, metrics, [rid <= middle, rid > middle])


# The partial figures of each metric op (what one half gives; split_scan.combine adds them up).
_PARTS = {"count": ("count",), "sum": ("sum",), "min": ("min",), "max": ("max",),
          "avg": ("sum", "count")}  # fmt: skip


def _few_groups_on(
    on: sa.Connection | tuple[sa.Connection, sa.Connection],
    table: sa.Table,
    key: ColumnElement[Any],
    metrics: Sequence[tuple[str, ColumnElement[Any] | None]],
    parts_of_table: list[ColumnElement[bool] | None],
) -> list[tuple[Any, list[Any]]] | None:
    conns = [on] if isinstance(on, sa.Connection) else list(on)
    values = _few_values(conns[0], table, key)
    if values is None:
        return None
    if not values:
        return []
    # One statement a part of the table: each group's row count from the key's index (a range
    # of ``(key, record_id)``), every other figure as a conditional aggregate of one scan.
    parts: list[tuple[str, ColumnElement[Any] | None, ColumnElement[bool]]] = []
    for value in values:
        is_value = key.is_(None) if value is None else key == sa.bindparam(None, value)
        for op, expr in metrics:
            parts.extend((part, expr, is_value) for part in _PARTS[op])
    ops = [part for part, _, _ in parts]

    def run(c: sa.Connection, where: ColumnElement[bool] | None) -> list[Any]:
        extra = [] if where is None else [where]
        figures: list[Any] = []
        for part, expr, is_value in parts:
            if expr is None:
                rows = sa.select(sa.func.count()).select_from(table).where(is_value, *extra)
                figures.append(rows.scalar_subquery())
            else:
                figures.append(_AGGREGATES[part](expr).filter(is_value))
        statement = sa.select(*figures)
        if any(expr is not None for _, expr, _ in parts):
            statement = statement.select_from(table).where(*extra)
        return list(c.execute(statement).one())

    if len(conns) == 1:
        figures = run(conns[0], parts_of_table[0])
    else:
        a, b = run_both(
            lambda: run(conns[0], parts_of_table[0]), lambda: run(conns[1], parts_of_table[1])
        )
        figures = combine_rows(ops, a, b)
    it = iter(figures)
    return [(value, _metric_values(metrics, it)) for value in values]


def _metric_values(
    metrics: Sequence[tuple[str, ColumnElement[Any] | None]], parts: Iterator[Any]
) -> list[Any]:
    """Each metric's value from its partial figures (:data:`_PARTS`), taken from ``parts``:
    an average is its sum over its count, the others are their one figure."""
    out: list[Any] = []
    for op, _ in metrics:
        if op == "avg":
            total, count = next(parts), next(parts)
            out.append(None if not count else total / count)
        else:
            out.append(next(parts))
    return out


_AGGREGATES: dict[str, Callable[[ColumnElement[Any]], sa.FunctionElement[Any]]] = {
    "count": sa.func.count,
    "sum": sa.func.sum,
    "min": sa.func.min,
    "max": sa.func.max,
}


def _few_values(conn: sa.Connection, table: sa.Table, key: ColumnElement[Any]) -> list[Any] | None:
    """The distinct values of ``key`` in index order, then NULL if there is one; ``None`` if
    more than :data:`FEW`. Each value is one seek in the key's index (``min(key) WHERE key >
    previous``), so a million rows of few values take microseconds, not a walk of the index."""
    values: list[Any] = []
    value = conn.execute(sa.select(sa.func.min(key)).select_from(table)).scalar()
    while value is not None:
        values.append(value)
        if len(values) > FEW:
            return None
        value = conn.execute(
            sa.select(sa.func.min(key)).select_from(table).where(key > sa.bindparam(None, value))
        ).scalar()
    has_null = conn.execute(
        sa.select(sa.literal(1)).select_from(table).where(key.is_(None)).limit(1)
    ).first()
    if has_null is not None:
        values.append(None)
    if len(values) > FEW:
        return None
    return values


# --- SQLite: any grouping of the whole form, in two halves ------------------------------------


def sqlite_grouped_halves(
    conn: sa.Connection,
    table: sa.Table,
    source: sa.FromClause,
    keys: Sequence[ColumnElement[Any]],
    metrics: Sequence[tuple[str, ColumnElement[Any] | None]],
    limit: int,
) -> list[dict[str, Any]] | None:
    """The rows ``{"k0": …, "m0": …}`` of ``source`` (``table``, maybe joined to array
    elements) grouped by ``keys`` and ordered by them (NULL last), at most ``limit`` — what
    one ``GROUP BY`` statement gives — computed as two halves of the ``record_id`` range at
    once (:mod:`runtime.store.split_scan`); ``None`` when not worth splitting, or a metric
    is a distinct count."""
    if any(op not in _PARTS for op, _ in metrics):
        return None
    middle = halves(conn, table)
    if middle is None:
        return None
    figures: list[Any] = []
    ops: list[str] = []
    for op, expr in metrics:
        for part in _PARTS[op]:
            ops.append(part)
            figures.append(sa.func.count() if expr is None else _AGGREGATES[part](expr))
    rid = table.c.record_id

    def run(c: sa.Connection, where: ColumnElement[bool]) -> list[Any]:
        statement = (
            sa.select(*(k.label(f"k{i}") for i, k in enumerate(keys)), *figures)
            .select_from(source)
            .where(where)
        )
        if keys:
            order = [k.asc().nulls_last() for k in keys]
            statement = statement.group_by(*keys).order_by(*order).limit(limit)
        return list(c.execute(statement).all())

    with same_snapshot(conn) as pair:
        if pair is None:
            return None
        a, b = run_both(lambda: run(pair[0], rid <= middle), lambda: run(pair[1], rid > middle))
    n = len(keys)
    groups: dict[tuple[Any, ...], list[Any]] = {}
    for row in (*a, *b):
        key, parts = tuple(row[:n]), list(row[n:])
        groups[key] = combine_rows(ops, groups[key], parts) if key in groups else parts
    ordered = sorted(groups.items(), key=lambda item: [_null_last(v) for v in item[0]])
    out: list[dict[str, Any]] = []
    for key, parts in ordered[:limit]:
        row = {f"k{i}": v for i, v in enumerate(key)}
        row.update((f"m{i}", v) for i, v in enumerate(_metric_values(metrics, iter(parts))))
        out.append(row)
    return out


def _null_last(value: Any) -> tuple[int, tuple[int, Any] | None]:
    return (1, None) if value is None else (0, sqlite_order(value))

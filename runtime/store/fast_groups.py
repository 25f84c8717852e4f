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
from collections.abc import Sequence
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.sql.elements import ColumnElement

from runtime.store.query_sql import Target, bucket_expr

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
    table: sa.FromClause,
    key: ColumnElement[Any],
    metrics: Sequence[ColumnElement[Any] | None],
) -> list[tuple[Any, list[Any]]] | None:
    """``[(key value, [metric values])]`` of the whole ``table`` grouped by ``key`` (a column
    with a ``(key, record_id)`` index), in ``GROUP BY`` order with NULL last; a ``None`` metric
    is ``count(*)``. ``None`` when there are more than :data:`FEW` groups."""
    counted = conn.execute(
        sa.select(key, sa.func.count()).select_from(table).group_by(key).limit(FEW + 1)
    ).all()
    if len(counted) > FEW:
        return None
    wanted = [m for m in metrics if m is not None]
    figures: list[Any] = []
    if wanted and counted:
        parts = [
            m.filter(key.is_(sa.bindparam(None, value))) for value, _ in counted for m in wanted
        ]
        figures = list(conn.execute(sa.select(*parts).select_from(table)).one())
    out: list[tuple[Any, list[Any]]] = []
    for i, (value, count) in enumerate(counted):
        mine = iter(figures[i * len(wanted) : (i + 1) * len(wanted)])
        out.append((value, [count if m is None else next(mine) for m in metrics]))
    # The index orders NULL first; the engine's groups put it last.
    return [g for g in out if g[0] is not None] + [g for g in out if g[0] is None]

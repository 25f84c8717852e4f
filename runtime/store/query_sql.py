"""Field expressions and filter conditions as SQL, per dialect — the vocabulary of the query
engine (:mod:`runtime.store.query`) and of the expression indexes (:mod:`runtime.store.indexes`).

How a form field reaches SQL:

=============  ===========================================  =====================================
storage        SQLite                                       PostgreSQL
=============  ===========================================  =====================================
text, date,    ``json_extract(records.data, '$.k')``        ``(records.data ->> 'k')``
datetime
number         ``json_extract(records.data, '$.k')``        ``CASE WHEN jsonb_typeof(records.data
               (already a number; text sorts after)         -> 'k') = 'number' THEN (records.data
                                                            ->> 'k')::numeric END``
bool           ``json_extract`` (1/0)                       ``(records.data ->> 'k')`` ('true')
array          ``json_each(records.data, '$.k')`` for       ``(records.data -> 'k') @> '[v]'``
               membership
=============  ===========================================  =====================================

The JSON path literal is the only text built into SQL, and only from a key that matched
``^[a-z][a-z0-9_]{0,62}$`` (checked again here); literal paths, not bound ones, because an
expression index is used only for the identical expression (SQLite compares expressions, and a
PostgreSQL generic plan cannot match ``data ->> $1``). Every value is a bound parameter.
The form id is likewise rendered as an integer literal, so the per-form partial indexes
(``WHERE form_id = 7 AND deleted_at IS NULL``) match the query's own ``WHERE``.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, cast
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.sql.elements import ColumnElement

from builder.value_types import StorageKind
from runtime.store.tables import records

KEY_RE = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
UTC = dt.UTC

# System fields: the query key → the column of ``records``.
SYSTEM_COLUMNS = {
    "id": "id",
    "stage": "stage",
    "created_at": "created_at",
    "created_by": "created_by",
    "updated_at": "updated_at",
    "updated_by": "updated_by",
    "owner": "owner_id",
}
ORDERABLE = frozenset(
    {StorageKind.TEXT, StorageKind.NUMBER, StorageKind.DATE, StorageKind.DATETIME, StorageKind.BOOL}
)


@dataclass(frozen=True)
class Target:
    """A field as SQL sees it: a key of ``records.data`` or a column of ``records``."""

    key: str
    storage: StorageKind
    field_type: str | None  # the form field's type; None for a system column
    column: str | None = None  # set for a system field
    # The typed column of the form's value table holding this value (runtime.store.values),
    # when the query reads that table; None: read ``records`` (its JSON or its column).
    value: ColumnElement[Any] | None = field(default=None, compare=False)
    # PostgreSQL, a datetime field: the value table's ``timestamptz`` copy of the value
    # (:func:`pg_instant` of it), which date buckets read instead of parsing the text.
    instant: ColumnElement[Any] | None = field(default=None, compare=False)

    @property
    def is_system(self) -> bool:
        return self.column is not None


def checked_key(key: str) -> str:
    """``key`` if it may appear in a JSON path literal; anything else is a programming error
    (keys reach here only after they were found in the form)."""
    if not KEY_RE.match(key):
        raise ValueError(f"not a field key: {key!r}")
    return key


def form_is(form_id: int) -> ColumnElement[bool]:
    """``records.form_id = <int>`` as a literal, so per-form partial indexes apply."""
    return records.c.form_id == sa.literal_column(str(int(form_id)), sa.Integer)


LIVE = records.c.deleted_at.is_(None)


def scalar_expr(t: Target, dialect: str) -> ColumnElement[Any]:
    """The expression a filter compares, a sort orders by and an index is built on."""
    if t.value is not None:
        return t.value
    if t.column is not None:
        return records.c[t.column]
    key = checked_key(t.key)
    if dialect == "sqlite":
        return sa.literal_column(f"json_extract(records.data, '$.{key}')")
    if t.storage is StorageKind.NUMBER:
        return sa.literal_column(_pg_number(key, "records.data"), sa.Numeric)
    if t.storage in (StorageKind.ARRAY, StorageKind.JSON):
        return sa.literal_column(f"(records.data -> '{key}')")
    return sa.literal_column(f"(records.data ->> '{key}')", sa.Text)


def json_text_expr(t: Target, dialect: str) -> ColumnElement[Any]:
    """The value as text (JSON text for arrays and objects); for emptiness tests."""
    if t.value is not None:
        return t.value  # only scalars are in the value table, as their JSON text reads
    key = checked_key(t.key)
    if dialect == "sqlite":
        return sa.literal_column(f"json_extract(records.data, '$.{key}')")
    return sa.literal_column(f"(records.data ->> '{key}')", sa.Text)


def _pg_number(key: str, data: str) -> str:
    # A stored value that is not a JSON number reads as NULL instead of failing the cast.
    return (
        f"(CASE WHEN jsonb_typeof({data} -> '{key}') = 'number' "
        f"THEN ({data} ->> '{key}')::numeric END)"
    )


def index_expr(t: Target, dialect: str, data: str = "data") -> str:
    """The JSON expression :func:`scalar_expr` renders, over the JSON column ``data``
    (unqualified for an index; ``NEW.data`` in a trigger)."""
    key = checked_key(t.key)
    if dialect == "sqlite":
        return f"json_extract({data}, '$.{key}')"
    if t.storage is StorageKind.NUMBER:
        return _pg_number(key, data)
    if t.storage is StorageKind.ARRAY:
        return f"({data} -> '{key}')"
    return f"({data} ->> '{key}')"


# --- conditions --------------------------------------------------------------------------------


def like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def contains_pattern(text: str) -> str:
    return f"%{like_escape(text.lower())}%"


def _ilike(expr: ColumnElement[Any], pattern: str, dialect: str) -> ColumnElement[bool]:
    """``expr`` LIKE ``pattern`` (escaped, not lower-cased) ignoring case, both sides lowered
    by the same function: Python's ``str.lower`` and PostgreSQL's ``lower()`` differ (final
    sigma: ΟΔΟΣ → οδος against οδοσ; İ → i̇ against i), so a pattern lowered by one never
    matches text lowered by the other."""
    if dialect == "sqlite" and _cased_beyond_ascii(pattern):
        # SQLite's lower() folds A-Z only: Москва, Éclair or full-width ＡＢＣ would not match
        # their own lower case. The engine's connections define this one (Python's lower).
        lower: Any = sa.func.stageform_lower
    else:
        lower = sa.func.lower
    matched: ColumnElement[bool] = lower(expr).like(lower(sa.literal(pattern)), escape="\\")
    return matched


def _cased_beyond_ascii(text: str) -> bool:
    """Whether ``text`` has a letter outside ASCII that has case (Chinese has none: then
    SQLite's ASCII lower() finds what a full one would)."""
    return not text.isascii() and any(c.upper() != c.lower() for c in text if ord(c) > 127)


def unicode_lower(text: Any) -> Any:
    """SQLite's ``stageform_lower(x)``: ``x`` lower-cased by Python (every script)."""
    return text.lower() if isinstance(text, str) else text


def _or_null(expr: ColumnElement[Any], cond: ColumnElement[bool]) -> ColumnElement[bool]:
    # "Not X" includes blanks, as people read it (不等于 A: everything that is not A).
    return sa.or_(expr.is_(None), cond)


def _bool(expr: Any) -> ColumnElement[bool]:
    """``expr`` (a comparison, which SQLAlchemy's stubs type loosely) as a condition."""
    return cast(ColumnElement[bool], expr)


def _false() -> ColumnElement[bool]:
    return sa.false()


def _array_has_any(t: Target, dialect: str, values: list[Any]) -> ColumnElement[bool]:
    key = checked_key(t.key)
    if dialect == "sqlite":
        each = sa.func.json_each(records.c.data, sa.literal_column(f"'$.{key}'")).table_valued(
            "value"
        )
        return sa.exists().where(each.c.value.in_(values)).select_from(each)
    col: ColumnElement[Any] = sa.literal_column(f"(records.data -> '{key}')")
    return sa.or_(
        *(
            col.op("@>")(sa.bindparam(None, json.dumps([v], ensure_ascii=False), _JSONB_TEXT))
            for v in values
        )
    )


class _JsonbText(sa.types.TypeDecorator[str]):
    """A bound JSON text that PostgreSQL reads as ``jsonb``."""

    impl = sa.Text
    cache_ok = True

    def bind_expression(self, bindvalue: Any) -> Any:
        return sa.cast(bindvalue, JSONB)


_JSONB_TEXT = _JsonbText()


def _array_empty(t: Target, dialect: str) -> ColumnElement[bool]:
    text = json_text_expr(t, dialect)
    return sa.func.coalesce(text, "").in_(["", "[]", "null"])


def _text_empty(expr: ColumnElement[Any], structured: bool) -> ColumnElement[bool]:
    # A JSON null reads as SQL NULL. "[]" and "{}" are an empty structured value's JSON text
    # (files, an address, sub-form rows); in a text field they are text, as "null" is.
    blanks = ["", "[]", "{}"] if structured else [""]
    return sa.func.coalesce(expr, "").in_(blanks)


def condition(
    t: Target,
    op: str,
    value: Any,
    dialect: str,
    *,
    user_id: int | None,
    department_ids: frozenset[int],
    date_range: tuple[Any, Any] | None,
) -> ColumnElement[bool]:
    """One leaf of a filter as SQL. ``value`` is already coerced to the stored form;
    ``date_range`` is ``[start, end)`` for the relative date operators."""
    s = t.storage
    if s is StorageKind.ARRAY:
        return _array_condition(t, op, value, dialect, user_id)
    expr = scalar_expr(t, dialect)
    if s is StorageKind.BOOL and not t.is_system:
        return _bool_condition(expr, op, value, dialect)
    if op == "empty":
        if t.is_system or s is StorageKind.NUMBER:
            return expr.is_(None)
        return _text_empty(json_text_expr(t, dialect), s is StorageKind.JSON)
    if op == "not_empty":
        if t.is_system or s is StorageKind.NUMBER:
            return expr.is_not(None)
        return sa.not_(_text_empty(json_text_expr(t, dialect), s is StorageKind.JSON))
    if op == "me":
        return expr == user_id if user_id is not None else _false()
    if op == "my_department":
        return expr.in_(sorted(department_ids)) if department_ids else _false()
    if op in ("today", "this_week", "this_month", "last_n_days", "next_n_days"):
        assert date_range is not None
        start, end = date_range
        return sa.and_(expr >= start, expr < end)
    if s is StorageKind.JSON and not t.is_system:
        # Only equality reaches here (lookups): compare the JSON text.
        expr = json_text_expr(t, dialect)
        value = [_json_text(v) for v in value] if isinstance(value, list) else _json_text(value)
    if op == "eq":
        return _bool(expr == value)
    if op == "ne":
        return _or_null(expr, expr != value)
    if op == "in":
        return expr.in_(value)
    if op == "not_in":
        return _or_null(expr, expr.not_in(value))
    if op in ("gt", "gte"):
        above = expr > value if op == "gt" else expr >= value
        if dialect == "sqlite" and s is StorageKind.NUMBER and not t.is_system:
            # SQLite orders every number before every text, so a corrupt text value would pass
            # "> 0"; "< ''" keeps numbers only and still reads as one index range.
            return sa.and_(above, expr < "")
        return _bool(above)
    if op == "lt":
        return _bool(expr < value)
    if op == "lte":
        return _bool(expr <= value)
    if op == "between":
        return sa.and_(expr >= value[0], expr <= value[1])
    if op == "contains":
        if s is not StorageKind.TEXT:
            return _bool(expr == value)  # a single relation "contains" its one id
        return _ilike(expr, f"%{like_escape(str(value))}%", dialect)
    if op == "not_contains":
        if s is not StorageKind.TEXT:
            return _or_null(expr, expr != value)
        return _or_null(expr, sa.not_(_ilike(expr, f"%{like_escape(str(value))}%", dialect)))
    if op == "starts_with":
        return _ilike(expr, like_escape(str(value)) + "%", dialect)
    raise ValueError(f"operator {op!r} not handled")  # the validation refused it before


def _json_text(value: Any) -> Any:
    if isinstance(value, str) or value is None:
        return value
    return json.dumps(value, ensure_ascii=False)


def _bool_condition(
    expr: ColumnElement[Any], op: str, value: Any, dialect: str
) -> ColumnElement[bool]:
    def stored(v: bool) -> Any:
        return (1 if v else 0) if dialect == "sqlite" else ("true" if v else "false")

    if op == "empty":
        return expr.is_(None)
    if op == "not_empty":
        return expr.is_not(None)
    want = bool(value)
    if op == "ne":
        want = not want
    # An unticked checkbox may be stored as false or not at all; both read as "no".
    if want:
        return _bool(expr == stored(True))
    return sa.or_(expr.is_(None), expr == stored(False))


def _array_condition(
    t: Target, op: str, value: Any, dialect: str, user_id: int | None
) -> ColumnElement[bool]:
    if op == "empty":
        return _array_empty(t, dialect)
    if op == "not_empty":
        return sa.not_(_array_empty(t, dialect))
    if op == "me":
        return _array_has_any(t, dialect, [user_id]) if user_id is not None else _false()
    values = value if isinstance(value, list) else [value]
    has = _array_has_any(t, dialect, values)
    if op in ("contains", "in", "eq"):
        return has
    if op in ("not_contains", "not_in", "ne"):
        return sa.not_(sa.func.coalesce(has, False)) if dialect != "sqlite" else sa.not_(has)
    raise ValueError(f"operator {op!r} not handled")


# --- relative dates ----------------------------------------------------------------------------


def relative_range(
    op: str, value: Any, storage: StorageKind, system: bool, now: dt.datetime, tz: ZoneInfo
) -> tuple[Any, Any]:
    """``[start, end)`` of a relative date operator, in the stored form of the field: a date
    field gets ``YYYY-MM-DD``, a datetime field UTC ``YYYY-MM-DDTHH:MM:SSZ``, a system column an
    aware datetime. Days are the days of ``tz``.

    ``last_n_days``: the N days ending today (today included); ``next_n_days``: the N days
    starting today.
    """
    today = now.astimezone(tz).date()
    if op == "today":
        first, last = today, today + dt.timedelta(days=1)
    elif op == "this_week":
        first = today - dt.timedelta(days=today.weekday())
        last = first + dt.timedelta(days=7)
    elif op == "this_month":
        first = today.replace(day=1)
        last = (first + dt.timedelta(days=32)).replace(day=1)
    elif op == "last_n_days":
        first, last = today - dt.timedelta(days=int(value) - 1), today + dt.timedelta(days=1)
    else:  # next_n_days
        first, last = today, today + dt.timedelta(days=int(value))
    if storage is StorageKind.DATE and not system:
        return first.isoformat(), last.isoformat()
    bounds = [dt.datetime.combine(d, dt.time(), tz).astimezone(UTC) for d in (first, last)]
    if system:
        return bounds[0], bounds[1]
    return tuple(b.strftime("%Y-%m-%dT%H:%M:%SZ") for b in bounds)  # type: ignore[return-value]


# --- date buckets ------------------------------------------------------------------------------

_PG_FORMATS = {
    "day": "YYYY-MM-DD",
    "week": 'IYYY-"W"IW',
    "month": "YYYY-MM",
    "quarter": 'YYYY-"Q"Q',
    "year": "YYYY",
}


def bucket_expr(t: Target, bucket: str, dialect: str, tz: ZoneInfo) -> ColumnElement[Any]:
    """The bucket key of a date or datetime value: ``2026-11-22``, ``2026-W47``, ``2026-11``,
    ``2026-Q4``, ``2026``; a datetime is bucketed by its day in ``tz``. Stored text that is
    not a date gives NULL, never an error."""
    if dialect == "postgresql":
        return _pg_bucket(t, bucket, tz)
    return _sqlite_bucket(t, bucket, tz)


def _pg_bucket(t: Target, bucket: str, tz: ZoneInfo) -> ColumnElement[Any]:
    fmt = _PG_FORMATS[bucket]
    if t.column is not None or t.instant is not None:
        typed = t.instant if t.instant is not None else scalar_expr(t, "postgresql")
        return sa.func.to_char(sa.func.timezone(tz.key, typed), fmt)
    text = scalar_expr(t, "postgresql")
    # A corrupt stored value ("soon", "2026-02-30") must give NULL, never fail the query (a
    # cast would). The guards are LIKE and string comparisons: a regex costs more than the
    # rest of the aggregate.
    if t.storage is StorageKind.DATE and bucket != "week":
        shaped = text.like("____-__-__")
        if bucket == "quarter":
            month = sa.func.substr(text, 6, 2)
            quarter = sa.case(
                (month <= "03", "1"), (month <= "06", "2"), (month <= "09", "3"), else_="4"
            )
            return sa.case((shaped, sa.func.substr(text, 1, 4) + "-Q" + quarter), else_=None)
        length = {"day": 10, "month": 7, "year": 4}[bucket]
        return sa.case((shaped, sa.func.substr(text, 1, length)), else_=None)
    if t.storage is StorageKind.DATE:
        return sa.case((_pg_valid_date(text), sa.func.to_char(_pg_day(text), fmt)), else_=None)
    return sa.func.to_char(sa.func.timezone(tz.key, pg_instant(text)), fmt)


def _pg_valid_date(text: ColumnElement[Any]) -> ColumnElement[bool]:
    return sa.and_(
        text.like("____-__-__%"),
        sa.func.translate(sa.func.substr(text, 1, 10), "0123456789", "") == "--",
        sa.func.substr(text, 1, 4) != "0000",
        sa.func.substr(text, 6, 2).between("01", "12"),
        sa.func.substr(text, 9, 2).between("01", "31"),
    )


def _pg_day(text: ColumnElement[Any]) -> ColumnElement[Any]:
    # Built from its parts, a day past the month's end rolls over instead of failing.
    return sa.func.make_date(_part(text, 1, 4), _part(text, 6, 2), 1) + (_part(text, 9, 2) - 1)


def pg_instant(text: ColumnElement[Any]) -> ColumnElement[Any]:
    """The ``timestamptz`` of stored datetime text (``2026-11-22T02:00:00Z``); NULL for text
    that is not one ("soon", "2026-02-30T…" rolls over), never an error as a cast would be.
    The guards are LIKE and string comparisons: a regex costs more than an aggregate."""
    valid = sa.and_(
        _pg_valid_date(text),
        text.like("____-__-__T__:__:__%Z"),
        sa.func.translate(sa.func.substr(text, 12, 8), "0123456789", "") == "::",
        sa.func.substr(text, 12, 2) <= "23",
        sa.func.substr(text, 15, 2) <= "59",
        sa.func.substr(text, 18, 2) <= "59",
    )
    slow = sa.func.timezone(
        "UTC",
        sa.cast(_pg_day(text), sa.DateTime)
        + sa.func.make_interval(
            0, 0, 0, 0, _part(text, 12, 2), _part(text, 15, 2), _part(text, 18, 2)
        ),
    )
    # Days up to the 28th exist in every month: the plain cast is safe and faster.
    instant = sa.case(
        (sa.func.substr(text, 9, 2) <= "28", sa.cast(text, sa.DateTime(timezone=True))),
        else_=slow,
    )
    return sa.case((valid, instant), else_=None)


def _part(text: ColumnElement[Any], start: int, length: int) -> ColumnElement[Any]:
    return sa.cast(sa.func.substr(text, start, length), sa.Integer)


def _sqlite_bucket(t: Target, bucket: str, tz: ZoneInfo) -> ColumnElement[Any]:
    if t.column is not None:
        # The stored text itself (the column's type would make the bounds datetimes).
        text: ColumnElement[Any] = sa.type_coerce(scalar_expr(t, "sqlite"), sa.Text)
        local: ColumnElement[Any] = _sqlite_local(text, tz, " ")
    else:
        text = scalar_expr(t, "sqlite")
        local = (
            sa.func.date(text) if t.storage is StorageKind.DATE else _sqlite_local(text, tz, "T")
        )
    if bucket == "day":
        return sa.func.date(local)
    if bucket == "month":
        return sa.func.strftime("%Y-%m", local)
    if bucket == "year":
        return sa.func.strftime("%Y", local)
    if bucket == "quarter":
        month = sa.cast(sa.func.strftime("%m", local), sa.Integer)
        return sa.func.strftime("%Y", local) + "-Q" + sa.cast((month + 2) // 3, sa.Text)
    # ISO week: the week's Thursday decides its year and number.
    thursday = sa.func.date(local, "-3 days", "weekday 4")
    day_of_year = sa.cast(sa.func.strftime("%j", thursday), sa.Integer)
    return (
        sa.func.strftime("%Y", thursday) + "-W" + sa.func.printf("%02d", (day_of_year - 1) // 7 + 1)
    )


def _sqlite_local(text: ColumnElement[Any], tz: ZoneInfo, sep: str) -> ColumnElement[Any]:
    """UTC text → local ``YYYY-MM-DD HH:MM:SS`` in ``tz`` (SQLite has no time zones: the
    offset comes from a CASE over the zone's transitions, computed here from zoneinfo)."""
    segments = _offset_segments(tz.key)
    if len(segments) == 1:
        minutes: ColumnElement[Any] = sa.literal(segments[0][1])
    else:
        # Newest first: recent values, the common case, stop at the first few branches.
        whens = [
            (text >= start.strftime(f"%Y-%m-%d{sep}%H:%M:%S"), offset)
            for start, offset in reversed(segments[1:])
        ]
        minutes = sa.case(*whens, else_=segments[0][1])
    return sa.func.datetime(text, sa.cast(minutes, sa.Text) + " minutes")


@lru_cache(maxsize=32)
def _offset_segments(tzname: str) -> tuple[tuple[dt.datetime, int], ...]:
    """``(utc_start, offset_minutes)`` runs of ``tzname`` from 1900 to 2040 (later values
    keep the offset in force at the end of 2039: exact for zones without daylight saving)."""
    tz = ZoneInfo(tzname)

    def offset(at: dt.datetime) -> int:
        delta = at.astimezone(tz).utcoffset()
        return int(delta.total_seconds() // 60) if delta is not None else 0

    at = dt.datetime(1900, 1, 1, tzinfo=UTC)
    end = dt.datetime(2040, 1, 1, tzinfo=UTC)
    step = dt.timedelta(days=1)
    segments = [(at, offset(at))]
    while at < end:
        nxt = at + step
        if offset(nxt) != segments[-1][1]:
            lo, hi = at, nxt  # bisect to the second the offset changed
            while hi - lo > dt.timedelta(seconds=1):
                mid = lo + (hi - lo) / 2
                if offset(mid) == segments[-1][1]:
                    lo = mid
                else:
                    hi = mid
            segments.append((hi.replace(microsecond=0), offset(nxt)))
        at = nxt
    return tuple(segments)

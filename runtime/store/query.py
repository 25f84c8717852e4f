"""The query engine: filter, sort, keyset pages, search, capped counts and aggregates over one
form's live records — the same engine serves list views, kanban, calendar, dashboards, exports.

Every input is checked against the form before any SQL runs (unknown field, wrong operator,
bad value, bad cursor…) and refused with one :class:`~runtime.errors.InvalidQueryError` listing
every problem; values reach SQL only as bound parameters. See :mod:`runtime.store.query_sql`
for how each field becomes an expression and :mod:`runtime.store.search` for search.

Semantics worth knowing:

- ``ne``, ``not_in``, ``not_contains`` include blank values ("not A" is everything but A).
- Text ``contains``/``starts_with`` are case-insensitive substring/prefix tests (``%``/``_``
  are literal); array ``contains`` is membership, ``in`` is "has any of".
- Relative dates are days of ``timezone`` (default Asia/Shanghai): ``last_n_days`` is the N
  days ending today, ``next_n_days`` the N days from today.
- Sorts put blanks last in both directions and always end with ``id``; ``cursor`` continues
  after the last row of the previous page and is bound to the sort it came from.
- ``count`` is exact up to ``count_cap``; beyond it the answer is ``count_cap`` with
  ``count_capped=True``.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pydantic
import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement, UnaryExpression
from sqlalchemy.sql.operators import custom_op

from builder.errors import CoercionError
from builder.fields.base import CoerceContext
from builder.pydantic_messages import pydantic_message
from builder.query import (
    NO_VALUE_OPERATORS,
    AndFilter,
    Condition,
    Filter,
    GroupBy,
    Metric,
    Sort,
)
from builder.validation import query_problems
from builder.validation.query import coerce_filter_value, query_field
from builder.value_types import StorageKind
from runtime.actor import Actor
from runtime.compiled import CompiledForm
from runtime.errors import FieldError, InvalidQueryError
from runtime.safe_text import contains_nul
from runtime.search_text import MAX_SEARCH_LENGTH, MAX_SEARCH_WORDS, search_words
from runtime.store.engine import dialect_name
from runtime.store.fast_groups import (
    BucketLookup,
    OutOfRange,
    pg_bucket_lookup,
    sqlite_few_groups,
    sqlite_grouped_halves,
)
from runtime.store.indexes import create_indexes, index_statements
from runtime.store.query_sql import (
    LIVE,
    ORDERABLE,
    SYSTEM_COLUMNS,
    Target,
    bucket_expr,
    checked_key,
    condition,
    form_is,
    relative_range,
    scalar_expr,
)
from runtime.store.search import search_condition
from runtime.store.tables import records
from runtime.store.values import ValueTable, live_value_table
from runtime.timestamps import fits_utc

__all__ = [
    "Actor",
    "QueryPage",
    "aggregate_records",
    "create_indexes",
    "index_statements",
    "query_records",
]

DEFAULT_TIMEZONE = "Asia/Shanghai"
MAX_LIMIT = 1000
MAX_SORT_KEYS = 5
MAX_GROUP_BY = 2
MAX_GROUPS = 10_000
MAX_CURSOR_LENGTH = 4096

_FilterAdapter: pydantic.TypeAdapter[Filter] = pydantic.TypeAdapter(Filter)
_SortsAdapter = pydantic.TypeAdapter(list[Sort])
_GroupsAdapter = pydantic.TypeAdapter(list[GroupBy])
_MetricsAdapter = pydantic.TypeAdapter(list[Metric])


@dataclass
class QueryPage:
    """One page of records (see :func:`query_records`)."""

    items: list[dict[str, Any]]
    next_cursor: str | None
    count: int
    count_capped: bool


# --- public API --------------------------------------------------------------------------------


class _Errors(list[FieldError]):
    """The problems found in one query body, each message in the actor's language."""

    def __init__(self, lang: str) -> None:
        super().__init__()
        self.lang = lang

    def add(self, field: str, code: str, entry: str | None = None, **params: Any) -> None:
        """A problem with ``code``, told by the catalog entry ``entry`` (default: ``code``)."""
        self.append(FieldError.told(field, code, self.lang, entry, **params))


def query_records(
    conn: sa.Connection,
    cf: CompiledForm,
    *,
    filter: Filter | Mapping[str, Any] | None = None,
    sort: Sequence[Sort | Mapping[str, Any]] | None = None,
    limit: int = 50,
    cursor: str | None = None,
    search: str | None = None,
    fields: Sequence[str] | None = None,
    actor: Actor,
    count_cap: int = 10_000,
    timezone: str = DEFAULT_TIMEZONE,
    now: dt.datetime | None = None,
    scope: ColumnElement[bool] | None = None,
    published: CompiledForm | None = None,
) -> QueryPage:
    """A page of the live records of ``cf``'s form that pass ``filter`` and ``search``, in
    ``sort`` order, continuing after ``cursor``; ``fields`` limits the keys of ``data``.

    Each item is ``{"id", "form_id", "version", "stage", "data", "created_at", "created_by",
    "updated_at", "updated_by"}`` with UTC datetimes as ISO strings (``…Z``).

    Raises:
        InvalidQueryError: anything in the request that does not fit the form — an unknown
            field, an operator the field's type lacks, a bad value, a sort on a field that
            cannot be ordered, an unknown ``fields`` key, a bad ``limit``/``search``/
            ``timezone``, or a cursor that is garbage, tampered with or from another sort
            (``invalid_cursor``).

    ``scope`` (data permissions, :mod:`runtime.store.scope`), a condition on ``records``, is
    ANDed to the WHERE as given (the query then reads ``records`` beside the value table).
    ``published``: the form as published when ``cf`` is a copy without the fields hidden
    from the actor (:func:`runtime.permissions.without_fields`): its value table is the one
    that exists, and serves the copy's fields.
    """
    errors = _Errors(actor.lang)
    ctx = _Context.make(cf, conn, actor, timezone, now, errors, published=published)
    parsed_filter = _parse(_FilterAdapter, filter, "filter", errors) if filter else None
    sorts = _parse(_SortsAdapter, sort, "sort", errors) if sort else []
    if parsed_filter is not None:
        errors.extend(_problems(cf, errors.lang, filter=parsed_filter))
    keys = _sort_keys(ctx, sorts or [], errors)
    _check_fields(cf, fields, errors)
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        errors.add("limit", "invalid_limit", max=MAX_LIMIT)
    _check_search(search, errors)
    query = _query_hash(parsed_filter, search) if not errors else ""
    after = (
        _decode_cursor(cursor, cf, keys, ctx.dialect, errors, query) if cursor is not None else None
    )
    where = _where(ctx, conn, parsed_filter, search, errors) + _scoped(ctx, scope)
    if errors:
        raise InvalidQueryError(errors)

    columns = _PAGE_COLUMNS[ctx.dialect]
    source, base = _scope(ctx, with_records=False)
    count_from: sa.Select[Any] = (
        sa.select(sa.literal_column("1")).select_from(source).where(*base, *where)
    )
    capped = sa.select(sa.func.count()).select_from(count_from.limit(count_cap + 1).subquery())
    # The capped count rides on the page's statement as an uncorrelated scalar subquery
    # (evaluated once; one round trip less). No row at all without a cursor means nothing
    # matches: 0, with no statement more, so a miss does the same database work as a hit
    # (public lookup links rely on that). Only a page past the end of a cursor counts alone.
    count_column = capped.correlate(None).scalar_subquery().label(_COUNT_LABEL)
    source, base = _scope(ctx, with_records=True)
    page_where = [*base, *where]
    rows = _page_rows(
        conn, columns, source, page_where, keys, ctx.dialect, after, limit, count_column
    )
    if rows and _COUNT_LABEL in rows[0]._fields:
        counted = rows[0]._mapping[_COUNT_LABEL]
    elif not rows and after is None:
        counted = 0
    else:
        counted = conn.execute(capped).scalar_one()
    more = len(rows) > limit
    rows = rows[:limit]
    wanted = set(fields) if fields is not None else None
    items = [_item(row, wanted) for row in rows]
    next_cursor = None
    if more and rows:
        last = rows[-1]
        next_cursor = _encode_cursor(
            cf, keys, [last._mapping[f"s{i}"] for i in range(len(keys))], query
        )

    return QueryPage(
        items=items,
        next_cursor=next_cursor,
        count=min(counted, count_cap),
        count_capped=counted > count_cap,
    )


def aggregate_records(
    conn: sa.Connection,
    cf: CompiledForm,
    *,
    filter: Filter | Mapping[str, Any] | None = None,
    group_by: Sequence[GroupBy | Mapping[str, Any]] = (),
    metrics: Sequence[Metric | Mapping[str, Any]] = (),
    actor: Actor,
    search: str | None = None,
    timezone: str = DEFAULT_TIMEZONE,
    now: dt.datetime | None = None,
    scope: ColumnElement[bool] | None = None,
    published: CompiledForm | None = None,
) -> list[dict[str, Any]]:
    """Groups of the live records passing ``filter``/``search``:
    ``[{"keys": {"grade": "A", "created_at": "2026-11"}, "values": {"count": 3,
    "sum_budget": 90000}}, …]``, ordered by the keys (blank keys, ``None``, last).

    Group by at most two fields; a date/datetime may be bucketed by day (``2026-11-22``), week
    (``2026-W47``, ISO), month (``2026-11``), quarter (``2026-Q4``) or year; datetimes by their
    day in ``timezone``. An array field (multi_select, users) groups per element: a record
    tagged [A, B] counts in A and in B. No metrics means ``count``. At most
    :data:`MAX_GROUPS` groups are returned. ``scope`` and ``published`` as in
    :func:`query_records`.

    Raises:
        InvalidQueryError: unknown fields, a field that cannot be grouped or summed, a bucket on
            a field that is not a date, more than two group-bys, a bad filter or search.
    """
    errors = _Errors(actor.lang)
    ctx = _Context.make(cf, conn, actor, timezone, now, errors, published=published)
    parsed_filter = _parse(_FilterAdapter, filter, "filter", errors) if filter else None
    groups = _parse(_GroupsAdapter, group_by, "group_by", errors) if group_by else []
    wanted = _parse(_MetricsAdapter, metrics, "metrics", errors) if metrics else []
    groups, wanted = groups or [], wanted or []
    if len(groups) > MAX_GROUP_BY:
        errors.add("group_by", "too_many_groups", max=MAX_GROUP_BY)
    errors.extend(_problems(cf, errors.lang, filter=parsed_filter, group_by=groups, metrics=wanted))
    _check_search(search, errors)
    where = _where(ctx, conn, parsed_filter, search, errors) + _scoped(ctx, scope)
    if errors:
        raise InvalidQueryError(errors)
    if not wanted:
        wanted = [Metric(op="count")]

    key_exprs: list[tuple[str, ColumnElement[Any], Target, bool]] = []
    arrays: list[Any] = []
    for i, g in enumerate(groups):
        t = ctx.target(g.field)
        assert t is not None
        name = g.field if g.field not in [k for k, *_ in key_exprs] else f"{g.field}_{g.bucket}"
        if t.storage is StorageKind.ARRAY:
            elements, element = _array_elements(t, ctx.dialect, f"g{i}")
            arrays.append(elements)
            key_exprs.append((name, element, t, True))
        elif g.bucket is not None:
            key_exprs.append((name, bucket_expr(t, g.bucket, ctx.dialect, ctx.tz), t, False))
        else:
            key_exprs.append((name, scalar_expr(t, ctx.dialect), t, False))

    metric_exprs: list[tuple[str, ColumnElement[Any], Target | None]] = []
    metric_parts: list[tuple[str, ColumnElement[Any] | None]] = []  # (op, value): for halves
    # The decimal places of each metric's figure when it is a sum of values stored with a
    # fixed precision (money, a number with ``precision``): SQLite adds them as binary floats
    # (0.1 + 0.2 = 0.30000000000000004), PostgreSQL as numeric; rounded to the places, both
    # give the exact sum.
    places: dict[str, int] = {}
    seen: set[str] = set()
    for m in wanted:
        if m.name in seen:
            continue
        seen.add(m.name)
        if m.field is None:
            # Grouped by an array, a record is one row per element (per pair of elements for
            # two arrays), so a plain count is already "records in this group".
            count = sa.func.count()
            metric_exprs.append((m.name, count, None))
            metric_parts.append(("count", None))
            continue
        t = ctx.target(m.field)
        assert t is not None
        value = scalar_expr(t, ctx.dialect)
        metric_parts.append(
            (m.op if m.op in ("count", "sum", "avg", "min", "max") else "distinct", value)
        )
        metric: ColumnElement[Any]
        if m.op == "count":  # the records with a value
            metric = sa.func.count(value)
        elif m.op == "sum":
            metric = sa.func.sum(value)
            precision = getattr(cf.fields.get(m.field), "precision", None)
            if isinstance(precision, int):
                places[m.name] = precision
        elif m.op == "avg":
            metric = sa.func.avg(value)
        elif m.op == "min":
            metric = sa.func.min(value)
        elif m.op == "max":
            metric = sa.func.max(value)
        else:  # distinct
            metric = sa.func.count(sa.distinct(value))
        metric_exprs.append((m.name, metric, t))

    source, base = _scope(ctx, with_records=False)
    few = _few_groups(conn, ctx, where, arrays, key_exprs, metric_parts)
    if few is not None:
        return [
            {
                "keys": {key_exprs[0][0]: _group_key(value, key_exprs[0][2], bucketed=False)},
                "values": {
                    name: _figure(v, places.get(name))
                    for (name, _, _), v in zip(metric_exprs, figures, strict=True)
                },
            }
            for value, figures in few
        ]
    if ctx.values is not None and ctx.dialect == "sqlite" and not where:
        # Over the whole form SQLite would walk a key's (value, record_id) index to skip the
        # GROUP BY sort, reading every row through it in index order (random access): ~2x
        # slower than scanning the narrow value table and sorting. ``+x`` hides the index.
        key_exprs = [(n, _unindexed(e), t, a) for n, e, t, a in key_exprs]
    for elements in arrays:
        source = source.outerjoin(elements, sa.true())

    def grouped(
        keys: list[ColumnElement[Any]], *, few: bool = False, rows_from: Any = source
    ) -> Iterable[Mapping[str, Any]]:
        labelled_keys = [e.label(f"k{i}") for i, e in enumerate(keys)]
        statement = (
            sa.select(
                *labelled_keys, *(e.label(f"m{i}") for i, (_, e, _) in enumerate(metric_exprs))
            )
            .select_from(rows_from)
            .where(*base, *where)
        )
        if few and labelled_keys:
            # Few groups known (bucket positions), but PostgreSQL estimates as many as the
            # column has values, and with ORDER BY … LIMIT on the keys it then sorts every row
            # to stop early: ordered and limited outside, the groups are hashed (≈ 3x faster).
            inner = statement.group_by(*keys).subquery("g")
            statement = (
                sa.select(inner)
                .order_by(*(inner.c[f"k{i}"].asc().nulls_last() for i in range(len(keys))))
                .limit(MAX_GROUPS)
            )
        elif labelled_keys:
            statement = (
                statement.group_by(*keys)
                .order_by(*(e.asc().nulls_last() for e in keys))
                .limit(MAX_GROUPS)
            )
        else:
            statement = statement.limit(MAX_GROUPS)
        return [dict(m) for m in conn.execute(statement).mappings()]

    plain_keys = [e for _, e, _, _ in key_exprs]
    lookups = _bucket_lookups(conn, ctx, groups, key_exprs, arrays)
    rows: Iterable[Mapping[str, Any]] | None = None
    if lookups:
        positioned, position_keys = source, list(plain_keys)
        for i, lookup in lookups.items():
            positions = lookup.positions(f"bp{i}")
            positioned = positioned.outerjoin(positions, positions.c.n == lookup.code)
            position_keys[i] = positions.c.n
        try:
            rows = [
                _relabel(row, lookups)
                for row in grouped(position_keys, few=True, rows_from=positioned)
            ]
        except OutOfRange:
            rows = None  # a value outside the bounds read from the index: the plain shape
    if rows is None and ctx.values is not None and not where:
        table = ctx.values.table
        rows = sqlite_grouped_halves(conn, table, source, plain_keys, metric_parts, MAX_GROUPS)
    if rows is None:
        rows = grouped(plain_keys)
    out: list[dict[str, Any]] = []
    for m in rows:
        keys = {
            name: _group_key(m[f"k{i}"], t, bucketed=groups[i].bucket is not None)
            for i, (name, _, t, _) in enumerate(key_exprs)
        }
        values = {
            name: _figure(m[f"m{i}"], places.get(name))
            for i, (name, _, _) in enumerate(metric_exprs)
        }
        out.append({"keys": keys, "values": values})
    return out


# --- data-permission scope (runtime.store.scope builds it) -------------------------------------


def _scoped(ctx: _Context, scope: ColumnElement[bool] | None) -> list[ColumnElement[bool]]:
    if scope is None:
        return []
    ctx.needs_records = True  # a condition on ``records`` (filter_condition, owner_id …)
    return [scope]


def filter_condition(
    conn: sa.Connection,
    cf: CompiledForm,
    filter: Filter | Mapping[str, Any],
    *,
    actor: Actor,
    timezone: str = DEFAULT_TIMEZONE,
    now: dt.datetime | None = None,
) -> ColumnElement[bool]:
    """``filter``, checked against ``cf`` like a query's, as a SQL condition on ``records``
    (for permission scopes, which are ANDed to queries and single-record reads).

    It reads the JSON and columns of ``records`` only, never the value table: a single-record
    read selects from ``records`` alone, and a query given a scope joins ``records``.

    Raises: InvalidQueryError.
    """
    errors = _Errors(actor.lang)
    ctx = _Context.make(cf, conn, actor, timezone, now, errors, values=False)
    parsed = _parse(_FilterAdapter, filter, "filter", errors)
    if parsed is not None:
        errors.extend(_problems(cf, errors.lang, filter=parsed))
    if not errors:
        condition_sql = _filter_sql(ctx, parsed, iter(range(1_000_000)), errors)
    if errors:
        raise InvalidQueryError(errors)
    return condition_sql


# --- checking ----------------------------------------------------------------------------------


@dataclass
class _Context:
    cf: CompiledForm
    dialect: str
    actor: Actor
    tz: ZoneInfo
    now: dt.datetime
    # The form's value table (None: read the JSON of ``records``), and whether the query
    # needs ``records`` beside it (a value only the JSON holds, search).
    values: ValueTable | None = None
    needs_records: bool = False

    @classmethod
    def make(
        cls,
        cf: CompiledForm,
        conn: sa.Connection,
        actor: Actor,
        timezone: str,
        now: dt.datetime | None,
        errors: _Errors,
        *,
        published: CompiledForm | None = None,
        values: bool = True,
    ) -> _Context:
        """``values``: read the form's value table when it exists (else only ``records``);
        ``published``: the form the value table belongs to, when ``cf`` is a copy of it
        without hidden fields."""
        try:
            tz = ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError, TypeError):
            errors.add("timezone", "invalid_timezone")
            tz = ZoneInfo(DEFAULT_TIMEZONE)
        when = now if now is not None else dt.datetime.now(dt.UTC)
        full = published if published is not None else cf
        if full.form_id != cf.form_id or full.version != cf.version:
            raise ValueError("published is another form or version than cf")
        table = live_value_table(conn, full) if values else None
        return cls(cf, dialect_name(conn), actor, tz, when, table)

    def target(self, key: str) -> Target | None:
        """``key`` as SQL sees it, read from the value table when that holds it."""
        t = _target(self.cf, key)
        if t is None:
            return None
        value = self.values.column(t) if self.values is not None else None
        if value is None:
            self.needs_records = True
            return t
        assert self.values is not None
        return replace(t, value=value, instant=self.values.instant(t))


def _scope(ctx: _Context, *, with_records: bool) -> tuple[sa.FromClause, list[ColumnElement[bool]]]:
    """What a query reads and the conditions that make it this form's live records: the value
    table (holding exactly those), joined to ``records`` when the query needs that too; or,
    for a form without one, ``records`` itself."""
    if ctx.values is None:
        return records, [form_is(ctx.cf.form_id), LIVE]
    if not (with_records or ctx.needs_records):
        return ctx.values.table, []
    return ctx.values.table.join(records, records.c.id == ctx.values.record_id), []


def _parse(adapter: pydantic.TypeAdapter[Any], value: Any, path: str, errors: _Errors) -> Any:
    try:
        return adapter.validate_python(value)
    except (pydantic.ValidationError, RecursionError) as exc:
        detail: Mapping[str, Any] = (
            exc.errors()[0] if isinstance(exc, pydantic.ValidationError) else {}
        )
        loc = ".".join(str(p) for p in detail.get("loc", ()))
        errors.add(
            f"{path}.{loc}" if loc else path,
            f"invalid_{path}",
            "invalid_shape",
            detail=pydantic_message(detail, errors.lang)[:200] if detail else "not a valid shape",
        )
        return None


def _problems(cf: CompiledForm, lang: str, **parts: Any) -> list[FieldError]:
    return [
        FieldError(p.path, p.code, p.message, dict(p.params))
        for p in query_problems(cf.definition, lang=lang, **parts)
    ]


def _target(cf: CompiledForm, key: str) -> Target | None:
    qf = query_field(cf.definition, key)
    if qf is None:
        return None
    if qf.config is None:
        return Target(key, qf.storage, None, SYSTEM_COLUMNS[key])
    return Target(key, qf.storage, qf.config.type)


def _sort_keys(ctx: _Context, sorts: list[Sort], errors: _Errors) -> list[tuple[Target, str]]:
    if len(sorts) > MAX_SORT_KEYS:
        errors.add("sort", "too_many_sort_keys", max=MAX_SORT_KEYS)
    keys: list[tuple[Target, str]] = []
    for i, s in enumerate(sorts):
        t = ctx.target(s.field)
        if t is None:
            errors.add(f"sort[{i}].field", "unknown_field", key=s.field)
        elif t.storage not in ORDERABLE:
            errors.add(f"sort[{i}].field", "not_sortable", key=s.field)
        elif all(k.key != t.key for k, _ in keys):
            keys.append((t, s.dir))
    if not any(t.column == "id" for t, _ in keys):
        # The tiebreaker runs the way the last key does, so an index on (expression, id) can
        # be walked in one direction without a sort.
        last = keys[-1][1] if keys else "asc"
        id_target = ctx.target("id")
        assert id_target is not None
        keys.append((id_target, last))
    # Nothing after id can change the order.
    cut = next(i for i, (t, _) in enumerate(keys) if t.column == "id")
    return keys[: cut + 1]


def _check_fields(cf: CompiledForm, fields: Sequence[str] | None, errors: _Errors) -> None:
    if fields is None:
        return
    if isinstance(fields, str) or not isinstance(fields, Sequence):
        errors.add("fields", "invalid_fields")
        return
    for i, key in enumerate(fields):
        # System fields are always in an item; naming one is allowed and changes nothing.
        if not isinstance(key, str) or (key not in cf.fields and key not in SYSTEM_COLUMNS):
            errors.add(f"fields[{i}]", "unknown_field", key=key)


def _check_search(search: str | None, errors: _Errors) -> None:
    if search is None:
        return
    if not isinstance(search, str) or len(search) > MAX_SEARCH_LENGTH:
        errors.add("search", "invalid_search", "search_too_long", max=MAX_SEARCH_LENGTH)
    elif len(search_words(search)) > MAX_SEARCH_WORDS:
        errors.add("search", "invalid_search", "search_too_many_words", max=MAX_SEARCH_WORDS)
    elif "\x00" in search:
        errors.add("search", "invalid_search", "search_nul")


# --- WHERE -------------------------------------------------------------------------------------


def _where(
    ctx: _Context,
    conn: sa.Connection,
    f: Filter | None,
    search: str | None,
    errors: _Errors,
) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = []
    if f is not None and not errors:
        counter = iter(range(1_000_000))
        where.append(_filter_sql(ctx, f, counter, errors))
    if search and not errors:
        cond = search_condition(search, ctx.dialect, conn)
        if cond is not None:
            ctx.needs_records = True
            where.append(cond)
    return where


def _filter_sql(
    ctx: _Context, f: Filter, counter: Iterable[int], errors: _Errors
) -> ColumnElement[bool]:
    if isinstance(f, Condition):
        index = next(iter(counter))
        return _condition_sql(ctx, f, f"filter.conditions[{index}]", errors)
    children = f.and_ if isinstance(f, AndFilter) else f.or_
    parts = [_filter_sql(ctx, c, counter, errors) for c in children]
    if not parts:
        return sa.true()
    return sa.and_(*parts) if isinstance(f, AndFilter) else sa.or_(*parts)


def _condition_sql(ctx: _Context, c: Condition, path: str, errors: _Errors) -> ColumnElement[bool]:
    qf = query_field(ctx.cf.definition, c.field)
    t = ctx.target(c.field)
    assert qf is not None and t is not None  # query_problems found none
    op = c.op
    try:
        if op in NO_VALUE_OPERATORS or op in ("last_n_days", "next_n_days"):
            value = c.value
        elif isinstance(c.value, list):
            value = [_stored(qf, t, v, ctx) for v in c.value]
        else:
            value = _stored(qf, t, c.value, ctx)
    except (CoercionError, ValueError, TypeError, OverflowError) as exc:
        message = getattr(exc, "message", None) or str(exc) or "not a valid value"
        errors.add(f"{path}.value", "invalid_filter_value", op=op, detail=str(message)[:200])
        return sa.false()
    date_range = None
    if op in ("today", "this_week", "this_month", "last_n_days", "next_n_days"):
        date_range = relative_range(op, c.value, t.storage, t.is_system, ctx.now, ctx.tz)
    return condition(
        t,
        op,
        value,
        ctx.dialect,
        user_id=ctx.actor.user_id,
        department_ids=ctx.actor.department_ids,
        date_range=date_range,
    )


def _stored(qf: Any, t: Target, value: Any, ctx: _Context) -> Any:
    """A filter value in the form the SQL expression holds.

    Raises: ValueError (and the coercion's errors) for a value no column could hold.
    """
    if t.is_system and t.storage is StorageKind.DATETIME:
        return _parse_datetime(value, ctx.tz)
    value = coerce_filter_value(qf, value, CoerceContext(timezone=ctx.tz))
    if t.storage is StorageKind.TEXT and not isinstance(value, str):
        if isinstance(value, bool):
            return "true" if value else "false"
        return str(value)
    number = t.storage is StorageKind.NUMBER and isinstance(value, float)
    if number and ctx.dialect == "postgresql" and not t.is_system:
        return Decimal(repr(value))  # compare numeric with numeric, exactly
    if number and t.is_system and value.is_integer():
        value = int(value)
    _check_bindable(t, value)
    return value


# The system integer columns' range: records' ids are BIGINT, users' ids (created_by, updated_by,
# owner_id) INTEGER on PostgreSQL. Beyond it the driver fails (SQLite's OverflowError,
# PostgreSQL's "out of range"); no row can hold such a value anyway.
_SYSTEM_INT_BITS = {"id": 64}


def _check_bindable(t: Target, value: Any) -> None:
    """Refuse a value the database cannot take as a bound parameter of ``t``'s expression: a
    string with NUL (PostgreSQL), an integer outside the column's range (or SQLite's).

    Raises: ValueError.
    """
    if contains_nul(value):
        raise ValueError("no NUL characters")
    if isinstance(value, int) and not isinstance(value, bool):
        # Any integer binds as SQLite's 64-bit INTEGER (a form field's value too).
        bits = 64 if t.column is None else _SYSTEM_INT_BITS.get(t.column, 32)
        if not -(2 ** (bits - 1)) <= value < 2 ** (bits - 1):
            raise ValueError("the number is too large to store")


def _parse_datetime(value: Any, tz: ZoneInfo) -> dt.datetime:
    if not isinstance(value, str):
        raise ValueError("a date or date-time in ISO 8601")
    text = value.strip()
    try:
        if len(text) == 10:
            day = dt.date.fromisoformat(text)
            return dt.datetime.combine(day, dt.time(), tz).astimezone(dt.UTC)
        parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError("a date or date-time in ISO 8601") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=tz)
    return parsed.astimezone(dt.UTC)


# --- keyset pagination -------------------------------------------------------------------------


# The label of the capped count selected beside a page's rows.
_COUNT_LABEL = "capped_count"

# Columns that are never NULL: a sort on them needs no blanks-last handling.
_NOT_NULL_COLUMNS = frozenset({"id", "created_at", "updated_at"})


def _page_rows(
    conn: sa.Connection,
    columns: list[Any],
    source: sa.FromClause,
    where: list[ColumnElement[bool]],
    keys: list[tuple[Target, str]],
    dialect: str,
    after: list[Any] | None,
    limit: int,
    extra: ColumnElement[Any] | None = None,
) -> list[sa.Row[Any]]:
    """Up to ``limit + 1`` rows after ``after`` in the order of ``keys``, blanks last;
    ``extra`` is selected beside the rows of the first statement that returns any (so the
    first row has it whenever there is one).

    A first key that may be blank is read in two parts — its non-blank rows, then (if the page
    is not full) its blank ones — because "blanks last" is the natural index order on neither
    database for both directions (SQLite puts NULL first ascending, PostgreSQL first
    descending). Each part is a plain ordered range over the ``(expression, id)`` index, in
    either direction, with no sort of the whole form.
    """
    exprs = [scalar_expr(t, dialect) for t, _ in keys]
    dirs = [d for _, d in keys]
    labels = [e.label(f"s{i}") for i, e in enumerate(exprs)]

    def ordered(e: ColumnElement[Any], d: str, t: Target) -> Any:
        clause = e.desc() if d == "desc" else e.asc()
        return clause if t.column in _NOT_NULL_COLUMNS else clause.nulls_last()

    pending = [extra] if extra is not None else []

    def run(conditions: list[ColumnElement[bool]], order: list[Any], n: int) -> list[sa.Row[Any]]:
        statement = (
            sa.select(*columns, *labels, *pending)
            .select_from(source)
            .where(*where, *conditions)
            .order_by(*order)
            .limit(n)
        )
        found = list(conn.execute(statement).all())
        if found:
            pending.clear()
        return found

    rest_order = [
        ordered(e, d, t) for e, d, (t, _) in zip(exprs[1:], dirs[1:], keys[1:], strict=True)
    ]
    if keys[0][0].column in _NOT_NULL_COLUMNS:
        conditions = [_after(exprs, dirs, after)] if after is not None else []
        return run(conditions, [ordered(exprs[0], dirs[0], keys[0][0]), *rest_order], limit + 1)

    first, ascending = exprs[0], dirs[0] == "asc"
    rows: list[sa.Row[Any]] = []
    if after is None or after[0] is not None:
        conditions = [first.is_not(None)]
        if dialect == "sqlite" and after is None:
            # SQLite does not use ``expr IS NOT NULL`` as a range of an expression index: it
            # walks the index from its NULL entries on, reading each row to test it (150,000
            # rows at 1,000,000 records with 15 % blanks). Every non-NULL value sorts at or
            # above -Inf (numbers, then text, then blobs), so this is the same test as a range.
            conditions.append(first >= sa.literal_column("-9e999"))
        if after is not None:
            v0 = after[0]
            conditions.append(first >= v0 if ascending else first <= v0)  # the index range
            conditions.append(
                sa.or_(
                    first > v0 if ascending else first < v0,
                    sa.and_(first == v0, _after(exprs[1:], dirs[1:], after[1:])),
                )
            )
        first_order = first.asc() if ascending else first.desc()
        rows = run(conditions, [first_order, *rest_order], limit + 1)
    if len(rows) <= limit:
        conditions = [first.is_(None)]
        if after is not None and after[0] is None:
            conditions.append(_after(exprs[1:], dirs[1:], after[1:]))
        rows += run(conditions, rest_order, limit + 1 - len(rows))
    return rows


def _after(
    exprs: list[ColumnElement[Any]], dirs: list[str], values: list[Any]
) -> ColumnElement[bool]:
    """Rows after ``values`` in the order ``exprs``/``dirs`` with blanks last."""
    alternatives: list[ColumnElement[bool]] = []
    for i, (expr, direction, value) in enumerate(zip(exprs, dirs, values, strict=True)):
        if value is None:
            beyond = None  # blanks are last: nothing non-blank comes after a blank
        else:
            past = expr > value if direction == "asc" else expr < value
            beyond = sa.or_(past, expr.is_(None)) if i < len(exprs) - 1 else past
        if beyond is not None:
            same = [
                e.is_(None) if v is None else e == v
                for e, v in zip(exprs[:i], values[:i], strict=True)
            ]
            alternatives.append(sa.and_(*same, beyond) if same else beyond)
    return sa.or_(*alternatives) if alternatives else sa.false()


def _spec_hash(cf: CompiledForm, keys: list[tuple[Target, str]]) -> str:
    spec = json.dumps([cf.form_id, [[t.key, t.storage.value, d] for t, d in keys]])
    return hashlib.sha256(spec.encode()).hexdigest()[:16]


def _encode_value(value: Any) -> Any:
    if isinstance(value, Decimal):
        return {"d": str(value)}
    if isinstance(value, dt.datetime):
        return {"t": value.isoformat()}
    return value


def _check(body: str) -> str:
    return hashlib.sha256(("stageform-cursor:" + body).encode()).hexdigest()[:16]


def _query_hash(parsed_filter: Any, search: str | None) -> str:
    """What a cursor remembers of the query it came from besides the sort: its filter (as
    parsed, so key order and spelling do not matter) and search words."""
    shape = _FilterAdapter.dump_python(parsed_filter, mode="json") if parsed_filter else None
    body = json.dumps([shape, search or ""], sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(body.encode()).hexdigest()[:16]


def _encode_cursor(
    cf: CompiledForm, keys: list[tuple[Target, str]], values: list[Any], query: str
) -> str:
    body = json.dumps(
        {"s": _spec_hash(cf, keys), "q": query, "v": [_encode_value(v) for v in values]},
        ensure_ascii=False,
        separators=(",", ":"),
    )
    raw = json.dumps({"b": body, "c": _check(body)}, ensure_ascii=False, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode_cursor(
    cursor: Any,
    cf: CompiledForm,
    keys: list[tuple[Target, str]],
    dialect: str,
    errors: _Errors,
    query: str,
) -> list[Any] | None:
    def bad(message: str) -> None:  # the English detail, for the log; the client is told
        errors.add("cursor", "invalid_cursor", why=message)

    if not isinstance(cursor, str) or not cursor or len(cursor) > MAX_CURSOR_LENGTH:
        bad("not a cursor from this query")
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        outer = json.loads(raw.decode())
        body = outer["b"]
        if not isinstance(body, str) or outer.get("c") != _check(body):
            raise ValueError("checksum")
        inner = json.loads(body)
        spec, encoded = inner["s"], inner["v"]
    except (ValueError, KeyError, TypeError, binascii.Error, UnicodeDecodeError, RecursionError):
        bad("not a cursor from this query")
        return None
    if spec != _spec_hash(cf, keys):
        bad("the cursor belongs to another sort; start again without it")
        return None
    if inner.get("q") != query:
        bad("the cursor belongs to another filter or search; start again without it")
        return None
    if not isinstance(encoded, list) or len(encoded) != len(keys):
        bad("not a cursor from this query")
        return None
    values: list[Any] = []
    try:
        for (t, _), v in zip(keys, encoded, strict=True):
            value = _decode_value(t, v, dialect)
            # The checksum only catches accidents (it is not a secret): a made-up cursor must
            # not reach the driver with a value it cannot bind.
            _check_bindable(t, value)
            values.append(value)
    except (ValueError, TypeError, ArithmeticError):
        bad("not a cursor from this query")
        return None
    return values


def _decode_value(t: Target, v: Any, dialect: str) -> Any:
    """A cursor value back as the sort expression's type (what :func:`_encode_value` wrote
    for it). A value of another type would compare wrongly, or fail in the database.

    Raises: ValueError.
    """
    if v is None:
        if t.column == "id":
            raise ValueError("id")
        return None
    system_datetime = t.is_system and t.storage is StorageKind.DATETIME
    if isinstance(v, dict):
        number_field = t.storage is StorageKind.NUMBER and not t.is_system
        if set(v) == {"d"} and isinstance(v["d"], str) and number_field:
            number = Decimal(v["d"])
            # Stored numbers are within ±10^15; numeric overflows long before ±10^131072.
            if not number.is_finite() or abs(number.adjusted()) > 1000:
                raise ValueError("number")
            return number
        if set(v) == {"t"} and isinstance(v["t"], str) and system_datetime:
            when = dt.datetime.fromisoformat(v["t"])
            if when.tzinfo is None:
                raise ValueError("naive")
            if not fits_utc(when):
                raise ValueError("datetime")
            return when
        raise ValueError("value")
    if system_datetime:
        raise ValueError("datetime")  # always {"t": …}
    if t.column == "id":
        if isinstance(v, bool) or not isinstance(v, int):
            raise ValueError("id")
        return v
    if isinstance(v, bool):
        raise ValueError("bool")
    if isinstance(v, float) and not math.isfinite(v):
        raise ValueError("number")
    if t.storage is StorageKind.NUMBER and not t.is_system and dialect == "postgresql":
        if not isinstance(v, int | float):
            raise ValueError("number")
        return Decimal(repr(v))
    if not isinstance(v, str) and (
        # PostgreSQL reads a form field other than a number as text (``->>``); a system text
        # column (stage) is text on both.
        (dialect == "postgresql" and not t.is_system)
        or (t.is_system and t.storage is StorageKind.TEXT)
    ):
        raise ValueError("text")
    if isinstance(v, int | float | str):
        if t.is_system and not isinstance(v, int | float) and t.storage is StorageKind.NUMBER:
            raise ValueError("number")
        if isinstance(v, str) and len(v) > 10_000:
            raise ValueError("long")
        return v
    raise ValueError("value")


# --- results -----------------------------------------------------------------------------------


# A page's columns, in the order :func:`_item` unpacks them. On SQLite the two timestamps are
# read as the UTC text they are stored as (``UTCDateTime``: ``YYYY-MM-DD HH:MM:SS.ffffff``),
# which :func:`_iso` turns into the API's ISO text by slicing: parsing each into a datetime
# (SQLAlchemy's SQLite processor, a regex) only to format it again cost ≈ 10 % of a page.
_PAGE_COLUMNS: dict[str, list[ColumnElement[Any]]] = {
    dialect: [
        records.c.id,
        records.c.form_id,
        records.c.version,
        records.c.stage,
        records.c.data,
        sa.type_coerce(records.c.created_at, sa.String) if text else records.c.created_at,
        records.c.created_by,
        sa.type_coerce(records.c.updated_at, sa.String) if text else records.c.updated_at,
        records.c.updated_by,
    ]
    for dialect, text in (("sqlite", True), ("postgresql", False))
}


def _iso(value: dt.datetime | str | None) -> str | None:
    """A UTC ISO 8601 text ending in ``Z``, as ``datetime.isoformat`` writes it (no fraction
    when there are no microseconds), of an aware datetime or of SQLite's stored UTC text."""
    if value is None:
        return None
    if isinstance(value, str):
        if len(value) == 26 and value[10] == " " and value[19] == ".":
            fraction = "" if value.endswith(".000000") else value[19:]
            return f"{value[:10]}T{value[11:19]}{fraction}Z"
        # not the engine's own format (written by hand?): read it as UTCDateTime does
        parsed = dt.datetime.fromisoformat(value)
        value = parsed.replace(tzinfo=dt.UTC) if parsed.tzinfo is None else parsed
    if value.tzinfo is not dt.UTC:  # another zone, or naive (local time to ``astimezone``)
        value = value.astimezone(dt.UTC)
    return value.isoformat()[:-6] + "Z"  # a UTC value ends in "+00:00"


def _item(row: Sequence[Any], wanted: set[str] | None) -> dict[str, Any]:
    # By position (the order of ``query_records``' columns): a Row's attribute lookup by name
    # costs more than the rest of building the item.
    id_, form_id, version, stage, data, created_at, created_by, updated_at, updated_by = row[:9]
    if not isinstance(data, dict):
        data = {}
    elif wanted is not None:
        data = {k: v for k, v in data.items() if k in wanted}
    return {
        "id": id_,
        "form_id": form_id,
        "version": version,
        "stage": stage,
        "data": data,
        "created_at": _iso(created_at),
        "created_by": created_by,
        "updated_at": _iso(updated_at),
        "updated_by": updated_by,
    }


def _figure(value: Any, places: int | None) -> Any:
    """A metric's value for the API; a float sum of fixed-precision values rounded to their
    places (see ``places`` in :func:`aggregate_records`)."""
    if places is not None and isinstance(value, float):
        rounded = round(value, places)
        return int(rounded) if places == 0 else rounded
    return _plain(value)


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dt.datetime):
        return _iso(value)
    return value


def _group_key(value: Any, t: Target, *, bucketed: bool) -> Any:
    if value is None or bucketed:
        return value
    if t.storage is StorageKind.BOOL and not t.is_system:
        return value in (1, True, "true")
    if (
        t.storage is StorageKind.ARRAY
        and isinstance(value, str)
        and t.field_type
        in (
            "users",
            "relation",
        )
    ):
        return int(value) if value.lstrip("-").isdigit() else value
    return _plain(value)


def _few_groups(
    conn: sa.Connection,
    ctx: _Context,
    where: list[ColumnElement[bool]],
    arrays: list[Any],
    key_exprs: list[tuple[str, ColumnElement[Any], Target, bool]],
    metric_parts: list[tuple[str, ColumnElement[Any] | None]],
) -> list[tuple[Any, list[Any]]] | None:
    """SQLite, the whole form grouped by one indexed column of the value table: the groups
    from the index and the metrics from one scan (:func:`sqlite_few_groups`); else ``None``."""
    vt = ctx.values
    if vt is None or ctx.dialect != "sqlite" or where or arrays or ctx.needs_records:
        return None
    if len(key_exprs) != 1 or not isinstance(key_exprs[0][1], sa.Column):
        return None
    if key_exprs[0][1].name not in vt.indexes or key_exprs[0][1].table is not vt.table:
        return None
    return sqlite_few_groups(conn, vt.table, key_exprs[0][1], metric_parts)


def _bucket_lookups(
    conn: sa.Connection,
    ctx: _Context,
    groups: list[GroupBy],
    key_exprs: list[tuple[str, ColumnElement[Any], Target, bool]],
    arrays: list[Any],
) -> dict[int, BucketLookup]:
    """PostgreSQL: the date-bucket keys that can be read as positions among boundaries
    (:func:`pg_bucket_lookup`), by key index."""
    vt = ctx.values
    if vt is None or ctx.dialect != "postgresql" or arrays:
        return {}
    out: dict[int, BucketLookup] = {}
    for i, (g, (_, _, t, _)) in enumerate(zip(groups, key_exprs, strict=True)):
        if g.bucket is None or t.value is None:
            continue
        if t.instant is not None and vt.index_of(t.key) is not None:
            instant, ordered = t.instant, t.value  # the stored text has the index
        elif t.is_system and t.storage is StorageKind.DATETIME and t.column in vt.indexes:
            instant = ordered = t.value
        else:
            continue
        found = pg_bucket_lookup(conn, t, vt.table, instant, ordered, g.bucket, ctx.tz)
        if found is not None:
            out[i] = found
    return out


def _relabel(row: Mapping[str, Any], lookups: dict[int, BucketLookup]) -> dict[str, Any]:
    m = dict(row)
    for i, lookup in lookups.items():
        m[f"k{i}"] = lookup.label(m[f"k{i}"])
    return m


def _unindexed(e: ColumnElement[Any]) -> ColumnElement[Any]:
    """SQLite's no-op unary ``+``: the same value, but no index is used for it."""
    return UnaryExpression(e, operator=custom_op("+"), type_=e.type)


def _array_elements(t: Target, dialect: str, name: str) -> tuple[Any, ColumnElement[Any]]:
    """The elements of an array field, one row each, and the group key of an element: its
    JSON value as SQL sees it — numbers order as numbers (user ids), text as text, numbers
    before text, a JSON ``null`` is SQL NULL — alike on both databases."""
    key = checked_key(t.key)
    if dialect == "sqlite":
        path: ColumnElement[Any] = sa.literal_column(f"'$.{key}'")
        table = sa.func.json_each(records.c.data, path).table_valued("value").alias(name)
        return table, table.c.value
    col: ColumnElement[Any] = sa.literal_column(f"(records.data -> '{key}')")
    arr = sa.case((sa.func.jsonb_typeof(col) == "array", col), else_=None)
    # jsonb elements, not their text: as text, user 10 would sort before user 9.
    lateral = sa.func.jsonb_array_elements(arr).table_valued("value").lateral(name)
    return lateral, sa.func.nullif(lateral.c.value, sa.literal_column("'null'::jsonb"))

"""Set-based inserts of many rows, straight to the driver.

A batch create writes thousands of rows into a handful of tables. Going through SQLAlchemy's
"insertmanyvalues" costs more Python per row than the database's own work (building each
row's parameter dict, running each bind processor, and on PostgreSQL psycopg re-parsing a new
multi-row statement text per batch), so these rows go to the driver directly:

- SQLite: multi-row ``INSERT … VALUES (?, …), (?, …)`` of at most :data:`SQLITE_ROWS` rows and
  as many parameters as the connection allows a statement (one statement, not an
  ``executemany`` of single rows: one statement transaction per chunk instead of per row —
  see docs/performance.md, "Write path");
- PostgreSQL: ``COPY … FROM STDIN``; new primary keys are taken from the table's sequence in
  one call beforehand, so nothing needs to come back. A single row (a single create) is a
  plain ``INSERT … RETURNING id`` instead: one round trip where ``nextval`` and ``COPY`` take
  two and three, and a statement text that repeats, so psycopg prepares it server-side.

Values are converted exactly as SQLAlchemy would bind them: each column's bind processor
(for the dialect) is applied; JSON columns are serialised with the engine's serializer.
Triggers, constraints and foreign keys apply as for any insert, inside the caller's
transaction (and savepoint).
"""

from __future__ import annotations

import functools
import json
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing
from typing import Any

import sqlalchemy as sa

SQLITE_ROWS = 1000
_NOTHING = object()


def insert_many(
    conn: sa.Connection,
    table: sa.Table,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    new_ids: bool = False,
) -> list[int]:
    """Insert ``rows`` (tuples of Python values in the order of ``columns``) into ``table``.

    ``new_ids``: the table's integer ``id`` primary key is generated for each row and the
    ids are returned in row order (else ``[]``). SQLAlchemy's Python-side column defaults are
    not applied: name every column that needs a value.
    """
    if not rows:
        return []
    begun(conn)
    if conn.dialect.name == "postgresql":
        return _copy_postgresql(conn, table, columns, rows, new_ids)
    return _insert_sqlite(conn, table, columns, rows, new_ids)


def begun(conn: sa.Connection) -> None:
    """Begin the connection's transaction if nothing has yet (as executing a statement through
    SQLAlchemy would): the driver calls here bypass SQLAlchemy's autobegin, and on SQLite the
    driver itself begins nothing (the engine's "begin" hook does)."""
    if not conn.in_transaction():
        conn.begin()


def _converters(conn: sa.Connection, table: sa.Table, columns: Sequence[str]) -> tuple[Any, ...]:
    return _converters_for(conn.dialect, table, tuple(columns))


@functools.lru_cache(maxsize=256)
def _converters_for(
    dialect: sa.Dialect, table: sa.Table, columns: tuple[str, ...]
) -> tuple[Any, ...]:
    # Worked out once per (engine, table, columns): a single create calls here for four
    # tables, and looking the bind processors up cost more than applying them.
    out: list[Callable[[Any], Any] | None] = []
    for name in columns:
        column_type = table.c[name].type
        affinity = column_type._type_affinity
        if dialect.name == "postgresql" and affinity is not None and issubclass(affinity, sa.JSON):
            out.append(_json_text(dialect._json_serializer or json.dumps))
        else:
            out.append(column_type._cached_bind_processor(dialect))
    return tuple(out)


def driver_row(
    conn: sa.Connection, table: sa.Table, columns: Sequence[str], row: Sequence[Any]
) -> tuple[Any, ...]:
    """One row's values as :func:`insert_many` sends them to the driver (for a statement of the
    caller's own that inserts into ``table``)."""
    return _converted(_converters(conn, table, columns), [row])[0]


def _json_text(dumps: Callable[[Any], str]) -> Callable[[Any], str | None]:
    """JSON as text for ``COPY`` (the server parses it into ``jsonb``)."""

    def convert(value: Any) -> str | None:
        return None if value is None else dumps(value)

    return convert


def _converted(converters: Sequence[Any], rows: Sequence[Sequence[Any]]) -> list[tuple[Any, ...]]:
    """The rows with each column's converter applied. Converters are pure, so a value that is
    the very object of the row before (the batch's timestamp, its actor) is converted once."""
    if not any(converters):
        return [tuple(r) for r in rows]
    columns: list[Sequence[Any]] = []
    for convert, values in zip(converters, zip(*rows, strict=True), strict=True):
        if convert is None:
            columns.append(values)
            continue
        out: list[Any] = []
        last_in: Any = _NOTHING
        last_out: Any = None
        for value in values:
            if value is not last_in:
                last_in, last_out = value, convert(value)
            out.append(last_out)
        columns.append(out)
    return list(zip(*columns, strict=True))


def _insert_sqlite(
    conn: sa.Connection,
    table: sa.Table,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    new_ids: bool,
) -> list[int]:
    values = _converted(_converters(conn, table, columns), rows)
    raw = conn.connection.driver_connection
    head = f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES "
    tail = " RETURNING id" if new_ids else ""
    ids: list[int] = []
    with closing(raw.cursor()) as cursor:  # type: ignore[union-attr]
        for placeholders, params in _sqlite_chunks(raw, len(columns), values):
            cursor.execute(head + placeholders + tail, params)
            if new_ids:
                # The ids of one multi-row statement increase in row order (rowid allocation
                # under the write lock); RETURNING need not come back in that order.
                ids.extend(sorted(r[0] for r in cursor.fetchall()))
    return ids


def _sqlite_chunks(
    raw: Any, width: int, values: Sequence[tuple[Any, ...]]
) -> Iterator[tuple[str, list[Any]]]:
    """The rows in chunks a multi-row ``VALUES`` can take: each chunk's placeholder text
    (``(?, ?), (?, ?)``) and its parameters, flat. At most :data:`SQLITE_ROWS` rows and the
    connection's variable limit a chunk."""
    limit = raw.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
    per_statement = max(1, min(SQLITE_ROWS, limit // width))
    one = "(" + ", ".join(["?"] * width) + ")"
    for start in range(0, len(values), per_statement):
        chunk = values[start : start + per_statement]
        yield ", ".join([one] * len(chunk)), [v for row in chunk for v in row]


def _copy_postgresql(
    conn: sa.Connection,
    table: sa.Table,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    new_ids: bool,
) -> list[int]:
    values = _converted(_converters(conn, table, columns), rows)
    raw = conn.connection.driver_connection
    ids: list[int] = []
    with raw.cursor() as cur:  # type: ignore[union-attr]
        names = list(columns)
        if len(values) == 1:
            placeholders = ", ".join(["%s"] * len(names))
            cur.execute(
                f"INSERT INTO {table.name} ({', '.join(names)}) VALUES ({placeholders})"
                + (" RETURNING id" if new_ids else ""),
                values[0],
            )
            return [cur.fetchone()[0]] if new_ids else []
        if new_ids:
            cur.execute(
                "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
                (table.name, len(values)),
            )
            ids = sorted(r[0] for r in cur.fetchall())
            names = ["id", *names]
            values = [(i, *row) for i, row in zip(ids, values, strict=True)]
        with cur.copy(f"COPY {table.name} ({', '.join(names)}) FROM STDIN") as copy:
            for row in values:
                copy.write_row(row)
    return ids


def insert_new(
    conn: sa.Connection,
    table: sa.Table,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    returning: Sequence[str],
) -> list[tuple[Any, ...]]:
    """Insert ``rows`` with ``ON CONFLICT DO NOTHING``; the ``returning`` columns of the rows
    that went in (a row that conflicts does not come back). One statement a chunk: SQLite a
    multi-row ``VALUES``, PostgreSQL ``SELECT … FROM unnest(<one array a column>)``."""
    if not rows:
        return []
    begun(conn)
    values = _converted(_converters(conn, table, columns), rows)
    names = ", ".join(columns)
    back = ", ".join(returning)
    raw = conn.connection.driver_connection
    out: list[tuple[Any, ...]] = []
    with closing(raw.cursor()) as cur:  # type: ignore[union-attr]
        if conn.dialect.name == "postgresql":
            arrays = ", ".join(
                f"%s::{table.c[name].type.compile(dialect=conn.dialect)}[]" for name in columns
            )
            cur.execute(
                f"INSERT INTO {table.name} ({names}) SELECT * FROM unnest({arrays})"
                f" ON CONFLICT DO NOTHING RETURNING {back}",
                [list(col) for col in zip(*values, strict=True)],
            )
            return [tuple(r) for r in cur.fetchall()]
        for placeholders, params in _sqlite_chunks(raw, len(columns), values):
            cur.execute(
                f"INSERT INTO {table.name} ({names}) VALUES {placeholders}"
                f" ON CONFLICT DO NOTHING RETURNING {back}",
                params,
            )
            out.extend(tuple(r) for r in cur.fetchall())
    return out

"""Hot statements run on the driver's cursor: :class:`Prebuilt`.

Executing even an already-built SQLAlchemy ``select`` costs ≈ 80 µs of Python a call here
(the compiled-cache lookup, the execution context, the result set-up) — twenty times the
driver's own work for an indexed one-row read on SQLite (≈ 4 µs), and about as much again
as psycopg's on PostgreSQL. The few reads that every API request runs (the API token with
its grants, a form's head) and the serial counter's upsert of a create are compiled once
per dialect instead and run straight on the driver, as :mod:`runtime.store.batch_insert`
does for the rows a create writes. The values are bound and the columns read back with the
statement's own type processors, so the rows are what ``conn.execute(statement)`` would
give.
"""

from __future__ import annotations

import threading
from collections import namedtuple
from collections.abc import Callable, Mapping, Sequence
from contextlib import closing
from dataclasses import dataclass
from typing import Any, cast

import sqlalchemy as sa


@dataclass(frozen=True)
class _Compiled:
    sql: str
    positional: tuple[str, ...] | None  # parameter names in order (qmark), None: by name
    binds: Mapping[str, Callable[[Any], Any]]
    results: tuple[Callable[[Any], Any] | None, ...]
    row: Callable[..., Any]


class Prebuilt:
    """A SQLAlchemy ``select`` (or a DML statement with ``RETURNING``) compiled once per
    dialect, run on the driver's cursor.

    ``rows(conn, params)`` returns the rows as named tuples (``row.column``), inside ``conn``'s
    transaction (begun first if it has not been, as ``conn.execute`` would).
    """

    def __init__(self, statement: sa.Select[Any] | sa.CompoundSelect[Any] | sa.UpdateBase) -> None:
        self._statement = statement
        self._by_dialect: dict[str, _Compiled] = {}
        self._lock = threading.Lock()

    def rows(self, conn: sa.Connection, params: Mapping[str, Any]) -> list[Any]:
        compiled = self._by_dialect.get(conn.dialect.name) or self._compile(conn.dialect)
        if not conn.in_transaction():
            conn.begin()
        binds = compiled.binds
        values: Any
        if compiled.positional is not None:
            values = [
                binds[name](params[name]) if name in binds else params[name]
                for name in compiled.positional
            ]
        else:
            values = {
                name: binds[name](value) if name in binds else value
                for name, value in params.items()
            }
        raw = conn.connection.driver_connection
        with closing(raw.cursor()) as cursor:  # type: ignore[union-attr]
            cursor.execute(compiled.sql, values)
            fetched: Sequence[Sequence[Any]] = cursor.fetchall()
        results, make = compiled.results, compiled.row
        if not any(results):
            return [make(*row) for row in fetched]
        return [
            make(*(value if p is None else p(value) for p, value in zip(results, row, strict=True)))
            for row in fetched
        ]

    def _compile(self, dialect: sa.Dialect) -> _Compiled:
        with self._lock:
            found = self._by_dialect.get(dialect.name)
            if found is not None:
                return found
            compiled = self._statement.compile(dialect=dialect)
            columns = self._statement.exported_columns  # a select's, or what DML returns
            names = cast(list[str], list(columns.keys()))  # every returned column is named
            binds = {
                name: processor
                for name, processor in compiled._bind_processors.items()
                if callable(processor)
            }
            results = tuple(
                column.type._cached_result_processor(dialect, None) for column in columns
            )
            positional = compiled.positiontup
            built = _Compiled(
                sql=compiled.string,
                positional=tuple(positional) if dialect.positional and positional else None,
                binds=binds,
                results=results,
                row=namedtuple("Row", names),
            )
            self._by_dialect[dialect.name] = built
            return built

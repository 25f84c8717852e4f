"""Expression indexes for the fields lists filter and sort on, created when a form is published.

One index per ``filterable``/``sortable`` field, named ``ix_rec_f{form_id}_{key}``, partial on
``form_id = <id> AND deleted_at IS NULL`` so that it holds only the live records of its form (an
index over every form's rows would be written on every insert of every form). The indexed
expression is exactly the one the query engine writes (:func:`runtime.store.query_sql.index_expr`),
followed by ``id``, the tiebreaker of every sort, so a filter + sort + keyset page can walk it.

- SQLite: ``json_extract(data, '$.k')``.
- PostgreSQL: ``(data ->> 'k')`` for text and dates, the guarded ``::numeric`` CASE for numbers,
  and a GIN ``jsonb_path_ops`` index on ``(data -> 'k')`` for arrays (``@>`` membership).

Arrays on SQLite, booleans and JSON values get no index (membership goes through ``json_each``;
a yes/no column is not selective).
"""

from __future__ import annotations

import hashlib

import sqlalchemy as sa

from builder.value_types import StorageKind
from runtime.compiled import CompiledForm
from runtime.store.engine import dialect_name
from runtime.store.query_sql import Target, checked_key, index_expr

_BTREE = frozenset({StorageKind.TEXT, StorageKind.NUMBER, StorageKind.DATE, StorageKind.DATETIME})
_MAX_NAME = 63  # PostgreSQL truncates longer identifiers
# Rows read per index by SQLite's ANALYZE; 0 = all. A limited ANALYZE reads the first N entries
# of each index, which for a low-cardinality field (a select) or the (form_id, …) index are all
# one value: it then records "one value matches ~N rows" whatever the table's size, and the
# planner sorts a 300,000-row filter instead of walking the sort field's index (measured with
# bench/records.py at 1,000,000 records). A full pass costs about what building one of the
# indexes costs, once per publish.
_ANALYSIS_LIMIT = 0


def index_name(form_id: int, key: str) -> str:
    name = f"ix_rec_f{int(form_id)}_{checked_key(key)}"
    if len(name) <= _MAX_NAME:
        return name
    digest = hashlib.sha256(key.encode()).hexdigest()[:8]
    return f"ix_rec_f{int(form_id)}_{key[:40]}_{digest}"


def has_index(cf: CompiledForm, key: str) -> bool:
    """Whether publishing ``cf`` creates an ordered ``(expression, id)`` index for ``key``."""
    field = cf.fields.get(key)
    return field is not None and (field.filterable or field.sortable) and cf.storage[key] in _BTREE


def index_statements(cf: CompiledForm, dialect: str) -> list[str]:
    """``CREATE INDEX IF NOT EXISTS`` statements for ``cf``'s filterable/sortable fields."""
    out: list[str] = []
    where = f"WHERE form_id = {int(cf.form_id)} AND deleted_at IS NULL"
    for key, field in cf.fields.items():
        if not (field.filterable or field.sortable):
            continue
        storage = cf.storage[key]
        target = Target(key, storage, field.type)
        name = index_name(cf.form_id, key)
        if storage in _BTREE:
            expr = index_expr(target, dialect)
            out.append(f"CREATE INDEX IF NOT EXISTS {name} ON records ({expr}, id) {where}")
        elif storage is StorageKind.ARRAY and dialect == "postgresql":
            expr = index_expr(target, dialect)
            out.append(
                f"CREATE INDEX IF NOT EXISTS {name} ON records "
                f"USING gin ({expr} jsonb_path_ops) {where}"
            )
    return out


def create_indexes(conn: sa.Connection, cf: CompiledForm) -> None:
    """Create the indexes of :func:`index_statements` (existing ones are kept).

    On PostgreSQL this is a plain ``CREATE INDEX`` inside the caller's transaction: it blocks
    writes to ``records`` while it builds, which for a big form takes a while.

    On SQLite it then refreshes the planner's statistics of ``records`` (a full
    ``ANALYZE``): without them SQLite prefers the two-equality ``(form_id, deleted_at, id)``
    index to a range on an expression index, sorting the whole form for every page.
    """
    dialect = dialect_name(conn)
    for statement in index_statements(cf, dialect):
        conn.exec_driver_sql(statement)
    if dialect == "sqlite":
        conn.exec_driver_sql(f"PRAGMA analysis_limit = {_ANALYSIS_LIMIT}")
        conn.exec_driver_sql("ANALYZE records")

"""What publishing a form builds for its queries.

- The form's value table (:mod:`runtime.store.values`): typed copies of its scalar values with
  an ``(value, record_id)`` index per ``filterable``/``sortable`` field — what filters, sorts,
  counts and aggregates read.
- PostgreSQL: a GIN ``jsonb_path_ops`` index on ``(data -> 'k')`` for each filterable/sortable
  array field (multi-select, users: ``@>`` membership), partial on ``form_id = <id> AND
  deleted_at IS NULL``, named ``ix_rec_f{form_id}_{key}``. Arrays stay in the JSON only.

Expression indexes on JSON scalars (``ix_rec_f{form_id}_{key}`` over ``json_extract``/``->>``),
which earlier versions built, are dropped on publish: the value table replaces them.
"""

from __future__ import annotations

import hashlib

import sqlalchemy as sa

from builder.value_types import StorageKind
from runtime.compiled import CompiledForm
from runtime.store.engine import dialect_name
from runtime.store.query_sql import Target, checked_key, index_expr
from runtime.store.values import build_value_table

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


def index_statements(cf: CompiledForm, dialect: str) -> list[str]:
    """``CREATE INDEX IF NOT EXISTS`` statements for ``cf``'s filterable/sortable array fields
    (PostgreSQL), and ``DROP INDEX IF EXISTS`` for the JSON expression indexes of its other
    fields (built by earlier versions; the value table replaces them)."""
    out: list[str] = []
    where = f"WHERE form_id = {int(cf.form_id)} AND deleted_at IS NULL"
    for key, field in cf.fields.items():
        storage = cf.storage[key]
        name = index_name(cf.form_id, key)
        if storage in _BTREE:
            out.append(f"DROP INDEX IF EXISTS {name}")
        elif not (field.filterable or field.sortable):
            continue
        elif storage is StorageKind.ARRAY and dialect == "postgresql":
            target = Target(key, storage, field.type)
            expr = index_expr(target, dialect)
            out.append(
                f"CREATE INDEX IF NOT EXISTS {name} ON records "
                f"USING gin ({expr} jsonb_path_ops) {where}"
            )
    return out


def create_indexes(conn: sa.Connection, cf: CompiledForm) -> None:
    """Run :func:`index_statements` and build the form's value table (kept when it exists).

    On PostgreSQL this runs inside the caller's transaction and blocks writes to ``records``
    while it builds, which for a big form takes a while. It ends with ``ANALYZE`` of the value
    table (on SQLite a full one, see ``_ANALYSIS_LIMIT``).
    """
    dialect = dialect_name(conn)
    for statement in index_statements(cf, dialect):
        conn.exec_driver_sql(statement)
    if dialect == "sqlite":
        conn.exec_driver_sql(f"PRAGMA analysis_limit = {_ANALYSIS_LIMIT}")
    vt = build_value_table(conn, cf)
    conn.exec_driver_sql(f"ANALYZE {vt.name}")

"""Record values: a narrow per-form table of each live record's filterable, sortable and
aggregatable values, kept out of JSON so that filters, sorts, counts and aggregates read typed
columns and plain indexes instead of extracting JSON once per row.

For a published form the table ``rv_f{form_id}_{spec}`` holds one row per *live* record:

- ``record_id`` (the primary key, = ``records.id``);
- the system columns queries use: ``stage``, ``owner_id``, ``created_by``, ``updated_by``,
  ``created_at``, ``updated_at`` (copied, same types);
- one column per scalar form field that lists, reports and dashboards group, sum or compare:
  every number, date, datetime and yes/no field, every single ``select``, and any other text
  field marked filterable or sortable (free text — names, phones, notes — stays in the JSON
  only, which keeps the table narrow: an aggregate scans it whole), named ``f_{key}``,
  holding exactly what the JSON expression of :func:`runtime.store.query_sql.scalar_expr`
  yields (SQLite: ``json_extract``; PostgreSQL: ``->>`` text, or the guarded ``numeric`` cast
  for numbers). Filters, cursors and comparisons therefore mean the same on the table as on the
  JSON; only where the value is read changes;
- PostgreSQL, for each datetime field: ``i_{key}``, the ``timestamptz`` of the text
  (:func:`runtime.store.query_sql.pg_instant`, NULL when the text is not a datetime), which
  date buckets read: parsing and checking the text per row cost more than the rest of a
  grouped aggregate.

``{spec}`` is a hash of the column layout (fields, storage kinds, which are indexed): a publish
that keeps the layout keeps the table; one that changes it builds a new table (backfilled from
``records``) and drops the old one, in the publish transaction.

Indexes: ``(f_key, record_id)`` for each filterable/sortable field and ``(created_at,
record_id)``, ``(updated_at, record_id)``, ``(stage, record_id)``: every sort ends with the id,
so a filter + sort + keyset page walks one index, and a capped count is an index-only scan.

The table is kept in step by triggers on ``records`` (SQLite triggers; on PostgreSQL a PL/pgSQL
row trigger per form, and for a batch write a statement-level one that fills the table from
the statement's new rows in one ``INSERT … SELECT`` — a batch of 1,000 records is one
statement instead of 1,000 trigger calls: :func:`insert_trigger_statements`), so every
write path — single and batched inserts, updates, transitions,
soft delete (the row leaves), restore (it comes back), purge — maintains it in the same
transaction, with no call from the Python write path. Arrays (multi-select, users, multiple
relations) and JSON values stay in ``records.data`` only (membership uses the JSON indexes).

A form published before this module existed has no table until its next publish; the query
engine then reads the JSON as before (:func:`live_value_table` returns ``None``).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.sql.elements import ColumnElement

from builder.value_types import StorageKind
from runtime.compiled import CompiledForm
from runtime.store.engine import dialect_name
from runtime.store.query_sql import Target, index_expr, pg_instant
from runtime.store.sqltypes import UTCDateTime

# Bump when the layout or the meaning of a column changes: every form then gets a new table
# on its next publish.
LAYOUT_VERSION = 1
PREFIX = "rv_f"
MATERIALIZED = frozenset(
    {StorageKind.TEXT, StorageKind.NUMBER, StorageKind.DATE, StorageKind.DATETIME, StorageKind.BOOL}
)
# Text fields worth a column without being marked filterable/sortable: few distinct values.
_GROUPED_TEXT = frozenset({"select"})
_INDEXED = frozenset({StorageKind.TEXT, StorageKind.NUMBER, StorageKind.DATE, StorageKind.DATETIME})
_MAX_NAME = 63
# The copied system columns: name → (SQLite DDL type, PostgreSQL DDL type, SQLAlchemy type).
_SYSTEM: dict[str, tuple[str, str, Any]] = {
    "stage": ("TEXT", "text", sa.Text()),
    "owner_id": ("INTEGER", "integer", sa.Integer()),
    "created_by": ("INTEGER", "integer", sa.Integer()),
    "updated_by": ("INTEGER", "integer", sa.Integer()),
    "created_at": ("DATETIME", "timestamptz", UTCDateTime()),
    "updated_at": ("DATETIME", "timestamptz", UTCDateTime()),
}
_SYSTEM_INDEXED = ("created_at", "updated_at", "stage")
_PG = postgresql.dialect()  # type: ignore[no-untyped-call]


@dataclass(frozen=True, eq=False)
class ValueTable:
    """The value table of one published form version, as the query engine uses it."""

    name: str
    form_id: int
    table: sa.Table
    fields: dict[str, tuple[str, StorageKind, bool]]  # key → (column, storage, indexed)
    indexes: dict[str, str]  # indexed column → its index's name
    instants: dict[str, str]  # PostgreSQL: datetime field key → its timestamptz column

    @property
    def record_id(self) -> sa.Column[Any]:
        return self.table.c.record_id

    def index_of(self, key: str) -> str | None:
        """The name of the ``(value, record_id)`` index of field ``key``, if it has one."""
        found = self.fields.get(key)
        return self.indexes.get(found[0]) if found is not None else None

    def column(self, t: Target) -> ColumnElement[Any] | None:
        """The column holding ``t``'s value, or ``None`` when it lives in ``records`` only."""
        if t.column is not None:
            name = "record_id" if t.column == "id" else t.column
            return self.table.c.get(name)
        found = self.fields.get(t.key)
        if found is None or found[1] is not t.storage:
            return None
        return self.table.c[found[0]]

    def instant(self, t: Target) -> ColumnElement[Any] | None:
        """The ``timestamptz`` copy of datetime field ``t`` (PostgreSQL), if there is one."""
        name = self.instants.get(t.key) if t.column is None else None
        return self.table.c[name] if name is not None else None


def _column_name(key: str, prefix: str = "f") -> str:
    name = f"{prefix}_{key}"
    if len(name) <= _MAX_NAME:
        return name
    return f"{prefix}_{key[:50]}_{hashlib.sha256(key.encode()).hexdigest()[:8]}"


def _layout(cf: CompiledForm) -> list[tuple[str, StorageKind, bool, str]]:
    """``(key, storage, indexed, field type)`` of the materialized fields, in form order."""
    out = []
    for key, field in cf.fields.items():
        storage = cf.storage[key]
        wanted = field.filterable or field.sortable
        if storage not in MATERIALIZED:
            continue
        if storage is StorageKind.TEXT and not (wanted or field.type in _GROUPED_TEXT):
            continue
        out.append((key, storage, bool(wanted and storage in _INDEXED), field.type))
    return out


def value_table(cf: CompiledForm, dialect: str) -> ValueTable:
    """The value table ``cf`` needs (whether or not it exists yet)."""
    return _value_table(cf.form_id, _layout_key(cf), dialect)


def _layout_key(cf: CompiledForm) -> tuple[tuple[str, str, bool], ...]:
    return tuple((k, s.value, ix) for k, s, ix, _ in _layout(cf))


@lru_cache(maxsize=256)
def _value_table(
    form_id: int, layout: tuple[tuple[str, str, bool], ...], dialect: str
) -> ValueTable:
    instants = dialect == "postgresql"
    spec = json.dumps([LAYOUT_VERSION, layout, *(["instants"] if instants else [])])
    name = f"{PREFIX}{int(form_id)}_{hashlib.sha256(spec.encode()).hexdigest()[:10]}"
    columns: list[sa.Column[Any]] = [sa.Column("record_id", sa.BigInteger, primary_key=True)]
    columns += [sa.Column(n, t) for n, (_, _, t) in _SYSTEM.items()]
    fields: dict[str, tuple[str, StorageKind, bool]] = {}
    for key, storage_name, is_indexed in layout:
        storage = StorageKind(storage_name)
        column = _column_name(key)
        fields[key] = (column, storage, is_indexed)
        columns.append(sa.Column(column, _sql_type(storage, dialect)))
    typed = {
        key: _column_name(key, "i")
        for key, (_, storage, _) in fields.items()
        if instants and storage is StorageKind.DATETIME
    }
    columns += [sa.Column(c, sa.DateTime(timezone=True)) for c in typed.values()]
    table = sa.Table(name, sa.MetaData(), *columns)
    indexed = [*(c for c, _, ix in fields.values() if ix), *_SYSTEM_INDEXED]
    indexes = {column: f"{name}_i{i}" for i, column in enumerate(indexed)}
    return ValueTable(name, int(form_id), table, fields, indexes, typed)


def _sql_type(storage: StorageKind, dialect: str) -> Any:
    # As scalar_expr types its JSON expression: SQLite hands back whatever json_extract gave.
    if dialect == "sqlite":
        return sa.types.NullType()
    return sa.Numeric() if storage is StorageKind.NUMBER else sa.Text()


# (database URL, table) pairs seen to exist, so that a query costs no catalog lookup. A table
# is only dropped by drop_value_tables (which forgets it here) or by a rollback of the publish
# that built it, whose form version then never became visible either.
_KNOWN: set[tuple[Any, str]] = set()


def live_value_table(conn: sa.Connection, cf: CompiledForm) -> ValueTable | None:
    """``cf``'s value table if it exists in the database (it does once ``cf`` was published
    through :func:`build_value_table`)."""
    vt = value_table(cf, dialect_name(conn))
    known = (conn.engine.url, vt.name)
    if known in _KNOWN:
        return vt
    if not _exists(conn, vt.name):
        return None
    _KNOWN.add(known)
    return vt


def _exists(conn: sa.Connection, name: str) -> bool:
    if dialect_name(conn) == "sqlite":
        sql = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?"
        return conn.exec_driver_sql(sql, (name,)).first() is not None
    return conn.exec_driver_sql("SELECT to_regclass(%s)", (name,)).scalar() is not None


def _form_tables(conn: sa.Connection, form_id: int) -> list[str]:
    pattern = f"{PREFIX}{int(form_id)}\\_%"
    if dialect_name(conn) == "sqlite":
        sql = "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE ? ESCAPE '\\'"
        return [r[0] for r in conn.exec_driver_sql(sql, (pattern,))]
    sql = (
        "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() "
        "AND tablename LIKE %s ESCAPE '\\'"
    )
    return [r[0] for r in conn.exec_driver_sql(sql, (pattern,))]


# --- DDL ---------------------------------------------------------------------------------------


def _value_exprs(vt: ValueTable, dialect: str, row: str) -> list[str]:
    """The SQL of each column's value for the ``records`` row ``row`` (``NEW``, ``records``)."""
    out = [f"{row}.id", *(f"{row}.{n}" for n in _SYSTEM)]
    for key, (_, storage, _) in vt.fields.items():
        out.append(index_expr(Target(key, storage, None), dialect, data=f"{row}.data"))
    for key in vt.instants:
        text = index_expr(Target(key, StorageKind.DATETIME, None), dialect, data=f"{row}.data")
        instant = pg_instant(sa.literal_column(text, sa.Text))
        out.append(str(instant.compile(dialect=_PG, compile_kwargs={"literal_binds": True})))
    return out


def _column_list(vt: ValueTable) -> str:
    return ", ".join(c.name for c in vt.table.columns)


def create_statements(vt: ValueTable, dialect: str) -> list[str]:
    """Table, indexes and triggers of ``vt`` (without the backfill)."""
    sqlite = dialect == "sqlite"
    cols = ["record_id INTEGER PRIMARY KEY" if sqlite else "record_id bigint PRIMARY KEY"]
    cols += [f"{n} {types[0] if sqlite else types[1]}" for n, types in _SYSTEM.items()]
    for column, storage, _ in vt.fields.values():
        # SQLite: no declared type, so no affinity converts what json_extract gave.
        cols.append(column if sqlite else f"{column} {'numeric' if _is_num(storage) else 'text'}")
    cols += [f"{column} timestamptz" for column in vt.instants.values()]
    out = [f"CREATE TABLE {vt.name} ({', '.join(cols)})"]
    for column, index in vt.indexes.items():
        out.append(f"CREATE INDEX {index} ON {vt.name} ({column}, record_id)")
    return out + _trigger_statements(vt, dialect)


def _is_num(storage: StorageKind) -> bool:
    return storage is StorageKind.NUMBER


def _trigger_statements(vt: ValueTable, dialect: str) -> list[str]:
    fid, name, cols = vt.form_id, vt.name, _column_list(vt)
    values = ", ".join(_value_exprs(vt, dialect, "NEW"))
    if dialect == "sqlite":
        return [
            f"CREATE TRIGGER {name}_ai AFTER INSERT ON records "
            f"WHEN NEW.form_id = {fid} AND NEW.deleted_at IS NULL BEGIN "
            f"INSERT INTO {name} ({cols}) VALUES ({values}); END",
            f"CREATE TRIGGER {name}_au AFTER UPDATE ON records WHEN NEW.form_id = {fid} BEGIN "
            f"DELETE FROM {name} WHERE record_id = OLD.id AND NEW.deleted_at IS NOT NULL; "
            f"INSERT OR REPLACE INTO {name} ({cols}) SELECT {values} "
            "WHERE NEW.deleted_at IS NULL; END",
            f"CREATE TRIGGER {name}_ad AFTER DELETE ON records WHEN OLD.form_id = {fid} BEGIN "
            f"DELETE FROM {name} WHERE record_id = OLD.id; END",
        ]
    updates = ", ".join(f"{c.name} = EXCLUDED.{c.name}" for c in vt.table.columns[1:])
    body = (
        "BEGIN "
        "IF TG_OP = 'DELETE' OR NEW.deleted_at IS NOT NULL THEN "
        f"DELETE FROM {name} WHERE record_id = OLD.id; RETURN NULL; END IF; "
        f"INSERT INTO {name} ({cols}) VALUES ({values}) "
        f"ON CONFLICT (record_id) DO UPDATE SET {updates}; "
        "RETURN NULL; END"
    )
    return [
        f"CREATE FUNCTION {name}_sync() RETURNS trigger LANGUAGE plpgsql AS $fn$ {body} $fn$",
        f"CREATE TRIGGER {name}_u AFTER UPDATE ON records FOR EACH ROW "
        f"WHEN (NEW.form_id = {fid}) EXECUTE FUNCTION {name}_sync()",
        f"CREATE TRIGGER {name}_d AFTER DELETE ON records FOR EACH ROW "
        f"WHEN (OLD.form_id = {fid}) EXECUTE FUNCTION {name}_sync()",
        *insert_trigger_statements(name, fid, cols, ", ".join(_value_exprs(vt, dialect, "n"))),
    ]


# PostgreSQL: which of a value table's two insert triggers fills it. A batch write sets it
# ``on`` for its insert (runtime.store.records); anything else leaves it unset.
BY_STATEMENT = "stageform.values_by_statement"
_BY_STATEMENT = f"current_setting('{BY_STATEMENT}', true)"


def insert_trigger_statements(name: str, form_id: int, columns: str, values: str) -> list[str]:
    """PostgreSQL: the insert triggers of value table ``name`` (``values``: the column
    expressions over a new row ``n``). Two, of which exactly one fills the table, chosen by
    the setting :data:`BY_STATEMENT` (both test it, so whoever sets it, every row is filled
    once): ``_i``, a row trigger that fires only for the form's rows — a single create, and
    any other insert — and ``_ai``, a statement-level trigger that fills the table from the
    statement's new rows (transition table ``inserted``) in one ``INSERT … SELECT``, for a
    batch write. A row trigger cost ≈ 60 µs of server CPU a record of a batch; a statement
    trigger costs every insert statement ≈ 17 µs a form that has one, whatever form it
    writes (docs/performance.md) — hence the row trigger for everything but batches."""
    return [
        f"CREATE FUNCTION {name}_ins() RETURNS trigger LANGUAGE plpgsql AS $fn$ BEGIN "
        f"INSERT INTO {name} ({columns}) SELECT {values} FROM inserted AS n "
        f"WHERE n.form_id = {form_id} AND n.deleted_at IS NULL; RETURN NULL; END $fn$",
        f"CREATE TRIGGER {name}_i AFTER INSERT ON records FOR EACH ROW "
        f"WHEN (NEW.form_id = {form_id} AND {_BY_STATEMENT} IS DISTINCT FROM 'on') "
        f"EXECUTE FUNCTION {name}_sync()",
        f"CREATE TRIGGER {name}_ai AFTER INSERT ON records REFERENCING NEW TABLE AS inserted "
        f"FOR EACH STATEMENT WHEN ({_BY_STATEMENT} = 'on') EXECUTE FUNCTION {name}_ins()",
    ]


def drop_statements(name: str, dialect: str) -> list[str]:
    """Drop the value table ``name`` with its triggers (and function)."""
    if dialect == "sqlite":
        triggers = [f"DROP TRIGGER IF EXISTS {name}_{s}" for s in ("ai", "au", "ad")]
        return [*triggers, f"DROP TABLE IF EXISTS {name}"]
    return [
        f"DROP TRIGGER IF EXISTS {name}_ai ON records",
        f"DROP TRIGGER IF EXISTS {name}_i ON records",
        f"DROP TRIGGER IF EXISTS {name}_iu ON records",  # insert and update, before 0009
        f"DROP TRIGGER IF EXISTS {name}_u ON records",
        f"DROP TRIGGER IF EXISTS {name}_d ON records",
        f"DROP FUNCTION IF EXISTS {name}_ins()",
        f"DROP FUNCTION IF EXISTS {name}_sync()",
        f"DROP TABLE IF EXISTS {name}",
    ]


def backfill_statement(vt: ValueTable, dialect: str) -> str:
    """Fill ``vt`` from the form's live records (an empty table)."""
    values = ", ".join(_value_exprs(vt, dialect, "records"))
    return (
        f"INSERT INTO {vt.name} ({_column_list(vt)}) SELECT {values} FROM records "
        f"WHERE records.form_id = {vt.form_id} AND records.deleted_at IS NULL"
    )


def drop_value_tables(conn: sa.Connection, form_id: int, *, keep: str | None = None) -> None:
    """Drop the form's value tables (but ``keep``), with their triggers."""
    for name in _form_tables(conn, form_id):
        if name != keep:
            _KNOWN.discard((conn.engine.url, name))
            for statement in drop_statements(name, dialect_name(conn)):
                conn.exec_driver_sql(statement)


def build_value_table(conn: sa.Connection, cf: CompiledForm) -> ValueTable:
    """Make sure ``cf``'s value table exists and is in step (publishing runs this): a table
    of another layout of the same form is dropped; a missing one is created, backfilled from
    the form's live records, indexed and hooked to ``records`` by triggers.

    PostgreSQL: ``records`` is locked against writes (``SHARE ROW EXCLUSIVE``) until the
    publish commits, so no write falls between the backfill and the triggers.
    """
    dialect = dialect_name(conn)
    vt = value_table(cf, dialect)
    if dialect == "postgresql":
        conn.exec_driver_sql("LOCK TABLE records IN SHARE ROW EXCLUSIVE MODE")
    drop_value_tables(conn, cf.form_id, keep=vt.name)
    if _exists(conn, vt.name):
        return vt
    statements = create_statements(vt, dialect)
    conn.exec_driver_sql(statements[0])
    conn.exec_driver_sql(backfill_statement(vt, dialect))
    for statement in statements[1:]:
        conn.exec_driver_sql(statement)
    return vt


__all__ = [
    "ValueTable",
    "backfill_statement",
    "build_value_table",
    "create_statements",
    "drop_statements",
    "drop_value_tables",
    "live_value_table",
    "value_table",
]

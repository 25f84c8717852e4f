"""PostgreSQL: the search index leaves the write path too (a queue, as 0008 did for SQLite).

The pg_trgm GIN index of 0003 on ``records.search_text`` cost each inserted record ≈ 300 µs of
server CPU (measured on the benchmark database; ``fastupdate`` defers the posting-tree work but
each of a record's ~100 trigrams is still added to the pending list in the writer's
statement). The trigram index now lives on a table of its own, ``records_search`` (record id,
text), filled by the same indexer as SQLite's FTS5 table (``runtime.store.search_index``);
triggers on ``records`` only note changed records in ``records_search_queue``:

- insert: one statement-level trigger per ``INSERT``/``COPY`` adds the new ids (a batch of
  1,000 records is one ``INSERT … SELECT`` from the transition table);
- update of ``search_text`` (when it changed) and delete: a row-level trigger. It upserts
  with ``DO UPDATE`` rather than ``DO NOTHING`` so that it locks a queue row an indexer may be
  taking: the writer then waits for the indexer's commit and queues the record again, instead
  of leaving its new text unqueued behind an indexer that read the old text.

``runtime.store.search`` leaves queued records out of the index's answer and matches them
against their current ``search_text``, so search stays exact. The existing index data is
copied over here (on 1,000,000 records: one ``INSERT … SELECT`` and one GIN build); writes to
``records`` wait meanwhile (``SHARE`` lock).

The value tables' triggers (``runtime.store.values``) get a statement-level insert trigger
that fills the table from the statement's new rows in one ``INSERT … SELECT`` (a row trigger
cost ≈ 60 µs of server CPU a record of a batch); a batch write picks it with the setting
``stageform.values_by_statement``, every other insert keeps the row trigger (``_i``; updates:
``_u``), and exactly one of the two fills the table whatever the setting. The existing
tables' functions are rewritten here from their own text (the column expressions of the row
function, over the transition table's row ``n`` instead of ``NEW``); a publish writes the
same for new tables.

SQLite is unchanged (0008).

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-23 06:00:00
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_UP = [
    "LOCK TABLE records IN SHARE MODE",
    "SET LOCAL maintenance_work_mem = '256MB'",
    "CREATE TABLE records_search ("
    "record_id BIGINT NOT NULL PRIMARY KEY, search_text TEXT NOT NULL)",
    "CREATE TABLE records_search_queue (record_id BIGINT NOT NULL PRIMARY KEY)",
    "INSERT INTO records_search (record_id, search_text) "
    "SELECT id, search_text FROM records WHERE search_text IS NOT NULL",
    "CREATE INDEX ix_records_search_trgm ON records_search USING gin (search_text gin_trgm_ops)",
    "DROP INDEX IF EXISTS ix_records_search_text_trgm",
    "CREATE FUNCTION records_search_queue_inserted() RETURNS trigger LANGUAGE plpgsql AS $$ "
    "BEGIN "
    "INSERT INTO records_search_queue (record_id) SELECT id FROM inserted "
    "ON CONFLICT (record_id) DO NOTHING; "
    "RETURN NULL; "
    "END $$",
    "CREATE FUNCTION records_search_queue_changed() RETURNS trigger LANGUAGE plpgsql AS $$ "
    "BEGIN "
    "INSERT INTO records_search_queue (record_id) VALUES (OLD.id) "
    "ON CONFLICT (record_id) DO UPDATE SET record_id = EXCLUDED.record_id; "
    "RETURN NULL; "
    "END $$",
    "CREATE TRIGGER records_search_queue_ai AFTER INSERT ON records "
    "REFERENCING NEW TABLE AS inserted FOR EACH STATEMENT "
    "EXECUTE FUNCTION records_search_queue_inserted()",
    "CREATE TRIGGER records_search_queue_au AFTER UPDATE OF search_text ON records "
    "FOR EACH ROW WHEN (OLD.search_text IS DISTINCT FROM NEW.search_text) "
    "EXECUTE FUNCTION records_search_queue_changed()",
    "CREATE TRIGGER records_search_queue_ad AFTER DELETE ON records "
    "FOR EACH ROW EXECUTE FUNCTION records_search_queue_changed()",
    "ANALYZE records_search",
]
_DOWN = [
    "SET LOCAL maintenance_work_mem = '256MB'",
    "DROP TRIGGER IF EXISTS records_search_queue_ad ON records",
    "DROP TRIGGER IF EXISTS records_search_queue_au ON records",
    "DROP TRIGGER IF EXISTS records_search_queue_ai ON records",
    "DROP FUNCTION IF EXISTS records_search_queue_changed()",
    "DROP FUNCTION IF EXISTS records_search_queue_inserted()",
    "DROP TABLE records_search_queue",
    "DROP TABLE records_search",
    "CREATE INDEX IF NOT EXISTS ix_records_search_text_trgm "
    "ON records USING gin (search_text gin_trgm_ops)",
]


# Which insert trigger fills a value table (runtime.store.values.BY_STATEMENT).
_BY_STATEMENT = "current_setting('stageform.values_by_statement', true)"
# The insert of a value table's row function, as runtime.store.values wrote it (0005–0008).
_ROW_INSERT = re.compile(r"INSERT INTO (\w+) \(([^)]*)\) VALUES \((.*)\) ON CONFLICT", re.S)


def _value_tables(trigger_suffix: str) -> list[tuple[str, int]]:
    """The value tables (name, form id) whose ``<name><suffix>`` trigger is on records."""
    rows = (
        op.get_bind()
        .execute(
            sa.text(
                "SELECT tgname FROM pg_trigger WHERE tgrelid = 'records'::regclass "
                "AND NOT tgisinternal AND tgname LIKE 'rv\\_f%' AND tgname LIKE :suffix"
            ),
            {"suffix": "%" + trigger_suffix.replace("_", "\\_")},
        )
        .scalars()
    )
    out = []
    for trigger in rows:
        name = trigger.removesuffix(trigger_suffix)
        match = re.fullmatch(r"rv_f(\d+)_\w+", name)
        if match:
            out.append((name, int(match.group(1))))
    return out


def _statement_insert_triggers() -> None:
    for name, form_id in _value_tables("_iu"):
        source = (
            op.get_bind()
            .execute(
                sa.text("SELECT prosrc FROM pg_proc WHERE proname = :f"), {"f": f"{name}_sync"}
            )
            .scalar()
        )
        found = _ROW_INSERT.search(source or "")
        if found is None:
            continue  # not written by this code: its row trigger stays (correct, slower)
        table, columns, values = found.groups()
        values = values.replace("NEW.", "n.")
        for statement in (
            f"DROP TRIGGER {name}_iu ON records",
            f"CREATE TRIGGER {name}_u AFTER UPDATE ON records FOR EACH ROW "
            f"WHEN (NEW.form_id = {form_id}) EXECUTE FUNCTION {name}_sync()",
            f"CREATE FUNCTION {name}_ins() RETURNS trigger LANGUAGE plpgsql AS $fn$ BEGIN "
            f"INSERT INTO {table} ({columns}) SELECT {values} FROM inserted AS n "
            f"WHERE n.form_id = {form_id} AND n.deleted_at IS NULL; RETURN NULL; END $fn$",
            f"CREATE TRIGGER {name}_i AFTER INSERT ON records FOR EACH ROW "
            f"WHEN (NEW.form_id = {form_id} AND {_BY_STATEMENT} IS DISTINCT FROM 'on') "
            f"EXECUTE FUNCTION {name}_sync()",
            f"CREATE TRIGGER {name}_ai AFTER INSERT ON records REFERENCING NEW TABLE AS "
            f"inserted FOR EACH STATEMENT WHEN ({_BY_STATEMENT} = 'on') "
            f"EXECUTE FUNCTION {name}_ins()",
        ):
            op.get_bind().exec_driver_sql(statement, execution_options={"no_parameters": True})


def _row_insert_triggers() -> None:
    for name, form_id in _value_tables("_ai"):
        for statement in (
            f"DROP TRIGGER {name}_ai ON records",
            f"DROP TRIGGER IF EXISTS {name}_i ON records",
            f"DROP FUNCTION {name}_ins()",
            f"DROP TRIGGER IF EXISTS {name}_u ON records",
            f"CREATE TRIGGER {name}_iu AFTER INSERT OR UPDATE ON records FOR EACH ROW "
            f"WHEN (NEW.form_id = {form_id}) EXECUTE FUNCTION {name}_sync()",
        ):
            op.get_bind().exec_driver_sql(statement, execution_options={"no_parameters": True})


def upgrade() -> None:
    if op.get_context().dialect.name != "postgresql":
        return
    for statement in _UP:
        op.execute(statement)
    _statement_insert_triggers()


def downgrade() -> None:
    if op.get_context().dialect.name != "postgresql":
        return
    _row_insert_triggers()
    for statement in _DOWN:
        op.execute(statement)

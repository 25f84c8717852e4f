"""SQLite: the search index leaves the write transaction (a queue instead of FTS5 triggers).

With the triggers of 0003 every committed write of a record flushed an FTS5 segment and merged
segments inside the writer's transaction (160-290 single-row commits a second on the benchmark
machine). Now the triggers on ``records`` only note, in ``records_fts_queue``, which records'
``search_text`` changed and whether and with what text ``records_fts`` holds them (``indexed``,
``indexed_text``), which an external-content FTS5 ``delete`` needs. One row per record: a
second change before the queue is applied keeps the first entry — still what the index holds.
``runtime.store.search_index`` applies the queue in batches; ``runtime.store.search`` matches
queued records against ``records.search_text`` itself, so search stays exact meanwhile.

Like 0003's, these triggers go when a batch ALTER recreates ``records`` on SQLite: a migration
that does so must recreate them.

PostgreSQL is unchanged: pg_trgm's GIN index already defers its work (``fastupdate``, on by
default, appends new entries to a pending list merged by VACUUM or when the list is full).

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-23 03:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OLD_TRIGGERS = [
    "CREATE TRIGGER records_fts_ai AFTER INSERT ON records BEGIN "
    "INSERT INTO records_fts(rowid, search_text) VALUES (new.id, new.search_text); END",
    "CREATE TRIGGER records_fts_ad AFTER DELETE ON records BEGIN "
    "INSERT INTO records_fts(records_fts, rowid, search_text) "
    "VALUES ('delete', old.id, old.search_text); END",
    "CREATE TRIGGER records_fts_au AFTER UPDATE OF search_text ON records BEGIN "
    "INSERT INTO records_fts(records_fts, rowid, search_text) "
    "VALUES ('delete', old.id, old.search_text); "
    "INSERT INTO records_fts(rowid, search_text) VALUES (new.id, new.search_text); END",
]
_QUEUE = [
    "CREATE TABLE records_fts_queue ("
    "record_id INTEGER NOT NULL PRIMARY KEY, indexed INTEGER NOT NULL, indexed_text TEXT)",
    "CREATE TRIGGER records_fts_queue_ai AFTER INSERT ON records BEGIN "
    "INSERT INTO records_fts_queue(record_id, indexed, indexed_text) VALUES (new.id, 0, NULL) "
    "ON CONFLICT(record_id) DO NOTHING; END",
    "CREATE TRIGGER records_fts_queue_ad AFTER DELETE ON records BEGIN "
    "INSERT INTO records_fts_queue(record_id, indexed, indexed_text) "
    "VALUES (old.id, 1, old.search_text) "
    "ON CONFLICT(record_id) DO NOTHING; END",
    "CREATE TRIGGER records_fts_queue_au AFTER UPDATE OF search_text ON records "
    "WHEN old.search_text IS NOT new.search_text BEGIN "
    "INSERT INTO records_fts_queue(record_id, indexed, indexed_text) "
    "VALUES (old.id, 1, old.search_text) "
    "ON CONFLICT(record_id) DO NOTHING; END",
]
# Apply what is queued (as runtime.store.search_index does), so the old triggers take over
# from an index that matches the records.
_APPLY_QUEUE = [
    "INSERT INTO records_fts(records_fts, rowid, search_text) "
    "SELECT 'delete', record_id, indexed_text FROM records_fts_queue "
    "WHERE indexed = 1",
    "INSERT INTO records_fts(rowid, search_text) "
    "SELECT r.id, r.search_text FROM records_fts_queue AS q "
    "CROSS JOIN records AS r ON r.id = q.record_id",
]


def upgrade() -> None:
    if op.get_context().dialect.name != "sqlite":
        return
    for name in ("records_fts_au", "records_fts_ad", "records_fts_ai"):
        op.execute(f"DROP TRIGGER IF EXISTS {name}")
    for statement in _QUEUE:
        op.execute(statement)


def downgrade() -> None:
    if op.get_context().dialect.name != "sqlite":
        return
    for statement in _APPLY_QUEUE:
        op.execute(statement)
    for name in ("records_fts_queue_au", "records_fts_queue_ad", "records_fts_queue_ai"):
        op.execute(f"DROP TRIGGER IF EXISTS {name}")
    op.execute("DROP TABLE records_fts_queue")
    for statement in _OLD_TRIGGERS:
        op.execute(statement)

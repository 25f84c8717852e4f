"""Search indexes over records.search_text: FTS5 trigram (SQLite), pg_trgm GIN (PostgreSQL).

SQLite: ``records_fts`` is an external-content FTS5 table over ``records.search_text`` (rowid =
``records.id``) with the trigram tokenizer (SQLite 3.34+), kept in step by triggers on insert,
delete and update of ``search_text``. Soft-deleted records stay in it; queries join ``records``
and skip them. Note for later migrations: a batch ALTER that recreates ``records`` drops these
triggers (and the per-form expression indexes), so such a migration must recreate them.

PostgreSQL: ``pg_trgm`` and a GIN ``gin_trgm_ops`` index on ``search_text``, which serves
``search_text LIKE '%word%'`` for words of three or more characters.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 22:30:00
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_SQLITE_UP = [
    "CREATE VIRTUAL TABLE records_fts USING fts5("
    "search_text, content='records', content_rowid='id', tokenize='trigram')",
    "CREATE TRIGGER records_fts_ai AFTER INSERT ON records BEGIN "
    "INSERT INTO records_fts(rowid, search_text) VALUES (new.id, new.search_text); END",
    "CREATE TRIGGER records_fts_ad AFTER DELETE ON records BEGIN "
    "INSERT INTO records_fts(records_fts, rowid, search_text) "
    "VALUES ('delete', old.id, old.search_text); END",
    "CREATE TRIGGER records_fts_au AFTER UPDATE OF search_text ON records BEGIN "
    "INSERT INTO records_fts(records_fts, rowid, search_text) "
    "VALUES ('delete', old.id, old.search_text); "
    "INSERT INTO records_fts(rowid, search_text) VALUES (new.id, new.search_text); END",
    "INSERT INTO records_fts(records_fts) VALUES ('rebuild')",
]
_SQLITE_DOWN = [
    "DROP TRIGGER IF EXISTS records_fts_au",
    "DROP TRIGGER IF EXISTS records_fts_ad",
    "DROP TRIGGER IF EXISTS records_fts_ai",
    "DROP TABLE IF EXISTS records_fts",
]


def upgrade() -> None:
    if op.get_context().dialect.name == "sqlite":
        if sqlite3.sqlite_version_info < (3, 34, 0):
            raise RuntimeError(
                f"SQLite {sqlite3.sqlite_version} has no FTS5 trigram tokenizer; "
                "Stageform needs SQLite 3.34 or newer"
            )
        for statement in _SQLITE_UP:
            op.execute(statement)
        return
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.execute(
        "CREATE INDEX IF NOT EXISTS ix_records_search_text_trgm "
        "ON records USING gin (search_text gin_trgm_ops)"
    )


def downgrade() -> None:
    if op.get_context().dialect.name == "sqlite":
        for statement in _SQLITE_DOWN:
            op.execute(statement)
        return
    op.execute("DROP INDEX IF EXISTS ix_records_search_text_trgm")

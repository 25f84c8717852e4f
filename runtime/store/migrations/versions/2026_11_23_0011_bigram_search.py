"""An index of two-character words for search, beside the trigram index.

A trigram index cannot answer a word shorter than three characters, so a search for a
two-character word (华东, 张三, 杭州 — what people type most) read every record of the form:
about 1 s on either database at 1,000,000 records when the word is rare. The new indexes hold
each record's pairs of neighbouring characters; a two-character word occurs in a text exactly
when its pair is among them.

- SQLite: ``records_bigrams``, a contentless FTS5 table (``detail='none'``: membership only, no
  positions) whose rows are the pair tokens of :mod:`runtime.store.bigrams`, written by the
  search indexer beside ``records_fts`` from the same queue (``stageform_bigrams()``, a
  function every connection of the engine defines). It holds the pairs of exactly the text
  ``records_fts`` holds: the current ``search_text`` of records not in the queue, the
  ``indexed_text`` of queued records the index still holds.
- PostgreSQL: a GIN index on ``stageform_bigrams(search_text)`` of ``records_search`` (an
  immutable SQL function giving the text's pairs as ``text[]``), kept by PostgreSQL itself
  whenever the indexer writes ``records_search``. Building it reads every indexed text (about
  4 minutes for 2,000,000 records on the benchmark machine; SQLite's table about 3).

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-23 21:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

from runtime.store.bigrams import define_sqlite_function

revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_SQLITE_UP = [
    "CREATE VIRTUAL TABLE records_bigrams USING fts5("
    "grams, content='', columnsize=0, detail='none', tokenize='ascii')",
    # What records_fts holds: the text of records the queue does not name ...
    "INSERT INTO records_bigrams(rowid, grams) "
    "SELECT id, stageform_bigrams(search_text) FROM records "
    "WHERE search_text IS NOT NULL AND id NOT IN (SELECT record_id FROM records_fts_queue)",
    # ... and the text it still holds for queued ones.
    "INSERT INTO records_bigrams(rowid, grams) "
    "SELECT record_id, stageform_bigrams(indexed_text) FROM records_fts_queue "
    "WHERE indexed = 1 AND indexed_text IS NOT NULL",
]
_PG_UP = [
    "SET LOCAL maintenance_work_mem = '256MB'",
    "CREATE FUNCTION stageform_bigrams(text) RETURNS text[] "
    "LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS "
    "$$ SELECT ARRAY(SELECT substr($1, i, 2) FROM generate_series(1, char_length($1) - 1) AS i) $$",
    "CREATE INDEX ix_records_search_bigrams ON records_search "
    "USING gin (stageform_bigrams(search_text))",
    # The statistics of the new expression, which the search's choice of path reads (its
    # planner estimate): without them every pair looks rare until autovacuum next analyzes
    # the table, and a word in most records (公司) took 4 s instead of 20 ms at 1,000,000.
    "ANALYZE records_search",
]


def upgrade() -> None:
    if op.get_context().dialect.name == "sqlite":
        # Defined here too, for a connection that is not the engine's (Alembic's own).
        driver = op.get_bind().connection.driver_connection
        assert driver is not None
        define_sqlite_function(driver)
        for statement in _SQLITE_UP:
            op.execute(statement)
        return
    for statement in _PG_UP:
        op.execute(statement)


def downgrade() -> None:
    if op.get_context().dialect.name == "sqlite":
        op.execute("DROP TABLE records_bigrams")
        return
    op.execute("DROP INDEX ix_records_search_bigrams")
    op.execute("DROP FUNCTION stageform_bigrams(text)")

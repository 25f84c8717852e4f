"""Applying the search queue to the trigram index, off the write path (both databases).

Writes of ``records`` only note the records whose ``search_text`` changed in a queue
(triggers of migrations 0008 and 0009); search matches those against ``records.search_text``
directly (``runtime.store.search``), so it is exact whether or not the queue has been
applied. Applying it keeps the queue short and moves the index work out of the requests'
transactions into one transaction per batch — on SQLite the FTS5 segment flush and merge of
``records_fts`` and of the two-character index ``records_bigrams`` (queue
``records_fts_queue``), on PostgreSQL the GIN entries (pg_trgm's and the two-character
index's, both on ``records_search``; queue ``records_search_queue``):

- :func:`index_pending`: one batch, in the caller's transaction;
- :func:`drain`: everything, one write transaction per batch (``stageform index``);
- :class:`SearchIndexer`: a background thread of the app server that drains shortly after
  write requests (debounced) and now and then on its own.

Several drainers at once (server threads, worker processes, ``stageform index``) are safe.
SQLite: a write transaction holds the database's write lock from its start (``BEGIN
IMMEDIATE``), so batches run one after the other and each sees only what the previous one
left. PostgreSQL: a batch takes its queue rows with ``FOR UPDATE SKIP LOCKED`` (two drainers
take disjoint batches), and a writer that changes a record whose queue row a drainer holds
waits for it and queues the record again (the trigger's ``DO UPDATE``, migration 0009), so the
drainer never removes a change it did not read.
"""

from __future__ import annotations

import sqlalchemy as sa

from runtime.store.background import Background
from runtime.store.database import Database

QUEUES = {"sqlite": "records_fts_queue", "postgresql": "records_search_queue"}
BATCH = 1000
THREAD_NAME = "stageform-search-indexer"

_BOUND = sa.text(
    "SELECT max(record_id) FROM "
    "(SELECT record_id FROM records_fts_queue ORDER BY record_id LIMIT :limit)"
)
# Each for the trigram table and for the two-character one (records_bigrams, migration 0011:
# contentless, so a row is deleted by giving its tokens again, from the same text).
_REMOVE = [
    sa.text(
        "INSERT INTO records_fts(records_fts, rowid, search_text) "
        "SELECT 'delete', record_id, indexed_text FROM records_fts_queue "
        "WHERE record_id <= :bound AND indexed = 1"
    ),
    sa.text(
        "INSERT INTO records_bigrams(records_bigrams, rowid, grams) "
        "SELECT 'delete', record_id, stageform_bigrams(indexed_text) FROM records_fts_queue "
        "WHERE record_id <= :bound AND indexed = 1 AND indexed_text IS NOT NULL"
    ),
]
# CROSS JOIN: the queue drives (SQLite keeps the written order); the planner would otherwise
# scan every record below the bound.
_ADD = [
    sa.text(
        "INSERT INTO records_fts(rowid, search_text) "
        "SELECT r.id, r.search_text FROM records_fts_queue AS q "
        "CROSS JOIN records AS r ON r.id = q.record_id WHERE q.record_id <= :bound"
    ),
    sa.text(
        "INSERT INTO records_bigrams(rowid, grams) "
        "SELECT r.id, stageform_bigrams(r.search_text) FROM records_fts_queue AS q "
        "CROSS JOIN records AS r ON r.id = q.record_id "
        "WHERE q.record_id <= :bound AND r.search_text IS NOT NULL"
    ),
]
_DONE = sa.text("DELETE FROM records_fts_queue WHERE record_id <= :bound")

_PG_TAKE = sa.text(
    "DELETE FROM records_search_queue WHERE record_id IN (SELECT record_id "
    "FROM records_search_queue ORDER BY record_id LIMIT :limit FOR UPDATE SKIP LOCKED) "
    "RETURNING record_id"
)
_PG_REMOVE = sa.text("DELETE FROM records_search WHERE record_id = ANY(:ids)")
_PG_ADD = sa.text(
    "INSERT INTO records_search (record_id, search_text) SELECT id, search_text "
    "FROM records WHERE id = ANY(:ids) AND search_text IS NOT NULL"
)
_ANY = {
    dialect: sa.text(f"SELECT EXISTS (SELECT 1 FROM {queue})") for dialect, queue in QUEUES.items()
}


def index_pending(conn: sa.Connection, limit: int = BATCH) -> int:
    """Apply up to ``limit`` queued records (lowest ids first; on PostgreSQL those no other
    drainer holds) to the index in the caller's transaction, as three set-based statements;
    how many were applied."""
    if conn.dialect.name == "postgresql":
        ids = list(conn.execute(_PG_TAKE, {"limit": limit}).scalars())
        if ids:
            conn.execute(_PG_REMOVE, {"ids": ids})
            conn.execute(_PG_ADD, {"ids": ids})
        return len(ids)
    bound = conn.execute(_BOUND, {"limit": limit}).scalar()
    if bound is None:
        return 0
    for statement in (*_REMOVE, *_ADD):
        conn.execute(statement, {"bound": bound})
    return int(conn.execute(_DONE, {"bound": bound}).rowcount)


def pending(database: Database) -> bool:
    """Whether anything is queued (a read; never waits for a writer)."""
    with database.read() as conn:
        return bool(conn.execute(_ANY[database.dialect]).scalar())


def drain(database: Database, batch: int = BATCH) -> int:
    """Apply the whole queue, one write transaction per ``batch`` records; how many.

    Raises:
        DatabaseBusyError: a batch waited too long for the write lock (what was applied
            before stays applied; running again continues).
    """
    total = 0
    while pending(database):
        with database.begin() as conn:
            done = index_pending(conn, batch)
        total += done
        if done < batch:
            break
    return total


class SearchIndexer(Background):
    """The app server's background drainer (:func:`drain` when poked after a write, and
    every ``interval`` seconds). Stopping leaves what is still queued queued, and found by
    search."""

    def __init__(self, database: Database, *, delay: float = 0.2, interval: float = 30.0) -> None:
        super().__init__(THREAD_NAME, lambda: drain(database), delay=delay, interval=interval)

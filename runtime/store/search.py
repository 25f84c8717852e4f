"""The ``search`` part of a query: every word must occur in ``records.search_text``.

Words of three or more characters use a trigram index, brought up to date off the write path
(``runtime.store.search_index``): on SQLite the FTS5 ``records_fts`` table (trigram tokenizer),
on PostgreSQL ``LIKE`` on ``records_search.search_text``, which pg_trgm's GIN index serves.
The records in the queue (written or deleted since) are left out of the index's answer and
matched against their current ``search_text`` instead, so a record written a moment ago is
found and a changed or deleted one is not found by its old text. A trigram index cannot answer
a shorter word — and two-character Chinese words (华为, 浦东) are what people type most — so
those take ``LIKE '%w%'`` on ``records.search_text`` itself, narrowed by the form and the other
filters.
Words are lower-cased like the stored text (:func:`runtime.search_text.search_words`).
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

from runtime.search_text import search_words
from runtime.store.query_sql import contains_pattern
from runtime.store.tables import records

TRIGRAM = 3
# Long words the index holds for at least this many records take the row-by-row path
# (search_condition). Where the two cost the same, measured at 1M records: a page with its
# capped count reads about count_cap × records / hits rows on the row-by-row path and every
# hit on the index's — equal near 70,000 hits here (2,000,000 indexed records).
BROAD_HITS = 100_000
# PostgreSQL only: the pg_trgm GIN index of migration 0009 on records_search.search_text.
TRIGRAM_INDEX = "ix_records_search_trgm"
# The tables of the search index and its queue: SQLite's FTS5 table (migration 0003), the
# shadow tables FTS5 keeps for it and the queue (0008); PostgreSQL's index table and queue
# (0009). They are not in ``runtime.store.tables`` (SQLAlchemy cannot describe a virtual table,
# and a dialect-only table or Index there cannot be expressed to Alembic's comparison), so
# schema comparisons must skip them.
SEARCH_TABLES = {
    "sqlite": frozenset(
        {
            "records_fts",
            "records_fts_queue",
            "records_fts_data",
            "records_fts_idx",
            "records_fts_docsize",
            "records_fts_config",
        }
    ),
    "postgresql": frozenset({"records_search", "records_search_queue"}),
}

# What the index finds for the words (each a bound ``LIKE`` pattern ``:search_q<i>``, or on
# SQLite also the FTS5 query ``:search_fts``), leaving queued records out; then the queued
# records whose current text has every word. The queue is short (the indexer drains it); on
# SQLite CROSS JOIN keeps it the driving table, else SQLite scans every record for the LIKE.
_INDEXED = {
    "sqlite": (
        "SELECT rowid AS record_id FROM records_fts WHERE records_fts MATCH :search_fts"
        " AND rowid NOT IN (SELECT record_id FROM records_fts_queue)"
    ),
    "postgresql": (
        "SELECT s.record_id FROM records_search AS s WHERE {likes} AND NOT EXISTS"
        " (SELECT 1 FROM records_search_queue AS q WHERE q.record_id = s.record_id)"
    ),
}
_QUEUED = {
    "sqlite": "SELECT q.record_id FROM records_fts_queue AS q CROSS JOIN records AS queued",
    "postgresql": "SELECT q.record_id FROM records_search_queue AS q JOIN records AS queued",
}


def _likes(column: str, params: dict[str, str], placeholder: str = ":{}") -> str:
    """``column LIKE <param> AND …``, a parameter each written as ``placeholder`` formats it
    (SQLAlchemy's ``:name``; ``%({})s`` for a statement sent to psycopg itself)."""
    return " AND ".join(f"{column} LIKE {placeholder.format(p)} ESCAPE '\\'" for p in params)


def search_condition(
    search: str, dialect: str, conn: sa.Connection | None = None
) -> ColumnElement[bool] | None:
    """The condition for ``search``; ``None`` when it has no words.

    With ``conn``, long words that the index holds for at least :data:`BROAD_HITS` records
    (:func:`_broad`) are matched like short words, on ``records.search_text`` row by row: a
    page and its capped count then stop after their first rows and 10,001 matches, where the
    index would hand over every hit first (「有限公司」 in a million company names: 1.5 s on
    SQLite, 6 s on PostgreSQL). Both paths give the same records.
    """
    words = search_words(search)
    if not words:
        return None
    terms: list[ColumnElement[bool]] = []
    long_words = [w for w in words if len(w) >= TRIGRAM]
    if long_words and conn is not None and _broad(conn, long_words, dialect):
        long_words = []
    if long_words:
        params = {f"search_q{i}": contains_pattern(w) for i, w in enumerate(long_words)}
        indexed = _INDEXED[dialect].format(likes=_likes("s.search_text", params))
        queued = _QUEUED[dialect] + " ON queued.id = q.record_id WHERE "
        queued += _likes("queued.search_text", params)
        binds: dict[str, str] = dict(params)
        if dialect == "sqlite":
            binds["search_fts"] = _fts_query(long_words)  # one FTS5 query, a bound parameter
        # The hits as a common table expression, so that a page's statement, whose capped
        # count and rows both need them, finds them once: as a plain subquery PostgreSQL ran
        # the search twice (for a word in 20,000 records, 2 × ≈ 200 ms of trigram rechecks).
        # MATERIALIZED keeps PostgreSQL from inlining it again; SQLite materializes a
        # CTE used twice by itself, and takes the hint too (3.35+).
        hits = (
            sa.text(f"{indexed} UNION ALL {queued}")
            .bindparams(**binds)
            .columns(sa.column("record_id", sa.Integer))
            .cte("search_hits")
            .prefix_with("MATERIALIZED")
        )
        terms.append(records.c.id.in_(sa.select(hits.c.record_id)))
        words = [w for w in words if len(w) < TRIGRAM]
    for word in words:
        terms.append(records.c.search_text.like(contains_pattern(word), escape="\\"))
    return sa.and_(*terms)


def _fts_query(words: list[str]) -> str:
    # Quoted strings (quotes doubled) are matched as substrings and implicitly ANDed.
    return " ".join('"' + w.replace('"', '""') + '"' for w in words)


def _broad(conn: sa.Connection, words: list[str], dialect: str) -> bool:
    """Whether the index holds the words (all of them) for at least :data:`BROAD_HITS`
    records, of any form. SQLite counts the index's hits up to that many (FTS5 stops there:
    ≈ 25 ms for a word in most of two million records, ≈ 4 ms for one in 20,000); PostgreSQL
    gives its planner's estimate (no rows read: ``EXPLAIN``, from the statistics of
    ``records_search``, which ANALYZE keeps). Only a choice of path: the answer is the same
    either way."""
    if dialect == "sqlite":
        found = conn.exec_driver_sql(
            "SELECT count(*) FROM (SELECT 1 FROM records_fts WHERE records_fts MATCH ? LIMIT ?)",
            (_fts_query(words), BROAD_HITS),
        ).scalar_one()
        return int(found) >= BROAD_HITS
    params = {f"search_q{i}": contains_pattern(w) for i, w in enumerate(words)}
    likes = _likes("search_text", params, "%({})s")
    # On the driver, unprepared: PostgreSQL cannot prepare an EXPLAIN. In the connection's
    # transaction, begun first if nothing has begun it (as SQLAlchemy's execute would).
    if not conn.in_transaction():
        conn.begin()
    driver: Any = conn.connection.driver_connection
    (plan,) = driver.execute(
        f"EXPLAIN (FORMAT JSON) SELECT 1 FROM records_search WHERE {likes}",
        params,
        prepare=False,
    ).fetchone()
    document = plan if isinstance(plan, list) else json.loads(plan)
    return float(document[0]["Plan"]["Plan Rows"]) >= BROAD_HITS

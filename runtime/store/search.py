"""The ``search`` part of a query: every word must occur in ``records.search_text``.

Words of three or more characters use a trigram index, words of two characters (华为, 浦东 —
what people type most, and what a trigram index cannot answer) an index of each text's pairs
of neighbouring characters (:mod:`runtime.store.bigrams`, migration 0011). Both are brought up
to date off the write path (``runtime.store.search_index``): on SQLite the FTS5 tables
``records_fts`` (trigram tokenizer) and ``records_bigrams``; on PostgreSQL ``LIKE`` on
``records_search.search_text``, which pg_trgm's GIN index serves, and containment in
``stageform_bigrams(search_text)``, which a GIN index on that expression serves. The records
in the queue (written or deleted since) are left out of the indexes' answer and matched
against their current ``search_text`` instead, so a record written a moment ago is found and a
changed or deleted one is not found by its old text. One-character words, and words the index
holds for very many records (:data:`BROAD_HITS`), take ``LIKE '%w%'`` on
``records.search_text`` itself, narrowed by the form and the other filters.
Words are lower-cased like the stored text (:func:`runtime.search_text.search_words`).
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

from runtime.search_text import search_words
from runtime.store.bigrams import bigram_token
from runtime.store.query_sql import contains_pattern
from runtime.store.tables import records

TRIGRAM = 3
BIGRAM = 2
# Words the index holds for at least this many records take the row-by-row path
# (search_condition). Where the two cost the same, measured at 1M records: a page with its
# capped count reads about count_cap × records / hits rows on the row-by-row path and every
# hit on the index's — equal near 70,000 hits here (2,000,000 indexed records), for long
# words on both databases and for two-character words on PostgreSQL (「杭州」, 66,667 hits:
# 459 ms through the pairs index, 437 ms row by row); SQLite's pairs index is cheaper per hit
# (80 ms for the same word).
BROAD_HITS = 100_000
# PostgreSQL, words that include a two-character one: each hit costs more through the pairs
# index (a heap row of records_search per hit, ≈ 7 µs here) than a trigram hit, so the paths
# cost the same sooner: 「杭州」 (66,667 hits) 459 ms through the index, 437 ms row by row;
# 「纺织」 (100,000) 544 ms against 167 ms.
PG_PAIRS_BROAD_HITS = 60_000
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
            "records_bigrams",
            "records_bigrams_data",
            "records_bigrams_idx",
            "records_bigrams_config",
        }
    ),
    "postgresql": frozenset({"records_search", "records_search_queue"}),
}

# The records the index holds for the words: ``_index_hits`` (long words through the trigram
# index, two-character words through the pairs index). The queue's records are left out of
# that and matched against their current text instead (``_QUEUED``): the queue is short (the
# indexer drains it); on SQLite CROSS JOIN keeps it the driving table, else SQLite scans every
# record for the LIKE.
_NOT_QUEUED = {
    "sqlite": " AND rowid NOT IN (SELECT record_id FROM records_fts_queue)",
    "postgresql": (
        " AND NOT EXISTS (SELECT 1 FROM records_search_queue AS q WHERE q.record_id = s.record_id)"
    ),
}
_QUEUED = {
    "sqlite": "SELECT q.record_id FROM records_fts_queue AS q CROSS JOIN records AS queued",
    "postgresql": "SELECT q.record_id FROM records_search_queue AS q JOIN records AS queued",
}


def _by_index(words: list[str]) -> tuple[list[str], list[str]]:
    """The words of the trigram index and those of the pairs index."""
    return [w for w in words if len(w) >= TRIGRAM], [w for w in words if len(w) == BIGRAM]


def _index_hits(
    dialect: str, long_words: list[str], pairs: list[str], placeholder: str = ":{}"
) -> tuple[str, dict[str, Any]]:
    """``SELECT <record id> FROM <index> WHERE …`` for records the index holds with every word,
    and its parameters, each written as ``placeholder`` formats its name. SQLite: one FTS5
    query per table (``records_fts``, trigram; ``records_bigrams``, pair tokens);
    PostgreSQL: ``LIKE`` patterns, which pg_trgm's GIN serves, and pair containment, which the
    GIN of ``stageform_bigrams(search_text)`` serves (migration 0011)."""
    binds: dict[str, Any] = {}
    if dialect == "sqlite":
        parts: list[str] = []
        if long_words:
            binds["search_fts"] = _fts_query(long_words)
            parts.append(
                "SELECT rowid AS record_id FROM records_fts WHERE records_fts MATCH "
                + placeholder.format("search_fts")
            )
        if pairs:
            binds["search_pairs"] = _fts_query([bigram_token(w) for w in pairs])
            match = "records_bigrams MATCH " + placeholder.format("search_pairs")
            if parts:
                # "+rowid": not a constraint FTS5 is offered (with plain "rowid IN", SQLite
                # looked each pair hit up in records_fts, running its MATCH per lookup: 4 s
                # for 「上海 纺织集团」 at 1M instead of 16 ms).
                parts.append(f"AND +rowid IN (SELECT rowid FROM records_bigrams WHERE {match})")
            else:
                parts.append(f"SELECT rowid AS record_id FROM records_bigrams WHERE {match}")
        return " ".join(parts), binds
    conditions: list[str] = []
    if long_words:
        likes = {f"search_i{i}": contains_pattern(w) for i, w in enumerate(long_words)}
        binds.update(likes)
        conditions.append(_likes("s.search_text", likes, placeholder))
    if pairs:
        binds["search_pairs"] = pairs
        conditions.append(
            "stageform_bigrams(s.search_text) @> CAST("
            + placeholder.format("search_pairs")
            + " AS text[])"
        )
    return "SELECT s.record_id FROM records_search AS s WHERE " + " AND ".join(conditions), binds


def _likes(column: str, params: dict[str, str], placeholder: str = ":{}") -> str:
    """``column LIKE <param> AND …``, a parameter each written as ``placeholder`` formats it
    (SQLAlchemy's ``:name``; ``%({})s`` for a statement sent to psycopg itself)."""
    return " AND ".join(f"{column} LIKE {placeholder.format(p)} ESCAPE '\\'" for p in params)


def search_condition(
    search: str, dialect: str, conn: sa.Connection | None = None
) -> ColumnElement[bool] | None:
    """The condition for ``search``; ``None`` when it has no words.

    With ``conn``, words that the index holds for at least :data:`BROAD_HITS` records
    (:func:`_index_words`) are matched like one-character words, on ``records.search_text``
    row by row: a page and its capped count then stop after their first rows and 10,001
    matches, where the index would hand over every hit first (「有限公司」 in a million
    company names: 1.5 s on SQLite, 6 s on PostgreSQL). Both paths give the same records.
    """
    words = search_words(search)
    if not words:
        return None
    terms: list[ColumnElement[bool]] = []
    indexed = [w for w in words if len(w) >= BIGRAM]
    if indexed and conn is not None:
        indexed = _index_words(conn, indexed, dialect)
    if indexed:
        hits_sql, binds = _index_hits(dialect, *_by_index(indexed))
        params = {f"search_q{i}": contains_pattern(w) for i, w in enumerate(indexed)}
        binds.update(params)
        queued = _QUEUED[dialect] + " ON queued.id = q.record_id WHERE "
        queued += _likes("queued.search_text", params)
        # The hits as a common table expression, so that a page's statement, whose capped
        # count and rows both need them, finds them once: as a plain subquery PostgreSQL ran
        # the search twice (for a word in 20,000 records, 2 × ≈ 200 ms of trigram rechecks).
        # MATERIALIZED keeps PostgreSQL from inlining it again; SQLite materializes a
        # CTE used twice by itself, and takes the hint too (3.35+).
        hits = (
            sa.text(f"{hits_sql}{_NOT_QUEUED[dialect]} UNION ALL {queued}")
            .bindparams(**binds)
            .columns(sa.column("record_id", sa.Integer))
            .cte("search_hits")
            .prefix_with("MATERIALIZED")
        )
        terms.append(records.c.id.in_(sa.select(hits.c.record_id)))
        words = [w for w in words if w not in indexed]
    for word in words:
        terms.append(records.c.search_text.like(contains_pattern(word), escape="\\"))
    return sa.and_(*terms)


def _fts_query(words: list[str]) -> str:
    # Quoted strings (quotes doubled) are matched as substrings and implicitly ANDed.
    return " ".join('"' + w.replace('"', '""') + '"' for w in words)


def _index_words(conn: sa.Connection, words: list[str], dialect: str) -> list[str]:
    """Which of ``words`` to find through the indexes; the others are matched row by row.

    The words of one index (long words, two-character words: :func:`_by_index`) are counted
    together, as the index intersects them cheaply. On SQLite, when the words of one index
    are broad (:func:`_broad`) and those of the other are not, only the narrow ones are asked
    of their index, and the broad ones are matched on those few hits row by row: the two
    FTS5 tables are intersected by walking every hit of one of them (「华东 有限公司」 at 1M:
    the 1.6M hits of 「有限公司」 for none, 0.45 s; 「杭州 有限公司」 0.9 s). PostgreSQL
    intersects its two GIN indexes as bitmaps, and its planner leaves out an index that does
    not narrow the rows, so there the words are judged together (asking the trigram index
    alone for 「纺织集团」 and matching 「上海」 row by row took 350 ms against 55 ms). When
    every side is broad, their combination may still be narrow (two common words rarely
    together): it decides, as for the words of a single index.
    """
    sides = [side for side in _by_index(words) if side]
    if len(sides) > 1 and dialect == "sqlite":
        narrow = [w for side in sides if not _broad(conn, side, dialect) for w in side]
        if narrow:
            return narrow
    return [] if _broad(conn, words, dialect) else words


def _broad(conn: sa.Connection, words: list[str], dialect: str) -> bool:
    """Whether the index holds the words (all of them) for at least :data:`BROAD_HITS`
    records, of any form. SQLite counts the index's hits up to that many (FTS5 stops there:
    ≈ 25 ms for a word in most of two million records, ≈ 4 ms for one in 20,000); PostgreSQL
    gives its planner's estimate (no rows read: ``EXPLAIN``, from the statistics of
    ``records_search`` and its indexes, which ANALYZE keeps). Only a choice of path: the
    answer is the same either way."""
    long_words, pairs = _by_index(words)
    if dialect == "sqlite":
        hits_sql, binds = _index_hits(dialect, long_words, pairs)
        found = conn.execute(
            sa.text(f"SELECT count(*) FROM ({hits_sql} LIMIT :search_limit)"),
            {**binds, "search_limit": BROAD_HITS},
        ).scalar_one()
        return int(found) >= BROAD_HITS
    hits_sql, binds = _index_hits(dialect, long_words, pairs, "%({})s")
    # On the driver, unprepared: PostgreSQL cannot prepare an EXPLAIN. In the connection's
    # transaction, begun first if nothing has begun it (as SQLAlchemy's execute would).
    if not conn.in_transaction():
        conn.begin()
    driver: Any = conn.connection.driver_connection
    (plan,) = driver.execute(f"EXPLAIN (FORMAT JSON) {hits_sql}", binds, prepare=False).fetchone()
    document = plan if isinstance(plan, list) else json.loads(plan)
    threshold = PG_PAIRS_BROAD_HITS if pairs else BROAD_HITS
    return float(document[0]["Plan"]["Plan Rows"]) >= threshold

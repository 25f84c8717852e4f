"""The ``search`` part of a query: every word must occur in ``records.search_text``.

Words of three or more characters use the trigram index: on SQLite the FTS5 ``records_fts``
table (trigram tokenizer), on PostgreSQL ``LIKE`` on ``search_text``, which pg_trgm's GIN index
serves. SQLite's index is brought up to date off the write path (``runtime.store.search_index``):
the records in ``records_fts_queue`` (written or deleted since) are left out of the index's
answer and matched against their current ``search_text`` instead, so a record written a moment
ago is found and a changed or deleted one is not found by its old text. A trigram index cannot answer a shorter
word — and two-character Chinese words (华为, 浦东) are what people type most — so those take
``LIKE '%w%'`` on ``records.search_text`` itself, narrowed by the form and the other filters.
Words are lower-cased like the stored text (:func:`runtime.search_text.search_words`).
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

from runtime.search_text import search_words
from runtime.store.query_sql import contains_pattern
from runtime.store.tables import records

TRIGRAM = 3
# PostgreSQL only: the pg_trgm GIN index of migration 0003 on records.search_text.
TRIGRAM_INDEX = "ix_records_search_text_trgm"
# SQLite only: the FTS5 table of migration 0003, the shadow tables FTS5 keeps for it and the
# queue of migration 0008. They
# are not in ``runtime.store.tables`` (SQLAlchemy cannot describe a virtual table), so schema
# comparisons must skip them (and the trigram index, which a dialect-only Index in the tables
# module cannot express to Alembic's comparison either).
FTS_TABLES = frozenset(
    {
        "records_fts",
        "records_fts_queue",
        "records_fts_data",
        "records_fts_idx",
        "records_fts_docsize",
        "records_fts_config",
    }
)


def search_condition(search: str, dialect: str) -> ColumnElement[bool] | None:
    """The condition for ``search``; ``None`` when it has no words."""
    words = search_words(search)
    if not words:
        return None
    terms: list[ColumnElement[bool]] = []
    long_words = [w for w in words if len(w) >= TRIGRAM]
    if dialect == "sqlite" and long_words:
        # One FTS5 query: quoted strings (quotes doubled) are matched as substrings and
        # implicitly ANDed; the query text is a bound parameter. Queued records: the words
        # against their current text (the queue is short: the indexer drains it; CROSS JOIN
        # keeps it the driving table, else SQLite scans every record for the LIKE).
        match = " ".join('"' + w.replace('"', '""') + '"' for w in long_words)
        params = {f"search_q{i}": contains_pattern(w) for i, w in enumerate(long_words)}
        queued = " AND ".join(f"queued.search_text LIKE :{p} ESCAPE '\\'" for p in params)
        terms.append(
            sa.text(
                "records.id IN (SELECT rowid FROM records_fts WHERE records_fts MATCH :search_fts"
                " AND rowid NOT IN (SELECT record_id FROM records_fts_queue)"
                " UNION ALL SELECT q.record_id FROM records_fts_queue AS q CROSS"
                " JOIN records AS queued ON queued.id = q.record_id WHERE " + queued + ")"
            ).bindparams(search_fts=match, **params)  # type: ignore[arg-type]
        )
        words = [w for w in words if len(w) < TRIGRAM]
    for word in words:
        terms.append(records.c.search_text.like(contains_pattern(word), escape="\\"))
    return sa.and_(*terms)

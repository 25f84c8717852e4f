"""The tokens of the two-character search index: one per distinct pair of neighbouring
characters of a ``search_text``, spelled in ASCII.

A trigram index cannot find a word shorter than three characters, and two-character Chinese
words (华东, 张三, 杭州) are what people search for most. The SQLite index of these pairs is an
FTS5 table with the ``ascii`` tokenizer (``records_bigrams``, migration 0011), so each pair
is written as one ASCII token — ``g`` and the first character's code point in hexadecimal,
``x`` and the second's (「华东」 → ``g534ex4e1c``) — and no tokenizer rule (case folding,
punctuation, diacritics) can split or change it. A word of two characters occurs in a text
exactly when its pair is among the text's pairs, so the index's answer needs no recheck.

These functions define what the index holds: changing them needs a migration that rebuilds it.
"""

from __future__ import annotations

import functools
import sqlite3


# Cached: the indexer spells every pair of every text it indexes (in the app server, beside
# the requests), and a text's pairs are mostly pairs seen before. A text of 80 characters:
# 53 → 19 µs. 16,384 pairs at most (≈ 3 MB).
@functools.lru_cache(maxsize=16_384)
def bigram_token(pair: str) -> str:
    """The token of a two-character string."""
    first, second = pair[0], pair[1]
    return f"g{ord(first):x}x{ord(second):x}"


def bigram_tokens(text: str | None) -> str | None:
    """The distinct pair tokens of ``text``, space-separated (``None`` for ``None``); what
    SQLite's ``stageform_bigrams()`` returns for the index."""
    if text is None:
        return None
    return " ".join(map(bigram_token, {text[i : i + 2] for i in range(len(text) - 1)}))


def define_sqlite_function(connection: sqlite3.Connection) -> None:
    """Give a SQLite connection ``stageform_bigrams(text)`` (:func:`bigram_tokens`), which
    whatever fills ``records_bigrams`` calls: the engine's connections, migration 0011, the
    benchmark's bulk load."""
    connection.create_function("stageform_bigrams", 1, bigram_tokens, deterministic=True)

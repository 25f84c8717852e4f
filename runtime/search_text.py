"""The text a record is found by: ``records.search_text``, kept by the store on every write.

Pure: takes a compiled form and a record's data, returns lower-cased text. The search index
(FTS5 trigram on SQLite, pg_trgm on PostgreSQL) and the short-query path (``LIKE``) both read
the column, and the query side lower-cases its words the same way (:func:`search_words`), so
matching is case-insensitive on both databases without relying on the database's ``lower()``.

Values are joined with a newline. Search words never contain whitespace, so a word cannot match
across two fields. An address's parts are joined without a gap ("广东省深圳市南山区…") so that a
run of parts is found as one string, the way people write addresses.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any
from weakref import WeakKeyDictionary

from builder.fields import FieldConfig
from builder.fields.rich_text import html_to_text
from runtime.compiled import CompiledForm

MAX_SEARCH_TEXT = 20_000
SEPARATOR = "\n"
# Longest search string and most words a query may carry.
MAX_SEARCH_LENGTH = 200
MAX_SEARCH_WORDS = 10

_PLAIN_TEXT = frozenset({"text", "textarea", "email", "phone", "url", "serial"})
_OPTION_TYPES = frozenset({"select", "multi_select"})


def search_text(cf: CompiledForm, data: Mapping[str, Any]) -> str:
    """Lower-cased text of the searchable values of ``data``, at most :data:`MAX_SEARCH_TEXT`
    characters. Never raises for odd stored values: anything unexpected is skipped."""
    parts: list[str] = []
    for key, field in _searched(cf):
        value = data.get(key)
        if value is not None:
            parts.extend(_texts(field, value))
    text = SEPARATOR.join(p.strip() for p in parts if p and p.strip())
    return text.lower()[:MAX_SEARCH_TEXT]


_SEARCHED: WeakKeyDictionary[CompiledForm, tuple[tuple[str, FieldConfig], ...]] = (
    WeakKeyDictionary()
)


def _searched(cf: CompiledForm) -> tuple[tuple[str, FieldConfig], ...]:
    """The fields of ``cf`` whose values can give text, in field order (worked out once per
    compiled form; the others give none whatever they hold)."""
    found = _SEARCHED.get(cf)
    if found is None:
        found = tuple((k, f) for k, f in cf.fields.items() if _may_give_text(f))
        _SEARCHED[cf] = found
    return found


def _may_give_text(field: FieldConfig) -> bool:
    kind = field.type
    return (
        kind in _PLAIN_TEXT
        or kind in _OPTION_TYPES
        or kind in ("rich_text", "address", "subform")
        or (kind == "formula" and getattr(field, "result_type", None) == "text")
    )


def search_words(search: str) -> list[str]:
    """The words of a search string, lower-cased as :func:`search_text` is: split on
    whitespace, blanks dropped, duplicates dropped, order kept."""
    words: list[str] = []
    for word in search.lower().split():
        if word not in words:
            words.append(word)
    return words


def _texts(field: FieldConfig, value: Any) -> Iterable[str]:
    if value is None:
        return []
    kind = field.type
    if kind in _PLAIN_TEXT:
        return [value] if isinstance(value, str) else []
    if kind == "rich_text":
        return [html_to_text(value)] if isinstance(value, str) else []
    if kind in _OPTION_TYPES:
        chosen = value if isinstance(value, list) else [value]
        return [t for v in chosen if isinstance(v, str) for t in _option_texts(field, v)]
    if kind == "address":
        if not isinstance(value, Mapping):
            return []
        return ["".join(str(v) for v in value.values() if isinstance(v, str))]
    if kind == "formula" and getattr(field, "result_type", None) == "text":
        return [value] if isinstance(value, str) else []
    if kind == "subform":
        return _subform_texts(field, value)
    return []


def _option_texts(field: FieldConfig, value: str) -> list[str]:
    """The option's value and, when it differs, its label (people search by what they see)."""
    for option in getattr(field, "options", []) or []:
        if isinstance(option, str):
            if option == value:
                return [value]
            continue
        if getattr(option, "value", None) == value:
            label = getattr(option, "label", None)
            return [value, label] if label and label != value else [value]
    return [value]


def _subform_texts(field: FieldConfig, rows: Any) -> list[str]:
    if not isinstance(rows, list):
        return []
    columns: list[FieldConfig] = list(getattr(field, "fields", []) or [])
    out: list[str] = []
    for row in rows:
        if not isinstance(row, Mapping):
            continue
        for column in columns:
            if column.type != "subform":
                out.extend(_texts(column, row.get(column.key)))
    return out

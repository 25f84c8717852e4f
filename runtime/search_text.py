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

from collections.abc import Callable, Iterable, Mapping
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
    for key, texts in _searched(cf):
        value = data.get(key)
        if value is not None:
            parts.extend(texts(value))
    text = SEPARATOR.join(s for p in parts if p and (s := p.strip()))
    return text.lower()[:MAX_SEARCH_TEXT]


# What gives a value's texts, per field (None: the field gives none whatever it holds).
_Texts = Callable[[Any], Iterable[str]]
_SEARCHED: WeakKeyDictionary[CompiledForm, tuple[tuple[str, _Texts], ...]] = WeakKeyDictionary()


def _searched(cf: CompiledForm) -> tuple[tuple[str, _Texts], ...]:
    """The fields of ``cf`` whose values can give text, in field order, each with what gives
    its texts (worked out once per compiled form: the field's kind, its options' labels, a
    sub-form's columns)."""
    found = _SEARCHED.get(cf)
    if found is None:
        found = tuple(
            (k, texts) for k, f in cf.fields.items() if (texts := _texts_of(f)) is not None
        )
        _SEARCHED[cf] = found
    return found


def is_searched(kind: str, result_type: str | None = None) -> bool:
    """Whether a field of ``kind`` (a formula: of ``result_type``) gives text to
    ``search_text``."""
    return kind in _SEARCHED_KINDS or (kind == "formula" and result_type == "text")


_SEARCHED_KINDS = _PLAIN_TEXT | _OPTION_TYPES | {"rich_text", "address", "subform"}


def searched_keys(definition: Mapping[str, Any]) -> frozenset[str]:
    """The keys of a form definition's (a stored version's JSON) fields that give text."""
    return frozenset(
        f["key"]
        for f in definition.get("fields") or ()
        if isinstance(f, Mapping) and is_searched(f.get("type", ""), f.get("result_type"))
    )


def _texts_of(field: FieldConfig) -> _Texts | None:
    kind = field.type
    if not is_searched(kind, getattr(field, "result_type", None)):
        return None
    if kind in _PLAIN_TEXT or kind == "formula":
        return _plain_texts
    if kind == "rich_text":
        return _rich_texts
    if kind in _OPTION_TYPES:
        return _option_texts(field)
    if kind == "address":
        return _address_texts
    if kind == "subform":
        return _subform_texts(field)
    return None


def search_words(search: str) -> list[str]:
    """The words of a search string, lower-cased as :func:`search_text` is: split on
    whitespace, blanks dropped, duplicates dropped, order kept."""
    words: list[str] = []
    for word in search.lower().split():
        if word not in words:
            words.append(word)
    return words


def _plain_texts(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else []


def _rich_texts(value: Any) -> list[str]:
    return [html_to_text(value)] if isinstance(value, str) else []


def _address_texts(value: Any) -> list[str]:
    if not isinstance(value, Mapping):
        return []
    return ["".join(str(v) for v in value.values() if isinstance(v, str))]


def _option_texts(field: FieldConfig) -> _Texts:
    """Each chosen option's value and, when it differs, its label (people search by what
    they see); a value that is no option gives itself. The first option with the value
    counts."""
    known: dict[str, list[str]] = {}
    for option in getattr(field, "options", []) or []:
        if isinstance(option, str):
            known.setdefault(option, [option])
            continue
        value = getattr(option, "value", None)
        if isinstance(value, str):
            label = getattr(option, "label", None)
            known.setdefault(value, [value, label] if label and label != value else [value])

    def texts(value: Any) -> list[str]:
        chosen = value if isinstance(value, list) else [value]
        return [t for v in chosen if isinstance(v, str) for t in known.get(v, (v,))]

    return texts


def _subform_texts(field: FieldConfig) -> _Texts:
    columns = [
        (column.key, column_texts)
        for column in list(getattr(field, "fields", []) or [])
        if column.type != "subform" and (column_texts := _texts_of(column)) is not None
    ]

    def texts(rows: Any) -> list[str]:
        if not isinstance(rows, list):
            return []
        out: list[str] = []
        for row in rows:
            if not isinstance(row, Mapping):
                continue
            for key, column_texts in columns:
                value = row.get(key)
                if value is not None:
                    out.extend(column_texts(value))
        return out

    return texts

"""Rich text sanitising: the one place HTML from a ``rich_text`` value is cleaned (nh3).

The record pipeline calls :func:`sanitize_rich_text` right after coercion (and after defaults
on create), so what the store keeps — and so what every API client, export and page receives —
is already clean. It lives here and not in ``builder/fields/rich_text.py`` because the builder
may import only pure-Python libraries (tests/test_layers.py) and nh3 is a compiled extension.

The allow-list keeps formatting (paragraphs, headings, emphasis, lists, tables, quotes, code),
links (http, https, mailto, tel) and images (http, https); everything else goes: scripts and
styles with their content, event handlers (``onerror``), ``style`` attributes, ``javascript:``
and ``data:`` URLs, SVG and MathML, forms, frames and embeds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import nh3

from runtime.compiled import CompiledForm

TAGS = frozenset(
    {
        "a", "b", "blockquote", "br", "code", "del", "em", "h1", "h2", "h3", "h4", "h5", "h6",
        "hr", "i", "img", "li", "ol", "p", "pre", "s", "span", "strong", "sub", "sup", "table",
        "tbody", "td", "tfoot", "th", "thead", "tr", "u", "ul",
    }
)  # fmt: skip
ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title", "width", "height"},
    "td": {"colspan", "rowspan"},
    "th": {"colspan", "rowspan"},
    "ol": {"start"},
}
URL_SCHEMES = frozenset({"http", "https", "mailto", "tel"})
# Removed with everything inside them (other disallowed tags keep their text).
DROP_WITH_CONTENT = frozenset({"script", "style", "template", "svg", "math", "iframe", "object"})


# Built once: making the cleaner costs twice as much as using it.
_CLEANER = nh3.Cleaner(
    tags=set(TAGS),
    clean_content_tags=set(DROP_WITH_CONTENT),
    attributes={tag: set(attrs) for tag, attrs in ATTRIBUTES.items()},
    url_schemes=set(URL_SCHEMES),
    link_rel="noopener noreferrer nofollow",
    strip_comments=True,
)


def clean_html(html: str) -> str:
    """``html`` with only the allow-listed tags, attributes and URL schemes left."""
    return _CLEANER.clean(html)


def sanitize_rich_text(cf: CompiledForm, data: Mapping[str, Any]) -> dict[str, Any]:
    """``data`` (a new dict) with every ``rich_text`` value cleaned, in sub-form rows too."""
    out = dict(data)
    for key, columns in cf.rich_text.items():
        value = data.get(key)
        if columns is None:
            if isinstance(value, str):
                out[key] = clean_html(value)
        elif isinstance(value, list):
            out[key] = [_clean_row(row, columns) for row in value]
    return out


def _clean_row(row: Any, columns: frozenset[str]) -> Any:
    if not isinstance(row, Mapping):
        return row
    return {k: clean_html(v) if k in columns and isinstance(v, str) else v for k, v in row.items()}


def converted_rich_text(versions: Sequence[Mapping[str, Any]]) -> frozenset[str]:
    """Keys of the newest version's fields that hold rich text now but held something else in
    an earlier version (a field turned ``rich_text``, or a sub-form that gained a rich-text
    column from another type): their stored values may predate cleaning."""
    if not versions:
        return frozenset()

    def rich(fields: Any) -> dict[str, set[str]]:
        out: dict[str, set[str]] = {}
        for f in fields or []:
            if f.get("type") == "rich_text":
                out[f["key"]] = {f["key"]}
            elif f.get("type") == "subform":
                cols = {c["key"] for c in f.get("fields", []) if c.get("type") == "rich_text"}
                if cols:
                    out[f["key"]] = cols
        return out

    def types(fields: Any) -> dict[str, str]:
        out: dict[str, str] = {}
        for f in fields or []:
            out[f["key"]] = f.get("type", "")
            for c in f.get("fields", []) or []:
                out[f"{f['key']}.{c['key']}"] = c.get("type", "")
        return out

    newest = rich(versions[-1].get("fields"))
    converted: set[str] = set()
    for old in versions[:-1]:
        before = types(old.get("fields"))
        for key, cols in newest.items():
            for col in cols:
                path = key if col == key else f"{key}.{col}"
                if path in before and before[path] != "rich_text":
                    converted.add(key)
    return frozenset(converted)

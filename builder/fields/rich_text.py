"""``rich_text``: HTML from the rich-text editor.

The builder stores the HTML as given; the runtime sanitises it (nh3) before it is stored or
shown, because the builder may not import nh3. ``display`` is the plain text.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any, Literal

from pydantic import Field

from builder.errors import CoercionError, Problem
from builder.fields._common import default_problems
from builder.fields.base import (
    DEFAULT_CONTEXT,
    TEXT_OPERATORS,
    CoerceContext,
    FieldConfig,
    FieldType,
    Source,
    register,
)
from builder.fields.text import coerce_text
from builder.value_types import ExprType, StorageKind

_BLOCK_TAGS = frozenset(
    {
        "p",
        "div",
        "br",
        "li",
        "ul",
        "ol",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "tr",
        "table",
        "blockquote",
        "pre",
        "hr",
        "section",
        "article",
    }
)
# Content that makes an otherwise text-less document non-blank.
_MEDIA_TAGS = frozenset({"img", "video", "audio", "iframe", "object", "embed", "hr", "table"})
_SKIP_TAGS = frozenset({"script", "style", "template"})


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.media = False
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP_TAGS:
            self._skip += 1
        if tag in _MEDIA_TAGS:
            self.media = True
        if tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _MEDIA_TAGS:
            self.media = True
        if tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP_TAGS and self._skip:
            self._skip -= 1
        if tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def _extract(html: str) -> tuple[str, bool]:
    parser = _TextExtractor()
    parser.feed(html)
    parser.close()
    text = "".join(parser.parts)
    lines = [re.sub(r"[ \t\f\v\u00a0]+", " ", line).strip() for line in text.split("\n")]
    return "\n".join(line for line in lines if line), parser.media


def html_to_text(html: str) -> str:
    """The text of an HTML fragment: tags dropped, entities decoded, one line per block."""
    return _extract(html)[0]


class RichTextConfig(FieldConfig):
    type: Literal["rich_text"]
    max_length: int | None = Field(None, ge=1, le=1_000_000)


@register
class RichTextFieldType(FieldType[RichTextConfig]):
    kind = "rich_text"
    config = RichTextConfig
    storage = StorageKind.TEXT
    expr_type = ExprType.TEXT
    operators = TEXT_OPERATORS

    def json_schema(self, field: RichTextConfig) -> dict[str, Any]:
        schema: dict[str, Any] = {"type": ["string", "null"]}
        if field.max_length is not None:
            schema["maxLength"] = field.max_length
        return schema

    def coerce(
        self,
        field: RichTextConfig,
        raw: Any,
        source: Source = Source.JSON,
        ctx: CoerceContext = DEFAULT_CONTEXT,
    ) -> str | None:
        html = coerce_text(raw, source)
        if html is None:
            return None
        text, media = _extract(html)
        if not text and not media:
            return None  # an editor's empty document: <p><br></p>
        if field.max_length is not None and len(html) > field.max_length:
            raise CoercionError("too_long", max=field.max_length)
        return html

    def display(
        self,
        field: RichTextConfig,
        value: Any,
        lang: str = "zh",
        ctx: CoerceContext = DEFAULT_CONTEXT,
    ) -> str:
        return html_to_text(value) if isinstance(value, str) else ""

    def export(
        self, field: RichTextConfig, value: Any, ctx: CoerceContext = DEFAULT_CONTEXT
    ) -> Any:
        return html_to_text(value) if isinstance(value, str) else None

    def to_expr(
        self, field: RichTextConfig, value: Any, ctx: CoerceContext = DEFAULT_CONTEXT
    ) -> Any:
        return html_to_text(value) if isinstance(value, str) else None

    def check_config(self, field: RichTextConfig) -> list[Problem]:
        return default_problems(self, field)

    def sample(self, field: RichTextConfig) -> str:
        return "<p>客户<strong>很重要</strong></p>"

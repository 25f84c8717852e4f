"""``select``: one choice from a list of options."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from builder.errors import Problem
from builder.fields._common import default_problems, is_blank
from builder.fields._options import (
    OptionsConfig,
    OptionSpec,
    known_values,
    label_of,
    match_option,
    option_problems,
    options_enum,
    values,
)
from builder.fields.base import (
    DEFAULT_CONTEXT,
    TEXT_OPERATORS,
    CoerceContext,
    Coercer,
    FieldType,
    Source,
    register,
)
from builder.value_types import ExprType, StorageKind


class SelectConfig(OptionsConfig):
    type: Literal["select"]
    options: list[OptionSpec] = Field(default_factory=list, max_length=1000)
    display_as: Literal["dropdown", "radio"] = "dropdown"


@register
class SelectFieldType(FieldType[SelectConfig]):
    kind = "select"
    config = SelectConfig
    storage = StorageKind.TEXT
    expr_type = ExprType.TEXT
    operators = TEXT_OPERATORS

    def json_schema(self, field: SelectConfig) -> dict[str, Any]:
        if field.allow_other:
            return {"type": ["string", "null"], "maxLength": 200}
        return {"enum": [*options_enum(field), None]}

    def coerce_meets_schema(self, field: SelectConfig) -> bool:
        # Schema without allow_other: enum of the option values and null. coerce gives None or
        # what match_option returns without allow_other: ``text`` found in values(field), or
        # option_value(option) of one of field.options — both in options_enum. (With
        # allow_other a plain-string option longer than the schema's 200 would pass.)
        return not field.allow_other

    def coercer(self, field: SelectConfig) -> Coercer:
        known, general = known_values(field), self.coerce

        def coerce(
            f: SelectConfig,
            raw: Any,
            source: Source = Source.JSON,
            ctx: CoerceContext = DEFAULT_CONTEXT,
        ) -> str | None:
            # Text naming an option, outside a cell: what is_blank and match_option give it.
            if type(raw) is str and source is not Source.CELL:
                text = raw.strip()
                if text and text in known:
                    return text
            return general(f, raw, source, ctx)

        return coerce

    def coerce(
        self,
        field: SelectConfig,
        raw: Any,
        source: Source = Source.JSON,
        ctx: CoerceContext = DEFAULT_CONTEXT,
    ) -> str | None:
        if is_blank(raw):
            return None
        return match_option(field, raw, source)

    def display(
        self,
        field: SelectConfig,
        value: Any,
        lang: str = "zh",
        ctx: CoerceContext = DEFAULT_CONTEXT,
    ) -> str:
        return label_of(field, value) if isinstance(value, str) else ""

    def export(self, field: SelectConfig, value: Any, ctx: CoerceContext = DEFAULT_CONTEXT) -> Any:
        return label_of(field, value) if isinstance(value, str) else None

    def check_config(self, field: SelectConfig) -> list[Problem]:
        return option_problems(field) + default_problems(self, field)

    def sample(self, field: SelectConfig) -> str:
        known = [v for v in values(field) if v.strip()]
        return known[0] if known else "其他"

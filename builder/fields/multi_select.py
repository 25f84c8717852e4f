"""``multi_select``: any number of choices from a list of options, stored as a list of values."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from builder.errors import CoercionError, Problem
from builder.fields._common import default_problems, is_blank, split_cell
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
    ARRAY_OPERATORS,
    DEFAULT_CONTEXT,
    CoerceContext,
    Coercer,
    FieldType,
    Source,
    register,
)
from builder.value_types import ExprType, StorageKind


class MultiSelectConfig(OptionsConfig):
    type: Literal["multi_select"]
    options: list[OptionSpec] = Field(default_factory=list, max_length=1000)
    min_selected: int | None = Field(None, ge=0, le=1000)
    max_selected: int | None = Field(None, ge=1, le=1000)


def _items(raw: Any, source: Source) -> list[Any]:
    if isinstance(raw, list | tuple):
        return list(raw)
    if source is Source.CELL and isinstance(raw, str):
        return split_cell(raw)
    if source is Source.JSON:
        raise CoercionError("not_list")
    return [raw]


@register
class MultiSelectFieldType(FieldType[MultiSelectConfig]):
    kind = "multi_select"
    config = MultiSelectConfig
    storage = StorageKind.ARRAY
    expr_type = ExprType.LIST
    operators = ARRAY_OPERATORS

    def json_schema(self, field: MultiSelectConfig) -> dict[str, Any]:
        item: dict[str, Any] = (
            {"type": "string", "maxLength": 200}
            if field.allow_other
            else {"enum": options_enum(field)}
        )
        schema: dict[str, Any] = {
            "type": ["array", "null"],
            "items": item,
            "uniqueItems": True,
            "minItems": max(field.min_selected or 1, 1),
        }
        if field.max_selected is not None:
            schema["maxItems"] = field.max_selected
        return schema

    def coerce_meets_schema(self, field: MultiSelectConfig) -> bool:
        # Schema without allow_other: null or an array of option values (enum), uniqueItems,
        # minItems max(min_selected or 1, 1), maxItems max_selected. coerce gives None or
        # ``chosen``: match_option results (option values, as for select), appended only when
        # not already in it, non-empty, its length checked against max_ and min_selected.
        return not field.allow_other

    def coercer(self, field: MultiSelectConfig) -> Coercer:
        known, general = known_values(field), self.coerce
        most, least = field.max_selected, field.min_selected

        def coerce(
            f: MultiSelectConfig,
            raw: Any,
            source: Source = Source.JSON,
            ctx: CoerceContext = DEFAULT_CONTEXT,
        ) -> list[str] | None:
            # A list of texts naming options, outside a cell, within the limits: what the
            # loop below gives it (blank items skipped, each option once, in order).
            if type(raw) is list and raw and source is not Source.CELL:
                chosen: list[str] = []
                for item in raw:
                    if type(item) is not str:
                        break
                    text = item.strip()
                    if not text:
                        continue
                    if text not in known:
                        break
                    if text not in chosen:
                        chosen.append(text)
                else:
                    n = len(chosen)
                    if n and (most is None or n <= most) and (least is None or n >= least):
                        return chosen
            return general(f, raw, source, ctx)

        return coerce

    def coerce(
        self,
        field: MultiSelectConfig,
        raw: Any,
        source: Source = Source.JSON,
        ctx: CoerceContext = DEFAULT_CONTEXT,
    ) -> list[str] | None:
        if is_blank(raw):
            return None
        chosen: list[str] = []
        for item in _items(raw, source):
            if is_blank(item):
                continue
            value = match_option(field, item, source)
            if value not in chosen:
                chosen.append(value)
        if not chosen:
            return None
        if field.max_selected is not None and len(chosen) > field.max_selected:
            raise CoercionError("too_many_selected", max=field.max_selected)
        if field.min_selected is not None and len(chosen) < field.min_selected:
            raise CoercionError("too_few_selected", min=field.min_selected)
        return chosen

    def display(
        self,
        field: MultiSelectConfig,
        value: Any,
        lang: str = "zh",
        ctx: CoerceContext = DEFAULT_CONTEXT,
    ) -> str:
        if not isinstance(value, list):
            return ""
        return ("、" if lang == "zh" else ", ").join(label_of(field, str(v)) for v in value)

    def export(
        self, field: MultiSelectConfig, value: Any, ctx: CoerceContext = DEFAULT_CONTEXT
    ) -> Any:
        if not isinstance(value, list) or not value:
            return None
        return ", ".join(label_of(field, str(v)) for v in value)

    def to_expr(
        self, field: MultiSelectConfig, value: Any, ctx: CoerceContext = DEFAULT_CONTEXT
    ) -> list[str] | None:
        return list(value) if isinstance(value, list) else None

    def check_config(self, field: MultiSelectConfig) -> list[Problem]:
        problems = option_problems(field) + default_problems(self, field)
        if (
            field.min_selected is not None
            and field.max_selected is not None
            and field.min_selected > field.max_selected
        ):
            problems.append(
                Problem(
                    "min_selected",
                    "min_greater_than_max",
                    "min_selected is greater than max_selected",
                )
            )
        return problems

    def sample(self, field: MultiSelectConfig) -> list[str]:
        known = [v for v in dict.fromkeys(values(field)) if v.strip()]
        return known[: max(field.min_selected or 1, 1)] or ["其他"]

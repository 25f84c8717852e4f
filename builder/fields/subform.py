"""``subform``: a table of rows inside a record (order lines, contacts).

``fields`` are the columns, each a field definition of its own (no sub-form inside a sub-form).
The value is a list of row objects keyed by column key; blank cells are left out of a row and
rows with nothing in them are dropped. A column's coercion error is re-raised with its place,
e.g. ``path="[2].contact_name"``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from builder.errors import CoercionError, Problem
from builder.fields._common import default_problems, is_blank
from builder.fields.base import (
    DEFAULT_CONTEXT,
    PRESENCE_OPERATORS,
    CoerceContext,
    Coercer,
    FieldConfig,
    FieldType,
    Source,
    get_type,
    register,
)
from builder.value_types import ExprType, StorageKind

if TYPE_CHECKING:
    # The real annotation is the discriminated union of every type's config; builder.fields
    # resolves it with ``SubformConfig.model_rebuild`` once the union exists.
    FieldDefinition = FieldConfig

# Column types that make no sense inside a row.
FORBIDDEN_COLUMNS = frozenset({"subform", "section", "note", "serial", "lookup"})
# Column properties the runtime does not apply in a row (yet): refused, not ignored.
UNSUPPORTED_COLUMN_PROPERTIES = ("default", "visible_when", "hidden_when")
MAX_ROWS = 1000


class SubformConfig(FieldConfig):
    type: Literal["subform"]
    fields: list[FieldDefinition] = Field(default_factory=list, max_length=100)
    min_rows: int = Field(0, ge=0, le=MAX_ROWS)
    max_rows: int | None = Field(None, ge=1, le=MAX_ROWS)


def _rows(raw: Any, source: Source) -> list[Any]:
    if source is Source.HTML and isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except (ValueError, RecursionError):
            raise CoercionError("invalid_rows") from None
    if source is Source.CELL and not isinstance(raw, list):
        raise CoercionError("not_importable")
    if not isinstance(raw, list):
        raise CoercionError("invalid_rows")
    return raw


# A sub-form's columns worked out once per config object (configs are immutable):
# id → (the config, kept so the id stays its own; key → (column, its coercer) for the columns
# that take input; (key, label) of the required ones).
_Plan = tuple[
    "SubformConfig",
    dict[str, tuple[FieldConfig, Coercer] | None],
    tuple[tuple[str, str], ...],
]
_PLANS: dict[int, _Plan] = {}


def _plan(field: SubformConfig) -> _Plan:
    plan = _PLANS.get(id(field))
    if plan is None or plan[0] is not field:
        columns: dict[str, tuple[FieldConfig, Coercer] | None] = {}
        required: list[tuple[str, str]] = []
        for column in field.fields:
            ctype = get_type(column.type)
            takes_input = ctype.accepts_input and ctype.has_value
            columns[column.key] = (column, ctype.coercer(column)) if takes_input else None
            if column.required and ctype.accepts_input:
                required.append((column.key, column.label))
        plan = (field, columns, tuple(required))
        if len(_PLANS) >= 1024:
            _PLANS.clear()
        _PLANS[id(field)] = plan
    return plan


def _coerce_rows(
    field: SubformConfig,
    columns: dict[str, tuple[FieldConfig, Coercer] | None],
    required: tuple[tuple[str, str], ...],
    raw: Any,
    source: Source,
    ctx: CoerceContext,
) -> list[dict[str, Any]] | None:
    # A list is taken as it is from every source (an empty one gives no row, so None, as a
    # blank value does).
    raw_rows = raw if type(raw) is list else None if is_blank(raw) else _rows(raw, source)
    if not raw_rows:
        return None
    rows: list[dict[str, Any]] = []
    for index, raw_row in enumerate(raw_rows):
        if type(raw_row) is not dict:
            if is_blank(raw_row):
                continue
            if not isinstance(raw_row, dict):
                raise CoercionError("invalid_row", path=f"[{index}]")
        elif not raw_row:
            continue  # blank
        row = _row(columns, required, raw_row, index, source, ctx)
        if row:
            rows.append(row)
    if not rows:
        return None
    if len(rows) < field.min_rows:
        raise CoercionError("too_few_rows", min=field.min_rows)
    limit = field.max_rows or MAX_ROWS
    if len(rows) > limit:
        raise CoercionError("too_many_rows", max=limit)
    return rows


_UNKNOWN: Any = object()


def _row(
    columns: dict[str, tuple[FieldConfig, Coercer] | None],
    required: tuple[tuple[str, str], ...],
    raw_row: dict[Any, Any],
    index: int,
    source: Source,
    ctx: CoerceContext,
) -> dict[str, Any]:
    row: dict[str, Any] = {}
    for key, raw_value in raw_row.items():
        entry = columns.get(key, _UNKNOWN) if isinstance(key, str) else _UNKNOWN
        if entry is _UNKNOWN:
            raise CoercionError(
                "unknown_column", path=f"[{index}].{str(key)[:64]}", column=str(key)[:64]
            )
        if entry is None:
            continue  # computed by the runtime
        column, coerce = entry
        try:
            value = coerce(column, raw_value, source, ctx)
        except CoercionError as exc:
            raise CoercionError(exc.code, path=_join(index, key, exc.path), **exc.params) from None
        if value is not None:
            row[key] = value
    if row:
        for key, label in required:
            if key not in row:
                raise CoercionError("column_required", path=f"[{index}].{key}", column=label)
    return row


def _join(index: int, key: str, inner: str) -> str:
    if not inner:
        return f"[{index}].{key}"
    return f"[{index}].{key}{inner}" if inner.startswith("[") else f"[{index}].{key}.{inner}"


@register
class SubformFieldType(FieldType[SubformConfig]):
    kind = "subform"
    config = SubformConfig
    storage = StorageKind.JSON
    expr_type = ExprType.LIST
    operators = PRESENCE_OPERATORS

    def json_schema(self, field: SubformConfig) -> dict[str, Any]:
        properties: dict[str, Any] = {}
        required: list[str] = []
        for column in field.fields:
            ctype = get_type(column.type)
            if not ctype.has_value:
                continue
            properties[column.key] = ctype.json_schema(column)
            if column.required and ctype.accepts_input:
                required.append(column.key)
        row: dict[str, Any] = {
            "type": "object",
            "properties": properties,
            "additionalProperties": False,
        }
        if required:
            row["required"] = required
        schema: dict[str, Any] = {
            "type": ["array", "null"],
            "items": row,
            "minItems": max(field.min_rows, 1),
        }
        if field.max_rows is not None:
            schema["maxItems"] = field.max_rows
        return schema

    def coerce_meets_schema(self, field: SubformConfig) -> bool:
        # Schema: null, or an array of 1 (or min_rows) to max_rows objects whose keys are
        # columns with a value, holding the required input columns, each value valid under its
        # column's schema. coerce gives None or a non-empty list of dicts (blank rows dropped;
        # fewer than min_rows or more than max_rows refused); a row's keys are input columns
        # only (unknown keys refused, computed columns skipped), its values what each column's
        # coerce returned (None left out), and a non-empty row lacking a required column is
        # refused. So it is proven when every column with a value is: its values come from
        # its coerce. (A computed column — formula, lookup — is not proven, so a sub-form with
        # row formulas is not either; rich text is cleaned after coercion and not proven.)
        return all(
            get_type(c.type).coerce_meets_schema(c)
            for c in field.fields
            if get_type(c.type).has_value
        )

    def schema_check(self, field: SubformConfig) -> Callable[[Any], bool] | None:
        # As coerce_meets_schema, for a sub-form whose every column with a value is either
        # proven or has a schema_check of its own: the rows' structure is proven as there,
        # the values of the tested columns are tested. Not with a computed column: row
        # formulas rewrite the rows of a stored value too, whose structure is not proven.
        checks: list[tuple[str, Callable[[Any], bool]]] = []
        for column in field.fields:
            ctype = get_type(column.type)
            if not ctype.has_value or ctype.coerce_meets_schema(column):
                continue
            if not ctype.accepts_input:
                return None
            check = ctype.schema_check(column)
            if check is None:
                return None
            checks.append((column.key, check))
        if not checks:
            return None  # proven: nothing to test

        def meets_schema(value: Any) -> bool:
            if value is None:
                return True
            if type(value) is not list:
                return False
            for row in value:
                if type(row) is not dict:
                    return False
                for key, check in checks:
                    if not check(row.get(key)):
                        return False
            return True

        return meets_schema

    def coerce(
        self,
        field: SubformConfig,
        raw: Any,
        source: Source = Source.JSON,
        ctx: CoerceContext = DEFAULT_CONTEXT,
    ) -> list[dict[str, Any]] | None:
        _, columns, required = _plan(field)
        return _coerce_rows(field, columns, required, raw, source, ctx)

    def coercer(self, field: SubformConfig) -> Coercer:
        # The columns' plan looked up once; the same rows and errors as coerce.
        _, columns, required = _plan(field)

        def coerce(
            config: SubformConfig,
            raw: Any,
            source: Source = Source.JSON,
            ctx: CoerceContext = DEFAULT_CONTEXT,
        ) -> list[dict[str, Any]] | None:
            if config is not field:
                return self.coerce(config, raw, source, ctx)
            return _coerce_rows(field, columns, required, raw, source, ctx)

        return coerce

    def display(
        self,
        field: SubformConfig,
        value: Any,
        lang: str = "zh",
        ctx: CoerceContext = DEFAULT_CONTEXT,
    ) -> str:
        if not isinstance(value, list):
            return ""
        lines = []
        for row in value:
            if not isinstance(row, dict):
                continue
            cells = []
            for column in field.fields:
                if column.key in row:
                    text = get_type(column.type).display(column, row[column.key], lang, ctx)
                    cells.append(
                        f"{column.label}: {text}" if lang != "zh" else f"{column.label}：{text}"
                    )
            lines.append(("；" if lang == "zh" else "; ").join(cells))
        return "\n".join(lines)

    def export(self, field: SubformConfig, value: Any, ctx: CoerceContext = DEFAULT_CONTEXT) -> Any:
        return self.display(field, value, "zh", ctx) or None

    def to_expr(
        self, field: SubformConfig, value: Any, ctx: CoerceContext = DEFAULT_CONTEXT
    ) -> list[dict[str, Any]] | None:
        if not isinstance(value, list):
            return None
        rows = []
        for row in value:
            if not isinstance(row, dict):
                continue
            rows.append(
                {
                    column.key: get_type(column.type).to_expr(column, row.get(column.key), ctx)
                    for column in field.fields
                    if get_type(column.type).has_value
                }
            )
        return rows

    def check_config(self, field: SubformConfig) -> list[Problem]:
        """Problems of the sub-form itself and of which types its columns are.

        Each column's own properties (and duplicate column keys) are checked by the definition
        validator, which walks the columns like top-level fields.
        """
        problems = default_problems(self, field)
        if not field.fields:
            problems.append(Problem("fields", "subform_empty", "the sub-form has no columns"))
        if field.max_rows is not None and field.min_rows > field.max_rows:
            problems.append(
                Problem(
                    "min_rows",
                    "min_greater_than_max",
                    "min_rows is greater than max_rows",
                    {"min": field.min_rows, "max": field.max_rows},
                )
            )
        for i, column in enumerate(field.fields):
            where = f"fields[{i}]"
            if column.type == "subform":
                problems.append(
                    Problem(where, "nested_subform", "a sub-form cannot contain a sub-form")
                )
            elif column.type in FORBIDDEN_COLUMNS:
                problems.append(
                    Problem(
                        where,
                        "column_type_not_allowed",
                        f"a {column.type} cannot be a sub-form column",
                        {"type": column.type},
                    )
                )
            for name in UNSUPPORTED_COLUMN_PROPERTIES:
                if getattr(column, name, None) is not None:
                    problems.append(
                        Problem(
                            f"{where}.{name}",
                            "column_property_not_supported",
                            f"a sub-form column cannot have '{name}' yet",
                            {"name": name},
                        )
                    )
        return problems

    def sample(self, field: SubformConfig) -> list[dict[str, Any]]:
        row: dict[str, Any] = {}
        for column in field.fields:
            ctype = get_type(column.type)
            if ctype.accepts_input and ctype.has_value and column.type not in FORBIDDEN_COLUMNS:
                row[column.key] = ctype.sample(column)
        return [row] if row else []

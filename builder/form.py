"""Form definitions (``stageform.form/1``): fields, layout, rules, workflow, settings.

A draft is edited freely; :func:`publish` returns an immutable copy carrying ``version``.
:func:`load_form` and :func:`dump_form` convert to and from JSON without loss: what was loaded
is what is dumped (properties left out stay out).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from builder.fields import FieldConfig, FieldDefinition
from builder.fields.base import Key, type_of
from builder.workflow import Workflow

FORMAT_FORM = "stageform.form/1"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Layout(_Strict):
    """Fields placed in rows of up to ``columns`` cells; fields not placed follow in order."""

    columns: int = Field(1, ge=1, le=4)
    rows: list[list[Key]] = Field(default_factory=list, max_length=1000)


class Rule(_Strict):
    """When ``when`` holds, show, hide or require fields (visibility rules, 显隐规则)."""

    when: str = Field(min_length=1, max_length=4000)
    show: list[Key] = Field(default_factory=list)
    hide: list[Key] = Field(default_factory=list)
    require: list[Key] = Field(default_factory=list)


class FormSettings(_Strict):
    submit_message: str | None = Field(None, max_length=2000)
    submit_label: str | None = Field(None, max_length=50)
    allow_comments: bool = True


class FormDefinition(_Strict):
    format: Literal["stageform.form/1"] = "stageform.form/1"
    key: Key
    name: str = Field(min_length=1, max_length=100)
    description: str | None = Field(None, max_length=5000)
    icon: str | None = Field(None, max_length=100)
    title_field: Key | None = None
    fields: list[FieldDefinition] = Field(default_factory=list, max_length=500)
    layout: Layout | None = None
    rules: list[Rule] = Field(default_factory=list, max_length=200)
    workflow: Workflow | None = None
    settings: FormSettings | None = None
    version: int | None = Field(None, ge=1)

    def field(self, key: str) -> FieldConfig | None:
        return next((f for f in self.fields if f.key == key), None)

    def value_fields(self) -> Iterator[FieldConfig]:
        """Fields that hold a value (not layout-only ``section``/``note``)."""
        return (f for f in self.fields if type_of(f).has_value)

    def input_fields(self) -> Iterator[FieldConfig]:
        """Fields a client may write (not formula, serial, lookup, layout)."""
        return (f for f in self.fields if type_of(f).accepts_input)

    @property
    def is_published(self) -> bool:
        return self.version is not None


def load_form(data: Any) -> FormDefinition:
    """Parse a form definition's shape (no semantic checks; see :func:`builder.validate.validate_form`).

    Raises:
        pydantic.ValidationError: the shape is wrong.
    """
    return FormDefinition.model_validate(data)


def dump_form(form: FormDefinition) -> dict[str, Any]:
    """The definition as JSON data, exactly as it was given (unset properties stay out)."""
    return form.model_dump(mode="json", by_alias=True, exclude_unset=True)


def publish(form: FormDefinition, version: int) -> FormDefinition:
    """An immutable published copy of ``form`` carrying ``version``. A formula without a
    ``result_type`` gets the one its expression yields (the docs' "inferred when absent"):
    stored, filtered, sorted and summed as that type — 价值评分 is a number, not JSON."""
    from builder.fields.formula import result_type_of
    from builder.validation.expressions import expression_names

    data = dump_form(form)
    data["version"] = version
    names = expression_names(form)
    for field in data.get("fields", []):
        if field.get("type") == "formula" and field.get("result_type") is None:
            inferred = result_type_of(names[field["key"]].type) if field["key"] in names else None
            if inferred is not None:
                field["result_type"] = inferred
    return FormDefinition.model_validate(data)

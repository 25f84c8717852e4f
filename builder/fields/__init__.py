"""Field types. Importing this package registers every type and builds :data:`FieldDefinition`,
the discriminated union (on ``type``) of every registered type's config model."""

from __future__ import annotations

from typing import Annotated, Any, Union

from pydantic import Field, TypeAdapter

from builder.fields import (  # noqa: F401  (importing a module registers its types)
    address,
    attachment,
    checkbox,
    date,
    date_time,
    department,
    email,
    formula,
    image,
    layout,
    lookup,
    money,
    multi_select,
    number,
    phone,
    rating,
    relation,
    rich_text,
    select,
    serial,
    subform,
    text,
    textarea,
    url,
    user,
    users,
)
from builder.fields import messages as _messages  # noqa: F401  (registers the catalogs)
from builder.fields.base import (
    DEFAULT_CONTEXT,
    CoerceContext,
    ExprDefault,
    FieldConfig,
    FieldType,
    LinkDefault,
    Source,
    get_type,
    registered_types,
    type_of,
)


def _union() -> Any:
    configs = tuple(t.config for t in registered_types().values())
    if len(configs) == 1:
        return Annotated[configs[0], Field(discriminator="type")]
    return Annotated[Union[configs], Field(discriminator="type")]  # noqa: UP007


FieldDefinition = _union()
# A sub-form's columns are field definitions themselves: resolve the forward reference now that
# the union exists.
subform.SubformConfig.model_rebuild(_types_namespace={"FieldDefinition": FieldDefinition})
field_adapter: TypeAdapter[FieldConfig] = TypeAdapter(FieldDefinition)

__all__ = [
    "DEFAULT_CONTEXT",
    "CoerceContext",
    "ExprDefault",
    "FieldConfig",
    "FieldDefinition",
    "FieldType",
    "LinkDefault",
    "Source",
    "field_adapter",
    "get_type",
    "registered_types",
    "type_of",
]

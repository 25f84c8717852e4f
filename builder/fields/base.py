"""The field-type contract and its registry.

A field type is one subclass of :class:`FieldType`, registered by its ``kind`` (the stable name
used in JSON and the API), with a pydantic config model (a subclass of :class:`FieldConfig`
whose ``type`` is ``Literal[kind]``) holding the properties a saved field may carry.

Every type answers the same small set of questions, and nothing else in the product needs to
know which type it is dealing with:

- ``json_schema(field)``: the JSON Schema (Draft 2020-12) fragment for a *stored* value.
- ``coerce(field, raw, source, ctx)``: a raw input → the stored value, or ``None`` for blank.
  ``source`` says where it came from: ``JSON`` (API), ``HTML`` (a form post: strings),
  ``CELL`` (a CSV/Excel cell: strings, numbers, dates, Excel date serials). Raises
  :class:`~builder.errors.CoercionError` with a stable code.
- ``default_value(field, ctx)``: the literal default, coerced (expression and linked defaults
  are evaluated by the runtime, which sees ``field.default`` as :class:`ExprDefault` or
  :class:`LinkDefault`).
- ``display(field, value, lang, ctx)``: text for a person.
- ``export(field, value, ctx)``: a spreadsheet cell (``str``, ``int``, ``float``, ``bool`` or
  ``None``).
- ``to_expr(field, value, ctx)``: the value as expressions see it (see :mod:`builder.value_types`).
- ``check_config(field)``: problems in the field's own properties (empty options, min > max…),
  beyond what pydantic already refuses.
- ``sample(field)``: a valid stored value, used by tests that walk the registry.
- ``storage_for``/``expr_type_for``/``operators_for(field)``: the per-field answer when a
  property changes it (a formula's ``result_type``, a relation's ``multiple``); by default the
  class attribute.
- Class attributes: ``storage`` (how it is stored and indexed), ``expr_type``, ``operators``
  (filter operators it supports), ``widget`` (the template that renders it), ``accepts_input``
  (False for computed types: formula, serial, lookup) and ``has_value`` (False for layout-only
  types: section, note).

Example — the smallest complete type::

    class RatingConfig(FieldConfig):
        type: Literal["rating"]
        max: int = Field(5, ge=1, le=10)

    @register
    class RatingFieldType(FieldType[RatingConfig]):
        kind = "rating"
        config = RatingConfig
        storage = StorageKind.NUMBER
        expr_type = ExprType.NUMBER
        operators = NUMBER_OPERATORS

        def json_schema(self, field): return {"type": "integer", "minimum": 0, "maximum": field.max}
        def coerce(self, field, raw, source=Source.JSON, ctx=DEFAULT_CONTEXT): ...
        def sample(self, field): return field.max
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field as dc_field
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Generic, TypeVar
from zoneinfo import ZoneInfo

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_serializer,
    model_validator,
)

from builder.errors import DuplicateFieldTypeError, Problem, UnknownFieldTypeError
from builder.value_types import ExprType, StorageKind

KEY_PATTERN = r"^[a-z][a-z0-9_]{0,62}$"
Key = Annotated[str, StringConstraints(pattern=KEY_PATTERN)]

# Filter operators, by family. A type's ``operators`` is one of these or a union of them.
PRESENCE_OPERATORS = frozenset({"empty", "not_empty"})
EQUALITY_OPERATORS = frozenset({"eq", "ne", "in", "not_in"}) | PRESENCE_OPERATORS
TEXT_OPERATORS = EQUALITY_OPERATORS | {"contains", "not_contains", "starts_with"}
NUMBER_OPERATORS = EQUALITY_OPERATORS | {"gt", "gte", "lt", "lte", "between"}
DATE_OPERATORS = NUMBER_OPERATORS | {
    "today",
    "this_week",
    "this_month",
    "last_n_days",
    "next_n_days",
}
ARRAY_OPERATORS = frozenset({"contains", "not_contains", "in", "not_in"}) | PRESENCE_OPERATORS
USER_OPERATORS = EQUALITY_OPERATORS | {"me"}
USERS_OPERATORS = ARRAY_OPERATORS | {"me"}
DEPARTMENT_OPERATORS = EQUALITY_OPERATORS | {"my_department"}
BOOL_OPERATORS = frozenset({"eq", "ne"}) | PRESENCE_OPERATORS
ALL_OPERATORS = (
    TEXT_OPERATORS
    | NUMBER_OPERATORS
    | DATE_OPERATORS
    | ARRAY_OPERATORS
    | USER_OPERATORS
    | DEPARTMENT_OPERATORS
)


class Source(StrEnum):
    """Where a raw value comes from; decides how lenient coercion is."""

    JSON = "json"
    HTML = "html"
    CELL = "cell"


@dataclass(frozen=True)
class CoerceContext:
    """What coercion and display need to know about the world.

    ``timezone`` interprets naive date-times (a cell ``2024-01-05 12:00``) and shows stored UTC
    date-times; ``currency_symbol`` is used by ``money`` display when the field names none.
    """

    timezone: dt.tzinfo = dc_field(default_factory=lambda: ZoneInfo("Asia/Shanghai"))
    lang: str = "zh"
    # Resolve a person's or department's name/e-mail from a spreadsheet cell to an id; supplied by
    # the runtime (which has the directory). ``None`` means only ids are accepted.
    resolve_user: Callable[[str], int | None] | None = None
    resolve_department: Callable[[str], int | None] | None = None
    # The other way round, for display and export: an id → the person's or department's name.
    # ``None`` (or a callable answering ``None``) shows the id itself.
    describe_user: Callable[[int], str | None] | None = None
    describe_department: Callable[[int], str | None] | None = None


DEFAULT_CONTEXT = CoerceContext()


class ExprDefault(BaseModel):
    """``{"expr": "CURRENT_USER()"}`` — a default computed by an expression."""

    model_config = ConfigDict(extra="forbid")
    expr: str = Field(min_length=1)


class LinkDefault(BaseModel):
    """``{"link": {"form": "product", "where": {"code": "product_code"}, "field": "price"}}``.

    数据联动: take ``field`` from the first record of ``form`` whose fields (keys of ``where``)
    equal this record's fields (values of ``where``).
    """

    model_config = ConfigDict(extra="forbid")
    form: Key
    where: dict[Key, Key] = Field(min_length=1)
    field: Key


class LinkDefaultWrapper(BaseModel):
    model_config = ConfigDict(extra="forbid")
    link: LinkDefault


class FieldConfig(BaseModel):
    """Properties every field may carry. Subclasses add their own and fix ``type``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    key: Key
    type: str
    label: str = Field(min_length=1, max_length=200)
    help: str | None = Field(None, max_length=2000)
    required: bool = False
    unique: bool = False
    read_only: bool = False
    default: Any = None
    visible_when: str | None = Field(None, max_length=4000)
    hidden_when: str | None = Field(None, max_length=4000)
    filterable: bool = False
    sortable: bool = False

    @model_validator(mode="after")
    def _parse_default(self) -> FieldConfig:
        d = self.default
        if isinstance(d, dict) and set(d) == {"expr"}:
            object.__setattr__(self, "default", ExprDefault.model_validate(d))
        elif isinstance(d, dict) and set(d) == {"link"}:
            object.__setattr__(self, "default", LinkDefaultWrapper.model_validate(d).link)
        return self

    @model_serializer(mode="wrap")
    def _serialize(self, handler: Any) -> Any:
        data = handler(self)
        if isinstance(self.default, LinkDefault) and isinstance(data, dict) and "default" in data:
            data["default"] = {"link": data["default"]}
        return data

    @property
    def default_expr(self) -> str | None:
        return self.default.expr if isinstance(self.default, ExprDefault) else None

    @property
    def default_link(self) -> LinkDefault | None:
        return self.default if isinstance(self.default, LinkDefault) else None


ConfigT = TypeVar("ConfigT", bound=FieldConfig)
# coerce(field, raw, source, ctx) of one field (FieldType.coercer).
Coercer = Callable[[Any, Any, Source, CoerceContext], Any]


class FieldType(Generic[ConfigT]):
    """Base class of every field type; see the module docstring for the contract."""

    kind: ClassVar[str]
    config: ClassVar[type[FieldConfig]]
    storage: ClassVar[StorageKind]
    expr_type: ClassVar[ExprType]
    operators: ClassVar[frozenset[str]] = frozenset()
    accepts_input: ClassVar[bool] = True
    has_value: ClassVar[bool] = True

    @property
    def widget(self) -> str:
        return f"fields/{self.kind}.html"

    def storage_for(self, field: ConfigT) -> StorageKind:
        """How this field's value is stored; differs from ``storage`` only for computed types."""
        return self.storage

    def expr_type_for(self, field: ConfigT) -> ExprType:
        """The type expressions see; differs from ``expr_type`` only for computed types."""
        return self.expr_type

    def operators_for(self, field: ConfigT) -> frozenset[str]:
        """The filter operators of this field; differs from ``operators`` only when a property
        changes the value's shape (a ``relation`` with ``multiple``)."""
        return self.operators

    def json_schema(self, field: ConfigT) -> dict[str, Any]:
        raise NotImplementedError

    def coerce(
        self,
        field: ConfigT,
        raw: Any,
        source: Source = Source.JSON,
        ctx: CoerceContext = DEFAULT_CONTEXT,
    ) -> Any:
        raise NotImplementedError

    def coercer(self, field: ConfigT) -> Coercer:
        """:meth:`coerce` for ``field`` alone, called the same way (``field`` first) and giving
        the same values and errors; a type may return one specialised for the config (its
        limits and options looked up once) with a fast path for the common input. Checked
        against :meth:`coerce` by tests/builder/test_field_registry.py."""
        return self.coerce

    def coerce_meets_schema(self, field: ConfigT) -> bool:
        """Whether every value ``coerce`` returns for ``field`` (``None`` included) is valid
        under ``json_schema(field)``, whatever the input, source and context: then the record
        pipeline does not ask the schema about it again. False unless a type proves it; the
        proof is written beside the override and checked on generated inputs by
        tests/builder/test_field_registry.py."""
        return False

    def schema_check(self, field: ConfigT) -> Callable[[Any], bool] | None:
        """For a type whose coercion is not proven (see :meth:`coerce_meets_schema`): a cheap
        test of a value that ``coerce`` returned (``None`` included) which, when True, means
        the value is valid under ``json_schema(field)``; when False, nothing (the schema
        decides). None: no such test. Checked on generated inputs by
        tests/builder/test_field_registry.py."""
        return None

    def default_value(self, field: ConfigT, ctx: CoerceContext = DEFAULT_CONTEXT) -> Any:
        if field.default is None or isinstance(field.default, ExprDefault | LinkDefault):
            return None
        return self.coerce(field, field.default, Source.JSON, ctx)

    def display(
        self, field: ConfigT, value: Any, lang: str = "zh", ctx: CoerceContext = DEFAULT_CONTEXT
    ) -> str:
        return "" if value is None else str(value)

    def export(self, field: ConfigT, value: Any, ctx: CoerceContext = DEFAULT_CONTEXT) -> Any:
        return value

    def to_expr(self, field: ConfigT, value: Any, ctx: CoerceContext = DEFAULT_CONTEXT) -> Any:
        return value

    def check_config(self, field: ConfigT) -> list[Problem]:
        return []

    def sample(self, field: ConfigT) -> Any:
        raise NotImplementedError


_REGISTRY: dict[str, FieldType[Any]] = {}

FT = TypeVar("FT", bound=type[FieldType[Any]])


def register(cls: FT) -> FT:
    """Class decorator: register one instance of ``cls`` under ``cls.kind``.

    Raises:
        DuplicateFieldTypeError: the kind is already registered.
    """
    if cls.kind in _REGISTRY:
        raise DuplicateFieldTypeError(cls.kind)
    _REGISTRY[cls.kind] = cls()
    return cls


def get_type(kind: str) -> FieldType[Any]:
    """The registered type named ``kind``.

    Raises:
        UnknownFieldTypeError: no such type.
    """
    try:
        return _REGISTRY[kind]
    except KeyError:
        raise UnknownFieldTypeError(kind) from None


def type_of(field: FieldConfig) -> FieldType[Any]:
    return get_type(field.type)


def registered_types() -> dict[str, FieldType[Any]]:
    return dict(_REGISTRY)

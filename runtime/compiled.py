"""A published form version, compiled once for the record hot path.

Everything the pipeline and the query engine ask of a form on every record — its fields by key,
their types, the record validator, the names expressions see, the order formulas run in — is
worked out here once per ``(form_id, version)`` and kept.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from threading import Lock
from typing import Any

from builder.dependencies import formula_order
from builder.errors import ExpressionError
from builder.expr import NameInfo, parse
from builder.fields import FieldConfig, FieldType, type_of
from builder.form import FormDefinition
from builder.schema import RecordValidator, validator_for
from builder.validation import expression_names
from builder.value_types import StorageKind

# Field types whose values are ids of people (user, users) or departments.
PEOPLE_TYPES = frozenset({"user", "users", "department"})


@dataclass(frozen=True, eq=False)
class CompiledForm:
    form_id: int
    version: int
    definition: FormDefinition
    fields: Mapping[str, FieldConfig]
    types: Mapping[str, FieldType[Any]]
    validator: RecordValidator
    names: Mapping[str, NameInfo]
    formula_order: tuple[str, ...]
    labels: Mapping[str, str]
    storage: Mapping[str, StorageKind]
    conditional: frozenset[str] = field(default=frozenset())
    # The fields among them with a condition of their own: (key, visible_when, hidden_when);
    # and those among them that are required when shown.
    field_conditions: tuple[tuple[str, str | None, str | None], ...] = ()
    conditional_required: frozenset[str] = frozenset()
    # sub-form key → (its columns by key, the order its row formulas run in)
    row_formulas: Mapping[str, tuple[Mapping[str, FieldConfig], tuple[str, ...]]] = field(
        default_factory=dict
    )
    # Worked out once for the pipeline's per-record loops (see compile_form).
    # Fields with a default people may leave out: (key, field, its type).
    defaults: tuple[tuple[str, FieldConfig, FieldType[Any]], ...] = ()
    serials: tuple[FieldConfig, ...] = ()
    relations: tuple[FieldConfig, ...] = ()
    # (sub-form key, relation column) of every sub-form's relation columns
    row_relations: tuple[tuple[str, FieldConfig], ...] = ()
    # (sub-form key or None, field) of every user, users and department field and column
    people: tuple[tuple[str | None, FieldConfig], ...] = ()
    # Whether a record formula reads ``stage`` (a transition then recomputes them)
    stage_formulas: bool = False
    lookups: tuple[FieldConfig, ...] = ()
    # Keys that must have a value whatever the rules say (required, input, not conditional).
    always_required: tuple[str, ...] = ()
    unique_keys: tuple[str, ...] = ()
    # Every name the form's expressions read (formulas, row formulas, defaults, visibility and
    # rules); the pipeline converts only these values to their expression form. None: some
    # expression does not parse, so convert everything.
    expr_names: frozenset[str] | None = None
    # What rich text sanitising looks at: a rich_text field's key → None, a sub-form's key →
    # its rich_text columns (only sub-forms that have some). Empty: nothing to clean.
    rich_text: Mapping[str, frozenset[str] | None] = field(default_factory=dict)
    # Keys of defaults whose expression reads no field (``CURRENT_USER()``, ``TODAY()``): the
    # same for every record written with one WriteContext, so worked out once per batch.
    constant_defaults: frozenset[str] = frozenset()
    # Keys whose every stored value comes from their type's coerce and is proven to satisfy
    # the field's JSON Schema (FieldType.coerce_meets_schema): the schema pass skips them.
    schema_proven: frozenset[str] = frozenset()
    # What coercion needs of each field, looked up once per given key: (field, its type's
    # coerce, the error code refusing any input to it or None, whether it is read-only).
    inputs: Mapping[str, tuple[FieldConfig, Callable[..., Any], str | None, bool]] = field(
        default_factory=dict
    )
    # The fields people may write, as (field, coerce): ``writable`` with read-only ones
    # refused, ``writable_read_only`` with them (read-only not enforced). The other keys of
    # ``inputs`` are refused with their code.
    writable: Mapping[str, tuple[FieldConfig, Callable[..., Any]]] = field(default_factory=dict)
    writable_read_only: Mapping[str, tuple[FieldConfig, Callable[..., Any]]] = field(
        default_factory=dict
    )
    # Fields not proven whose type has a cheap schema test (FieldType.schema_check): (key,
    # test). When every test passes, the schema pass skips ``schema_tested`` (these keys and
    # the proven ones); else it skips only the proven ones.
    schema_checks: tuple[tuple[str, Callable[[Any], bool]], ...] = ()
    schema_tested: frozenset[str] = frozenset()
    # What other modules make of this version on first use and keep with it (the generated
    # record pipeline of runtime.pipeline, under "pipeline").
    generated: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def key(self) -> str:
        return self.definition.key

    @property
    def initial_stage(self) -> str | None:
        wf = self.definition.workflow
        stage = wf.initial_stage if wf is not None else None
        return stage.key if stage is not None else None

    def label(self, key: str) -> str:
        return self.labels.get(key, key)


def compile_form(form_id: int, definition: FormDefinition) -> CompiledForm:
    """Compile ``definition`` (a published version) of form ``form_id``; no caching."""
    value_fields = [f for f in definition.fields if type_of(f).has_value]
    conditional = {f.key for f in value_fields if f.visible_when or f.hidden_when}
    for rule in definition.rules:
        conditional.update(rule.show, rule.hide, rule.require)
    types = {f.key: type_of(f) for f in value_fields}
    proven = frozenset(f.key for f in value_fields if types[f.key].coerce_meets_schema(f))
    checks = tuple(
        (f.key, check)
        for f in value_fields
        if f.key not in proven and (check := types[f.key].schema_check(f)) is not None
    )
    inputs = {
        f.key: (
            f,
            types[f.key].coercer(f),
            None if types[f.key].accepts_input else "field_not_writable",
            bool(f.read_only),
        )
        for f in value_fields
    }
    return CompiledForm(
        form_id=form_id,
        version=definition.version or 0,
        definition=definition,
        fields={f.key: f for f in value_fields},
        types=types,
        validator=validator_for(definition),
        names=expression_names(definition),
        formula_order=tuple(formula_order(value_fields)),
        labels={f.key: f.label for f in value_fields},
        storage={f.key: type_of(f).storage_for(f) for f in value_fields},
        conditional=frozenset(conditional),
        field_conditions=tuple(
            (f.key, f.visible_when, f.hidden_when)
            for f in value_fields
            if f.key in conditional and (f.visible_when or f.hidden_when)
        ),
        conditional_required=frozenset(
            f.key for f in value_fields if f.key in conditional and f.required
        ),
        row_formulas=_row_formulas(value_fields),
        defaults=_defaults_in_order(value_fields, types),
        serials=tuple(f for f in value_fields if f.type == "serial"),
        relations=tuple(f for f in value_fields if f.type == "relation"),
        stage_formulas=any(_reads_stage(f) for f in value_fields if f.type == "formula"),
        row_relations=tuple(
            (f.key, c)
            for f in value_fields
            if f.type == "subform"
            for c in getattr(f, "fields", ()) or ()
            if c.type == "relation"
        ),
        people=tuple((None, f) for f in value_fields if f.type in PEOPLE_TYPES)
        + tuple(
            (f.key, c)
            for f in value_fields
            if f.type == "subform"
            for c in getattr(f, "fields", ()) or ()
            if c.type in PEOPLE_TYPES
        ),
        lookups=tuple(f for f in value_fields if f.type == "lookup"),
        always_required=tuple(
            f.key
            for f in value_fields
            if f.required and f.key not in conditional and types[f.key].accepts_input
        ),
        unique_keys=tuple(f.key for f in value_fields if f.unique),
        expr_names=_expr_names(definition, value_fields),
        rich_text=_rich_text(value_fields),
        constant_defaults=_constant_defaults(value_fields),
        inputs=inputs,
        writable={k: (f, c) for k, (f, c, refusal, ro) in inputs.items() if not refusal and not ro},
        writable_read_only={k: (f, c) for k, (f, c, refusal, _) in inputs.items() if not refusal},
        schema_proven=proven,
        schema_checks=checks,
        schema_tested=proven | {key for key, _ in checks},
    )


def _constant_defaults(fields: list[FieldConfig]) -> frozenset[str]:
    keys: set[str] = set()
    for f in fields:
        if f.default_expr is None:
            continue
        try:
            if not parse(f.default_expr).references():
                keys.add(f.key)
        except ExpressionError:
            continue
    return frozenset(keys)


def _rich_text(fields: list[FieldConfig]) -> dict[str, frozenset[str] | None]:
    found: dict[str, frozenset[str] | None] = {}
    for f in fields:
        if f.type == "rich_text":
            found[f.key] = None
        elif f.type == "subform":
            columns = frozenset(c.key for c in getattr(f, "fields", []) if c.type == "rich_text")
            if columns:
                found[f.key] = columns
    return found


def _expr_names(definition: FormDefinition, fields: list[FieldConfig]) -> frozenset[str] | None:
    sources: list[str] = []
    for f in fields:
        sources.extend(s for s in (f.visible_when, f.hidden_when, f.default_expr) if s)
        if f.type == "formula":
            sources.append(f.expr)  # type: ignore[attr-defined]
        if f.type == "subform":
            sources.extend(c.expr for c in f.fields if c.type == "formula")  # type: ignore[attr-defined]
    sources.extend(rule.when for rule in definition.rules)
    names: set[str] = set()
    for source in sources:
        try:
            names |= parse(source).references()
        except ExpressionError:
            return None
    return frozenset(names)


def _reads_stage(f: FieldConfig) -> bool:
    try:
        return "stage" in parse(f.expr).references()  # type: ignore[attr-defined]
    except ExpressionError:
        return False


def _defaults_in_order(
    fields: list[FieldConfig], types: Mapping[str, FieldType[Any]]
) -> tuple[tuple[str, FieldConfig, FieldType[Any]], ...]:
    """The fields with a default, each after the defaulted fields its expression reads
    (``a = UPPER(b)`` after ``b``'s default), else in field order; a cycle (which gives
    blanks) keeps field order."""
    entries = [
        (f.key, f, types[f.key])
        for f in fields
        if f.default is not None and types[f.key].accepts_input
    ]
    keys = {key for key, _, _ in entries}
    reads: dict[str, set[str]] = {}
    for key, f, _ in entries:
        source = f.default_expr
        try:
            reads[key] = set(parse(source).references()) & keys - {key} if source else set()
        except ExpressionError:
            reads[key] = set()
    ordered: list[tuple[str, FieldConfig, FieldType[Any]]] = []
    placed: set[str] = set()
    remaining = list(entries)
    while remaining:
        ready = next((e for e in remaining if reads[e[0]] <= placed), None)
        if ready is None:  # a cycle
            ordered.extend(remaining)
            break
        ordered.append(ready)
        placed.add(ready[0])
        remaining.remove(ready)
    return tuple(ordered)


def _row_formulas(
    fields: list[FieldConfig],
) -> dict[str, tuple[Mapping[str, FieldConfig], tuple[str, ...]]]:
    out: dict[str, tuple[Mapping[str, FieldConfig], tuple[str, ...]]] = {}
    for f in fields:
        columns = list(getattr(f, "fields", []) or []) if f.type == "subform" else []
        order = tuple(formula_order(columns))
        if order:
            out[f.key] = ({c.key: c for c in columns}, order)
    return out


class CompiledForms:
    """A bounded, thread-safe cache of compiled versions keyed by ``(form_id, version)``.

    Published versions never change, so an entry never goes stale; drafts are not cached.
    """

    def __init__(self, size: int = 512) -> None:
        self._size = size
        self._items: dict[tuple[int, int], CompiledForm] = {}
        self._lock = Lock()

    def cached(self, form_id: int, version: int) -> CompiledForm | None:
        return self._items.get((form_id, version))

    def get(self, form_id: int, definition: FormDefinition) -> CompiledForm:
        if definition.version is None:
            return compile_form(form_id, definition)
        key = (form_id, definition.version)
        found = self._items.get(key)
        if found is not None:
            return found
        compiled = compile_form(form_id, definition)
        with self._lock:
            if len(self._items) >= self._size:
                self._items.pop(next(iter(self._items)))
            self._items[key] = compiled
        return compiled

"""The record pipeline as it was before the per-form plans (commit 198ab36), kept unchanged so
that tests/runtime/test_pipeline_equivalence.py can hold the current one to the same results.
Do not edit: it is the reference, not a second implementation."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from builder.errors import CoercionError, ExpressionError
from builder.expr import EvalContext, evaluate
from builder.fields import FieldConfig, type_of
from builder.fields.base import DEFAULT_CONTEXT, CoerceContext, Source
from builder.fields.serial import format_serial, serial_period
from builder.i18n import translate
from runtime import messages as _messages  # noqa: F401  (registers the catalog)
from runtime.compiled import CompiledForm
from runtime.errors import FieldError, RecordValidationError
from runtime.pipeline import _check_people
from runtime.pipeline import unchanged as _unchanged
from runtime.safe_text import contains_nul
from runtime.sanitize import sanitize_rich_text

SYSTEM_KEYS = frozenset(
    {"id", "stage", "created_at", "created_by", "updated_at", "updated_by", "version", "form_id"}
)


class StoreAccess(Protocol):
    """What the pipeline needs from the database, inside the write's transaction."""

    def existing_ids(self, form_key: str, ids: Collection[int]) -> set[int]:
        """Which of ``ids`` are live records of the app's form ``form_key``."""

    def existing_people(self, kind: str, ids: Collection[int]) -> set[int]:
        """Which of ``ids`` are users or departments (``kind``)."""

    def related_value(self, form_key: str, record_id: int, field_key: str) -> Any:
        """Field ``field_key`` of record ``record_id`` of form ``form_key`` (None if absent)."""

    def link_value(self, form_key: str, where: Mapping[str, Any], field_key: str) -> Any:
        """Field ``field_key`` of the first record of ``form_key`` whose fields equal ``where``."""

    def next_serial(self, field_key: str, period: str) -> int:
        """The next number of serial field ``field_key`` in ``period`` (allocated, not reused)."""


@dataclass(frozen=True)
class WriteContext:
    """Who writes, when, and how lenient input parsing is."""

    actor_id: int | None
    now: dt.datetime
    coerce: CoerceContext = DEFAULT_CONTEXT
    source: Source = Source.JSON
    lang: str = "zh"
    enforce_read_only: bool = True
    current_user: Any = None
    holidays: frozenset[dt.date] = frozenset()
    # Results of default expressions that read no field, by (form id, version, key): the
    # same for every record written with this context (one batch), so evaluated once.
    constants: dict[tuple[int, int, str], Any] = field(
        default_factory=dict, compare=False, hash=False, repr=False
    )

    @property
    def user(self) -> Any:
        return self.current_user if self.current_user is not None else self.actor_id


@dataclass
class Prepared:
    """A write ready for the store: the full ``data``, the per-field ``changes`` (old, new) for
    history, and the ``unique`` values the store must claim."""

    data: dict[str, Any]
    changes: dict[str, list[Any]] = field(default_factory=dict)
    unique: dict[str, Any] = field(default_factory=dict)


class _Errors:
    def __init__(self, cf: CompiledForm, lang: str) -> None:
        self.cf = cf
        self.lang = lang
        self.items: list[FieldError] = []

    def add(self, path: str, code: str, key: str | None = None, **params: Any) -> None:
        params.setdefault("label", self.cf.label(key or path))
        params.setdefault("key", key or path)
        self.items.append(FieldError(path, code, translate(code, self.lang, **params), params))

    def add_coercion(self, key: str, exc: CoercionError) -> None:
        path = f"{key}{exc.path}" if exc.path else key
        message = f"{self.cf.label(key)}: {exc.localized(self.lang)}"
        self.items.append(FieldError(path, exc.code, message, dict(exc.params)))

    def raise_if_any(self) -> None:
        if self.items:
            raise RecordValidationError(self.items)


def prepare_create(
    cf: CompiledForm,
    raw: Any,
    ctx: WriteContext,
    store: StoreAccess,
    *,
    stage: str | None = None,
) -> Prepared:
    """Everything a new record stores.

    Raises:
        RecordValidationError: with every problem; nothing may be written.
    """
    errors = _Errors(cf, ctx.lang)
    given = _coerce(cf, raw, ctx, errors)
    errors.raise_if_any()
    data = {k: v for k, v in given.items() if v is not None}  # (session 15: blank, no key)
    _apply_defaults(cf, data, given, ctx, store, errors, stage)
    data = sanitize_rich_text(cf, data)  # after defaults: a default is HTML too
    _apply_serials(cf, data, ctx, store)
    _finish(cf, data, ctx, store, errors, stage, record_id=None)
    return Prepared(data, {k: [None, v] for k, v in data.items()}, _unique_values(cf, data))


def prepare_update(
    cf: CompiledForm,
    current: Mapping[str, Any],
    patch: Any,
    ctx: WriteContext,
    store: StoreAccess,
    *,
    record_id: int,
    stage: str | None = None,
    editable: Collection[str] | None = None,
) -> Prepared:
    """The record after applying ``patch`` (a partial ``data``) to ``current``.

    ``editable``: the keys the current stage lets people edit (None: all).

    Raises:
        RecordValidationError: with every problem; nothing may be written.
    """
    errors = _Errors(cf, ctx.lang)
    given = sanitize_rich_text(cf, _coerce(cf, patch, ctx, errors))
    if editable is not None:
        for key in given:
            # (session 15: a sub-form sent back as read, formula columns and all, is unchanged)
            if key not in editable and not _unchanged(cf, key, given[key], current, ctx):
                errors.add(key, "not_editable_in_stage", key)
    errors.raise_if_any()
    data = {k: v for k, v in current.items() if k in cf.fields}
    for key, value in given.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    kept = {k: v for k, v in current.items() if k not in given}
    _finish(cf, data, ctx, store, errors, stage, record_id=record_id, kept=kept)
    changes = {
        k: [current.get(k), data.get(k)]
        for k in set(current) | set(data)
        if current.get(k) != data.get(k)
    }
    unique = {k: v for k, v in _unique_values(cf, data).items() if current.get(k) != v}
    return Prepared(data, changes, unique)


def _finish(
    cf: CompiledForm,
    data: dict[str, Any],
    ctx: WriteContext,
    store: StoreAccess,
    errors: _Errors,
    stage: str | None,
    record_id: int | None,
    kept: Mapping[str, Any] | None = None,
) -> None:
    """The steps after coercion. ``kept``: stored values the write did not touch."""
    _check_relations(cf, data, store, errors)
    # (session 16: users and departments named must exist)
    _check_people(cf, data, store, errors, kept or {}, ctx.actor_id)  # type: ignore[arg-type]
    _apply_lookups(cf, data, store)
    # (session 15: formulas and rules run again without the values visibility dropped, until
    # nothing more is dropped)
    for _ in range(len(cf.conditional) + 1):
        values = _apply_formulas(cf, data, ctx, stage, record_id)
        present = set(data)
        required = _apply_visibility(cf, data, ctx, stage, record_id, values)
        if set(data) == present:
            break
    _validate(cf, data, required, errors, kept or {})
    errors.raise_if_any()


# --- 1. coerce ------------------------------------------------------------------------------


def _coerce(cf: CompiledForm, raw: Any, ctx: WriteContext, errors: _Errors) -> dict[str, Any]:
    """Each given value in its stored form; blank values become None (meaning: clear)."""
    if not isinstance(raw, Mapping):
        errors.add("data", "data_not_object")
        return {}
    out: dict[str, Any] = {}
    for key, value in raw.items():
        if not isinstance(key, str):
            errors.add(str(key), "unknown_field")
            continue
        f = cf.fields.get(key)
        if f is None:
            if key == "stage":
                errors.add(key, "stage_not_writable")
            else:
                errors.add(key, "unknown_field")
            continue
        t = cf.types[key]
        if not t.accepts_input:
            errors.add(key, "field_not_writable", key)
            continue
        if f.read_only and ctx.enforce_read_only:
            errors.add(key, "read_only_field", key)
            continue
        if ("\x00" in value) if type(value) is str else contains_nul(value):
            errors.add(key, "invalid_character", key)
            continue
        try:
            out[key] = t.coerce(f, value, ctx.source, ctx.coerce)
        except CoercionError as exc:
            errors.add_coercion(key, exc)
    return out


# --- 2. defaults ----------------------------------------------------------------------------


def _apply_defaults(
    cf: CompiledForm,
    data: dict[str, Any],
    given: Mapping[str, Any],
    ctx: WriteContext,
    store: StoreAccess,
    errors: _Errors,
    stage: str | None,
) -> None:
    """Defaults fill fields the input left out (a field given as blank stays blank)."""
    for key, f, t in cf.defaults:
        if key in given:
            continue
        try:
            if f.default_expr is not None:
                value = _from_expr(f, _default_expr_value(cf, key, data, ctx, stage), ctx)
            elif f.default_link is not None:
                link = f.default_link
                where = {tk: data.get(sk) for tk, sk in link.where.items()}
                if any(v is None for v in where.values()):
                    continue
                value = store.link_value(link.form, where, link.field)
                value = t.coerce(f, value, Source.JSON, ctx.coerce) if value is not None else None
            else:
                value = t.default_value(f, ctx.coerce)
        except ExpressionError:
            continue  # a default that cannot be computed leaves the field blank
        except CoercionError as exc:
            errors.add_coercion(key, exc)
            continue
        if value is not None:
            data[key] = value


_FAILED = object()
_SCALARS = (str, int, float, bool, dt.date, type(None))


def _default_expr_value(
    cf: CompiledForm, key: str, data: Mapping[str, Any], ctx: WriteContext, stage: str | None
) -> Any:
    """The value of field ``key``'s default expression (raises ExpressionError). One that
    reads no field is evaluated once per context; its scalar result (or its failure) kept."""
    f = cf.fields[key]
    if key not in cf.constant_defaults:
        return evaluate(f.default_expr, _eval_context(cf, data, ctx, stage, None))
    slot = (cf.form_id, cf.version, key)
    if slot in ctx.constants:
        found = ctx.constants[slot]
        if found is _FAILED:
            raise ExpressionError("expression_error")
        return found
    try:
        found = evaluate(f.default_expr, _eval_context(cf, {}, ctx, stage, None))
    except ExpressionError:
        ctx.constants[slot] = _FAILED
        raise
    if isinstance(found, _SCALARS):  # a list or mapping is not shared between records
        ctx.constants[slot] = found
    return found


def _from_expr(f: FieldConfig, value: Any, ctx: WriteContext) -> Any:
    """An expression's result as a stored value of ``f`` (user mappings give their id)."""
    if isinstance(value, Mapping) and "id" in value and f.type in ("user", "department"):
        value = value["id"]
    if isinstance(value, dt.datetime):
        value = (
            value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            if f.type == "datetime"
            else value.date().isoformat()
        )
    elif isinstance(value, dt.date):
        value = value.isoformat()
    return type_of(f).coerce(f, value, Source.JSON, ctx.coerce)


def _apply_serials(
    cf: CompiledForm, data: dict[str, Any], ctx: WriteContext, store: StoreAccess
) -> None:
    if not cf.serials:
        return
    day = ctx.now.astimezone(ctx.coerce.timezone).date()
    for f in cf.serials:
        seq = store.next_serial(f.key, serial_period(f, day))  # type: ignore[arg-type]
        data[f.key] = format_serial(f, seq, day)  # type: ignore[arg-type]


# --- 3. relations and lookups ---------------------------------------------------------------


def _relation_ids(value: Any) -> list[int]:
    if value is None:
        return []
    return [v for v in (value if isinstance(value, list) else [value]) if isinstance(v, int)]


def _check_relations(
    cf: CompiledForm, data: Mapping[str, Any], store: StoreAccess, errors: _Errors
) -> None:
    for f in cf.relations:
        key = f.key
        ids = _relation_ids(data.get(key))
        if not ids:
            continue
        missing = set(ids) - store.existing_ids(f.target, ids)  # type: ignore[attr-defined]
        if missing:
            errors.add(key, "relation_not_found", key, ids=", ".join(map(str, sorted(missing))))


def _apply_lookups(cf: CompiledForm, data: dict[str, Any], store: StoreAccess) -> None:
    for f in cf.lookups:
        key = f.key
        relation = cf.fields.get(f.relation)  # type: ignore[attr-defined]
        ids = _relation_ids(data.get(f.relation)) if relation is not None else []  # type: ignore[attr-defined]
        if not ids or relation is None:
            data.pop(key, None)
            continue
        target = relation.target  # type: ignore[attr-defined]
        values = [store.related_value(target, i, f.field) for i in ids]  # type: ignore[attr-defined]
        value = values if getattr(relation, "multiple", False) else values[0]
        if value is None or value == []:
            data.pop(key, None)
        else:
            data[key] = value


# --- 4. formulas ----------------------------------------------------------------------------


def _eval_context(
    cf: CompiledForm,
    data: Mapping[str, Any],
    ctx: WriteContext,
    stage: str | None,
    record_id: int | None,
) -> EvalContext:
    values: dict[str, Any] = {}
    names = cf.expr_names
    for key, value in data.items():
        if names is not None and key not in names:
            continue  # no expression of the form reads it
        f = cf.fields.get(key)
        if f is not None:
            values[key] = cf.types[key].to_expr(f, value, ctx.coerce)
    values.setdefault("stage", stage)
    return _context_of(cf, values, ctx, record_id)


def _context_of(
    cf: CompiledForm, values: Mapping[str, Any], ctx: WriteContext, record_id: int | None
) -> EvalContext:
    return EvalContext(
        values=values,
        now=ctx.now,
        timezone=ctx.coerce.timezone,
        current_user=ctx.user,
        record_id=record_id,
        holidays=ctx.holidays,
        labels=cf.labels,
    )


def _apply_formulas(
    cf: CompiledForm,
    data: dict[str, Any],
    ctx: WriteContext,
    stage: str | None,
    record_id: int | None,
) -> dict[str, Any] | None:
    """Formulas in dependency order; one that cannot be computed (e.g. a division by zero)
    stores blank rather than refusing the record, as a spreadsheet would show an error cell.

    Sub-form row formulas run first, each row seeing its own columns over the record's fields,
    so that record formulas such as ``SUM(items.amount)`` see the computed column.

    Returns the expression values after the record formulas (what :func:`_eval_context` would
    build from ``data`` now, plus formula results no expression reads), or None when the form
    has no record formula.
    """
    if cf.row_formulas:
        values = dict(_eval_context(cf, data, ctx, stage, record_id).values)
        for sub_key, (columns, order) in cf.row_formulas.items():
            rows = data.get(sub_key)
            if not isinstance(rows, list):
                continue
            for row in rows:
                row_values = dict(values)
                for col_key, value in row.items():
                    col = columns.get(col_key)
                    if col is not None:
                        row_values[col_key] = type_of(col).to_expr(col, value, ctx.coerce)
                _run_formulas(order, columns, row, row_values, ctx, record_id, cf.labels)
    if cf.formula_order:
        values = dict(_eval_context(cf, data, ctx, stage, record_id).values)
        _run_formulas(cf.formula_order, cf.fields, data, values, ctx, record_id, cf.labels)
        return values
    return None


def _run_formulas(
    order: tuple[str, ...],
    fields: Mapping[str, FieldConfig],
    target: dict[str, Any],
    values: dict[str, Any],
    ctx: WriteContext,
    record_id: int | None,
    labels: Mapping[str, str],
) -> None:
    for key in order:
        f = fields[key]
        t = type_of(f)
        ectx = EvalContext(
            values=values,
            now=ctx.now,
            timezone=ctx.coerce.timezone,
            current_user=ctx.user,
            record_id=record_id,
            holidays=ctx.holidays,
            labels=labels,
        )
        try:
            stored = t.coerce(f, evaluate(f.expr, ectx), Source.JSON, ctx.coerce)  # type: ignore[attr-defined]
        except (ExpressionError, CoercionError):
            stored = None
        if stored is None:
            target.pop(key, None)
            values.pop(key, None)
        else:
            target[key] = stored
            values[key] = t.to_expr(f, stored, ctx.coerce)


# --- 5. visibility --------------------------------------------------------------------------


def _holds(source: str, ectx: EvalContext) -> bool | None:
    try:
        return bool(evaluate(source, ectx))
    except ExpressionError:
        return None


def _apply_visibility(
    cf: CompiledForm,
    data: dict[str, Any],
    ctx: WriteContext,
    stage: str | None,
    record_id: int | None,
    values: dict[str, Any] | None = None,
) -> set[str]:
    """Drop the values of fields hidden by rules; return the keys required by rules.
    ``values``: the expression values of ``data`` if already at hand (after the formulas).

    A rule that cannot be evaluated hides nothing (data is never dropped on an error).
    """
    if not cf.conditional:
        return set()
    ectx = (
        _eval_context(cf, data, ctx, stage, record_id)
        if values is None
        else _context_of(cf, values, ctx, record_id)
    )
    hidden: set[str] = set()
    shown: set[str] = set()
    required: set[str] = set()
    for key in cf.conditional:
        f = cf.fields.get(key)
        if f is None:
            continue
        if f.visible_when and _holds(f.visible_when, ectx) is False:
            hidden.add(key)
        if f.hidden_when and _holds(f.hidden_when, ectx) is True:
            hidden.add(key)
    rule_shown: set[str] = set()
    for rule in cf.definition.rules:
        result = _holds(rule.when, ectx)
        rule_shown.update(rule.show)
        if result is True:
            shown.update(rule.show)
            hidden.update(rule.hide)
            required.update(rule.require)
        elif result is None:
            shown.update(rule.show)
    hidden |= rule_shown - shown
    for key in hidden:
        data.pop(key, None)
    return required - hidden | {
        k
        for k in cf.conditional
        if k not in hidden and cf.fields.get(k) is not None and cf.fields[k].required
    }


# --- 6. validate ----------------------------------------------------------------------------


def _validate(
    cf: CompiledForm,
    data: Mapping[str, Any],
    rule_required: set[str],
    errors: _Errors,
    kept: Mapping[str, Any],
) -> None:
    """Required fields, then the JSON Schema. A stored value the write left untouched is not
    re-judged by the schema: a definition change (an option removed, a tighter limit) applies
    when that value is next written, so old records stay editable."""
    reported: set[str] = set()
    keys = cf.always_required
    if rule_required:
        keys = tuple(
            k
            for k in cf.fields
            if (k in cf.always_required or k in rule_required) and cf.types[k].accepts_input
        )
    for key in keys:
        if data.get(key) in (None, "", []):
            errors.add(key, "required", key)
            reported.add(key)
    if errors.items:
        return
    for v in cf.validator.violations(data):
        top = v.path.split("[", 1)[0].split(".", 1)[0]
        if top in reported or (top in kept and kept[top] == data.get(top)):
            continue
        code = "required" if v.keyword == "required" else "schema_violation"
        errors.add(v.path or "data", code, top, detail=v.message)


def _unique_values(cf: CompiledForm, data: Mapping[str, Any]) -> dict[str, Any]:
    return {k: data[k] for k in cf.unique_keys if data.get(k) is not None}

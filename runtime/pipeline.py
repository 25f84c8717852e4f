"""The record pipeline: raw input → the data a record stores.

Every way a record is written (API, page, bulk, import, automation) goes through
:func:`prepare_create` or :func:`prepare_update`, which run in a fixed order, collecting every
error:

    coerce → sanitise rich text → defaults → lookups → formulas → visibility → validate

The steps after coercion are generated as Python source once per compiled form version
(:mod:`runtime.pipeline_source`), unrolled over the form's fields; the work on values is done
by the helpers below, which that source calls.

and return a :class:`Prepared` write, or raise :class:`~runtime.errors.RecordValidationError`
with every :class:`~runtime.errors.FieldError`. Nothing here touches a database: what needs one
(related records, linked defaults, serial numbers) is asked of a :class:`StoreAccess` that the
store implements inside the write's transaction. Unique values are claimed by the store when it
writes (a database constraint, so concurrent writers cannot both win).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Collection, Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, NamedTuple, Protocol

from builder.errors import CoercionError, ExpressionError
from builder.expr import EvalContext, evaluate
from builder.fields import FieldConfig, FieldType, type_of
from builder.fields.base import DEFAULT_CONTEXT, CoerceContext, Source
from builder.i18n import translate
from runtime import messages as _messages  # noqa: F401  (registers the catalog)
from runtime.compiled import CompiledForm
from runtime.errors import FieldError, RecordValidationError
from runtime.pipeline_source import HELPERS, form_source
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
        """Which of ``ids`` are users (``kind`` ``"user"``, active or not) or departments
        (``"department"``)."""

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
    # Results of default expressions that read no field and coerced literal defaults, by
    # (form id, version, key): the same for every record written with this context (one
    # batch), so worked out once.
    constants: dict[tuple[int, int, str], Any] = field(
        default_factory=dict, compare=False, hash=False, repr=False
    )
    # The expression context of each form version (form id, version) written with this
    # context, without values: each evaluation's is a copy with its values.
    eval_contexts: dict[tuple[int, int], EvalContext] = field(
        default_factory=dict, compare=False, hash=False, repr=False
    )

    @property
    def user(self) -> Any:
        return self.current_user if self.current_user is not None else self.actor_id

    @cached_property
    def today(self) -> dt.date:
        """The date of ``now`` in the coercion's time zone: the creation date of serials."""
        return self.now.astimezone(self.coerce.timezone).date()


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
    return _steps(cf).create(raw, ctx, store, stage)


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
    steps = _steps(cf)
    errors = _Errors(cf, ctx.lang)
    given = sanitize_rich_text(cf, _coerce(cf, patch, ctx, errors))
    if editable is not None:
        for key in given:
            if key not in editable and not unchanged(cf, key, given[key], current, ctx):
                errors.add(key, "not_editable_in_stage", key)
    errors.raise_if_any()
    data = {k: v for k, v in current.items() if k in cf.fields}
    for key, value in given.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    # What the write leaves as it is, values sent back unchanged included (a form posts the
    # whole record): not checked again (a related record or a department deleted since must
    # not block editing the other fields).
    kept = {k: v for k, v in current.items() if k not in given or given[k] == v}
    steps.finish(data, ctx, store, errors, stage, record_id, kept)
    return _prepared(steps, current, data)


def prepare_upgrade(
    cf: CompiledForm,
    stored: Mapping[str, Any],
    current: Mapping[str, Any],
    ctx: WriteContext,
    store: StoreAccess,
    *,
    record_id: int,
    stage: str | None = None,
) -> Prepared:
    """A record written under an older version as ``cf`` derives it: ``current`` is its data
    converted to ``cf`` (:func:`builder.diff.upgrade_data`), ``stored`` what the record holds.
    Lookups, formulas and visibility run again, as for a write that changes nothing; the
    changes and unique values are counted from ``stored`` (a unique ``"5"`` that became ``5``
    is claimed again). Unlike a write, an upgrade is never refused: a record that does not meet
    a rule of the new version (a field that became required) keeps its values, derived ones
    included, and meets the rule at its next edit."""
    steps = _steps(cf)
    data = {k: v for k, v in current.items() if k in cf.fields}
    # ``finish`` derives every value (in ``data``) before it validates any.
    with suppress(RecordValidationError):
        steps.finish(data, ctx, store, _Errors(cf, ctx.lang), stage, record_id, dict(current))
    return _prepared(steps, stored, data)


def _prepared(steps: _Steps, before: Mapping[str, Any], data: dict[str, Any]) -> Prepared:
    """The write of ``data`` over ``before``: what changed, and the unique values to claim."""
    changes = {
        k: [before.get(k), data.get(k)]
        for k in set(before) | set(data)
        if before.get(k) != data.get(k)
    }
    unique = {k: v for k, v in steps.unique_values(data).items() if before.get(k) != v}
    return Prepared(data, changes, unique)


def same_as_stored(
    cf: CompiledForm, key: str, raw: Any, current: Mapping[str, Any], ctx: WriteContext
) -> bool:
    """Whether raw input ``raw`` for ``key`` reads as the stored value (``"100"`` for a stored
    100, a local time for the same instant): what a field people may not change may be sent
    back as."""
    errors = _Errors(cf, ctx.lang)
    given = sanitize_rich_text(cf, _coerce(cf, {key: raw}, ctx, errors))
    return not errors.items and key in given and unchanged(cf, key, given[key], current, ctx)


def unchanged(
    cf: CompiledForm, key: str, given: Any, current: Mapping[str, Any], ctx: WriteContext
) -> bool:
    """Whether a value sent back is the one stored: compared as input reads it (a sub-form's
    rows read back come with their formula columns, which input drops)."""
    stored = current.get(key)
    if given == stored:
        return True
    if stored is None:
        return False
    read_back = sanitize_rich_text(cf, _coerce(cf, {key: stored}, ctx, _Errors(cf, ctx.lang)))
    return bool(given == read_back.get(key))


class _Steps(NamedTuple):
    """The steps generated for one compiled form version (runtime.pipeline_source)."""

    create: Callable[[Any, WriteContext, StoreAccess, str | None], Prepared]
    # finish(data, ctx, store, errors, stage, record_id, kept): lookups, formulas,
    # visibility, validation; raises RecordValidationError.
    finish: Callable[..., None]
    unique_values: Callable[[Mapping[str, Any]], dict[str, Any]]


def _steps(cf: CompiledForm) -> _Steps:
    """``cf``'s generated steps, made on first use and kept with the compiled version."""
    found = cf.generated.get("pipeline")
    if found is None:
        found = cf.generated["pipeline"] = _generate(cf)
    return found


def _generate(cf: CompiledForm) -> _Steps:
    source, namespace = form_source(cf)
    namespace.update({name: globals()[name] for name in HELPERS})
    code = compile(source, f"<pipeline of form {cf.form_id} v{cf.version}>", "exec")
    exec(code, namespace)  # our own source: no text of the definition is in it
    return _Steps(namespace["create"], namespace["finish"], namespace["unique_values"])


# --- 1. coerce ------------------------------------------------------------------------------


def _coerce(cf: CompiledForm, raw: Any, ctx: WriteContext, errors: _Errors) -> dict[str, Any]:
    """Each given value in its stored form; blank values become None (meaning: clear)."""
    if not isinstance(raw, Mapping):
        errors.add("data", "data_not_object")
        return {}
    out: dict[str, Any] = {}
    writable = cf.writable if ctx.enforce_read_only else cf.writable_read_only
    source, cctx = ctx.source, ctx.coerce
    for key, value in raw.items():
        plan = writable.get(key)
        if plan is None:
            _refuse(cf, key, ctx, errors)
            continue
        if ("\x00" in value) if type(value) is str else contains_nul(value):
            errors.add(key, "invalid_character", key)
            continue
        try:
            out[key] = plan[1](plan[0], value, source, cctx)
        except CoercionError as exc:
            errors.add_coercion(key, exc)
    return out


def _refuse(cf: CompiledForm, key: Any, ctx: WriteContext, errors: _Errors) -> None:
    """The error for a given key that is not a field people may write."""
    if not isinstance(key, str):
        errors.add(str(key), "unknown_field")
        return
    plan = cf.inputs.get(key)
    if plan is None:
        errors.add(key, "stage_not_writable" if key == "stage" else "unknown_field")
    elif plan[2] is not None:
        errors.add(key, plan[2], key)
    else:  # read-only, enforced
        errors.add(key, "read_only_field", key)


# --- 2. defaults ----------------------------------------------------------------------------


def _default(
    cf: CompiledForm,
    key: str,
    f: FieldConfig,
    t: FieldType[Any],
    data: Mapping[str, Any],
    ctx: WriteContext,
    store: StoreAccess,
    errors: _Errors,
    stage: str | None,
) -> Any:
    """The default of field ``key``, which the input left out (a field given as blank stays
    blank): its value, or None when it has none or it cannot be computed (a coercion error is
    reported)."""
    try:
        if f.default_expr is not None and key in cf.constant_defaults:
            return _constant_default(cf, key, f, ctx, stage)
        if f.default_expr is not None:
            return _from_expr(f, _default_expr_value(cf, key, data, ctx, stage), ctx)
        if f.default_link is not None:
            link = f.default_link
            where = {tk: data.get(sk) for tk, sk in link.where.items()}
            if any(v is None for v in where.values()):
                return None
            value = store.link_value(link.form, where, link.field)
            return t.coerce(f, value, Source.JSON, ctx.coerce) if value is not None else None
        return _literal_default(cf, key, f, t, ctx)
    except ExpressionError:
        return None  # a default that cannot be computed leaves the field blank
    except CoercionError as exc:
        errors.add_coercion(key, exc)
        return None


_FAILED = object()
_MISSING = object()
_SCALARS = (str, int, float, bool, dt.date, type(None))


def _default_expr_value(
    cf: CompiledForm, key: str, data: Mapping[str, Any], ctx: WriteContext, stage: str | None
) -> Any:
    """The value of field ``key``'s default expression (raises ExpressionError)."""
    return evaluate(cf.fields[key].default_expr, _eval_context(cf, data, ctx, stage, None))


def _constant_default(
    cf: CompiledForm, key: str, f: FieldConfig, ctx: WriteContext, stage: str | None
) -> Any:
    """The stored value of field ``key``'s default expression that reads no field (raises
    ExpressionError or CoercionError): the same for every record written with one context, so
    worked out once; a scalar result (or the expression's failure) is kept in it."""
    slot = (cf.form_id, cf.version, key)
    found = ctx.constants.get(slot, _MISSING)
    if found is _FAILED:
        raise ExpressionError("expression_error")
    if found is not _MISSING:
        return found
    try:
        value = evaluate(f.default_expr, _eval_context(cf, {}, ctx, stage, None))
    except ExpressionError:
        ctx.constants[slot] = _FAILED
        raise
    found = _from_expr(f, value, ctx)  # a CoercionError is not kept: raised again next time
    if isinstance(found, _SCALARS):  # a list or mapping is not shared between records
        ctx.constants[slot] = found
    return found


def _literal_default(
    cf: CompiledForm, key: str, f: FieldConfig, t: FieldType[Any], ctx: WriteContext
) -> Any:
    """Field ``key``'s literal default, coerced (raises CoercionError): the same for every
    record written with one context, so a scalar result is kept in it."""
    slot = (cf.form_id, cf.version, key)
    found = ctx.constants.get(slot, _MISSING)
    if found is not _MISSING:
        return found
    found = t.default_value(f, ctx.coerce)
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


# --- 3. relations and lookups ---------------------------------------------------------------


def relation_ids(value: Any) -> list[int]:
    """The record ids a relation field's value names (one or a list)."""
    if value is None:
        return []
    return [v for v in (value if isinstance(value, list) else [value]) if isinstance(v, int)]


def _check_relations(
    cf: CompiledForm,
    data: Mapping[str, Any],
    store: StoreAccess,
    errors: _Errors,
    kept: Mapping[str, Any],
) -> None:
    """Every related record the write names exists (and is not in the recycle bin). A value
    the write left untouched is not checked again: a related record deleted since (it may
    come back) must not block edits of other fields."""
    for f in cf.relations:
        key = f.key
        if key in kept and kept[key] == data.get(key):
            continue
        ids = relation_ids(data.get(key))
        if not ids:
            continue
        missing = set(ids) - store.existing_ids(f.target, ids)  # type: ignore[attr-defined]
        if missing:
            errors.add(key, "relation_not_found", key, ids=", ".join(map(str, sorted(missing))))
    for sub_key, column in cf.row_relations:
        if sub_key in kept and kept[sub_key] == data.get(sub_key):
            continue
        cells = [
            (i, relation_ids(row.get(column.key))) for i, row in enumerate(rows_of(data, sub_key))
        ]
        wanted = {v for _, ids in cells for v in ids}
        if not wanted:
            continue
        found = store.existing_ids(column.target, wanted)  # type: ignore[attr-defined]
        for i, ids in cells:
            missing = set(ids) - found
            if missing:
                errors.add(
                    f"{sub_key}[{i}].{column.key}",
                    "relation_not_found",
                    label=column.label,
                    ids=", ".join(map(str, sorted(missing))),
                )


def _check_people(
    cf: CompiledForm,
    data: Mapping[str, Any],
    store: StoreAccess,
    errors: _Errors,
    kept: Mapping[str, Any],
    actor_id: int | None,
) -> None:
    """Every user and department a write names exists; one query for each kind. Someone who
    has left (deactivated) still counts: old records imported with their owners are kept as
    they were (assignment rules skip inactive people). The writer exists (they are signed
    in), and a value the write left untouched is not checked again."""
    cells: list[tuple[str, str, list[int]]] = []  # (path, kind, ids), for the report
    wanted: dict[str, set[int]] = {"user": set(), "department": set()}
    for sub_key, f in cf.people:
        kind = "department" if f.type == "department" else "user"
        key = f.key if sub_key is None else sub_key
        if key in kept and kept[key] == data.get(key):
            continue
        if sub_key is None:
            ids = _ids(data.get(f.key))
            if ids and not (kind == "user" and ids == [actor_id]):  # the usual default
                cells.append((f.key, kind, ids))
                wanted[kind].update(ids)
            continue
        for i, row in enumerate(rows_of(data, sub_key)):
            ids = _ids(row.get(f.key))
            if ids:
                cells.append((f"{sub_key}[{i}].{f.key}", kind, ids))
                wanted[kind].update(ids)
    if not cells:
        return
    if actor_id is not None:
        wanted["user"].discard(actor_id)
    found = {
        kind: store.existing_people(kind, ids) if ids else set() for kind, ids in wanted.items()
    }
    if actor_id is not None:
        found["user"].add(actor_id)
    for path, kind, ids in cells:
        missing = [i for i in ids if i not in found[kind]]
        if missing:
            key = path.split("[", 1)[0]
            code = "unknown_department" if kind == "department" else "unknown_user"
            errors.add(path, code, key, value=", ".join(map(str, missing)))


def _ids(value: Any) -> list[int]:
    """The ids a people value holds (one id, or a list of them)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, int) and not isinstance(v, bool)]
    return []


def rows_of(data: Mapping[str, Any], sub_key: str) -> list[Mapping[str, Any]]:
    """The rows of sub-form ``sub_key`` in ``data`` (none when it holds no list)."""
    rows = data.get(sub_key)
    return [r for r in rows if isinstance(r, Mapping)] if isinstance(rows, list) else []


def _apply_lookups(cf: CompiledForm, data: dict[str, Any], store: StoreAccess) -> None:
    for f in cf.lookups:
        key = f.key
        relation = cf.fields.get(f.relation)  # type: ignore[attr-defined]
        ids = relation_ids(data.get(f.relation)) if relation is not None else []  # type: ignore[attr-defined]
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
    return _context_of(cf, _expr_values(cf, data, ctx, stage), ctx, record_id)


def _expr_values(
    cf: CompiledForm, data: Mapping[str, Any], ctx: WriteContext, stage: str | None
) -> dict[str, Any]:
    """A new dict of ``data``'s values as expressions see them (those some expression reads)."""
    values: dict[str, Any] = {}
    names = cf.expr_names
    for key, value in data.items():
        if names is not None and key not in names:
            continue  # no expression of the form reads it
        f = cf.fields.get(key)
        if f is not None:
            values[key] = cf.types[key].to_expr(f, value, ctx.coerce)
    values.setdefault("stage", stage)
    return values


def _context_of(
    cf: CompiledForm,
    values: Mapping[str, Any],
    ctx: WriteContext,
    record_id: int | None,
) -> EvalContext:
    base = ctx.eval_contexts.get((cf.form_id, cf.version))
    if base is None:
        base = _base_context(cf, ctx)
    return base.with_values(values, record_id)


def _base_context(cf: CompiledForm, ctx: WriteContext) -> EvalContext:
    """What expressions of ``cf`` written with ``ctx`` see besides the values (kept in it)."""
    base = EvalContext(
        values={},
        now=ctx.now,
        timezone=ctx.coerce.timezone,
        current_user=ctx.user,
        holidays=ctx.holidays,
        labels=cf.labels,
    )
    ctx.eval_contexts[(cf.form_id, cf.version)] = base
    return base


def _apply_row_formulas(
    cf: CompiledForm,
    data: dict[str, Any],
    ctx: WriteContext,
    stage: str | None,
    record_id: int | None,
) -> None:
    """Sub-form row formulas, each row seeing its own columns over the record's fields (they
    run before the record's formulas, so that ``SUM(items.amount)`` sees the computed column).
    One that cannot be computed (e.g. a division by zero) stores blank rather than refusing
    the record, as a spreadsheet would show an error cell."""
    values = _expr_values(cf, data, ctx, stage)
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
            _run_formulas(cf, order, columns, row, row_values, ctx, record_id)


def _run_formulas(
    cf: CompiledForm,
    order: tuple[str, ...],
    fields: Mapping[str, FieldConfig],
    target: dict[str, Any],
    values: dict[str, Any],
    ctx: WriteContext,
    record_id: int | None,
) -> None:
    """Runs the formulas of ``order`` into ``target`` (a sub-form row), ``values`` updated with
    each result. The record's own formulas run the same way in the generated steps."""
    ectx = _context_of(cf, values, ctx, record_id)
    cctx = ctx.coerce
    for key in order:
        f = fields[key]
        t = type_of(f)
        stored = _formula_value(t, f, f.expr, ectx, cctx)  # type: ignore[attr-defined]
        if stored is None:
            target.pop(key, None)
            values.pop(key, None)
        else:
            target[key] = stored
            values[key] = t.to_expr(f, stored, cctx)


def in_stage(
    cf: CompiledForm,
    current: Mapping[str, Any],
    prepared: Prepared | None,
    ctx: WriteContext,
    stage: str,
    record_id: int,
) -> Prepared | None:
    """What a transition writes when the record's formulas read ``stage``: they are computed
    for the stage it enters (``IF(stage = "done", …)``), over the data as the transition leaves
    it (``prepared``'s, else ``current``). ``prepared`` as it was when no formula reads the
    stage or none changes."""
    if not cf.stage_formulas:
        return prepared
    before = prepared.data if prepared is not None else current
    data = dict(before)
    values = _expr_values(cf, data, ctx, stage)
    values["stage"] = stage
    _run_formulas(cf, cf.formula_order, cf.fields, data, values, ctx, record_id)
    if data == before:
        return prepared
    changes = {
        k: [current.get(k), data.get(k)]
        for k in set(current) | set(data)
        if current.get(k) != data.get(k)
    }
    unique = prepared.unique if prepared is not None else {}
    return Prepared(data, changes, unique)


def _formula_value(
    t: FieldType[Any], f: FieldConfig, expr: Any, ectx: EvalContext, cctx: CoerceContext
) -> Any:
    """The stored value of formula ``f`` (``expr``: its expression, parsed or not): None when
    it cannot be computed (e.g. a division by zero), as a spreadsheet shows an error cell."""
    try:
        return t.coerce(f, evaluate(expr, ectx), Source.JSON, cctx)
    except (ExpressionError, CoercionError):
        return None


# --- 5. visibility --------------------------------------------------------------------------


def _holds(source: str, ectx: EvalContext) -> bool | None:
    try:
        return bool(evaluate(source, ectx))
    except ExpressionError:
        return None


def _rule_visibility(
    cf: CompiledForm, ectx: EvalContext, hidden: set[str], required: set[str]
) -> None:
    """The form's rules: adds the keys they hide to ``hidden`` (a field some rule shows is
    hidden unless one of those rules holds) and those they require to ``required``. A rule that
    cannot be evaluated hides nothing (data is never dropped on an error)."""
    shown: set[str] = set()
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


# --- 6. validate ----------------------------------------------------------------------------


def _schema_errors(
    cf: CompiledForm, data: Mapping[str, Any], errors: _Errors, kept: Mapping[str, Any]
) -> None:
    """Every JSON Schema violation of ``data`` (which the generated partial check found), as
    the whole schema reports it. A stored value the write left untouched (in ``kept``) is not
    re-judged: a definition change (an option removed, a tighter limit) applies when that
    value is next written, so old records stay editable."""
    for v in cf.validator.violations(data):
        top = v.path.split("[", 1)[0].split(".", 1)[0]
        if top in kept and kept[top] == data.get(top):
            continue
        code = "required" if v.keyword == "required" else "schema_violation"
        errors.add(v.path or "data", code, top, detail=v.message)

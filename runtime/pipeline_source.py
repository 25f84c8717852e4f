"""The record pipeline's per-form steps as Python source, generated once per compiled form version.

:func:`form_source` writes the steps of :mod:`runtime.pipeline` after coercion — defaults,
serials, relations and lookups, formulas, visibility, required checks and the schema pass,
the unique claims — for one :class:`~runtime.compiled.CompiledForm`, unrolled over its fields:
no loop over fields a record does not need, no phase call, no per-field dispatch. The work on
values is still done by the shared helpers (the types' coercion, the expression evaluator,
the default and rule helpers of :mod:`runtime.pipeline`), which the source calls by name.

The source never contains anything from the definition: every key, field, expression and
constant reaches it through the namespace under a name made here (``c0``, ``c1``…), so a key
or label with quotes, newlines or code in it is data, never code.
"""

from __future__ import annotations

from typing import Any

from builder.errors import ExpressionError
from builder.expr import parse
from builder.fields.base import FieldType
from builder.fields.serial import format_serial, serial_period
from runtime.compiled import CompiledForm
from runtime.errors import RecordValidationError

# What the source calls from elsewhere, under these names.
_LIBRARY: dict[str, Any] = {
    "format_serial": format_serial,
    "serial_period": serial_period,
    "RecordValidationError": RecordValidationError,
}

# The helpers of runtime.pipeline the source calls: the caller puts them in the namespace.
HELPERS = (
    "_Errors",
    "_coerce",
    "Prepared",
    "_MISSING",
    "_FAILED",
    "_default",
    "sanitize_rich_text",
    "_check_relations",
    "_check_people",
    "_apply_lookups",
    "_apply_row_formulas",
    "_expr_values",
    "_base_context",
    "_holds",
    "_formula_value",
    "_rule_visibility",
    "_schema_errors",
)


class _Source:
    def __init__(self, cf: CompiledForm) -> None:
        self.cf = cf
        self.lines: list[str] = []
        self.namespace: dict[str, Any] = {"cf": cf, **_LIBRARY}

    def const(self, value: Any) -> str:
        """A name for ``value`` in the namespace (never its text in the source)."""
        name = f"c{len(self.namespace) - len(_LIBRARY) - 1}"
        self.namespace[name] = value
        return name

    def emit(self, indent: int, *lines: str) -> None:
        self.lines.extend(("    " * indent + line) if line else "" for line in lines)


def _expression(source: str) -> Any:
    """The parsed expression (what evaluate() would parse), or its text when it does not
    parse, so that evaluating it raises as evaluate() does."""
    try:
        return parse(source)
    except ExpressionError:
        return source


def form_source(cf: CompiledForm) -> tuple[str, dict[str, Any]]:
    """The source of ``create(raw, ctx, store, stage)``, ``finish(data, ctx, store, errors,
    stage, record_id, kept)`` and ``unique_values(data)`` for ``cf``, and the constants its
    namespace must hold (the helpers of :data:`HELPERS` are added by the caller)."""
    s = _Source(cf)
    _create(s)
    _finish(s)
    _unique(s)
    return "\n".join(s.lines) + "\n", s.namespace


def _create(s: _Source) -> None:
    cf = s.cf
    s.emit(
        0,
        "def create(raw, ctx, store, stage):",
        "    errors = _Errors(cf, ctx.lang)",
        "    given = _coerce(cf, raw, ctx, errors)",
        "    if errors.items:",
        "        raise RecordValidationError(errors.items)",
        "    data = {k: v for k, v in given.items() if v is not None}  # blank: no key",
    )
    if cf.defaults:
        s.emit(1, "constants = ctx.constants")
    for key, f, t in cf.defaults:
        k, fc, tc = s.const(key), s.const(f), s.const(t)
        s.emit(1, f"if {k} not in given:")
        kept = (f.default_expr is not None and key in cf.constant_defaults) or (
            f.default_expr is None and f.default_link is None
        )
        if kept:  # kept per write context once worked out (_constant/_literal_default)
            slot = s.const((cf.form_id, cf.version, key))
            s.emit(
                2,
                f"value = constants.get({slot}, _MISSING)",
                "if value is _MISSING or value is _FAILED:",
                f"    value = _default(cf, {k}, {fc}, {tc}, data, ctx, store, errors, stage)",
            )
        else:
            s.emit(2, f"value = _default(cf, {k}, {fc}, {tc}, data, ctx, store, errors, stage)")
        s.emit(2, "if value is not None:", f"    data[{k}] = value")
    if cf.rich_text:  # after defaults: a default is HTML too
        s.emit(1, "data = sanitize_rich_text(cf, data)")
    if cf.serials:
        s.emit(1, "day = ctx.today")
    for f in cf.serials:
        k, fc = s.const(f.key), s.const(f)
        # The counter counts from 1 in each period; the field's numbers from its ``start``.
        offset = f" + {f.start - 1}" if f.start != 1 else ""  # type: ignore[attr-defined]
        s.emit(
            1,
            f"seq = store.next_serial({k}, serial_period({fc}, day)){offset}",
            f"data[{k}] = format_serial({fc}, seq, day)",
        )
    s.emit(
        1,
        "finish(data, ctx, store, errors, stage, None, {})",
        "return Prepared(data, {k: [None, v] for k, v in data.items()}, unique_values(data))",
        "",
    )


def _values(s: _Source, indent: int) -> None:
    """``values``: ``data``'s values as expressions see them (those some expression reads),
    as :func:`runtime.pipeline._expr_values` gives them."""
    cf = s.cf
    if cf.expr_names is None:
        s.emit(indent, "values = _expr_values(cf, data, ctx, stage)")
        return
    s.emit(indent, "values = {}")
    for key in cf.fields:
        if key not in cf.expr_names:
            continue
        k, t = s.const(key), cf.types[key]
        if type(t).to_expr is FieldType.to_expr:  # the value itself
            s.emit(indent, f"if {k} in data:", f"    values[{k}] = data[{k}]")
        else:
            s.emit(
                indent,
                f"if {k} in data:",
                f"    values[{k}] = {s.const(t.to_expr)}({s.const(cf.fields[key])}, data[{k}], cctx)",
            )
    s.emit(indent, f"values.setdefault({s.const('stage')}, stage)")


def _formulas(s: _Source, b: int) -> None:
    """One pass of the formulas: the sub-forms' rows, then the record's (with ``values`` and
    ``ectx`` made anew from ``data``)."""
    cf = s.cf
    if cf.row_formulas:
        s.emit(b, "_apply_row_formulas(cf, data, ctx, stage, record_id)")
    if cf.formula_order or cf.conditional:
        _values(s, b)
        s.emit(
            b,
            f"base = ctx.eval_contexts.get({s.const((cf.form_id, cf.version))})",
            "if base is None:",
            "    base = _base_context(cf, ctx)",
            "ectx = base.with_values(values, record_id)",
        )
    for key in cf.formula_order:
        f, t = cf.fields[key], cf.types[key]
        k, fc = s.const(key), s.const(f)
        expr = s.const(_expression(f.expr))  # type: ignore[attr-defined]
        s.emit(
            b,
            f"stored = _formula_value({s.const(t)}, {fc}, {expr}, ectx, cctx)",
            "if stored is None:",
            f"    data.pop({k}, None)",
            f"    values.pop({k}, None)",
            "else:",
            f"    data[{k}] = stored",
        )
        if type(t).to_expr is FieldType.to_expr:
            s.emit(b + 1, f"values[{k}] = stored")
        else:
            s.emit(b + 1, f"values[{k}] = {s.const(t.to_expr)}({fc}, stored, cctx)")


def _visibility_chains(cf: CompiledForm) -> bool:
    """Whether a visibility condition, a rule or a formula reads a field a rule may hide (so
    dropping a hidden value may change what they give)."""
    if not cf.conditional:
        return False
    sources: list[str] = [w for _, v, h in cf.field_conditions for w in (v, h) if w]
    sources.extend(rule.when for rule in cf.definition.rules)
    sources.extend(cf.fields[k].expr for k in cf.formula_order)  # type: ignore[attr-defined]
    for source in sources:
        parsed = _expression(source)
        if isinstance(parsed, str) or parsed.references() & cf.conditional:
            return True
    return False


def _rows_read_record_formulas(cf: CompiledForm) -> bool:
    """Whether a sub-form's row formula reads one of the record's formulas."""
    record_formulas = set(cf.formula_order)
    for columns, order in cf.row_formulas.values():
        for key in order:
            source = _expression(columns[key].expr)  # type: ignore[attr-defined]
            if isinstance(source, str) or source.references() & record_formulas:
                return True
    return False


def _finish(s: _Source) -> None:
    """The steps after coercion (and, on create, defaults and serials); ``kept``: stored values
    the write did not touch."""
    cf = s.cf
    s.emit(0, "def finish(data, ctx, store, errors, stage, record_id, kept):")
    s.emit(1, "cctx = ctx.coerce")
    if cf.relations or cf.row_relations:
        s.emit(1, "_check_relations(cf, data, store, errors, kept)")
    if cf.people:
        s.emit(1, "_check_people(cf, data, store, errors, kept, ctx.actor_id)")
    if cf.lookups:
        s.emit(1, "_apply_lookups(cf, data, store)")
    # Formulas: sub-form rows first (so record formulas see computed columns), then the
    # record's in dependency order; one that cannot be computed stores blank. When a row
    # formula reads a record formula (``net = price * rate``, ``total = SUM(items.net)``),
    # a second pass computes the rows with the record's new values, then the record again.
    # Visibility: values of hidden fields are dropped; a rule that cannot be evaluated hides
    # nothing. ``required``: the keys required by rules and shown. When a rule or a formula
    # reads a field a rule may hide, the formulas and rules run again without the values
    # just dropped, until nothing more is dropped (a formula must not keep a value computed
    # from a hidden one, nor a rule show a field because of a hidden value).
    chained = _visibility_chains(cf)
    b = 2 if chained else 1
    if chained:
        s.emit(1, f"for _pass in range({len(cf.conditional) + 1}):")
    for _ in range(2 if _rows_read_record_formulas(cf) else 1):
        _formulas(s, b)
    rule_required = bool(cf.conditional) and bool(cf.definition.rules or cf.conditional_required)
    if cf.conditional:
        s.emit(b, "hidden = set()")
        for key, visible_when, hidden_when in cf.field_conditions:
            k = s.const(key)
            if visible_when:
                s.emit(
                    b,
                    f"if _holds({s.const(_expression(visible_when))}, ectx) is False:",
                    f"    hidden.add({k})",
                )
            if hidden_when:
                s.emit(
                    b,
                    f"if _holds({s.const(_expression(hidden_when))}, ectx) is True:",
                    f"    hidden.add({k})",
                )
        s.emit(b, "required = set()")
        if cf.definition.rules:
            s.emit(b, "_rule_visibility(cf, ectx, hidden, required)")
        if chained:
            s.emit(b, "gone = [key for key in hidden if key in data]")
        s.emit(b, "for key in hidden:", "    data.pop(key, None)")
        if rule_required:
            s.emit(b, f"required = (required | {s.const(cf.conditional_required)}) - hidden")
        if chained:
            s.emit(b, "if not gone:", "    break")
    # Required fields, in field order (those required only by rules when they are).
    s.emit(1, "missing = (None, '', [])")
    for key in cf.fields:
        if key in cf.always_required:
            k = s.const(key)
            s.emit(1, f"if data.get({k}) in missing:")
        elif rule_required and key in cf.conditional and cf.types[key].accepts_input:
            k = s.const(key)
            s.emit(1, f"if {k} in required and data.get({k}) in missing:")
        else:
            continue
        s.emit(2, f"errors.add({k}, 'required', {k})")
    # The schema pass (see runtime.pipeline._schema_errors): only the fields coercion does not
    # prove, and not those whose own cheap test passes when every test passes.
    s.emit(1, "if errors.items:", "    raise RecordValidationError(errors.items)")
    skipped = s.const(cf.schema_proven)
    if cf.schema_checks:
        tests = " and ".join(
            f"{s.const(check)}(data.get({s.const(key)}))" for key, check in cf.schema_checks
        )
        s.emit(1, f"skipped = {s.const(cf.schema_tested)} if {tests} else {skipped}")
        skipped = "skipped"
    s.emit(
        1,
        f"if not {s.const(cf.validator.is_valid_except)}({skipped}, data):",
        "    _schema_errors(cf, data, errors, kept)",
        "    if errors.items:",
        "        raise RecordValidationError(errors.items)",
        "",
    )


def _unique(s: _Source) -> None:
    s.emit(0, "def unique_values(data):", "    unique = {}")
    for key in s.cf.unique_keys:
        k = s.const(key)
        s.emit(1, f"value = data.get({k})", "if value is not None:", f"    unique[{k}] = value")
    s.emit(1, "return unique", "")

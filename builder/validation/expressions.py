"""Checking every expression of a form against the names it can see."""

from __future__ import annotations

from collections.abc import Mapping

from builder.dependencies import find_cycles, formula_order, formula_references
from builder.errors import ExpressionError
from builder.expr import NameInfo, check
from builder.fields import FieldConfig, type_of
from builder.form import FormDefinition
from builder.validation.report import Report
from builder.value_types import ExprType

SYSTEM_NAMES: dict[str, NameInfo] = {
    "stage": NameInfo(ExprType.TEXT, "stage"),
    "created_at": NameInfo(ExprType.DATETIME, "created_at"),
    "updated_at": NameInfo(ExprType.DATETIME, "updated_at"),
    "created_by": NameInfo(ExprType.USER, "created_by"),
    "updated_by": NameInfo(ExprType.USER, "updated_by"),
}
_ADDRESS_PARTS = ("province", "city", "district", "detail")


def field_name_info(f: FieldConfig, forms: Mapping[str, FormDefinition] | None = None) -> NameInfo:
    """How an expression sees field ``f``: its type, label and (for composite values) columns."""
    t = type_of(f)
    columns: dict[str, NameInfo] | None = None
    if f.type == "subform":
        columns = {
            c.key: field_name_info(c, forms)
            for c in getattr(f, "fields", [])
            if type_of(c).has_value
        }
    elif f.type == "address":
        columns = {p: NameInfo(ExprType.TEXT, p) for p in _ADDRESS_PARTS}
    return NameInfo(t.expr_type_for(f), f.label, columns)


def expression_names(
    form: FormDefinition, forms: Mapping[str, FormDefinition] | None = None
) -> dict[str, NameInfo]:
    """Every name an expression in ``form`` may use: its value fields, then system fields.

    Formulas without a declared ``result_type`` get the type their expression yields.
    """
    names = dict(SYSTEM_NAMES)
    for f in form.fields:
        if type_of(f).has_value:
            names[f.key] = field_name_info(f, forms)
    _infer_formula_types(form.fields, names)
    return names


def _infer_formula_types(fields: list[FieldConfig], names: dict[str, NameInfo]) -> None:
    by_key = {f.key: f for f in fields}
    for key in formula_order(fields):
        f = by_key[key]
        if getattr(f, "result_type", None) is not None:
            continue
        try:
            inferred = check(getattr(f, "expr", ""), names, field=key)
        except ExpressionError:
            continue
        names[key] = NameInfo(inferred, f.label, names[key].columns)


def check_expression(
    report: Report,
    path: str,
    source: str | None,
    names: Mapping[str, NameInfo],
    field_key: str | None,
) -> ExprType | None:
    """Check one expression; a problem goes to ``report``. Returns its type, or None if wrong."""
    if source is None:
        return None
    try:
        return check(source, names, field=field_key)
    except ExpressionError as exc:
        report.add_expression_error(path, exc, field_key)
        return None


def check_form_expressions(
    report: Report,
    form: FormDefinition,
    paths: list[str],
    forms: Mapping[str, FormDefinition] | None,
) -> dict[str, NameInfo]:
    """Check formulas, expression defaults, visibility rules and cycles; return the names.

    ``paths[i]`` is where ``form.fields[i]`` stands in the document.
    """
    names = expression_names(form, forms)
    for i, f in enumerate(form.fields):
        path = paths[i]
        _check_field_expressions(report, path, f, names)
        if f.type == "subform":
            row_names = {**names, **(names[f.key].columns or {})}
            for j, col in enumerate(getattr(f, "fields", [])):
                _check_field_expressions(report, f"{path}.fields[{j}]", col, row_names)
            _report_cycles(
                report,
                getattr(f, "fields", []),
                {c.key: f"{path}.fields[{j}]" for j, c in enumerate(getattr(f, "fields", []))},
            )
    _report_cycles(
        report,
        list(form.fields),
        {f.key: paths[i] for i, f in reversed(list(enumerate(form.fields)))},
    )
    for i, rule in enumerate(form.rules):
        check_expression(report, f"rules[{i}].when", rule.when, names, None)
    return names


def _check_field_expressions(
    report: Report, path: str, f: FieldConfig, names: Mapping[str, NameInfo]
) -> None:
    if f.type == "formula":
        check_expression(report, f"{path}.expr", getattr(f, "expr", None), names, f.key)
    check_expression(report, f"{path}.default.expr", f.default_expr, names, f.key)
    check_expression(report, f"{path}.visible_when", f.visible_when, names, f.key)
    check_expression(report, f"{path}.hidden_when", f.hidden_when, names, f.key)


def _report_cycles(report: Report, fields: list[FieldConfig], paths: Mapping[str, str]) -> None:
    for cycle in find_cycles(formula_references(fields)):
        report.add(f"{paths[cycle[0]]}.expr", "formula_cycle", cycle=" → ".join(cycle))

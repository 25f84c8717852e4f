"""Checks of filters, group-bys and metrics against a form — the same for list views, the
query/aggregate API, dashboards and automations."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from builder.errors import CoercionError
from builder.fields import FieldConfig, type_of
from builder.fields.base import (
    DATE_OPERATORS,
    DEFAULT_CONTEXT,
    NUMBER_OPERATORS,
    USER_OPERATORS,
    CoerceContext,
    Source,
)
from builder.form import FormDefinition
from builder.query import (
    MAX_FILTER_DEPTH,
    NO_VALUE_OPERATORS,
    Condition,
    Filter,
    GroupBy,
    Metric,
    filter_depth,
    iter_conditions,
)
from builder.validation.report import Report
from builder.value_types import StorageKind

_MAX_IN = 1000


@dataclass(frozen=True)
class QueryField:
    """A field as queries see it: a form field, or a system field of every record."""

    key: str
    label: str
    storage: StorageKind
    operators: frozenset[str]
    config: FieldConfig | None = None


SYSTEM_QUERY_FIELDS: dict[str, QueryField] = {
    "id": QueryField("id", "ID", StorageKind.NUMBER, NUMBER_OPERATORS),
    "stage": QueryField(
        "stage", "stage", StorageKind.TEXT, frozenset({"eq", "ne", "in", "not_in"})
    ),
    "created_at": QueryField("created_at", "created_at", StorageKind.DATETIME, DATE_OPERATORS),
    "updated_at": QueryField("updated_at", "updated_at", StorageKind.DATETIME, DATE_OPERATORS),
    "created_by": QueryField("created_by", "created_by", StorageKind.NUMBER, USER_OPERATORS),
    "updated_by": QueryField("updated_by", "updated_by", StorageKind.NUMBER, USER_OPERATORS),
    "owner": QueryField("owner", "owner", StorageKind.NUMBER, USER_OPERATORS),
}


def query_field(form: FormDefinition, key: str) -> QueryField | None:
    """The field ``key`` of ``form`` as queries see it; a form field shadows a system field."""
    f = form.field(key)
    if f is not None:
        t = type_of(f)
        if not t.has_value:
            return None
        return QueryField(f.key, f.label, t.storage_for(f), t.operators_for(f), f)
    return SYSTEM_QUERY_FIELDS.get(key)


def check_filter(report: Report, form: FormDefinition, f: Filter | None, path: str) -> None:
    if f is None:
        return
    if filter_depth(f) > MAX_FILTER_DEPTH:
        report.add(path, "filter_too_deep", max=MAX_FILTER_DEPTH)
        return
    for i, cond in enumerate(iter_conditions(f)):
        _check_condition(report, form, cond, f"{path}.conditions[{i}]")


def _check_condition(report: Report, form: FormDefinition, cond: Condition, path: str) -> None:
    qf = query_field(form, cond.field)
    if qf is None:
        report.add(f"{path}.field", "unknown_field", key=cond.field)
        return
    if cond.op not in qf.operators:
        report.add(f"{path}.op", "operator_not_supported", label=qf.label, op=cond.op)
        return
    problem = _value_problem(qf, cond.op, cond.value)
    if problem is not None:
        report.add(f"{path}.value", "invalid_filter_value", op=cond.op, detail=problem)


def _value_problem(qf: QueryField, op: str, value: Any) -> str | None:
    if op in NO_VALUE_OPERATORS:
        return None if value is None else "takes no value"
    if op in ("last_n_days", "next_n_days"):
        ok = isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 3650
        return None if ok else "a whole number of days from 1 to 3650"
    if op in ("in", "not_in"):
        if not isinstance(value, list) or not value or len(value) > _MAX_IN:
            return f"a list of 1 to {_MAX_IN} values"
        return next((p for v in value if (p := _scalar_problem(qf, v)) is not None), None)
    if op == "between":
        if not isinstance(value, list) or len(value) != 2:
            return "a list of two values [from, to]"
        return next((p for v in value if (p := _scalar_problem(qf, v, True)) is not None), None)
    return _scalar_problem(qf, value, op in _COMPARISONS)


# Operators that order values: a blank has no place in the order (empty/not_empty ask for it).
_COMPARISONS = frozenset({"gt", "gte", "lt", "lte"})


def _scalar_problem(qf: QueryField, value: Any, ordered: bool = False) -> str | None:
    if value is None or isinstance(value, dict | list):
        return "a single value"
    if _holds_ids(qf):  # users, a multiple relation: an element is an id
        return None if _id_of(value) is not None else "an id (a whole number)"
    if (
        qf.storage in (StorageKind.NUMBER, StorageKind.DATE, StorageKind.DATETIME, StorageKind.BOOL)
        and qf.config is not None
    ):
        try:
            coerced = type_of(qf.config).coerce(qf.config, value, Source.JSON)
        except CoercionError as exc:
            return exc.message
        if coerced is None and ordered:  # "" or " ": blank, which no comparison can take
            return "a value that is not blank"
    elif qf.storage is StorageKind.NUMBER and (
        isinstance(value, bool) or not isinstance(value, int | float)
    ):
        return "a number"
    return None


def coerce_filter_value(qf: QueryField, value: Any, ctx: CoerceContext = DEFAULT_CONTEXT) -> Any:
    """A filter value in the stored form of ``qf`` (dates normalised, numbers parsed; a date
    or a naive date-time for a date-time field read in ``ctx``'s time zone)."""
    if qf.config is None or isinstance(value, list | dict) or value is None:
        return value
    if _holds_ids(qf):
        ident = _id_of(value)
        return value if ident is None else ident
    if qf.storage in (StorageKind.NUMBER, StorageKind.DATE, StorageKind.DATETIME, StorageKind.BOOL):
        return type_of(qf.config).coerce(qf.config, value, Source.JSON, ctx)
    return value


def _holds_ids(qf: QueryField) -> bool:
    """An array field of ids (users, a multiple relation): not multi_select's option values."""
    return (
        qf.storage is StorageKind.ARRAY
        and qf.config is not None
        and qf.config.type != "multi_select"
    )


def _id_of(value: Any) -> int | None:
    """``value`` as an id: a whole number, or its digits as text (``"5"``); else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit() and value.strip().isascii():
        return int(value.strip())
    return None


_GROUPABLE = frozenset(
    {
        StorageKind.TEXT,
        StorageKind.NUMBER,
        StorageKind.BOOL,
        StorageKind.DATE,
        StorageKind.DATETIME,
        StorageKind.ARRAY,
    }
)
_NUMERIC = frozenset({StorageKind.NUMBER})
_ORDERED = frozenset({StorageKind.NUMBER, StorageKind.DATE, StorageKind.DATETIME})


def check_group_by(report: Report, form: FormDefinition, groups: list[GroupBy], path: str) -> None:
    for i, g in enumerate(groups):
        qf = query_field(form, g.field)
        if qf is None:
            report.add(f"{path}[{i}].field", "unknown_field", key=g.field)
        elif qf.storage not in _GROUPABLE:
            report.add(f"{path}[{i}].field", "not_groupable", label=qf.label)
        elif g.bucket is not None and qf.storage not in (StorageKind.DATE, StorageKind.DATETIME):
            report.add(f"{path}[{i}].bucket", "bucket_needs_date")


def check_metrics(report: Report, form: FormDefinition, metrics: list[Metric], path: str) -> None:
    for i, m in enumerate(metrics):
        if m.field is None:
            if m.op != "count":
                report.add(f"{path}[{i}].field", "missing_property")
            continue
        qf = query_field(form, m.field)
        if qf is None:
            report.add(f"{path}[{i}].field", "unknown_field", key=m.field)
        elif (m.op in ("sum", "avg") and qf.storage not in _NUMERIC) or (
            m.op in ("min", "max") and qf.storage not in _ORDERED
        ):
            report.add(f"{path}[{i}].field", "not_numeric", label=qf.label, op=m.op)
        elif qf.storage not in _GROUPABLE:
            report.add(f"{path}[{i}].field", "not_groupable", label=qf.label)

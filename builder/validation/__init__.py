"""Definition validation: every problem at once, as ``{path, code, message}``.

Entry points:

- :func:`validate_form` / :func:`form_problems` — one form, optionally within its app's forms;
- :func:`validate_app` / :func:`app_problems` — an app with its forms, automations, dashboards;
- :func:`validate_automation`, :func:`validate_dashboard` — one of those within an app;
- :func:`query_problems` — a filter / group-by / metrics body against a form.

No input, however malformed, makes these raise anything but
:class:`~builder.errors.DefinitionError` (the ``validate_*`` functions) — the ``*_problems``
functions raise nothing and return the list.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from builder.app import AppDefinition
from builder.automation import AutomationDefinition
from builder.dashboard import DashboardDefinition
from builder.errors import DefinitionError, Problem
from builder.fields import field_adapter
from builder.form import FormDefinition
from builder.query import Filter, GroupBy, Metric
from builder.validation.app import check_automation, check_dashboard
from builder.validation.expressions import check_form_expressions, expression_names
from builder.validation.fields import check_fields, check_key_reuse, check_title_and_layout
from builder.validation.query import check_filter, check_group_by, check_metrics, query_field
from builder.validation.report import Report
from builder.validation.shape import add_validation_errors
from builder.validation.workflow import check_workflow

__all__ = [
    "app_problems",
    "expression_names",
    "form_problems",
    "query_field",
    "query_problems",
    "validate_app",
    "validate_automation",
    "validate_dashboard",
    "validate_form",
]


def validate_form(
    data: Any,
    *,
    forms: Mapping[str, FormDefinition] | None = None,
    retired: Mapping[str, str] | None = None,
    lang: str = "zh",
) -> FormDefinition:
    """Parse and check a form definition.

    ``forms`` are the other forms of the same app by key (relations, lookups and linked defaults
    are checked against them when given); ``retired`` maps keys of fields removed in earlier
    versions to their old types.

    Raises:
        DefinitionError: with every problem found.
    """
    report = Report(lang)
    form = _check_form(report, data, forms, retired or {})
    if report.problems or form is None:
        raise DefinitionError(report.problems)
    return form


def form_problems(
    data: Any,
    *,
    forms: Mapping[str, FormDefinition] | None = None,
    retired: Mapping[str, str] | None = None,
    lang: str = "zh",
) -> list[Problem]:
    """Every problem of a form definition (empty when it is valid). Never raises."""
    report = Report(lang)
    _check_form(report, data, forms, retired or {})
    return report.problems


def _check_form(
    report: Report,
    data: Any,
    forms: Mapping[str, FormDefinition] | None,
    retired: Mapping[str, str],
    prefix: str = "",
) -> FormDefinition | None:
    sub = Report(report.lang)
    try:
        form = _parse_form(sub, data)
        if form is not None:
            positions = _valid_positions(data)
            paths = [f"fields[{positions[i]}]" for i in range(len(form.fields))]
            declared = _declared_keys(data)
            check_fields(sub, list(form.fields), paths, forms)
            check_title_and_layout(sub, form, declared)
            names = check_form_expressions(sub, form, paths, forms)
            check_workflow(sub, form, names, declared)
            check_key_reuse(sub, form, retired)
    except RecursionError:
        sub.add("", "invalid_property", detail="the definition is nested too deeply")
        form = None
    for p in sub.problems:
        if prefix:
            report.add_problem(prefix, p)
        else:
            report.problems.append(p)
    return form


def _parse_form(report: Report, data: Any) -> FormDefinition | None:
    """The form, or — when some fields are malformed — the form without them, so that the
    remaining checks still run; ``None`` when even that fails. Shape problems go to ``report``."""
    if not isinstance(data, dict):
        report.add("", "not_an_object")
        return None
    try:
        return FormDefinition.model_validate(data)
    except ValidationError as exc:
        add_validation_errors(report, exc)
    raw_fields = data.get("fields")
    if not isinstance(raw_fields, list):
        return None
    try:
        return FormDefinition.model_validate({**data, "fields": _valid_fields(raw_fields)})
    except ValidationError:
        return None


def _valid_fields(raw_fields: list[Any]) -> list[Any]:
    out = []
    for raw in raw_fields:
        try:
            field_adapter.validate_python(raw)
        except ValidationError:
            continue
        out.append(raw)
    return out


def _valid_positions(data: Any) -> list[int]:
    """Positions in ``data["fields"]`` of the fields that parsed, in order."""
    raw_fields = data.get("fields") if isinstance(data, dict) else None
    if not isinstance(raw_fields, list):
        return []
    positions = []
    for i, raw in enumerate(raw_fields):
        try:
            field_adapter.validate_python(raw)
        except ValidationError:
            continue
        positions.append(i)
    return positions


def _declared_keys(data: Any) -> set[str]:
    """Keys of every field given, even malformed ones, so a problem in one field does not
    also show up as "unknown field" wherever it is named."""
    raw_fields = data.get("fields") if isinstance(data, dict) else None
    if not isinstance(raw_fields, list):
        return set()
    return {f["key"] for f in raw_fields if isinstance(f, dict) and isinstance(f.get("key"), str)}


def validate_app(data: Any, *, lang: str = "zh") -> AppDefinition:
    """Parse and check an app definition with its forms, automations and dashboards.

    Raises:
        DefinitionError: with every problem found.
    """
    report = Report(lang)
    app = _check_app(report, data)
    if report.problems or app is None:
        raise DefinitionError(report.problems)
    return app


def app_problems(data: Any, *, lang: str = "zh") -> list[Problem]:
    report = Report(lang)
    _check_app(report, data)
    return report.problems


def _check_app(report: Report, data: Any) -> AppDefinition | None:
    if not isinstance(data, dict):
        report.add("", "not_an_object")
        return None
    raw_forms = data.get("forms")
    forms: dict[str, FormDefinition] = {}
    if isinstance(raw_forms, list):
        # Parse every form first, so relations between them resolve in either direction.
        for raw in raw_forms:
            try:
                form = FormDefinition.model_validate(raw)
            except (ValidationError, RecursionError):
                continue
            forms.setdefault(form.key, form)
        seen: set[str] = set()
        for i, raw in enumerate(raw_forms):
            _check_form(report, raw, forms, {}, prefix=f"forms[{i}]")
            key = raw.get("key") if isinstance(raw, dict) else None
            if isinstance(key, str):
                if key in seen:
                    report.add(f"forms[{i}].key", "duplicate_form", key=key)
                seen.add(key)
    shell = {k: v for k, v in data.items() if k != "forms"}
    try:
        app = AppDefinition.model_validate({**shell, "forms": []})
    except ValidationError as exc:
        add_validation_errors(report, exc)
        return None
    except RecursionError:
        report.add("", "invalid_property", detail="the definition is nested too deeply")
        return None
    for i, a in enumerate(app.automations):
        check_automation(report, f"automations[{i}]", a, forms)
    for i, d in enumerate(app.dashboards):
        check_dashboard(report, f"dashboards[{i}]", d, forms)
    if report.problems:
        return None
    return app.model_copy(update={"forms": list(forms.values())})


def validate_automation(
    data: Any, forms: Mapping[str, FormDefinition], *, lang: str = "zh"
) -> AutomationDefinition:
    """Raises: DefinitionError."""
    report = Report(lang)
    try:
        a = AutomationDefinition.model_validate(data)
    except ValidationError as exc:
        add_validation_errors(report, exc)
        raise DefinitionError(report.problems) from None
    check_automation(report, "", a, forms)
    if report.problems:
        raise DefinitionError(report.problems)
    return a


def validate_dashboard(
    data: Any, forms: Mapping[str, FormDefinition], *, lang: str = "zh"
) -> DashboardDefinition:
    """Raises: DefinitionError."""
    report = Report(lang)
    try:
        d = DashboardDefinition.model_validate(data)
    except ValidationError as exc:
        add_validation_errors(report, exc)
        raise DefinitionError(report.problems) from None
    check_dashboard(report, "", d, forms)
    if report.problems:
        raise DefinitionError(report.problems)
    return d


def query_problems(
    form: FormDefinition,
    *,
    filter: Filter | None = None,
    group_by: list[GroupBy] | None = None,
    metrics: list[Metric] | None = None,
    lang: str = "zh",
) -> list[Problem]:
    """Problems of a query or aggregate body against ``form``: unknown fields, operators that
    do not fit a field's type, malformed values."""
    report = Report(lang)
    check_filter(report, form, filter, "filter")
    check_group_by(report, form, group_by or [], "group_by")
    check_metrics(report, form, metrics or [], "metrics")
    return report.problems

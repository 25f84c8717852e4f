"""Checks that span an app: forms referring to each other, automations and dashboards."""

from __future__ import annotations

from collections.abc import Mapping

from builder.automation import AutomationDefinition, CreateRecord, Notify, SendEmail, UpdateRecord
from builder.dashboard import DashboardDefinition
from builder.fields import type_of
from builder.form import FormDefinition
from builder.query import Condition
from builder.validation.expressions import check_expression, expression_names
from builder.validation.query import check_filter, check_group_by, check_metrics
from builder.validation.report import Report

_USER_TYPES = frozenset({"user", "users"})
_DATE_TYPES = frozenset({"date", "datetime"})


def check_automation(
    report: Report, path: str, a: AutomationDefinition, forms: Mapping[str, FormDefinition]
) -> None:
    trigger_form = None
    if a.trigger.form is not None:
        trigger_form = forms.get(a.trigger.form)
        if trigger_form is None:
            report.add(f"{path}.trigger.form", "unknown_form", key=a.trigger.form)
    names = expression_names(trigger_form, forms) if trigger_form is not None else {}
    if trigger_form is not None:
        for j, key in enumerate(a.trigger.fields or []):
            if trigger_form.field(key) is None:
                report.add(f"{path}.trigger.fields[{j}]", "unknown_field", key=key)
        if a.trigger.stage is not None:
            wf = trigger_form.workflow
            if wf is None or wf.stage(a.trigger.stage) is None:
                report.add(f"{path}.trigger.stage", "unknown_stage", key=a.trigger.stage)
        if a.trigger.field is not None:
            f = trigger_form.field(a.trigger.field)
            if f is None or f.type not in _DATE_TYPES:
                report.add(f"{path}.trigger.field", "due_field_not_date", key=a.trigger.field)
        check_expression(report, f"{path}.condition", a.condition, names, None)
    for i, action in enumerate(a.actions):
        apath = f"{path}.actions[{i}]"
        if isinstance(action, CreateRecord | UpdateRecord):
            target_key: str | None = (
                action.form
                if isinstance(action, CreateRecord)
                else (a.trigger.form if action.target == "trigger" else action.target)
            )
            target = forms.get(target_key or "")
            if target is None:
                field_name = "form" if isinstance(action, CreateRecord) else "target"
                report.add(f"{apath}.{field_name}", "unknown_form", key=target_key or "")
            else:
                for key in action.values:
                    f = target.field(key)
                    if f is None:
                        report.add(f"{apath}.values.{key}", "unknown_field", key=key)
                    elif not type_of(f).accepts_input:
                        report.add(f"{apath}.values.{key}", "field_not_writable", key=key)
            if trigger_form is not None:
                for key, source in action.values.items():
                    check_expression(report, f"{apath}.values.{key}", source, names, None)
        elif isinstance(action, Notify | SendEmail):
            if action.to.field is not None and trigger_form is not None:
                f = trigger_form.field(action.to.field)
                if f is None:
                    report.add(f"{apath}.to.field", "unknown_field", key=action.to.field)
                elif f.type not in _USER_TYPES:
                    report.add(f"{apath}.to.field", "not_user_field", key=action.to.field)
            if trigger_form is not None:
                texts: list[tuple[str, str | None]] = (
                    [("title", action.title), ("body", action.body)]
                    if isinstance(action, Notify)
                    else [("subject", action.subject), ("body", action.body)]
                )
                for name, text in texts:
                    check_expression(report, f"{apath}.{name}", text, names, None)


def check_dashboard(
    report: Report, path: str, d: DashboardDefinition, forms: Mapping[str, FormDefinition]
) -> None:
    for i, w in enumerate(d.widgets):
        wpath = f"{path}.widgets[{i}]"
        form = forms.get(w.form)
        if form is None:
            report.add(f"{wpath}.form", "unknown_form", key=w.form)
            continue
        check_filter(report, form, w.filter, f"{wpath}.filter")
        check_group_by(report, form, w.group_by, f"{wpath}.group_by")
        check_metrics(report, form, w.metrics, f"{wpath}.metrics")
        for j, df in enumerate(d.filters):
            # A dashboard filter applies to every widget whose form has the field.
            if form.field(df.field) is not None or df.field in ("created_at", "updated_at"):
                cond = Condition(field=df.field, op=df.op, value=df.value)
                check_filter(report, form, cond, f"{path}.filters[{j}]")

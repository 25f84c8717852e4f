"""Checks of a form's fields, layout and rules (not expressions: see ``expressions.py``)."""

from __future__ import annotations

from collections.abc import Mapping

from builder.fields import FieldConfig, type_of
from builder.fields.base import LinkDefault
from builder.form import FormDefinition
from builder.validation.report import Report
from builder.value_types import StorageKind

RESERVED_KEYS = frozenset(
    {
        "id",
        "stage",
        "created_at",
        "created_by",
        "updated_at",
        "updated_by",
        "version",
        "form_id",
        "deleted_at",
        "schema_version",
    }
)
_NOT_UNIQUE = frozenset({StorageKind.JSON, StorageKind.NONE, StorageKind.ARRAY, StorageKind.BOOL})
_NOT_INDEXABLE = frozenset({StorageKind.JSON, StorageKind.NONE})


def check_fields(
    report: Report,
    fields: list[FieldConfig],
    paths: list[str],
    forms: Mapping[str, FormDefinition] | None,
    *,
    top_level: bool = True,
) -> None:
    """Keys, per-type properties, flags that do not fit the type, defaults, relations.

    ``paths[i]`` is where ``fields[i]`` stands in the document.
    """
    seen: set[str] = set()
    for i, f in enumerate(fields):
        path = paths[i]
        if f.key in seen:
            report.add(f"{path}.key", "duplicate_key", key=f.key)
        seen.add(f.key)
        if top_level and f.key in RESERVED_KEYS:
            report.add(f"{path}.key", "reserved_key", key=f.key)
        t = type_of(f)
        for problem in t.check_config(f):
            report.add_problem(path, problem)
        storage = t.storage_for(f)
        if f.unique and storage in _NOT_UNIQUE:
            report.add(f"{path}.unique", "unique_not_supported", label=f.label)
        if f.required and not t.accepts_input:
            report.add(f"{path}.required", "required_not_supported", label=f.label)
        if (f.filterable or f.sortable) and storage in _NOT_INDEXABLE:
            report.add(
                f"{path}.filterable" if f.filterable else f"{path}.sortable",
                "not_indexable",
                label=f.label,
            )
        _check_default(report, path, f, forms)
        _check_relation(report, path, f, fields, forms)
        if f.type == "subform":
            columns = getattr(f, "fields", [])
            check_fields(
                report,
                columns,
                [f"{path}.fields[{j}]" for j in range(len(columns))],
                forms,
                top_level=False,
            )


def _check_default(
    report: Report, path: str, f: FieldConfig, forms: Mapping[str, FormDefinition] | None
) -> None:
    t = type_of(f)
    if f.default is None:
        return
    if not t.accepts_input:
        report.add(f"{path}.default", "default_not_supported", label=f.label)
        return
    # A literal default that does not fit is the type's own check (``check_config``).
    link = f.default_link
    if link is not None:
        _check_link(report, f"{path}.default.link", link, forms)


def _check_link(
    report: Report, path: str, link: LinkDefault, forms: Mapping[str, FormDefinition] | None
) -> None:
    if forms is None:
        return
    target = forms.get(link.form)
    if target is None:
        report.add(f"{path}.form", "unknown_form", key=link.form)
        return
    for target_key in link.where:
        if target.field(target_key) is None:
            report.add(f"{path}.where", "unknown_field", key=target_key)
    if target.field(link.field) is None:
        report.add(f"{path}.field", "unknown_field", key=link.field)


def _check_relation(
    report: Report,
    path: str,
    f: FieldConfig,
    fields: list[FieldConfig],
    forms: Mapping[str, FormDefinition] | None,
) -> None:
    if f.type == "relation":
        target_key = getattr(f, "target", "")
        display = getattr(f, "display_field", None)
        if forms is not None:
            target = forms.get(target_key)
            if target is None:
                report.add(f"{path}.target", "unknown_relation_target", key=target_key)
            elif display is not None and target.field(display) is None:
                report.add(f"{path}.display_field", "unknown_field", key=display)
    elif f.type == "lookup":
        rel_key = getattr(f, "relation", "")
        relation = next((x for x in fields if x.key == rel_key), None)
        if relation is None or relation.type != "relation":
            report.add(f"{path}.relation", "lookup_not_relation", key=rel_key)
        elif forms is not None:
            target = forms.get(getattr(relation, "target", ""))
            target_field = getattr(f, "field", "")
            if target is not None and target.field(target_field) is None:
                report.add(f"{path}.field", "unknown_field", key=target_field)


def check_title_and_layout(report: Report, form: FormDefinition, declared: set[str]) -> None:
    if form.title_field is not None:
        f = form.field(form.title_field)
        if f is None:
            if form.title_field not in declared:
                report.add("title_field", "title_field_missing", key=form.title_field)
        elif type_of(f).storage_for(f) in _NOT_INDEXABLE:
            report.add("title_field", "title_field_missing", key=form.title_field)
    if form.layout is not None:
        placed: set[str] = set()
        for r, row in enumerate(form.layout.rows):
            if len(row) > form.layout.columns:
                report.add(f"layout.rows[{r}]", "row_too_wide", columns=form.layout.columns)
            for c, key in enumerate(row):
                if key not in declared:
                    report.add(f"layout.rows[{r}][{c}]", "unknown_field", key=key)
                elif key in placed:
                    report.add(f"layout.rows[{r}][{c}]", "layout_duplicate", key=key)
                placed.add(key)
    for i, rule in enumerate(form.rules):
        if not (rule.show or rule.hide or rule.require):
            report.add(f"rules[{i}]", "rule_empty")
        for part in ("show", "hide", "require"):
            for j, key in enumerate(getattr(rule, part)):
                if key not in declared:
                    report.add(f"rules[{i}].{part}[{j}]", "unknown_field", key=key)


def check_key_reuse(report: Report, form: FormDefinition, retired: Mapping[str, str]) -> None:
    """``retired`` maps keys of fields removed in earlier versions to their old type.

    Bringing a removed field back with its old type restores its hidden data, which is fine;
    the same key with another type would misread that data.
    """
    for i, f in enumerate(form.fields):
        if f.key in retired and retired[f.key] != f.type:
            report.add(f"fields[{i}].key", "key_reused", key=f.key)

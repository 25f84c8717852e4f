"""What changed between two versions of a form, and how existing record data follows.

Fields are matched by ``key`` (labels are free to change). Nothing here destroys data:

- a removed field's values move to the record's *hidden* data, and come back if a field with
  that key and type is added again;
- a type change converts each value as if it were typed into a spreadsheet cell for the new type
  (the old type's export → the new type's cell coercion); a value that does not convert is
  hidden too, never dropped;
- a change within a type (options, limits) keeps stored values as they are; the new rules apply
  the next time the value is written.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from builder.errors import CoercionError
from builder.fields import FieldConfig, type_of
from builder.fields.base import DEFAULT_CONTEXT, CoerceContext, Source
from builder.form import FormDefinition
from builder.i18n import register, translate

ChangeKind = Literal[
    "field_added",
    "field_removed",
    "label_changed",
    "type_changed",
    "options_changed",
    "required_changed",
    "property_changed",
    "stage_added",
    "stage_removed",
    "transition_added",
    "transition_removed",
]

register(
    {
        "field_added": {"zh": "新增字段“{label}”", "en": "field '{label}' added"},
        "field_removed": {
            "zh": "删除字段“{label}”：已有数据将被隐藏而不会销毁，恢复该字段即可找回",
            "en": "field '{label}' removed: its data is hidden, not destroyed, and returns if the "
            "field is restored",
        },
        "label_changed": {
            "zh": "字段名称“{old}”改为“{new}”",
            "en": "label '{old}' renamed to '{new}'",
        },
        "type_changed": {
            "zh": "“{label}”的类型由 {old} 改为 {new}：{how}",
            "en": "'{label}' changes type from {old} to {new}: {how}",
        },
        "options_changed": {
            "zh": "“{label}”的选项变化：新增 {added}，移除 {removed}（已有数据保留）",
            "en": "options of '{label}' changed: added {added}, removed {removed} (stored values stay)",
        },
        "required_changed": {
            "zh": "“{label}”{what}",
            "en": "'{label}' {what}",
        },
        "property_changed": {
            "zh": "“{label}”的属性 {name} 已修改",
            "en": "property {name} of '{label}' changed",
        },
        "stage_added": {"zh": "新增阶段“{name}”", "en": "stage '{name}' added"},
        "stage_removed": {
            "zh": "删除阶段“{name}”：处于该阶段的记录需要指定新阶段",
            "en": "stage '{name}' removed: records in it must be moved to another stage",
        },
        "transition_added": {"zh": "新增流转“{label}”", "en": "transition '{label}' added"},
        "transition_removed": {"zh": "删除流转“{label}”", "en": "transition '{label}' removed"},
        "conversion_lossless": {
            "zh": "所有已有数据都能转换",
            "en": "every stored value converts",
        },
        "conversion_checked": {
            "zh": "按新类型重新识别已有数据，无法识别的值将被隐藏（不会销毁）",
            "en": "stored values are re-read as the new type; values that do not fit are hidden "
            "(not destroyed)",
        },
        "conversion_recomputed": {
            "zh": "该字段的值将重新计算",
            "en": "the values are recomputed",
        },
        "conversion_impossible": {
            "zh": "已有数据无法转换，将被隐藏（不会销毁）",
            "en": "stored values cannot convert and are hidden (not destroyed)",
        },
    }
)

# Conversions that never fail, whatever the stored value.
_LOSSLESS: frozenset[tuple[str, str]] = frozenset(
    {
        (a, b)
        for a in (
            "text",
            "textarea",
            "email",
            "phone",
            "url",
            "select",
            "number",
            "money",
            "date",
            "datetime",
            "rating",
            "serial",
        )
        for b in ("text", "textarea")
    }
    | {
        ("text", "textarea"),
        ("number", "money"),
        ("money", "number"),
        ("date", "datetime"),
        ("select", "multi_select"),
        ("user", "users"),
        ("rating", "number"),
        ("rating", "money"),
    }
)
_TO_LIST = {("select", "multi_select"), ("user", "users")}
_FROM_LIST = {("multi_select", "select"), ("users", "user")}
_NEVER = frozenset({"subform", "attachment", "image", "address"})
Conversion = Literal["lossless", "checked", "recomputed", "impossible"]


def conversion_kind(old: FieldConfig, new: FieldConfig) -> Conversion:
    """How values of ``old`` become values of ``new`` (whose type differs)."""
    if not type_of(new).accepts_input:
        return "recomputed"
    if (old.type, new.type) in _LOSSLESS:
        return "lossless"
    if old.type in _NEVER or new.type in _NEVER:
        return "impossible"
    return "checked"


@dataclass(frozen=True)
class Change:
    kind: ChangeKind
    key: str
    message: str
    old: Any = None
    new: Any = None
    conversion: Conversion | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "key": self.key, "message": self.message}
        if self.old is not None:
            out["old"] = self.old
        if self.new is not None:
            out["new"] = self.new
        if self.conversion is not None:
            out["conversion"] = self.conversion
        return out


def diff_forms(old: FormDefinition, new: FormDefinition, *, lang: str = "zh") -> list[Change]:
    """The changes from ``old`` to ``new``: fields, then stages and transitions."""
    changes: list[Change] = []

    def add(
        kind: ChangeKind,
        key: str,
        old_v: Any = None,
        new_v: Any = None,
        conversion: Conversion | None = None,
        **params: Any,
    ) -> None:
        changes.append(Change(kind, key, translate(kind, lang, **params), old_v, new_v, conversion))

    old_fields = {f.key: f for f in old.fields}
    new_fields = {f.key: f for f in new.fields}
    for key, f in new_fields.items():
        if key not in old_fields:
            add("field_added", key, new_v=f.type, label=f.label)
    for key, f in old_fields.items():
        if key not in new_fields:
            add("field_removed", key, old_v=f.type, label=f.label)
            continue
        g = new_fields[key]
        if f.label != g.label:
            add("label_changed", key, f.label, g.label, old=f.label, new=g.label)
        if f.type != g.type:
            kind = conversion_kind(f, g)
            add(
                "type_changed",
                key,
                f.type,
                g.type,
                kind,
                label=g.label,
                old=f.type,
                new=g.type,
                how=translate(f"conversion_{kind}", lang),
            )
            continue
        if f.required != g.required:
            what = (
                ("变为必填" if g.required else "不再必填")
                if lang == "zh"
                else ("becomes required" if g.required else "is no longer required")
            )
            add("required_changed", key, f.required, g.required, label=g.label, what=what)
        old_opts, new_opts = _option_values(f), _option_values(g)
        if old_opts != new_opts:
            added = [o for o in new_opts if o not in old_opts]
            removed = [o for o in old_opts if o not in new_opts]
            add(
                "options_changed",
                key,
                removed or None,
                added or None,
                label=g.label,
                added=", ".join(added) or "-",
                removed=", ".join(removed) or "-",
            )
        for name in _changed_properties(f, g):
            add("property_changed", key, name=name, label=g.label)
    _diff_workflow(old, new, add)
    return changes


def _option_values(f: FieldConfig) -> list[str]:
    options = getattr(f, "options", None) or []
    return [o if isinstance(o, str) else str(getattr(o, "value", o)) for o in options]


_REPORTED = {"key", "type", "label", "required", "options"}


def _changed_properties(f: FieldConfig, g: FieldConfig) -> list[str]:
    a = f.model_dump(mode="json", exclude_unset=True)
    b = g.model_dump(mode="json", exclude_unset=True)
    return sorted(k for k in set(a) | set(b) if k not in _REPORTED and a.get(k) != b.get(k))


def _diff_workflow(old: FormDefinition, new: FormDefinition, add: Any) -> None:
    old_stages = {s.key: s for s in (old.workflow.stages if old.workflow else [])}
    new_stages = {s.key: s for s in (new.workflow.stages if new.workflow else [])}
    for key, s in new_stages.items():
        if key not in old_stages:
            add("stage_added", key, name=s.name)
    for key, s in old_stages.items():
        if key not in new_stages:
            add("stage_removed", key, name=s.name)
    old_t = {t.key: t for t in (old.workflow.transitions if old.workflow else [])}
    new_t = {t.key: t for t in (new.workflow.transitions if new.workflow else [])}
    for key, t in new_t.items():
        if key not in old_t:
            add("transition_added", key, label=t.label)
    for key, t in old_t.items():
        if key not in new_t:
            add("transition_removed", key, label=t.label)


def removed_stages(old: FormDefinition, new: FormDefinition) -> list[str]:
    """Keys of ``old``'s stages that ``new`` no longer has (records there need a new stage)."""
    keep = {s.key for s in (new.workflow.stages if new.workflow else [])}
    return [s.key for s in (old.workflow.stages if old.workflow else []) if s.key not in keep]


def convert_value(
    old: FieldConfig, new: FieldConfig, value: Any, ctx: CoerceContext = DEFAULT_CONTEXT
) -> Any:
    """``value`` (stored for ``old``) as a stored value of ``new``.

    Raises:
        CoercionError: the value does not fit the new type.
    """
    if value is None or old.type == new.type:
        return value
    t_new = type_of(new)
    if (old.type, new.type) in _TO_LIST:
        return t_new.coerce(new, [value], Source.JSON, ctx)
    if (old.type, new.type) in _FROM_LIST:
        if isinstance(value, list) and len(value) > 1:
            raise CoercionError("too_many_values", count=len(value))
        return t_new.coerce(
            new, value[0] if isinstance(value, list) and value else None, Source.JSON, ctx
        )
    if old.type in _NEVER or new.type in _NEVER:
        raise CoercionError("not_convertible", old=old.type, new=new.type)
    cell = type_of(old).export(old, value, ctx)
    return t_new.coerce(new, cell, Source.CELL, ctx)


register(
    {
        "too_many_values": {
            "zh": "有 {count} 个值，只能保留一个",
            "en": "{count} values where only one fits",
        },
        "not_convertible": {
            "zh": "{old} 类型的数据不能转换为 {new}",
            "en": "values of type {old} cannot become {new}",
        },
    }
)


def conversion_failures(
    old: FieldConfig,
    new: FieldConfig,
    values: Iterable[tuple[Any, Any]],
    ctx: CoerceContext = DEFAULT_CONTEXT,
) -> list[tuple[Any, Any, CoercionError]]:
    """For ``(record_id, value)`` pairs, those whose value would not convert, with the reason."""
    failures = []
    for record_id, value in values:
        try:
            convert_value(old, new, value, ctx)
        except CoercionError as exc:
            failures.append((record_id, value, exc))
    return failures


@dataclass
class UpgradedData:
    """Record data moved to a newer form version: ``data`` holds the current fields, ``hidden``
    everything kept but not shown (removed fields, values that did not convert)."""

    data: dict[str, Any]
    hidden: dict[str, Any] = field(default_factory=dict)
    failed: dict[str, CoercionError] = field(default_factory=dict)


def upgrade_data(
    old: FormDefinition,
    new: FormDefinition,
    data: Mapping[str, Any],
    hidden: Mapping[str, Any] | None = None,
    ctx: CoerceContext = DEFAULT_CONTEXT,
) -> UpgradedData:
    """Move ``data`` written with ``old`` to ``new`` without destroying anything.

    ``hidden`` is what earlier upgrades hid; a value there whose key is back in ``new`` with
    the type it was hidden with (the old form's type, recorded as ``{"type", "value"}``)
    returns to ``data``.
    """
    out = UpgradedData(data={})
    old_fields = {f.key: f for f in old.fields}
    new_fields = {f.key: f for f in new.fields}
    for key, item in (hidden or {}).items():
        g = new_fields.get(key)
        if (
            g is not None
            and isinstance(item, dict)
            and item.get("type") == g.type
            and key not in data
        ):
            out.data[key] = item.get("value")
        else:
            out.hidden[key] = item
    for key, value in data.items():
        f, g = old_fields.get(key), new_fields.get(key)
        if g is None or f is None:
            out.hidden[key] = {"type": f.type if f else None, "value": value}
            continue
        if not type_of(g).accepts_input and f.type != g.type:
            continue  # recomputed by the pipeline
        try:
            out.data[key] = convert_value(f, g, value, ctx)
        except CoercionError as exc:
            out.hidden[key] = {"type": f.type, "value": value}
            out.failed[key] = exc
    return out

"""Data permissions, decided without a database: which actions an actor may take on a form's
records, which records (the *scope*), and which fields they see and may write.

A form has permission sets (stored, managed by its app's admins). Each set grants actions,
reaches records through a scope and may hide fields or make them read-only::

    {"name": "销售人员", "actions": ["create", "view", "edit"],
     "scope": {"kind": "own"},
     "fields": {"hidden": ["cost"], "read_only": ["grade"]}}

Scopes: ``own`` (records the actor owns), ``department`` (owned by a member of the actor's
departments or their sub-departments), ``all``, or ``filter`` — a query-engine filter tree whose
values may name the actor: ``{"current_user": "region"}`` is the actor's ``region`` attribute
(also ``id``, ``email``, ``name``).

An actor's access to a form is the union of the sets that apply to them (:func:`resolve`): an
action on a record is allowed when some set granting that action reaches the record; a field is
hidden only when every set granting ``view`` hides it, read-only only when every set granting
``create``/``edit`` makes it read-only or hides it. Platform admins and the app's admins have
full access. A workflow stage's ``hidden``/``editable`` lists narrow that further for everyone
else (:func:`stage_rules`).

How a scope becomes SQL is the store's part (:mod:`runtime.store.scope`); the services apply
both (:mod:`runtime.services.base`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from builder.form import FormDefinition
from builder.i18n import translate
from runtime.compiled import CompiledForm
from runtime.errors import FieldError, RecordValidationError

Action = Literal["view", "create", "edit", "delete", "export", "import", "manage"]
ACTIONS: tuple[Action, ...] = ("view", "create", "edit", "delete", "export", "import", "manage")
ScopeKind = Literal["own", "department", "all", "filter"]
MemberKind = Literal["user", "role", "department"]

FieldKey = Annotated[str, Field(min_length=1, max_length=63, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Scope(_Strict):
    kind: ScopeKind
    # A query-engine filter tree; only with kind "filter".
    filter: dict[str, Any] | None = None


class FieldRules(_Strict):
    hidden: list[FieldKey] = Field(default_factory=list, max_length=1000)
    read_only: list[FieldKey] = Field(default_factory=list, max_length=1000)


class PermissionSetSpec(_Strict):
    """What a permission set grants (the stored columns besides its id and form)."""

    name: str = Field(min_length=1, max_length=100, pattern=r"^[^\x00-\x1f\x7f]+$")
    preset: str | None = Field(None, max_length=40)
    actions: list[Action] = Field(default_factory=list, max_length=len(ACTIONS))
    scope: Scope = Scope(kind="own")
    fields: FieldRules = FieldRules()


# Jiandaoyun's presets: 仅提交, 提交并管理本人数据, 提交并查看全部数据, 查看全部数据, 管理全部数据.
PRESETS: dict[str, tuple[tuple[Action, ...], ScopeKind]] = {
    "submit_only": (("create",), "own"),
    "manage_own": (("create", "view", "edit", "delete"), "own"),
    "add_view_all": (("create", "view"), "all"),
    "view_all": (("view",), "all"),
    "manage_all": (("create", "view", "edit", "delete", "export", "import"), "all"),
}


def from_preset(name: str, preset: str, fields: FieldRules | None = None) -> PermissionSetSpec:
    """A set spec from one of :data:`PRESETS`.

    Raises: KeyError for an unknown preset (callers check ``preset in PRESETS`` first).
    """
    actions, kind = PRESETS[preset]
    return PermissionSetSpec(
        name=name,
        preset=preset,
        actions=list(actions),
        scope=Scope(kind=kind),
        fields=fields or FieldRules(),
    )


def spec_problems(spec: PermissionSetSpec, form: FormDefinition, lang: str) -> list[FieldError]:
    """What in ``spec`` does not fit ``form``: unknown field keys, a filter scope without a
    filter (or a filter with another kind). The filter itself is checked by the query engine."""
    problems: list[FieldError] = []
    keys = {f.key for f in form.value_fields()}
    for part in ("hidden", "read_only"):
        for i, key in enumerate(getattr(spec.fields, part)):
            if key not in keys:
                problems.append(
                    FieldError.told(f"fields.{part}[{i}]", "unknown_field", lang, key=key)
                )
    if (spec.scope.kind == "filter") != (spec.scope.filter is not None):
        problems.append(FieldError.told("scope.filter", "invalid_scope", lang))
    if spec.preset is not None and spec.preset not in PRESETS:
        presets = ", ".join(PRESETS)
        problems.append(FieldError.told("preset", "unknown_preset", lang, presets=presets))
    return problems


# --- an actor's access to one form -------------------------------------------------------------


@dataclass(frozen=True)
class FormAccess:
    """The union of the sets that apply to one actor on one form (see :func:`resolve`)."""

    full: bool = False
    # action → the scopes of the sets granting it
    scopes: Mapping[str, tuple[Scope, ...]] = field(default_factory=dict)
    hidden: frozenset[str] = frozenset()
    read_only: frozenset[str] = frozenset()

    def allows(self, action: str) -> bool:
        return self.full or bool(self.scopes.get(action))

    def scopes_for(self, action: str) -> tuple[Scope, ...] | None:
        """The scopes reaching the records ``action`` may touch; ``None`` means every record."""
        if self.full:
            return None
        scopes = self.scopes.get(action, ())
        if any(s.kind == "all" for s in scopes):
            return None
        return scopes


FULL = FormAccess(full=True)
NONE = FormAccess()
# What a public fill link grants its visitor on the link's form.
LINK_FILL = FormAccess(scopes={"create": (Scope(kind="all"),)})


def resolve(sets: Iterable[PermissionSetSpec]) -> FormAccess:
    """The union of ``sets`` (those applying to one actor on one form)."""
    sets = list(sets)
    scopes: dict[str, list[Scope]] = {}
    for s in sets:
        for action in s.actions:
            scopes.setdefault(action, []).append(s.scope)
    viewers = [s for s in sets if "view" in s.actions] or sets
    writers = [s for s in sets if "create" in s.actions or "edit" in s.actions]
    hidden = _common(set(s.fields.hidden) for s in viewers)
    read_only = _common(set(s.fields.read_only) | set(s.fields.hidden) for s in writers)
    return FormAccess(
        scopes={a: tuple(v) for a, v in scopes.items()},
        hidden=frozenset(hidden),
        read_only=frozenset(read_only | hidden),
    )


def _common(groups: Iterable[set[str]]) -> set[str]:
    out: set[str] | None = None
    for g in groups:
        out = g if out is None else out & g
    return out or set()


@dataclass(frozen=True)
class FieldView:
    """The fields one actor must not see (``hidden``) or change (``read_only``) on one record
    or, for queries, on any record of the form (``hidden`` then spans every stage)."""

    hidden: frozenset[str] = frozenset()
    read_only: frozenset[str] = frozenset()
    # Fields the current stage lets anyone edit (None: no stage restriction).
    editable: frozenset[str] | None = None


def stage_rules(access: FormAccess, form: FormDefinition, stage_key: str | None) -> FieldView:
    """The field view on a record in ``stage_key``: the sets' rules plus the stage's ``hidden``
    list (not for full access) and its ``editable`` list (for everyone, as before)."""
    wf = form.workflow
    stage = wf.stage(stage_key) if wf is not None and stage_key else None
    editable = (
        frozenset(stage.editable) if stage is not None and stage.editable is not None else None
    )
    if access.full:
        return FieldView(editable=editable)
    hidden = access.hidden | frozenset(stage.hidden or ()) if stage is not None else access.hidden
    return FieldView(hidden=hidden, read_only=access.read_only | hidden, editable=editable)


def query_hidden(access: FormAccess, form: FormDefinition) -> frozenset[str]:
    """Fields a query of this actor may not name: the sets' hidden fields and, unless full
    access, any field some stage hides (a filter on it would reveal it in that stage)."""
    if access.full:
        return frozenset()
    staged: set[str] = set()
    if form.workflow is not None:
        for stage in form.workflow.stages:
            staged.update(stage.hidden or ())
    return access.hidden | staged


# --- applying a field view ---------------------------------------------------------------------


def project(data: Mapping[str, Any], hidden: frozenset[str]) -> dict[str, Any]:
    """``data`` without the hidden keys."""
    return {k: v for k, v in data.items() if k not in hidden}


def project_diff(diff: Mapping[str, Any], hidden: frozenset[str]) -> dict[str, Any]:
    return {k: v for k, v in diff.items() if k not in hidden}


def check_write(
    view: FieldView,
    given: Any,
    current: Mapping[str, Any] | None,
    labels: Mapping[str, str],
    lang: str,
    same: Callable[[str, Any], bool] | None = None,
) -> None:
    """Refuse writing hidden fields (as unknown fields: no probing) and changing read-only ones
    (422 naming the field). ``current`` is the record's data for an update, ``None`` for a create;
    ``same(key, value)``: whether a given value is the stored one as input reads it (``"100"``
    for a stored 100), else they are compared as given.

    Raises: RecordValidationError.
    """
    if not isinstance(given, Mapping):
        return  # the pipeline reports a body that is not an object
    errors: list[FieldError] = []
    for key, value in given.items():
        if not isinstance(key, str):
            continue
        if key in view.hidden:
            errors.append(
                FieldError(
                    key, "unknown_field", translate("unknown_field", lang, key=key, label=key)
                )
            )
        elif key in view.read_only and (
            current is None
            or (current.get(key) != value and (same is None or not same(key, value)))
        ):
            label = labels.get(key, key)
            errors.append(
                FieldError(
                    key, "read_only_field", translate("read_only_field", lang, key=key, label=label)
                )
            )
    if errors:
        raise RecordValidationError(errors)


def mask_errors(
    errors: Sequence[FieldError], hidden: frozenset[str], lang: str
) -> list[FieldError]:
    """Validation errors with those about hidden fields (a required hidden field, a formula
    that failed) reported without naming them."""
    out: list[FieldError] = []
    for e in errors:
        prefix, rest = "", e.field
        if rest.startswith("records[") and "]." in rest:  # a bulk write's row
            prefix, rest = rest.split("].", 1)
            prefix += "]."
        if re.split(r"[.\[]", rest, maxsplit=1)[0] in hidden:
            message = translate("hidden_field_invalid", lang)
            out.append(FieldError(f"{prefix}data", "hidden_field_invalid", message))
        else:
            out.append(e)
    return out


# --- CURRENT_USER() in filter scopes -----------------------------------------------------------


class NoMatch(Exception):
    """A filter scope names an attribute the actor does not have: the scope reaches nothing."""


def bind_current_user(node: Any, user: Mapping[str, Any]) -> Any:
    """``node`` (a filter tree) with every ``{"current_user": name}`` value replaced by the
    actor's value ``user[name]``.

    Raises: NoMatch when the actor has no such attribute (or it is blank).
    """
    if isinstance(node, dict):
        if set(node) == {"current_user"}:
            value = user.get(str(node["current_user"]))
            if value is None or value == "":
                raise NoMatch(node["current_user"])
            return value
        return {k: bind_current_user(v, user) for k, v in node.items()}
    if isinstance(node, list):
        return [bind_current_user(v, user) for v in node]
    return node


def without_fields(cf: CompiledForm, hidden: frozenset[str]) -> CompiledForm:
    """``cf`` as an actor's queries see it: the ``hidden`` fields do not exist, so naming one
    in a filter, sort, group-by, metric or ``fields`` list is an unknown field, exactly like a
    field that was never there."""
    if not hidden:
        return cf
    definition = cf.definition.model_copy(
        update={"fields": [f for f in cf.definition.fields if f.key not in hidden]}
    )

    def keep(m: Mapping[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in m.items() if k not in hidden}

    return replace(
        cf,
        definition=definition,
        fields=keep(cf.fields),
        types=keep(cf.types),
        labels=keep(cf.labels),
        storage=keep(cf.storage),
    )

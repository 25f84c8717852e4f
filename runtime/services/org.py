"""The organisation (users, departments, roles, app admins) and forms' permission sets: each
change checked, stored and written to the audit log in the caller's transaction.

Who may call these is decided by the caller (``app.permissions``: platform admins manage the
organisation; an app's admins its forms' permission sets, checked again here per form).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from builder.pydantic_messages import pydantic_message
from builder.query import iter_conditions
from builder.validation.query import query_field
from runtime.actor import Actor
from runtime.errors import ConflictError, FieldError, NotFoundError, RecordValidationError
from runtime.permissions import MemberKind, PermissionSetSpec, spec_problems
from runtime.safe_text import contains_nul
from runtime.services.base import ServiceBase
from runtime.store import forms as form_store
from runtime.store import org as org_store
from runtime.store import users as user_store

_USER_FIELDS = ("name", "email", "phone", "attributes", "is_admin")


class OrgServices(ServiceBase):
    # --- reading (everyone signed in sees the organisation: pickers need it) -------------
    # What a picker needs (name, e-mail, departments, roles, active) is shown to everyone;
    # a user's phone number, attributes (they feed data scopes) and password state only to
    # platform admins and to the user themselves.

    def list_users(self, conn: Any, actor: Actor) -> list[org_store.UserDetail]:
        return [_shown_user(u, actor) for u in org_store.list_users(conn)]

    def get_user(self, conn: Any, actor: Actor, user_id: int) -> org_store.UserDetail:
        """Raises: NotFoundError."""
        return _shown_user(org_store.get_user_detail(conn, user_id), actor)

    def list_departments(self, conn: Any, actor: Actor) -> list[org_store.Department]:
        return org_store.list_departments(conn)

    def list_roles(self, conn: Any, actor: Actor) -> list[org_store.Role]:
        return org_store.list_roles(conn)

    def members(self, conn: Any, actor: Actor, kind: str, group_id: int) -> list[int]:
        """The user ids in a department or role.

        Raises: NotFoundError."""
        self._group_exists(conn, kind, group_id)
        return org_store.members(conn, kind, group_id)

    def app_admins(self, conn: Any, actor: Actor, app_id: int) -> list[int]:
        """Raises: NotFoundError."""
        form_store.get_app(conn, app_id)
        return org_store.app_admin_ids(conn, app_id)

    # --- users --------------------------------------------------------------------------

    def create_user(
        self,
        conn: Any,
        actor: Actor,
        *,
        email: str,
        name: str,
        phone: str | None,
        password_hash: str | None,
        department_ids: Sequence[int] = (),
        role_ids: Sequence[int] = (),
    ) -> org_store.UserDetail:
        """A user who must change the initial password at first login (``password_hash``
        None: invited, cannot log in until a password is set).

        Raises: ConflictError ``email_taken``, RecordValidationError (unknown department/role).
        """
        user = user_store.create_user(
            conn,
            email=email,
            name=name,
            password_hash=password_hash,
            phone=phone,
            must_change_password=True,
        )
        self._set_groups(conn, user.id, department_ids, role_ids, lang=actor.lang)
        self._audit(conn, actor, "user.create", f"user:{user.id}", {"email": user.email})
        return org_store.get_user_detail(conn, user.id)

    def update_user(
        self, conn: Any, actor: Actor, user_id: int, changes: Mapping[str, Any]
    ) -> org_store.UserDetail:
        """Change a user's details, admin flag, activity, departments and roles (only the keys
        given). Deactivating ends their sessions and stops their tokens at once. An admin
        cannot deactivate or demote themselves (someone must stay able to undo it).

        Raises: NotFoundError, ConflictError, RecordValidationError.
        """
        org_store.get_user_detail(conn, user_id)
        if user_id == actor.user_id and (
            changes.get("is_active") is False or changes.get("is_admin") is False
        ):
            raise ConflictError.coded("cannot_change_self")
        values = {k: changes[k] for k in _USER_FIELDS if k in changes}
        if "email" in values:
            values["email"] = user_store.normalize_email(values["email"])
        if values:
            org_store.update_user(conn, user_id, values)
        if "is_active" in changes:
            user_store.set_user_active(conn, user_id, bool(changes["is_active"]))
        self._set_groups(
            conn,
            user_id,
            changes.get("department_ids"),
            changes.get("role_ids"),
            replace=True,
            lang=actor.lang,
        )
        detail = {k: v for k, v in changes.items() if k != "attributes"}
        self._audit(conn, actor, "user.update", f"user:{user_id}", detail)
        return org_store.get_user_detail(conn, user_id)

    def set_password(
        self,
        conn: Any,
        actor: Actor,
        user_id: int,
        password_hash: str,
        *,
        must_change: bool,
        keep_session: str | None = None,
    ) -> None:
        """Set a user's password (``must_change``: an admin's reset, changed at next login).
        The user's sessions end — for their own change (``must_change`` False) all but the
        one they changed it in (``keep_session``, its hash): a password changed because it
        leaked must not leave the other browser signed in.

        Raises: NotFoundError.
        """
        user_store.set_password_hash(conn, user_id, password_hash, must_change=must_change)
        user_store.delete_user_sessions(conn, user_id, keep=None if must_change else keep_session)
        action = "user.password_reset" if must_change else "user.password_change"
        self._audit(conn, actor, action, f"user:{user_id}", {})

    def _set_groups(
        self,
        conn: Any,
        user_id: int,
        department_ids: Sequence[int] | None,
        role_ids: Sequence[int] | None,
        *,
        replace: bool = False,
        lang: str,
    ) -> None:
        for kind, wanted in (("department", department_ids), ("role", role_ids)):
            if wanted is None:
                continue
            for group_id in wanted:
                self._group(conn, kind, group_id, field=f"{kind}_ids", lang=lang)
            user = org_store.get_user_detail(conn, user_id)
            current = set(user.department_ids if kind == "department" else user.role_ids)
            for group_id in set(wanted) - current:
                org_store.set_membership(conn, kind, group_id, user_id, True)
            if replace:
                for group_id in current - set(wanted):
                    org_store.set_membership(conn, kind, group_id, user_id, False)

    def _group_exists(self, conn: Any, kind: str, group_id: int) -> None:
        if kind == "department":
            org_store.get_department(conn, group_id)
        else:
            org_store.get_role(conn, group_id)

    def _group(self, conn: Any, kind: str, group_id: int, *, field: str, lang: str) -> None:
        try:
            self._group_exists(conn, kind, group_id)
        except NotFoundError:
            raise RecordValidationError([_unknown(field, kind, group_id, lang)]) from None

    def set_member(
        self, conn: Any, actor: Actor, kind: str, group_id: int, user_id: int, member: bool
    ) -> None:
        """Add or remove a user in a department or role.

        Raises: NotFoundError (the group or the user).
        """
        self._group_exists(conn, kind, group_id)
        if not org_store.user_exists(conn, user_id):
            raise NotFoundError("user", user_id)
        if org_store.set_membership(conn, kind, group_id, user_id, member):
            action = f"{kind}.member_{'add' if member else 'remove'}"
            self._audit(conn, actor, action, f"{kind}:{group_id}", {"user_id": user_id})

    # --- departments --------------------------------------------------------------------

    def save_department(
        self,
        conn: Any,
        actor: Actor,
        values: Mapping[str, Any],
        department_id: int | None = None,
    ) -> org_store.Department:
        """Create (``department_id`` None) or change a department: ``name``, ``parent_id``,
        ``head_user_id``. A parent must exist and must not be the department or below it.

        Raises: NotFoundError, RecordValidationError (``department_cycle``, unknown parent or
        head).
        """
        errors: list[FieldError] = []
        parent_id = values.get("parent_id")
        if parent_id is not None:
            parents = org_store.department_parents(conn)
            if parent_id not in parents:
                errors.append(_unknown("parent_id", "department", parent_id, actor.lang))
            elif department_id is not None and department_id in _ancestors(parents, parent_id):
                errors.append(FieldError.told("parent_id", "department_cycle", actor.lang))
        head = values.get("head_user_id")
        if head is not None and not org_store.user_exists(conn, head):
            errors.append(_unknown("head_user_id", "user", head, actor.lang))
        if errors:
            raise RecordValidationError(errors)
        if department_id is None:
            row = org_store.create_department(
                conn, name=values["name"], parent_id=parent_id, head_user_id=head
            )
            self._audit(conn, actor, "department.create", f"department:{row.id}", dict(values))
            return row
        org_store.update_department(conn, department_id, values)
        self._audit(conn, actor, "department.update", f"department:{department_id}", dict(values))
        return org_store.get_department(conn, department_id)

    def delete_department(self, conn: Any, actor: Actor, department_id: int) -> None:
        """Raises: NotFoundError, ConflictError ``department_has_children``."""
        org_store.delete_department(conn, department_id)
        self._audit(conn, actor, "department.delete", f"department:{department_id}", {})

    # --- roles --------------------------------------------------------------------------

    def create_role(self, conn: Any, actor: Actor, *, key: str, name: str) -> org_store.Role:
        """Raises: ConflictError ``role_key_taken``."""
        role = org_store.create_role(conn, key=key, name=name)
        self._audit(conn, actor, "role.create", f"role:{role.id}", {"key": key, "name": name})
        return role

    def update_role(self, conn: Any, actor: Actor, role_id: int, *, name: str) -> org_store.Role:
        """Raises: NotFoundError."""
        org_store.update_role(conn, role_id, name=name)
        self._audit(conn, actor, "role.update", f"role:{role_id}", {"name": name})
        return org_store.get_role(conn, role_id)

    def delete_role(self, conn: Any, actor: Actor, role_id: int) -> None:
        """Raises: NotFoundError."""
        org_store.delete_role(conn, role_id)
        self._audit(conn, actor, "role.delete", f"role:{role_id}", {})

    # --- app admins ---------------------------------------------------------------------

    def set_app_admin(
        self, conn: Any, actor: Actor, app_id: int, user_id: int, admin: bool
    ) -> list[int]:
        """Make ``user_id`` an admin of the app or not; returns the app's admins.

        Raises: NotFoundError (app or user).
        """
        form_store.get_app(conn, app_id)
        if not org_store.user_exists(conn, user_id):
            raise NotFoundError("user", user_id)
        if org_store.set_app_admin(conn, app_id, user_id, admin):
            action = "app.admin_add" if admin else "app.admin_remove"
            self._audit(conn, actor, action, f"app:{app_id}", {"user_id": user_id})
        return org_store.app_admin_ids(conn, app_id)

    # --- permission sets ----------------------------------------------------------------

    def list_permission_sets(
        self, conn: Any, actor: Actor, form_id: int
    ) -> list[org_store.PermissionSetRow]:
        """Raises: NotFoundError, PermissionDeniedError."""
        self._manage_app(actor, form_store.get_form(conn, form_id).app_id)
        return org_store.list_permission_sets(conn, form_id)

    def save_permission_set(
        self,
        conn: Any,
        actor: Actor,
        form_id: int,
        spec: PermissionSetSpec,
        members: Sequence[tuple[MemberKind, int]],
        set_id: int | None = None,
    ) -> org_store.PermissionSetRow:
        """Create (``set_id`` None) or replace a form's permission set, checked against the
        form's published version (field keys, the scope filter's fields) and the organisation
        (members exist).

        Raises: NotFoundError, PermissionDeniedError, RecordValidationError, ConflictError
        (``form_not_published``).
        """
        row = form_store.get_form(conn, form_id)
        self._manage_app(actor, row.app_id)
        if set_id is not None and org_store.get_permission_set(conn, set_id).form_id != form_id:
            raise NotFoundError("permission set", set_id)
        definition = self.compiled_form(conn, form_id).definition
        if contains_nul(spec.model_dump(mode="json")):
            raise RecordValidationError(
                [FieldError.told("", "invalid_character", actor.lang, "nul_not_stored")]
            )
        errors = spec_problems(spec, definition, actor.lang)
        if spec.scope.filter is not None:
            errors.extend(_scope_filter_problems(definition, spec.scope.filter, actor.lang))
        errors.extend(self._member_problems(conn, members, actor.lang))
        if errors:
            raise RecordValidationError(errors)
        saved = org_store.save_permission_set(
            conn, form_id=form_id, spec=spec, members=members, set_id=set_id
        )
        detail = {**spec.model_dump(mode="json"), "members": [list(m) for m in members]}
        action = "permission_set.create" if set_id is None else "permission_set.update"
        self._audit(conn, actor, action, f"permission_set:{saved}", detail)
        return org_store.get_permission_set(conn, saved)

    def delete_permission_set(self, conn: Any, actor: Actor, form_id: int, set_id: int) -> None:
        """Raises: NotFoundError, PermissionDeniedError."""
        self._manage_app(actor, form_store.get_form(conn, form_id).app_id)
        if org_store.get_permission_set(conn, set_id).form_id != form_id:
            raise NotFoundError("permission set", set_id)
        org_store.delete_permission_set(conn, set_id)
        self._audit(conn, actor, "permission_set.delete", f"permission_set:{set_id}", {})

    def _member_problems(
        self, conn: Any, members: Sequence[tuple[MemberKind, int]], lang: str
    ) -> list[FieldError]:
        out = []
        for i, (kind, member_id) in enumerate(members):
            try:
                if kind == "user":
                    if not org_store.user_exists(conn, member_id):
                        raise NotFoundError("user", member_id)
                else:
                    self._group_exists(conn, kind, member_id)
            except NotFoundError:
                out.append(_unknown(f"members[{i}]", kind, member_id, lang))
        return out


def _ancestors(parents: Mapping[int, int | None], start: int) -> set[int]:
    out: set[int] = set()
    current: int | None = start
    while current is not None and current not in out:
        out.add(current)
        current = parents.get(current)
    return out


def _unknown(field: str, kind: str, ident: int, lang: str) -> FieldError:
    """``unknown_user``, ``unknown_department`` or ``unknown_role`` for ``ident``."""
    return FieldError.told(field, f"unknown_{kind}", lang, value=ident)


def _scope_filter_problems(definition: Any, tree: Mapping[str, Any], lang: str) -> list[FieldError]:
    """The scope filter's shape and field names (its values may be ``{"current_user": …}``,
    known only per actor, so the query engine checks them when it runs)."""
    from pydantic import TypeAdapter, ValidationError

    from builder.query import Filter

    try:
        parsed: Filter = TypeAdapter(Filter).validate_python(_placeholders(tree))
    except ValidationError as exc:
        detail = pydantic_message(exc.errors()[0], lang)[:200]
        return [
            FieldError.told("scope.filter", "invalid_filter", lang, "invalid_shape", detail=detail)
        ]
    return [
        FieldError.told(f"scope.filter.conditions[{i}].field", "unknown_field", lang, key=c.field)
        for i, c in enumerate(iter_conditions(parsed))
        if query_field(definition, c.field) is None
    ]


def _placeholders(node: Any) -> Any:
    if isinstance(node, dict):
        if set(node) == {"current_user"}:
            return "current_user"
        return {k: _placeholders(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_placeholders(v) for v in node]
    return node


def _shown_user(user: org_store.UserDetail, actor: Actor) -> org_store.UserDetail:
    """``user`` as ``actor`` may see them: private details blank unless it is an admin or them."""
    if actor.is_admin or actor.user_id == user.id:
        return user
    return dataclasses.replace(user, phone=None, attributes={}, must_change_password=False)

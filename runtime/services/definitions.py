"""Apps and forms: create, draft, publish (validated against the app's other forms and the
form's history; indexes created), and installing an app definition."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from builder import DefinitionError, FormDefinition, dump_form, load_form, publish, validate_form
from builder.form import FORMAT_FORM
from builder.i18n import translate
from runtime.actor import Actor
from runtime.errors import DefinitionRejectedError
from runtime.permissions import query_hidden
from runtime.safe_text import contains_nul
from runtime.services.base import ServiceBase, _authorize
from runtime.services.stages import follow_workflow, move_records, plan_stage_moves
from runtime.store import forms as form_store
from runtime.store import records as record_store


class DefinitionServices(ServiceBase):
    # --- apps ---------------------------------------------------------------------------

    def create_app(
        self,
        conn: Any,
        actor: Actor,
        *,
        key: str,
        name: str,
        description: str = "",
        icon: str | None = None,
    ) -> form_store.AppRow:
        _authorize(actor, "app:create")
        row = form_store.create_app(
            conn, key=key, name=name, description=description, icon=icon, now=self.clock()
        )
        self._audit(conn, actor, "app.create", f"app:{row.id}", {"key": key, "name": name})
        return row

    def list_apps(self, conn: Any, actor: Actor) -> list[form_store.AppRow]:
        _authorize(actor, "app:list")
        return form_store.list_apps(conn)

    def get_app(self, conn: Any, actor: Actor, app_id: int) -> form_store.AppRow:
        _authorize(actor, "app:view")
        return form_store.get_app(conn, app_id)

    def update_app(
        self, conn: Any, actor: Actor, app_id: int, changes: Mapping[str, Any]
    ) -> form_store.AppRow:
        self._manage_app(actor, app_id)
        return form_store.update_app(conn, app_id, dict(changes), self.clock())

    def delete_app(self, conn: Any, actor: Actor, app_id: int) -> None:
        _authorize(actor, "app:manage")
        form_store.delete_app(conn, app_id, self.clock())
        self._audit(conn, actor, "app.delete", f"app:{app_id}", {})

    # --- forms --------------------------------------------------------------------------

    def create_form(
        self, conn: Any, actor: Actor, app_id: int, definition: Any
    ) -> form_store.FormRow:
        """Save a new form's draft (validated on its own; relations are checked on publish).

        Raises: DefinitionRejectedError, NotFoundError, ConflictError.
        """
        self._manage_app(actor, app_id)
        form = self._validated(definition, lang=actor.lang)
        row = form_store.create_form(
            conn, app_id, key=form.key, name=form.name, draft=dump_form(form), now=self.clock()
        )
        self._audit(
            conn, actor, "form.create", f"form:{row.id}", {"app_id": app_id, "key": form.key}
        )
        return row

    def get_form(self, conn: Any, actor: Actor, form_id: int) -> form_store.FormRow:
        """The form; for those who do not administer its app, its draft without the fields
        hidden from them.

        Raises: NotFoundError."""
        return self._form_shown(conn, actor, form_store.get_form(conn, form_id))

    def list_forms(self, conn: Any, actor: Actor, app_id: int) -> list[form_store.FormRow]:
        return [self._form_shown(conn, actor, row) for row in form_store.list_forms(conn, app_id)]

    def save_draft(
        self, conn: Any, actor: Actor, form_id: int, definition: Any
    ) -> form_store.FormRow:
        """Raises: DefinitionRejectedError, NotFoundError, ConflictError (key changed),
        PermissionDeniedError."""
        self._manage_app(actor, form_store.get_form(conn, form_id).app_id)
        form = self._validated(definition, lang=actor.lang)
        return form_store.save_draft(
            conn, form_id, key=form.key, name=form.name, draft=dump_form(form), now=self.clock()
        )

    def publish_form(
        self,
        conn: Any,
        actor: Actor,
        form_id: int,
        *,
        stage_mapping: Mapping[str, str] | None = None,
    ) -> form_store.FormRow:
        """Validate the draft against the app's other forms and the form's history, store it
        as the next version and create its indexes. Records in stages the new workflow no
        longer has are moved by ``stage_mapping`` (``{old_stage: new_stage}``) in the same
        transaction; without a mapping for each such stage the publish is refused.

        Raises: DefinitionRejectedError, StageMappingError (records in removed stages, with
        their count per stage), NotFoundError, ConflictError.
        """
        from runtime.store.query import create_indexes

        row = form_store.get_form(conn, form_id)
        self._manage_app(actor, row.app_id)
        others = self._app_definitions(conn, row.app_id, exclude=form_id)
        retired = _retired_fields(form_store.all_versions(conn, form_id))
        form = self._validated(row.draft, forms=others, retired=retired, lang=actor.lang)
        moves = plan_stage_moves(conn, form_id, form, stage_mapping, actor.lang)
        version = (row.published_version or 0) + 1
        published = publish(form, version)
        form_store.add_version(
            conn, form_id, dump_form(published), actor_id=actor.user_id, now=self.clock()
        )
        compiled = self.compiled.get(form_id, published)
        before = (
            self._version(conn, form_id, row.published_version) if row.published_version else None
        )
        if before is not None:
            made_unique = [
                k
                for k in compiled.unique_keys
                if k not in before.fields or not before.fields[k].unique
            ]
            if made_unique:  # the values records hold now are taken from now on
                record_store.claim_existing(conn, compiled, made_unique)
        move_records(self, conn, actor, compiled, moves)
        if before is not None:
            follow_workflow(self, conn, actor, before, compiled)
        create_indexes(conn, compiled)
        self._audit(conn, actor, "form.publish", f"form:{form_id}", {"version": version})
        return form_store.get_form(conn, form_id)

    def form_schema(self, conn: Any, actor: Actor, form_id: int) -> dict[str, Any]:
        """The record JSON Schema, without the fields hidden from the actor."""
        cf = self.compiled_form(conn, form_id)
        hidden = query_hidden(self._form_access(conn, actor, form_id), cf.definition)
        schema = cf.validator.schema
        if not hidden:
            return schema
        properties = {k: v for k, v in schema.get("properties", {}).items() if k not in hidden}
        required = [k for k in schema.get("required", []) if k not in hidden]
        return {**schema, "properties": properties, "required": required}

    def _form_shown(self, conn: Any, actor: Actor, row: form_store.FormRow) -> form_store.FormRow:
        if actor.administers(row.app_id):
            return row
        access = self._form_access(conn, actor, row.id)
        draft = row.draft
        hidden = access.hidden
        fields = draft.get("fields") if isinstance(draft, dict) else None
        if hidden and isinstance(fields, list):
            kept = [f for f in fields if not (isinstance(f, dict) and f.get("key") in hidden)]
            draft = {**draft, "fields": kept}
        return replace(row, draft=draft)

    def _validated(
        self,
        definition: Any,
        *,
        forms: Mapping[str, FormDefinition] | None = None,
        retired: Mapping[str, str] | None = None,
        lang: str = "zh",
    ) -> FormDefinition:
        if contains_nul(definition):
            raise DefinitionRejectedError(
                [
                    {
                        "path": "",
                        "code": "invalid_character",
                        "message": translate("nul_not_stored", lang),
                    }
                ]
            )
        if isinstance(definition, dict):
            definition = {k: v for k, v in definition.items() if k != "version"}
            definition.setdefault("format", FORMAT_FORM)
        try:
            return validate_form(definition, forms=forms, retired=retired, lang=lang)
        except DefinitionError as exc:
            raise DefinitionRejectedError([p.as_dict() for p in exc.problems]) from None

    def _app_definitions(
        self, conn: Any, app_id: int, exclude: int | None = None
    ) -> dict[str, FormDefinition]:
        out: dict[str, FormDefinition] = {}
        for row in form_store.list_forms(conn, app_id):
            if row.id == exclude:
                continue
            data = (
                form_store.get_version(conn, row.id, row.published_version)
                if row.published_version
                else row.draft
            )
            out[row.key] = load_form(data)
        return out


def _retired_fields(versions: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """Fields of earlier versions that the newest published version no longer has, with the
    type they last had. (A field of the newest version may change type: that is a conversion.
    A retired one coming back with another type would misread its hidden data.)"""
    if not versions:
        return {}
    latest = {f.get("key") for f in versions[-1].get("fields", [])}
    retired: dict[str, str] = {}
    for version in versions:
        for f in version.get("fields", []):
            if f.get("key") not in latest:
                retired[f["key"]] = f["type"]
    return retired

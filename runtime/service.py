"""The operations the API, the pages, the CLI and automations perform on apps, forms and
records — one function each, over the caller's transaction (``conn``, opened and committed by
the caller). Definitions are validated by the builder, record data goes through the pipeline,
the store writes.

Data-level permission checks (issue 5) slot in at :func:`_authorize`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from builder import (
    AppDefinition,
    DefinitionError,
    FormDefinition,
    dump_form,
    load_form,
    publish,
    validate_form,
)
from builder.diff import upgrade_data
from builder.fields.base import CoerceContext
from builder.form import FORMAT_FORM
from runtime import workflow
from runtime.actor import Actor
from runtime.compiled import CompiledForm, CompiledForms
from runtime.errors import (
    ConflictError,
    DefinitionRejectedError,
    FieldError,
    RecordValidationError,
    StaleVersionError,
    VersionRequiredError,
)
from runtime.pipeline import WriteContext, prepare_create, prepare_update
from runtime.safe_text import contains_nul
from runtime.store import forms as form_store
from runtime.store import records as record_store
from runtime.store.records import AppStoreAccess, RecordRow


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass
class Services:
    """Process-wide state of the engine: the compiled-form cache, the clock, the time zone."""

    timezone: str = "Asia/Shanghai"
    clock: Callable[[], dt.datetime] = _utcnow
    compiled: CompiledForms = field(default_factory=CompiledForms)

    @property
    def coerce_context(self) -> CoerceContext:
        return CoerceContext(timezone=ZoneInfo(self.timezone))

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
        return form_store.create_app(
            conn, key=key, name=name, description=description, icon=icon, now=self.clock()
        )

    def list_apps(self, conn: Any, actor: Actor) -> list[form_store.AppRow]:
        _authorize(actor, "app:list")
        return form_store.list_apps(conn)

    def get_app(self, conn: Any, actor: Actor, app_id: int) -> form_store.AppRow:
        _authorize(actor, "app:view")
        return form_store.get_app(conn, app_id)

    def update_app(
        self, conn: Any, actor: Actor, app_id: int, changes: Mapping[str, Any]
    ) -> form_store.AppRow:
        _authorize(actor, "app:manage")
        return form_store.update_app(conn, app_id, dict(changes), self.clock())

    def delete_app(self, conn: Any, actor: Actor, app_id: int) -> None:
        _authorize(actor, "app:manage")
        form_store.delete_app(conn, app_id, self.clock())

    # --- forms --------------------------------------------------------------------------

    def create_form(
        self, conn: Any, actor: Actor, app_id: int, definition: Any
    ) -> form_store.FormRow:
        """Save a new form's draft (validated on its own; relations are checked on publish).

        Raises: DefinitionRejectedError, NotFoundError, ConflictError.
        """
        _authorize(actor, "form:manage")
        form = self._validated(definition, lang=actor.lang)
        return form_store.create_form(
            conn, app_id, key=form.key, name=form.name, draft=dump_form(form), now=self.clock()
        )

    def get_form(self, conn: Any, actor: Actor, form_id: int) -> form_store.FormRow:
        _authorize(actor, "form:view")
        return form_store.get_form(conn, form_id)

    def list_forms(self, conn: Any, actor: Actor, app_id: int) -> list[form_store.FormRow]:
        _authorize(actor, "form:view")
        return form_store.list_forms(conn, app_id)

    def save_draft(
        self, conn: Any, actor: Actor, form_id: int, definition: Any
    ) -> form_store.FormRow:
        """Raises: DefinitionRejectedError, NotFoundError, ConflictError (key changed)."""
        _authorize(actor, "form:manage")
        form = self._validated(definition, lang=actor.lang)
        return form_store.save_draft(
            conn, form_id, key=form.key, name=form.name, draft=dump_form(form), now=self.clock()
        )

    def publish_form(self, conn: Any, actor: Actor, form_id: int) -> form_store.FormRow:
        """Validate the draft against the app's other forms and the form's history, store it
        as the next version and create its indexes.

        Raises: DefinitionRejectedError, NotFoundError, ConflictError.
        """
        from runtime.store.query import create_indexes

        _authorize(actor, "form:manage")
        row = form_store.get_form(conn, form_id)
        others = self._app_definitions(conn, row.app_id, exclude=form_id)
        retired = _retired_fields(form_store.all_versions(conn, form_id))
        form = self._validated(row.draft, forms=others, retired=retired, lang=actor.lang)
        version = (row.published_version or 0) + 1
        published = publish(form, version)
        form_store.add_version(
            conn, form_id, dump_form(published), actor_id=actor.user_id, now=self.clock()
        )
        create_indexes(conn, self.compiled.get(form_id, published))
        return form_store.get_form(conn, form_id)

    def form_schema(self, conn: Any, actor: Actor, form_id: int) -> dict[str, Any]:
        _authorize(actor, "form:view")
        return self.compiled_form(conn, form_id).validator.schema

    def compiled_form(self, conn: Any, form_id: int) -> CompiledForm:
        """The form's newest published version, compiled.

        Raises: NotFoundError, ConflictError (``form_not_published``).
        """
        row = form_store.get_form(conn, form_id)
        if row.published_version is None:
            raise ConflictError(
                "the form has no published version yet; publish it first", code="form_not_published"
            )
        return self._version(conn, form_id, row.published_version)

    def _version(self, conn: Any, form_id: int, version: int) -> CompiledForm:
        found = self.compiled.cached(form_id, version)
        if found is not None:
            return found
        definition = load_form(form_store.get_version(conn, form_id, version))
        return self.compiled.get(form_id, definition)

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
                        "message": "the definition contains a NUL character",
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

    def install_app(
        self,
        conn: Any,
        actor: Actor,
        app: AppDefinition,
        sample_data: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
    ) -> form_store.AppRow:
        """Create ``app`` as an ordinary app: every form saved, then published (so relations
        between them resolve in any order), then the sample records created.

        Automations and dashboards of the definition are not stored yet (their tables arrive
        with the automations and dashboards issues).

        Raises: ConflictError (key taken), DefinitionRejectedError, RecordValidationError.
        """
        _authorize(actor, "app:create")
        row = self.create_app(
            conn,
            actor,
            key=app.key,
            name=app.name,
            description=app.description or "",
            icon=app.icon,
        )
        form_ids = {
            f.key: self.create_form(conn, actor, row.id, dump_form(f)).id for f in app.forms
        }
        for form_id in form_ids.values():
            self.publish_form(conn, actor, form_id)
        for form_key, rows in (sample_data or {}).items():
            if form_key in form_ids:
                self.bulk_create(conn, actor, form_ids[form_key], [{"data": r} for r in rows])
        return row

    # --- records ------------------------------------------------------------------------

    def _context(self, actor: Actor) -> WriteContext:
        return WriteContext(
            actor_id=actor.user_id, now=self.clock(), coerce=self.coerce_context, lang=actor.lang
        )

    def _access(self, conn: Any, cf: CompiledForm) -> AppStoreAccess:
        app_id = form_store.get_form(conn, cf.form_id).app_id
        return AppStoreAccess(conn, cf.form_id, form_store.app_form_ids(conn, app_id))

    def create_record(self, conn: Any, actor: Actor, form_id: int, data: Any) -> dict[str, Any]:
        """Raises: RecordValidationError, NotFoundError, ConflictError."""
        _authorize(actor, "record:create")
        cf = self.compiled_form(conn, form_id)
        ctx = self._context(actor)
        prepared = prepare_create(cf, data, ctx, self._access(conn, cf), stage=cf.initial_stage)
        row = record_store.insert_record(
            conn,
            cf,
            prepared,
            actor_id=actor.user_id,
            owner_id=actor.user_id,
            stage=cf.initial_stage,
            now=ctx.now,
            lang=actor.lang,
        )
        self._enter_initial_stage(conn, cf, row, actor)
        return row.as_api()

    def bulk_create(
        self, conn: Any, actor: Actor, form_id: int, rows: Sequence[Any]
    ) -> list[dict[str, Any]]:
        """Create every row or none: every row is checked first, errors name the row
        (``records[3].budget``), and the writes share one savepoint.

        Raises: RecordValidationError, NotFoundError, ConflictError.
        """
        _authorize(actor, "record:create")
        cf = self.compiled_form(conn, form_id)
        ctx = self._context(actor)
        access = self._access(conn, cf)
        with conn.begin_nested():
            errors: list[FieldError] = []
            prepared = []
            for i, item in enumerate(rows):
                data = item.get("data") if isinstance(item, Mapping) else None
                try:
                    prepared.append(prepare_create(cf, data, ctx, access, stage=cf.initial_stage))
                except RecordValidationError as exc:
                    errors.extend(_in_row(i, exc))
            if errors:
                raise RecordValidationError(errors)
            created = []
            for i, p in enumerate(prepared):
                try:
                    row = record_store.insert_record(
                        conn,
                        cf,
                        p,
                        actor_id=actor.user_id,
                        owner_id=actor.user_id,
                        stage=cf.initial_stage,
                        now=ctx.now,
                        lang=actor.lang,
                    )
                except RecordValidationError as exc:
                    errors.extend(_in_row(i, exc))
                    continue
                self._enter_initial_stage(conn, cf, row, actor)
                created.append(row.as_api())
            if errors:
                raise RecordValidationError(errors)
        return created

    def query(
        self, conn: Any, actor: Actor, form_id: int, body: Mapping[str, Any]
    ) -> dict[str, Any]:
        """A page of records: ``{items, next_cursor, count, count_capped}``.

        Raises: InvalidQueryError, NotFoundError, ConflictError.
        """
        from runtime.store.query import Actor as QueryActor
        from runtime.store.query import query_records

        _authorize(actor, "record:view")
        cf = self.compiled_form(conn, form_id)
        page = query_records(
            conn,
            cf,
            filter=body.get("filter"),
            sort=body.get("sort"),
            limit=body.get("limit", 50),
            cursor=body.get("cursor"),
            search=body.get("search"),
            fields=body.get("fields"),
            actor=QueryActor(user_id=actor.user_id, department_ids=actor.department_ids),
        )
        return {
            "items": page.items,
            "next_cursor": page.next_cursor,
            "count": page.count,
            "count_capped": page.count_capped,
        }

    def aggregate(
        self, conn: Any, actor: Actor, form_id: int, body: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Groups with their metric values: ``{groups: [{keys, values}]}``.

        Raises: InvalidQueryError, NotFoundError, ConflictError.
        """
        from runtime.store.query import Actor as QueryActor
        from runtime.store.query import aggregate_records

        _authorize(actor, "record:view")
        cf = self.compiled_form(conn, form_id)
        groups = aggregate_records(
            conn,
            cf,
            filter=body.get("filter"),
            group_by=body.get("group_by", ()),
            metrics=body.get("metrics", ()),
            search=body.get("search"),
            actor=QueryActor(user_id=actor.user_id, department_ids=actor.department_ids),
        )
        return {"groups": groups}

    def _enter_initial_stage(
        self, conn: Any, cf: CompiledForm, row: RecordRow, actor: Actor
    ) -> None:
        wf = cf.definition.workflow
        stage = wf.stage(row.stage) if wf is not None and row.stage else None
        if stage is None:
            return
        record_store.enter_stage(
            conn,
            record_id=row.id,
            form_id=cf.form_id,
            from_stage=None,
            to_stage=stage.key,
            transition=None,
            actor_id=actor.user_id,
            comment=None,
            now=row.created_at,
            due_at=workflow.stage_deadline(
                stage, row.data, row.created_at, self.coerce_context.timezone
            ),
        )

    def fire_transition(
        self,
        conn: Any,
        actor: Actor,
        record_id: int,
        key: str,
        *,
        comment: str | None = None,
        data: Mapping[str, Any] | None = None,
        version: int | None = None,
    ) -> dict[str, Any]:
        """Fire transition ``key`` on the record: checks in order (stage, actor, guard on the
        data as it will be, required fields, comment), then moves the stage, writes the stage
        log, sets the new stage's assignee and deadline and emits ``record.stage_changed`` —
        all in the caller's transaction.

        Raises: TransitionRefusedError (422), PermissionDeniedError (403), StaleVersionError,
        RecordValidationError (the transition's ``data``), NotFoundError.
        """
        _authorize(actor, "record:transition")
        row = record_store.get_record(conn, record_id)
        cf = self.compiled_form(conn, row.form_id)
        wf, t = workflow.transition_for(cf, key, actor.lang)
        current, hidden = self._current_data(conn, row)
        state = workflow.RecordState(row.stage, current, row.owner_id, row.assignee_id, row.id)
        workflow.check_can_start(cf, t, state, actor)
        if version is not None and version != row.version:
            raise StaleVersionError(version, row.as_api())
        ctx = self._context(actor)
        prepared = None
        if data:
            stage = wf.stage(row.stage) if row.stage else None
            prepared = prepare_update(
                cf,
                current,
                data,
                ctx,
                self._access(conn, cf),
                record_id=row.id,
                stage=row.stage,
                editable=stage.editable if stage else None,
            )
        after = workflow.RecordState(
            row.stage, prepared.data if prepared else current, row.owner_id, row.assignee_id, row.id
        )
        workflow.check_can_finish(cf, t, after, actor, comment, ctx.now)
        to = wf.stage(t.to)
        assert to is not None  # validation guarantees transitions name known stages
        moved = record_store.transition_record(
            conn,
            cf,
            row,
            prepared,
            transition=t.key,
            to_stage=to.key,
            assignee_id=workflow.stage_assignee(to, after),
            due_at=workflow.stage_deadline(to, after.data, ctx.now, ctx.coerce.timezone),
            comment=(comment or "").strip() or None,
            actor_id=actor.user_id,
            now=ctx.now,
            lang=actor.lang,
            hidden=hidden or None,
        )
        return moved.as_api()

    def available_transitions(
        self, conn: Any, actor: Actor, record_id: int
    ) -> list[dict[str, Any]]:
        """The transitions the actor could fire on the record now: ``[{key, label, to}]``."""
        _authorize(actor, "record:view")
        row = record_store.get_record(conn, record_id)
        cf = self.compiled_form(conn, row.form_id)
        current, _ = self._current_data(conn, row)
        state = workflow.RecordState(row.stage, current, row.owner_id, row.assignee_id, row.id)
        return [
            {"key": t.key, "label": t.label, "to": t.to}
            for t in workflow.available_transitions(cf, state, actor, self.clock())
        ]

    def stage_log(self, conn: Any, actor: Actor, record_id: int) -> list[dict[str, Any]]:
        _authorize(actor, "record:view")
        record_store.get_record(conn, record_id)
        return record_store.stage_log_entries(conn, record_id)

    def get_record(self, conn: Any, actor: Actor, record_id: int) -> dict[str, Any]:
        """The record, its data moved to the form's newest version if it was written with an
        older one (the move is stored with the next write).

        Raises: NotFoundError.
        """
        _authorize(actor, "record:view")
        row = record_store.get_record(conn, record_id)
        data, _ = self._current_data(conn, row)
        return {**row.as_api(), "data": data}

    def _current_data(self, conn: Any, row: RecordRow) -> tuple[dict[str, Any], dict[str, Any]]:
        cf = self.compiled_form(conn, row.form_id)
        if row.schema_version == cf.version:
            return row.data, row.hidden or {}
        old = self._version(conn, row.form_id, row.schema_version).definition
        up = upgrade_data(old, cf.definition, row.data, row.hidden, self.coerce_context)
        return up.data, up.hidden

    def update_record(
        self, conn: Any, actor: Actor, record_id: int, version: int | None, data: Any
    ) -> dict[str, Any]:
        """Raises: VersionRequiredError, StaleVersionError, RecordValidationError,
        NotFoundError."""
        _authorize(actor, "record:edit")
        if version is None:
            raise VersionRequiredError()
        row = record_store.get_record(conn, record_id)
        cf = self.compiled_form(conn, row.form_id)
        current, hidden = self._current_data(conn, row)
        stage = (
            cf.definition.workflow.stage(row.stage)
            if (cf.definition.workflow and row.stage)
            else None
        )
        editable = stage.editable if stage is not None else None
        ctx = self._context(actor)
        prepared = prepare_update(
            cf,
            current,
            data,
            ctx,
            self._access(conn, cf),
            record_id=row.id,
            stage=row.stage,
            editable=editable,
        )
        if row.schema_version != cf.version:
            prepared.changes.update(
                {
                    k: [row.data.get(k), current.get(k)]
                    for k in set(row.data) | set(current)
                    if row.data.get(k) != current.get(k) and k not in prepared.changes
                }
            )
        updated = record_store.update_record(
            conn,
            cf,
            row,
            prepared,
            expected_version=version,
            actor_id=actor.user_id,
            now=ctx.now,
            lang=actor.lang,
            hidden=hidden or None,
        )
        return updated.as_api()

    def delete_record(self, conn: Any, actor: Actor, record_id: int, version: int | None) -> None:
        """Raises: VersionRequiredError, StaleVersionError, NotFoundError."""
        _authorize(actor, "record:delete")
        if version is None:
            raise VersionRequiredError()
        row = record_store.get_record(conn, record_id)
        record_store.delete_record(
            conn, row, expected_version=version, actor_id=actor.user_id, now=self.clock()
        )

    def restore_record(self, conn: Any, actor: Actor, record_id: int) -> dict[str, Any]:
        _authorize(actor, "record:delete")
        row = record_store.get_record(conn, record_id, deleted=True)
        cf = self.compiled_form(conn, row.form_id)
        return record_store.restore_record(
            conn, cf, record_id, actor_id=actor.user_id, now=self.clock(), lang=actor.lang
        ).as_api()

    def purge_record(self, conn: Any, actor: Actor, record_id: int) -> None:
        _authorize(actor, "record:purge")
        record_store.purge_record(conn, record_id)

    def record_history(self, conn: Any, actor: Actor, record_id: int) -> list[dict[str, Any]]:
        _authorize(actor, "record:view")
        record_store.get_record(conn, record_id)
        return record_store.history(conn, record_id)

    def add_comment(self, conn: Any, actor: Actor, record_id: int, body: str) -> dict[str, Any]:
        _authorize(actor, "record:comment")
        record_store.get_record(conn, record_id)
        text = body.strip() if isinstance(body, str) else ""
        if not text:
            raise RecordValidationError([FieldError("body", "required", "comment is empty")])
        if contains_nul(text):
            raise RecordValidationError(
                [FieldError("body", "invalid_character", "the comment contains a NUL character")]
            )
        return record_store.add_comment(
            conn, record_id, author_id=actor.user_id, body=text, now=self.clock()
        )

    def list_comments(self, conn: Any, actor: Actor, record_id: int) -> list[dict[str, Any]]:
        _authorize(actor, "record:view")
        record_store.get_record(conn, record_id)
        return record_store.list_comments(conn, record_id)


def _in_row(i: int, exc: RecordValidationError) -> list[FieldError]:
    return [FieldError(f"records[{i}].{e.field}", e.code, e.message, e.params) for e in exc.errors]


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


def _authorize(actor: Actor, action: str) -> None:
    """The one place the engine asks about *data*: which records, fields and stages ``actor``
    may see or change (issue 5 fills it with data scopes and field permissions).

    Whether an actor may perform an *action* at all is decided by the caller before it calls
    the service (for HTTP: ``app.permissions.require``), so that rule is not repeated here.

    Raises: PermissionDeniedError.
    """
    del actor, action

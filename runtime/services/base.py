"""What every service shares: the compiled-form cache, the clock, the time zone, the audit log, reading a
record's data at the form's newest version, and the one data-permission slot.

The operations themselves live beside this module, one module per area (definitions,
records, workflow …); :class:`runtime.services.Services` combines them. Every operation runs
over the caller's transaction (``conn``, opened and committed by the caller).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, overload
from zoneinfo import ZoneInfo

from builder import load_form
from builder.diff import upgrade_data
from builder.fields.base import CoerceContext
from builder.workflow import Stage, stage_calendar
from runtime import workflow
from runtime.actor import Actor
from runtime.compiled import CompiledForm, CompiledForms
from runtime.errors import (
    ConflictError,
    FieldError,
    NotFoundError,
    PermissionDeniedError,
    RecordValidationError,
    StaleVersionError,
)
from runtime.permissions import (
    FULL,
    LINK_FILL,
    NONE,
    FieldView,
    FormAccess,
    check_write,
    mask_errors,
    project,
    resolve,
    stage_rules,
)
from runtime.pipeline import (
    Prepared,
    WriteContext,
    prepare_update,
    prepare_upgrade,
    relation_ids,
    rows_of,
    same_as_stored,
)
from runtime.sanitize import converted_rich_text, sanitize_rich_text
from runtime.search_text import is_searched, searched_keys
from runtime.services import assignees
from runtime.store import audit
from runtime.store import forms as form_store
from runtime.store import org as org_store
from runtime.store import records as record_store
from runtime.store import stages as stage_store
from runtime.store.records import AppStoreAccess, RecordRow
from runtime.store.scope import reached, record_in_scope, scope_condition


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass
class ServiceBase:
    """Process-wide state of the engine: the compiled-form cache, the clock, the time zone."""

    timezone: str = "Asia/Shanghai"
    clock: Callable[[], dt.datetime] = _utcnow
    compiled: CompiledForms = field(default_factory=CompiledForms)
    # (form id, version) → keys whose stored values may predate rich-text cleaning
    _converted: dict[tuple[int, int], frozenset[str]] = field(default_factory=dict, repr=False)
    _stale_search: dict[tuple[int, int], tuple[int, ...]] = field(default_factory=dict, repr=False)

    @property
    def coerce_context(self) -> CoerceContext:
        return CoerceContext(timezone=ZoneInfo(self.timezone))

    def compiled_form(self, conn: Any, form_id: int) -> CompiledForm:
        """The form's newest published version, compiled.

        Raises: NotFoundError, ConflictError (``form_not_published``).
        """
        return self._published(conn, form_id)[0]

    def _published(self, conn: Any, form_id: int) -> tuple[CompiledForm, int]:
        """:meth:`compiled_form` and the form's app id, from one small row read (the version
        is read on every call — another server may have published since — and the
        definition only when that version is not compiled in this process yet).

        Raises: NotFoundError, ConflictError (``form_not_published``).
        """
        head = form_store.get_form_head(conn, form_id)
        if head.published_version is None:
            raise ConflictError.coded("form_not_published")
        return self._version(conn, form_id, head.published_version), head.app_id

    def _version(self, conn: Any, form_id: int, version: int) -> CompiledForm:
        found = self.compiled.cached(form_id, version)
        if found is not None:
            return found
        definition = load_form(form_store.get_version(conn, form_id, version))
        return self.compiled.get(form_id, definition)

    def _context(self, actor: Actor) -> WriteContext:
        return WriteContext(
            actor_id=actor.user_id, now=self.clock(), coerce=self.coerce_context, lang=actor.lang
        )

    def _access(self, conn: Any, cf: CompiledForm) -> AppStoreAccess:
        def form_ids() -> dict[str, int]:
            return form_store.app_form_ids(conn, form_store.get_form_head(conn, cf.form_id).app_id)

        return AppStoreAccess(conn, cf.form_id, form_ids)

    def _current_data(
        self, conn: Any, row: RecordRow, *, derive: bool = True
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """The record's data and hidden data in its form's newest version: converted, and
        (``derive``) with the formulas and lookups of that version worked out, as the
        upgrade after a publish will store them (:mod:`runtime.services.upgrade`)."""
        cf = self.compiled_form(conn, row.form_id)
        if row.schema_version == cf.version:
            return row.data, row.hidden or {}
        old = self._version(conn, row.form_id, row.schema_version).definition
        up = upgrade_data(old, cf.definition, row.data, row.hidden, self.coerce_context)
        # A field that became rich_text (or came back from hidden) holds HTML no pipeline has
        # cleaned yet.
        data = sanitize_rich_text(cf, up.data)
        if derive:
            data = prepare_upgrade(
                cf,
                row.data,
                data,
                self._system_context(),
                self._access(conn, cf),
                record_id=row.id,
                stage=row.stage,
            ).data
        return data, up.hidden

    def _system_context(self) -> WriteContext:
        """The pipeline's context for what the system derives (an upgrade): no actor, and
        read-only fields are the system's to write."""
        return WriteContext(
            actor_id=None, now=self.clock(), coerce=self.coerce_context, enforce_read_only=False
        )

    def _locked_if_behind(self, conn: Any, row: RecordRow, cf: CompiledForm) -> RecordRow:
        """``row`` read again under its row lock when it was written under an older version
        than ``cf``'s: the background upgrade (runtime.services.upgrade) then waits for this
        write, or has finished before it and this write starts from its result (PostgreSQL;
        SQLite's writers run one at a time already)."""
        if row.schema_version == cf.version:
            return row
        return record_store.get_record(conn, row.id, lock=True)

    def _edit(
        self,
        conn: Any,
        actor: Actor,
        cf: CompiledForm,
        view: FieldView,
        row: RecordRow,
        current: Mapping[str, Any],
        data: Any,
        ctx: WriteContext,
    ) -> Prepared:
        """The write of ``data`` (an edit's, or a transition's) over the record's ``current``
        data: the actor's field permissions (a read-only value may come back as input reads
        it), the pipeline, and the related records they may name.

        Raises: RecordValidationError (errors about fields hidden from the actor do not name
        them).
        """
        check_write(
            view,
            data,
            current,
            cf.labels,
            actor.lang,
            lambda k, v: same_as_stored(cf, k, v, current, ctx),
        )
        try:
            prepared = prepare_update(
                cf,
                current,
                data,
                ctx,
                self._access(conn, cf),
                record_id=row.id,
                stage=row.stage,
                editable=view.editable,
            )
            unseen = self._out_of_reach(conn, actor, cf, current, prepared.data)
            if unseen:
                raise RecordValidationError(unseen)
        except RecordValidationError as exc:
            if not view.hidden:
                raise
            raise RecordValidationError(mask_errors(exc.errors, view.hidden, actor.lang)) from None
        return prepared

    @overload
    def _from_stored(
        self, row: RecordRow, cf: CompiledForm, current: Mapping[str, Any], prepared: Prepared
    ) -> Prepared: ...

    @overload
    def _from_stored(
        self, row: RecordRow, cf: CompiledForm, current: Mapping[str, Any], prepared: None
    ) -> Prepared | None: ...

    def _from_stored(
        self,
        row: RecordRow,
        cf: CompiledForm,
        current: Mapping[str, Any],
        prepared: Prepared | None,
    ) -> Prepared | None:
        """A write of a record written under an older version (``row``; ``current`` its data
        upgraded): its history shows what the record held before (5 from ``"5"``, a new
        formula from nothing), and its unique values are claimed in their new type. A write
        with nothing of its own (``prepared`` None, a transition without data) stores the
        upgraded data too. ``prepared`` as it was for a record at ``cf``'s version."""
        if row.schema_version == cf.version:
            return prepared
        if prepared is None:
            prepared = Prepared(dict(current), {}, {})
        for k in set(row.data) | set(current):
            if row.data.get(k) == current.get(k):
                continue
            if k in prepared.changes:
                prepared.changes[k][0] = row.data.get(k)
            else:
                prepared.changes[k] = [row.data.get(k), current.get(k)]
        for k in cf.unique_keys:
            value = prepared.data.get(k)
            if value is not None and row.data.get(k) != value:
                prepared.unique[k] = value
        return prepared

    def _audit(
        self, conn: Any, actor: Actor, action: str, target: str, detail: Mapping[str, Any]
    ) -> None:
        """Append an admin action to the audit log, in the caller's transaction."""
        audit.record(
            conn,
            actor_id=actor.user_id,
            action=action,
            target=target,
            detail=detail,
            ip=actor.ip,
            now=self.clock(),
        )

    def _converted_rich_text(self, conn: Any, cf: CompiledForm) -> frozenset[str]:
        """See :func:`runtime.sanitize.converted_rich_text` (computed once per version)."""
        key = (cf.form_id, cf.version)
        if key not in self._converted:
            versions = form_store.all_versions(conn, cf.form_id)[: cf.version]
            self._converted[key] = converted_rich_text(versions)
        return self._converted[key]

    def _follow_due_field(
        self, conn: Any, cf: CompiledForm, row: RecordRow, changed: Collection[str]
    ) -> None:
        """A stage due on a date field: an edit of that field moves the open stay's deadline
        (entering the stage set it; a promised date put off is not overdue)."""
        wf = cf.definition.workflow
        stage = wf.stage(row.stage) if wf is not None and row.stage else None
        if stage is None or stage.sla_hours is not None or stage.due_field not in changed:
            return
        stay = stage_store.open_stay(conn, row.id)
        if stay is not None and stay.stage == stage.key:
            stage_store.set_due(conn, stay.id, self._deadline(cf, stage, row.data, stay.at))

    def _stale_search_versions(self, conn: Any, cf: CompiledForm) -> tuple[int, ...]:
        """The older versions of ``cf``'s form that searched a field ``cf`` does not (removed,
        or of a type that gives no text now): records written then keep that field's text in
        their ``search_text`` until their next write (computed once per version)."""
        key = (cf.form_id, cf.version)
        if key not in self._stale_search:
            now = {
                k
                for k, f in cf.fields.items()
                if is_searched(f.type, getattr(f, "result_type", None))
            }
            versions = form_store.all_versions(conn, cf.form_id)[: cf.version - 1]
            self._stale_search[key] = tuple(
                n for n, d in enumerate(versions, start=1) if searched_keys(d) - now
            )
        return self._stale_search[key]

    def _deadline(
        self, cf: CompiledForm, stage: Stage, data: Mapping[str, Any], entered: dt.datetime
    ) -> dt.datetime | None:
        """When a stay in ``stage`` entered at ``entered`` is due: its SLA counted in the
        stage's (or workflow's) working calendar, or its due-date field."""
        wf = cf.definition.workflow
        calendar = stage_calendar(wf, stage) if wf is not None else None
        return workflow.stage_deadline(stage, data, entered, self.coerce_context.timezone, calendar)

    # --- data permissions (the decisions are runtime.permissions; the SQL runtime.store.scope) --

    def _form_access(
        self, conn: Any, actor: Actor, form_id: int, app_id: int | None = None
    ) -> FormAccess:
        """What ``actor`` may do on the records of ``form_id``: everything for platform admins,
        the app's admins and the system; otherwise the union of the sets that apply.
        ``app_id``: the form's app when the caller read it in this transaction
        (:meth:`_published`), which saves reading it again.

        Raises: NotFoundError (no such form).
        """
        if app_id is None:
            app_id = form_store.get_form_head(conn, form_id).app_id
        if actor.administers(app_id):
            return FULL
        if actor.user_id is None:
            # A public fill link grants creating records in its form, nothing else.
            return LINK_FILL if actor.link_form_id == form_id else NONE
        return resolve(
            org_store.sets_for(
                conn,
                form_id,
                user_id=actor.user_id,
                role_keys=actor.role_keys,
                department_ids=actor.department_ids,
            )
        )

    def _manage_app(self, actor: Actor, app_id: int) -> None:
        """Raises: PermissionDeniedError unless ``actor`` administers the app."""
        if not actor.administers(app_id):
            raise PermissionDeniedError("app.manage")

    def _form_action(
        self, conn: Any, actor: Actor, cf: CompiledForm, action: str, app_id: int | None = None
    ) -> tuple[FormAccess, Any]:
        """The access of ``actor`` to ``cf``'s form, once ``action`` is allowed on some of its
        records, and the SQL scope of the records it reaches (``None``: all). ``app_id`` as
        in :meth:`_form_access`.

        Raises: PermissionDeniedError.
        """
        access = self._form_access(conn, actor, cf.form_id, app_id)
        if not access.allows(action):
            raise PermissionDeniedError(f"record.{action}")
        return access, scope_condition(conn, cf, access.scopes_for(action), actor, self.timezone)

    def _record_for(
        self, conn: Any, actor: Actor, record_id: int, action: str, *, deleted: bool = False
    ) -> tuple[RecordRow, CompiledForm, FieldView]:
        """The record, once ``actor`` may see it (else it does not exist for them: 404) and do
        ``action`` on it (403), with the fields they may not see or change on it.

        Raises: NotFoundError, PermissionDeniedError, ConflictError (form not published).
        """
        row = record_store.get_record(conn, record_id, deleted=deleted)
        cf = self.compiled_form(conn, row.form_id)
        access = self._form_access(conn, actor, cf.form_id)
        if not self._reaches(conn, cf, access, "view", actor, row.id):
            raise NotFoundError("record", record_id)
        if action != "view" and not self._reaches(conn, cf, access, action, actor, row.id):
            raise PermissionDeniedError(f"record.{action}")
        return row, cf, stage_rules(access, cf.definition, row.stage)

    def _may(self, conn: Any, actor: Actor, cf: CompiledForm, action: str, record_id: int) -> bool:
        """Whether ``actor`` may do ``action`` on the record (no exception)."""
        access = self._form_access(conn, actor, cf.form_id)
        return self._reaches(conn, cf, access, action, actor, record_id)

    def _reaches(
        self,
        conn: Any,
        cf: CompiledForm,
        access: FormAccess,
        action: str,
        actor: Actor,
        record_id: int,
    ) -> bool:
        if not access.allows(action):
            return False
        scope = scope_condition(conn, cf, access.scopes_for(action), actor, self.timezone)
        return scope is None or record_in_scope(conn, record_id, scope)

    def _out_of_reach(
        self,
        conn: Any,
        actor: Actor,
        cf: CompiledForm,
        before: Mapping[str, Any],
        after: Mapping[str, Any],
    ) -> list[FieldError]:
        """The relations a write points at records ``actor`` may not view (ids it adds, not
        those already there): each a ``relation_not_found``, the answer for a record that
        does not exist, so that neither the record nor its lookups' values reach them."""
        errors: list[FieldError] = []
        form_ids: Mapping[str, int] | None = None
        named: list[tuple[str, str, str, list[int], set[int]]] = []  # path, label, target, ids, old
        for f in cf.relations:
            ids = relation_ids(after.get(f.key))
            old = set(relation_ids(before.get(f.key)))
            named.append((f.key, cf.label(f.key), f.target, ids, old))  # type: ignore[attr-defined]
        for sub_key, column in cf.row_relations:
            old = {v for r in rows_of(before, sub_key) for v in relation_ids(r.get(column.key))}
            for i, row in enumerate(rows_of(after, sub_key)):
                ids = relation_ids(row.get(column.key))
                path = f"{sub_key}[{i}].{column.key}"
                named.append((path, column.label, column.target, ids, old))  # type: ignore[attr-defined]
        for path, label, target, ids, old in named:
            new = set(ids) - old
            if not new:
                continue
            if form_ids is None:
                app_id = form_store.get_form_head(conn, cf.form_id).app_id
                form_ids = form_store.app_form_ids(conn, app_id)
            target_id = form_ids.get(target)
            unseen = new if target_id is None else self._unviewable(conn, actor, target_id, new)
            if unseen:
                text = ", ".join(map(str, sorted(unseen)))
                errors.append(
                    FieldError.told(path, "relation_not_found", actor.lang, label=label, ids=text)
                )
        return errors

    def _unviewable(self, conn: Any, actor: Actor, form_id: int, ids: set[int]) -> set[int]:
        """Which of ``ids`` (records of ``form_id``) ``actor`` may not view."""
        access = self._form_access(conn, actor, form_id)
        if access.full:
            return set()
        if not access.allows("view"):
            return set(ids)
        try:
            target = self.compiled_form(conn, form_id)
        except ConflictError:  # never published: it has no records
            return set(ids)
        scope = scope_condition(conn, target, access.scopes_for("view"), actor, self.timezone)
        if scope is None:
            return set()
        return set(ids) - reached(conn, ids, scope)

    def _stage_view(
        self, conn: Any, actor: Actor, cf: CompiledForm, stage: str | None
    ) -> FieldView:
        """The actor's field view on a record of ``cf`` in ``stage``."""
        return stage_rules(self._form_access(conn, actor, cf.form_id), cf.definition, stage)

    def _shown(self, record: dict[str, Any], view: FieldView) -> dict[str, Any]:
        """A record as the API returns it, without the fields hidden from the actor."""
        if not view.hidden:
            return record
        return {**record, "data": project(record["data"], view.hidden)}

    def _initial_stage(self, cf: CompiledForm) -> Stage | None:
        """The stage new records of ``cf`` enter (None: the form has no workflow)."""
        wf = cf.definition.workflow
        return wf.stage(cf.initial_stage) if wf is not None and cf.initial_stage else None

    def _initial_stage_due(
        self, cf: CompiledForm, datas: Sequence[Mapping[str, Any]], now: dt.datetime
    ) -> list[dt.datetime | None] | None:
        """When each new record's stay in the form's initial stage is due (None: the form has
        no workflow, so no stage-log entries). The stays themselves are written with the
        records (:func:`runtime.store.records.insert_records`)."""
        stage = self._initial_stage(cf)
        if stage is None:
            return None
        return [self._deadline(cf, stage, data, now) for data in datas]

    def _initial_stage_entered(
        self, conn: Any, cf: CompiledForm, rows: Sequence[RecordRow], actor: Actor
    ) -> None:
        """What entering the initial stage starts for new records whose stays are written:
        each record's owner of the stage, then its cc copies and approval round
        (:func:`assignees.stage_entered`), one record after the other in row order, so
        round-robin turns go to the records in that order. The owners are written together.

        Raises: TransitionRefusedError (an approval stage nobody could approve).
        """
        stage = self._initial_stage(cf)
        if stage is None:
            return
        owners: dict[int, int] = {}
        for row in rows:
            state = workflow.RecordState(stage.key, row.data, row.owner_id, None, row.id)
            assignee_id = assignees.stage_assignee(conn, cf, stage, state)
            if assignee_id is not None:
                owners[row.id] = assignee_id
            assignees.stage_entered(conn, cf, stage, state, row.created_at, actor.lang)
        record_store.set_stage_assignees(conn, owners)


def _authorize(actor: Actor, action: str) -> None:
    """The action-level hook of the engine (a no-op: whether an actor may perform an action at
    all is decided by the caller, for HTTP ``app.permissions.require``).

    Which *records*, fields and stages an actor may see or change is decided by
    :meth:`ServiceBase._form_action` and :meth:`ServiceBase._record_for` over
    :mod:`runtime.permissions` — every record operation goes through one of them.
    """
    del actor, action


@contextmanager
def stale_shown(view: FieldView) -> Iterator[None]:
    """A stale-version error raised inside carries the current record: without the fields
    hidden from the actor (``view``)."""
    try:
        yield
    except StaleVersionError as exc:
        current = exc.current
        if view.hidden and isinstance(current, dict) and isinstance(current.get("data"), dict):
            exc.current = {**current, "data": project(current["data"], view.hidden)}
        raise


def upgraded_hidden(row: RecordRow, cf: CompiledForm, hidden: dict[str, Any]) -> Any:
    """What a write stores as the record's hidden data: the upgrade's (:meth:`_current_data`)
    when the record was written under an older version — even when that leaves none, as when
    a field that came back took its value out — else ``None``: keep what is stored."""
    return hidden if row.schema_version != cf.version else None

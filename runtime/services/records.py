"""Records: create (one or a batch, all or nothing), query, aggregate, read, update,
delete/restore/purge, history and comments — each through the record pipeline and the store."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext, suppress
from typing import Any

from runtime.actor import Actor
from runtime.compiled import CompiledForm
from runtime.errors import (
    ConflictError,
    FieldError,
    PermissionDeniedError,
    RecordValidationError,
    StaleVersionError,
    VersionRequiredError,
)
from runtime.permissions import (
    FieldView,
    FormAccess,
    check_write,
    mask_errors,
    project,
    project_diff,
    query_hidden,
    stage_rules,
    without_fields,
)
from runtime.pipeline import prepare_create
from runtime.safe_text import contains_nul
from runtime.sanitize import sanitize_rich_text
from runtime.services.base import stale_shown, upgraded_hidden
from runtime.services.stages import rehome
from runtime.services.upgrade import UpgradeServices
from runtime.store import records as record_store
from runtime.store import scope as scope_store


class RecordServices(UpgradeServices):
    def create_record(
        self, conn: Any, actor: Actor, form_id: int, data: Any, *, own_transaction: bool = False
    ) -> dict[str, Any]:
        """``own_transaction``: the caller's transaction holds nothing else and is rolled back
        whole if this raises (the HTTP route's), so no savepoint is needed around the write.

        Raises: RecordValidationError, NotFoundError, ConflictError, PermissionDeniedError.
        """
        return self._create(
            conn, actor, form_id, [data], in_rows=False, own_transaction=own_transaction
        )[0]

    def bulk_create(
        self, conn: Any, actor: Actor, form_id: int, rows: Sequence[Any]
    ) -> list[dict[str, Any]]:
        """Create every row or none: every row is checked first, errors name the row
        (``records[3].budget``).

        Raises: RecordValidationError, NotFoundError, ConflictError, PermissionDeniedError.
        """
        datas = [item.get("data") if isinstance(item, Mapping) else None for item in rows]
        return self._create(conn, actor, form_id, datas, in_rows=True)

    def _create_view(
        self, conn: Any, actor: Actor, cf: CompiledForm, app_id: int | None = None
    ) -> FieldView:
        access, _ = self._form_action(conn, actor, cf, "create", app_id)
        return stage_rules(access, cf.definition, cf.initial_stage)

    def _create(
        self,
        conn: Any,
        actor: Actor,
        form_id: int,
        datas: Sequence[Any],
        *,
        in_rows: bool,
        own_transaction: bool = False,
    ) -> list[dict[str, Any]]:
        """One create or a batch, all or nothing: the actor's field permissions and the
        pipeline for each record (serial numbers reserved as one block), then one set-based
        write, then what entering the initial stage starts for each record (owner, cc,
        approval round), all in one savepoint so that a refusal leaves nothing (not even a
        serial number or a round-robin turn) even inside a caller's larger transaction
        (``own_transaction``: the caller's transaction is that savepoint). ``in_rows``: name errors by row (``records[3].budget``). Errors about fields hidden
        from the actor do not name them; writing a hidden field is an unknown field."""
        cf, app_id = self._published(conn, form_id)
        view = self._create_view(conn, actor, cf, app_id)
        ctx = self._context(actor)
        access = self._access(conn, cf)
        access.serial_block = len(datas)
        stage = cf.initial_stage
        whole: AbstractContextManager[Any] = (
            nullcontext() if own_transaction else conn.begin_nested()
        )
        with whole:
            errors: list[FieldError] = []
            prepared = []
            for i, data in enumerate(datas):
                try:
                    check_write(view, data, None, cf.labels, actor.lang)
                    with _masked(view, actor.lang):
                        p = prepare_create(cf, data, ctx, access, stage=stage)
                        unseen = self._out_of_reach(conn, actor, cf, {}, p.data)
                        if unseen:
                            raise RecordValidationError(unseen)
                        prepared.append(p)
                except RecordValidationError as exc:
                    if not in_rows:
                        raise
                    errors.extend(_in_row(i, exc.errors))
            if errors:
                raise RecordValidationError(errors)
            with _masked(view, actor.lang):
                try:
                    created = record_store.insert_records(
                        conn,
                        cf,
                        prepared,
                        actor_id=actor.user_id,
                        owner_id=actor.user_id,
                        stage=stage,
                        now=ctx.now,
                        lang=actor.lang,
                        stage_due=self._initial_stage_due(cf, [p.data for p in prepared], ctx.now),
                    )
                except record_store.UniqueTakenError as exc:
                    if not in_rows:
                        raise
                    raise RecordValidationError(
                        [_in_row(i, [e])[0] for i, e in zip(exc.rows, exc.errors, strict=True)]
                    ) from None
            self._initial_stage_entered(conn, cf, created, actor)
        return [self._shown(r.as_api(), view) for r in created]

    def query(
        self, conn: Any, actor: Actor, form_id: int, body: Mapping[str, Any]
    ) -> dict[str, Any]:
        """A page of records: ``{items, next_cursor, count, count_capped}``.

        Raises: InvalidQueryError, NotFoundError, ConflictError.
        """
        from runtime.store.query import query_records

        full, app_id = self._published(conn, form_id)
        access, hidden, scope = self._query_scope(conn, actor, full, body.get("search"), app_id)
        page = query_records(
            conn,
            without_fields(full, hidden),
            filter=body.get("filter"),
            sort=body.get("sort"),
            limit=body.get("limit", 50),
            cursor=body.get("cursor"),
            search=body.get("search"),
            fields=body.get("fields"),
            actor=actor,
            timezone=self.timezone,
            scope=scope,
            published=full,
        )
        converted = self._converted_rich_text(conn, full)
        hidden_in: dict[str | None, frozenset[str]] = {}  # stage → fields hidden there
        known = full.fields.keys()
        for item in page.items:
            data = item["data"]
            if not data.keys() <= known:
                # Written under a version with a field since removed: a list does not upgrade
                # (a read does, moving it to the hidden data), but never shows it.
                data = {k: v for k, v in data.items() if k in known}
            if converted:
                # Values written before their field held rich text are cleaned on the way out
                # (a record read upgrades and cleans them; lists do not upgrade).
                data = {
                    **data,
                    **sanitize_rich_text(full, {k: data[k] for k in converted if k in data}),
                }
            stage = item["stage"]
            if stage not in hidden_in:
                hidden_in[stage] = stage_rules(access, full.definition, stage).hidden
            if hidden_in[stage]:
                data = project(data, hidden_in[stage])
            item["data"] = data
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
        from runtime.store.query import aggregate_records

        full, app_id = self._published(conn, form_id)
        _, hidden, scope = self._query_scope(conn, actor, full, body.get("search"), app_id)
        groups = aggregate_records(
            conn,
            without_fields(full, hidden),
            filter=body.get("filter"),
            group_by=body.get("group_by", ()),
            metrics=body.get("metrics", ()),
            search=body.get("search"),
            actor=actor,
            timezone=self.timezone,
            scope=scope,
            published=full,
        )
        return {"groups": groups}

    def _query_scope(
        self, conn: Any, actor: Actor, cf: CompiledForm, search: Any, app_id: int
    ) -> tuple[FormAccess, frozenset[str], Any]:
        """For a query of ``actor``: their access, the fields it may not name, and the SQL
        scope (records they may view; with hidden searched fields, a search matching only
        what they see)."""
        access, scope = self._form_action(conn, actor, cf, "view", app_id)
        hidden = query_hidden(access, cf.definition)
        if not isinstance(search, str) or not search.strip():
            return access, hidden, scope
        hides = scope_store.search_hides(cf, hidden)
        stale = () if hides else self._stale_search_versions(conn, cf)
        if hides or stale:
            within = scope_store.visible_search_condition(
                conn, cf, search, hidden, actor, self.timezone
            )
            if not hides:
                # Only records written under a version that searched a field this one does
                # not (their search_text may hold its text) must match on what is visible now.
                within = scope_store.unless_written_under(stale, within)
            scope = within if scope is None else scope_store.both(scope, within)
        return access, hidden, scope

    def get_record(self, conn: Any, actor: Actor, record_id: int) -> dict[str, Any]:
        """The record, its data moved to the form's newest version if it was written with an
        older one (the move is stored with the next write).

        Raises: NotFoundError.
        """
        row, _, view = self._record_for(conn, actor, record_id, "view")
        data, _ = self._current_data(conn, row)
        return {**row.as_api(), "data": project(data, view.hidden)}

    def update_record(
        self, conn: Any, actor: Actor, record_id: int, version: int | None, data: Any
    ) -> dict[str, Any]:
        """Raises: VersionRequiredError, StaleVersionError, RecordValidationError,
        NotFoundError, PermissionDeniedError."""
        row, cf, view = self._record_for(conn, actor, record_id, "edit")
        if version is None:
            raise VersionRequiredError()
        row = self._locked_if_behind(conn, row, cf)
        current, hidden = self._current_data(conn, row)
        if version != row.version:
            # Before the data is looked at: a write made from a stale read is a conflict
            # (409 with the record as it is now, as a read shows it), whatever else is wrong.
            raise StaleVersionError(version, self._shown({**row.as_api(), "data": current}, view))
        ctx = self._context(actor)
        prepared = self._edit(conn, actor, cf, view, row, current, data, ctx)
        prepared = self._from_stored(row, cf, current, prepared)
        with _masked(view, actor.lang), stale_shown(view):
            updated = record_store.update_record(
                conn,
                cf,
                row,
                prepared,
                expected_version=version,
                actor_id=actor.user_id,
                now=ctx.now,
                lang=actor.lang,
                hidden=upgraded_hidden(row, cf, hidden),
            )
        self._follow_due_field(conn, cf, updated, prepared.changes)
        return self._shown(updated.as_api(), view)

    def delete_record(self, conn: Any, actor: Actor, record_id: int, version: int | None) -> None:
        """Raises: VersionRequiredError, StaleVersionError, NotFoundError,
        PermissionDeniedError."""
        row, _, view = self._record_for(conn, actor, record_id, "delete")
        if version is None:
            raise VersionRequiredError()
        with stale_shown(view):
            record_store.delete_record(
                conn, row, expected_version=version, actor_id=actor.user_id, now=self.clock()
            )

    def restore_record(self, conn: Any, actor: Actor, record_id: int) -> dict[str, Any]:
        """A record from the recycle bin (for those who may delete it).

        Raises: NotFoundError, PermissionDeniedError, ConflictError (``unique_taken``: a unique
        value taken meanwhile)."""
        _, cf, view = self._record_for(conn, actor, record_id, "delete", deleted=True)
        try:
            restored = record_store.restore_record(
                conn, cf, record_id, actor_id=actor.user_id, now=self.clock(), lang=actor.lang
            )
        except ConflictError as exc:  # a unique value taken: not naming a field they cannot see
            taken = exc.__cause__
            if not view.hidden or not isinstance(taken, RecordValidationError):
                raise
            masked = mask_errors(taken.errors, view.hidden, actor.lang)
            raise record_store.unique_taken(masked) from None
        if restored.schema_version != cf.version:
            # As the upgrade after a publish would have, had the record not been in the bin
            # (runtime.services.upgrade); a converted unique value that is taken stays as it
            # was, and is still upgraded when read.
            with suppress(RecordValidationError):
                self.upgrade_record(conn, cf, restored)
        if cf.definition.workflow is not None and restored.stage is not None:
            rehome(self, conn, actor, cf, record_id)
        restored = record_store.get_record(conn, record_id)
        return self._shown(restored.as_api(), view)

    def purge_record(self, conn: Any, actor: Actor, record_id: int) -> None:
        """Delete a record in the recycle bin for good: full access only (an admin of the
        form's app, or a platform admin), never a permission set's ``manage``.

        Raises: NotFoundError, PermissionDeniedError."""
        _, cf, _ = self._record_for(conn, actor, record_id, "view", deleted=True)
        if not self._form_access(conn, actor, cf.form_id).full:
            raise PermissionDeniedError("record.purge")
        record_store.purge_record(conn, record_id)

    def record_history(self, conn: Any, actor: Actor, record_id: int) -> list[dict[str, Any]]:
        """The record's writes, each diff without the fields hidden from the actor (in any
        stage: a past stage's value is still that field's value).

        Raises: NotFoundError."""
        row, cf, _ = self._record_for(conn, actor, record_id, "view")
        access = self._form_access(conn, actor, row.form_id)
        hidden = query_hidden(access, cf.definition)
        return [
            {**entry, "diff": project_diff(entry["diff"], hidden)}
            for entry in record_store.history(conn, record_id)
        ]

    def add_comment(self, conn: Any, actor: Actor, record_id: int, body: str) -> dict[str, Any]:
        """Raises: NotFoundError, RecordValidationError."""
        self._record_for(conn, actor, record_id, "view")
        text = body.strip() if isinstance(body, str) else ""
        if not text:
            raise RecordValidationError(
                [FieldError.told("body", "required", actor.lang, "comment_empty")]
            )
        if contains_nul(text):
            raise RecordValidationError(
                [FieldError.told("body", "invalid_character", actor.lang, "nul_not_stored")]
            )
        return record_store.add_comment(
            conn, record_id, author_id=actor.user_id, body=text, now=self.clock()
        )

    def list_comments(self, conn: Any, actor: Actor, record_id: int) -> list[dict[str, Any]]:
        """Raises: NotFoundError."""
        self._record_for(conn, actor, record_id, "view")
        return record_store.list_comments(conn, record_id)


@contextmanager
def _masked(view: FieldView, lang: str) -> Iterator[None]:
    """Validation errors raised inside, with those about hidden fields not naming them."""
    try:
        yield
    except RecordValidationError as exc:
        if not view.hidden:
            raise
        raise RecordValidationError(mask_errors(exc.errors, view.hidden, lang)) from None


def _in_row(i: int, errors: Sequence[FieldError]) -> list[FieldError]:
    return [FieldError(f"records[{i}].{e.field}", e.code, e.message, e.params) for e in errors]

"""Records: create (one or a batch, all or nothing), query, aggregate, read, update,
delete/restore/purge, history and comments — each through the record pipeline and the store."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from runtime.actor import Actor
from runtime.errors import FieldError, RecordValidationError, VersionRequiredError
from runtime.pipeline import prepare_create, prepare_update
from runtime.safe_text import contains_nul
from runtime.services.base import ServiceBase, _authorize
from runtime.store import records as record_store


class RecordServices(ServiceBase):
    def create_record(self, conn: Any, actor: Actor, form_id: int, data: Any) -> dict[str, Any]:
        """Raises: RecordValidationError, NotFoundError, ConflictError."""
        _authorize(actor, "record:create")
        return self._create(conn, actor, form_id, [data], in_rows=False)[0]

    def bulk_create(
        self, conn: Any, actor: Actor, form_id: int, rows: Sequence[Any]
    ) -> list[dict[str, Any]]:
        """Create every row or none: every row is checked first, errors name the row
        (``records[3].budget``).

        Raises: RecordValidationError, NotFoundError, ConflictError.
        """
        _authorize(actor, "record:create")
        datas = [item.get("data") if isinstance(item, Mapping) else None for item in rows]
        return self._create(conn, actor, form_id, datas, in_rows=True)

    def _create(
        self, conn: Any, actor: Actor, form_id: int, datas: Sequence[Any], *, in_rows: bool
    ) -> list[dict[str, Any]]:
        """One create or a batch, all or nothing: the pipeline for each record (serial numbers
        reserved as one block), then one set-based write, in one savepoint so that a refusal
        leaves nothing (not even a serial number) even inside a caller's larger transaction.
        ``in_rows``: name errors by row (``records[3].budget``)."""
        cf = self.compiled_form(conn, form_id)
        ctx = self._context(actor)
        access = self._access(conn, cf)
        access.serial_block = len(datas)
        stage = cf.initial_stage
        with conn.begin_nested():
            errors: list[FieldError] = []
            prepared = []
            for i, data in enumerate(datas):
                try:
                    prepared.append(prepare_create(cf, data, ctx, access, stage=stage))
                except RecordValidationError as exc:
                    if not in_rows:
                        raise
                    errors.extend(_in_row(i, exc.errors))
            if errors:
                raise RecordValidationError(errors)
            try:
                rows = record_store.insert_records(
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
        return [r.as_api() for r in rows]

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

    def get_record(self, conn: Any, actor: Actor, record_id: int) -> dict[str, Any]:
        """The record, its data moved to the form's newest version if it was written with an
        older one (the move is stored with the next write).

        Raises: NotFoundError.
        """
        _authorize(actor, "record:view")
        row = record_store.get_record(conn, record_id)
        data, _ = self._current_data(conn, row)
        return {**row.as_api(), "data": data}

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


def _in_row(i: int, errors: Sequence[FieldError]) -> list[FieldError]:
    return [FieldError(f"records[{i}].{e.field}", e.code, e.message, e.params) for e in errors]

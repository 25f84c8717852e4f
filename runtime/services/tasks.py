"""The caller's work lists (``/me/tasks``): what to act on, what to approve, what they started,
what they handled."""

from __future__ import annotations

from typing import Any

from runtime.actor import Actor
from runtime.compiled import CompiledForm
from runtime.errors import FieldError, InvalidQueryError
from runtime.permissions import FormAccess, stage_rules
from runtime.services.base import ServiceBase
from runtime.store import forms as form_store
from runtime.store import tasks as task_store
from runtime.store.scope import scope_condition
from runtime.timestamps import utc_text_or_none

MAX_LIMIT = 200


class TaskServices(ServiceBase):
    def my_tasks(
        self,
        conn: Any,
        actor: Actor,
        box: str = "todo",
        *,
        app_id: int | None = None,
        overdue: bool = False,
        limit: int = 50,
        cursor: str | None = None,
    ) -> dict[str, Any]:
        """A page of one of the actor's work lists, newest record first:
        ``{items: [{record_id, form_id, app_id, form_name, stage, stage_name, title, due_at,
        overdue, assignee_id}], next_cursor}``.

        ``box``: ``todo`` (the record's current stage is theirs: they are its assignee, or it
        belongs to a role of theirs and nobody in particular), ``approvals`` (their vote is
        pending in a live round), ``started`` (they own the record), ``handled`` (they moved
        it on, or decided in one of its approval rounds), ``cc`` (copied to them when it
        entered a stage with ``cc``). ``app_id`` narrows to one app,
        ``overdue`` to stages past their deadline.

        Every box holds only records the actor may view (their permission sets' view scope —
        being a record's assignee, approver or cc does not widen it), and an item's ``title``
        is ``None`` when the title field is hidden from them on that record.

        Raises: InvalidQueryError (unknown box, bad limit or cursor), NotFoundError (app).
        """
        if box not in task_store.BOXES:
            raise _invalid("box", actor.lang, "invalid_box", boxes=", ".join(task_store.BOXES))
        if not 1 <= limit <= MAX_LIMIT:
            raise _invalid("limit", actor.lang, "invalid_limit", max=MAX_LIMIT)
        before = _cursor(cursor, actor.lang)
        if app_id is not None:
            form_store.get_app(conn, app_id)
        if actor.user_id is None:
            return {"items": [], "next_cursor": None}
        forms: dict[int, tuple[int, CompiledForm, FormAccess]] = {}
        scopes: dict[int, Any] = {}
        for form_id, app, version in task_store.published_forms(conn, app_id):
            access = self._form_access(conn, actor, form_id)
            if not access.allows("view"):
                continue
            cf = self._version(conn, form_id, version)
            forms[form_id] = (app, cf, access)
            scopes[form_id] = scope_condition(
                conn, cf, access.scopes_for("view"), actor, self.timezone
            )
        role_stages = {
            form_id: [
                s.key
                for s in (cf.definition.workflow.stages if cf.definition.workflow else [])
                if s.assignee is not None
                and s.assignee.role is not None
                and s.assignee.role in actor.role_keys
            ]
            for form_id, (_, cf, _) in forms.items()
        }
        now = self.clock()
        rows = task_store.task_page(
            conn,
            box,
            user_id=actor.user_id,
            role_stages=role_stages,
            scopes=scopes,
            overdue_at=now if overdue else None,
            limit=limit + 1,
            before_id=before,
        )
        items = []
        for row in rows[:limit]:
            app, cf, access = forms[row.form_id]
            definition = cf.definition
            wf = definition.workflow
            stage = wf.stage(row.stage) if wf is not None and row.stage else None
            title_field = definition.title_field
            hidden = stage_rules(access, definition, row.stage).hidden
            title = row.data.get(title_field) if title_field and title_field not in hidden else None
            items.append(
                {
                    "record_id": row.record_id,
                    "form_id": row.form_id,
                    "app_id": app,
                    "form_name": definition.name,
                    "stage": row.stage,
                    "stage_name": stage.name if stage else None,
                    "title": title,
                    "due_at": utc_text_or_none(row.due_at),
                    "overdue": row.due_at is not None and row.due_at < now,
                    "assignee_id": row.assignee_id,
                }
            )
        more = len(rows) > limit
        return {"items": items, "next_cursor": str(rows[limit - 1].record_id) if more else None}


def _cursor(cursor: str | None, lang: str) -> int | None:
    if cursor is None or cursor == "":
        return None
    if not (cursor.isascii() and cursor.isdigit() and len(cursor) <= 19):
        raise _invalid("cursor", lang, "invalid_cursor")
    return int(cursor)


def _invalid(field: str, lang: str, entry: str, **params: Any) -> InvalidQueryError:
    return InvalidQueryError([FieldError.told(field, f"invalid_{field}", lang, entry, **params)])

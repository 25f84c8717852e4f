"""Data-permission scopes as SQL: the condition on ``records`` that a query, an aggregate and a
single-record read of one actor are ANDed with (the decisions themselves are
:mod:`runtime.permissions`)."""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

from builder.query import MAX_FILTER_CONDITIONS
from runtime.actor import Actor
from runtime.compiled import CompiledForm
from runtime.errors import InvalidQueryError
from runtime.permissions import NoMatch, Scope, bind_current_user
from runtime.search_text import MAX_SEARCH_WORDS, search_words
from runtime.store import org
from runtime.store.query import DEFAULT_TIMEZONE, filter_condition
from runtime.store.tables import records, user_departments

log = logging.getLogger("stageform.permissions")


def scope_condition(
    conn: sa.Connection,
    cf: CompiledForm,
    scopes: tuple[Scope, ...] | None,
    actor: Actor,
    timezone: str = DEFAULT_TIMEZONE,
) -> ColumnElement[bool] | None:
    """The records ``scopes`` reach for ``actor`` (their union); ``None``: every record.

    A filter scope that no longer fits the form (a field was removed) reaches nothing, and
    is logged: a broken rule must not widen access.
    """
    if scopes is None:
        return None
    parts: list[ColumnElement[bool]] = []
    user: Mapping[str, Any] | None = None
    for s in scopes:
        if s.kind == "own":
            if actor.user_id is not None:
                parts.append(records.c.owner_id == actor.user_id)
        elif s.kind == "department":
            subtree = org.department_subtree(conn, actor.department_ids)
            if subtree:
                members = sa.select(user_departments.c.user_id).where(
                    user_departments.c.department_id.in_(sorted(subtree))
                )
                parts.append(records.c.owner_id.in_(members))
        elif s.kind == "filter" and s.filter is not None:
            if user is None:
                user = org.user_attributes(conn, actor.user_id)
            try:
                bound = bind_current_user(s.filter, user)
                parts.append(filter_condition(conn, cf, bound, actor=actor, timezone=timezone))
            except NoMatch:
                continue
            except InvalidQueryError as error:
                log.warning("permission scope of form %s does not fit it: %s", cf.form_id, error)
    return sa.or_(*parts) if parts else sa.false()


def record_in_scope(conn: sa.Connection, record_id: int, scope: ColumnElement[bool]) -> bool:
    """Whether the record passes ``scope`` (deleted records included: the caller decides)."""
    found = conn.execute(sa.select(records.c.id).where(records.c.id == record_id, scope)).first()
    return found is not None


# Field types whose text a visible-fields search reads (through the ``contains`` operator).
_TEXT_TYPES = frozenset({"text", "textarea", "email", "phone", "url", "serial"})
# Field types whose text is in ``records.search_text`` (runtime.search_text).
_SEARCHED_TYPES = _TEXT_TYPES | {
    "rich_text",
    "select",
    "multi_select",
    "address",
    "formula",
    "subform",
}


def search_hides(cf: CompiledForm, hidden: frozenset[str]) -> bool:
    """Whether ``records.search_text`` holds text of a field in ``hidden`` (then a search by
    that actor must not read it: :func:`visible_search_condition`)."""
    return any(cf.fields[k].type in _SEARCHED_TYPES for k in hidden if k in cf.fields)


def visible_search_condition(
    conn: sa.Connection,
    cf: CompiledForm,
    search: str,
    hidden: frozenset[str],
    actor: Actor,
    timezone: str = DEFAULT_TIMEZONE,
) -> ColumnElement[bool]:
    """Every word of ``search`` in one of the visible text fields (case-insensitive), for an
    actor some searched fields are hidden from: the query's own search (on ``search_text``)
    still narrows through the index, this keeps only records matching on what they see."""
    keys = [k for k, f in cf.fields.items() if f.type in _TEXT_TYPES and k not in hidden]
    words = search_words(search)[:MAX_SEARCH_WORDS]
    if not words:
        return sa.true()
    if not keys:
        return sa.false()

    def any_field(word: str) -> dict[str, Any]:
        # A filter list holds at most MAX_FILTER_CONDITIONS entries: nest for wider forms.
        leaves = [{"field": k, "op": "contains", "value": word} for k in keys]
        step = MAX_FILTER_CONDITIONS
        return {"or": [{"or": leaves[i : i + step]} for i in range(0, len(leaves), step)]}

    return filter_condition(
        conn, cf, {"and": [any_field(w) for w in words]}, actor=actor, timezone=timezone
    )


def both(a: ColumnElement[bool], b: ColumnElement[bool]) -> ColumnElement[bool]:
    return sa.and_(a, b)


def reached(conn: sa.Connection, ids: Collection[int], scope: ColumnElement[bool]) -> set[int]:
    """Which of the records ``ids`` pass ``scope``."""
    rows = conn.execute(sa.select(records.c.id).where(records.c.id.in_(sorted(ids)), scope))
    return set(rows.scalars())


def unless_written_under(
    versions: Collection[int], condition: ColumnElement[bool]
) -> ColumnElement[bool]:
    """``condition`` for the records written under one of ``versions``; every other record
    passes."""
    return sa.or_(records.c.schema_version.not_in(sorted(versions)), condition)

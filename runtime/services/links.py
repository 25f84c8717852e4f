"""Public links: a form shared with people who have no account.

- A **fill link** creates records through the normal pipeline as :data:`runtime.actor.PUBLIC`
  (no user: ``owner_id`` and ``created_by`` stay empty).
- A **query link** (Jiandaoyun's 公开查询) answers one record: the visitor sends the values of
  the link's *match* fields; each must match exactly (``exact``: the field's stored value,
  after the field's own normalisation, e.g. a phone number; ``suffix``: the last ``length``
  characters, separators ignored — "the phone number's last 4 digits"). Exactly one live
  record matching → the link's *show* fields (as display text) and, if chosen, its stage.
  None or several → ``None``; the caller answers both the same way.

Both kinds of answer do the same work: one query, the same columns, the same Python steps
(a not-found answer is built from a stand-in record and then dropped), so neither the message
nor the time tells a visitor whether a value exists.

Managing links is an admin action: creation and revocation are written to the audit log.
The app hashes the token and password (``app/security.py``); nothing secret reaches here.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hmac
import re
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from builder.errors import CoercionError
from builder.fields.base import CoerceContext, Source
from builder.pydantic_messages import pydantic_message
from builder.value_types import StorageKind
from runtime.actor import PUBLIC, Actor
from runtime.compiled import CompiledForm
from runtime.errors import DefinitionRejectedError, FieldError, NotFoundError
from runtime.pipeline import relation_ids as ids_of
from runtime.safe_text import contains_nul
from runtime.services.records import RecordServices
from runtime.store import directory
from runtime.store import forms as form_store
from runtime.store import links as link_store

LinkKind = Literal["fill", "query"]

# More candidates than this for the exact matchers means the match is not unique anyway.
MAX_CANDIDATES = 20
_SEPARATORS = re.compile(r"[\s\-]")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Matcher(_Strict):
    field: str = Field(min_length=1, max_length=100)
    match: Literal["exact", "suffix"] = "exact"
    # suffix only: how many trailing characters the visitor gives (4 for a phone's last 4).
    length: int | None = Field(None, ge=1, le=20)

    @model_validator(mode="after")
    def _length_for_suffix(self) -> Matcher:
        if (self.match == "suffix") != (self.length is not None):
            raise ValueError("'length' is required for a suffix match and only for one")
        return self


class QueryConfig(_Strict):
    """What a query link matches on and answers with."""

    match: list[Matcher] = Field(min_length=1, max_length=5)
    show: list[str] = Field(min_length=1, max_length=50)
    show_stage: bool = False


class FillConfig(_Strict):
    """Nothing to configure yet: the link fills the form's published version."""


def _problem(
    path: str, code: str, lang: str, entry: str | None = None, **params: Any
) -> dict[str, str]:
    """:meth:`FieldError.told` in the builder's problem shape (``path`` for ``field``)."""
    told = FieldError.told(path, code, lang, entry, **params)
    return {"path": path, "code": code, "message": told.message}


def _pydantic_problems(exc: ValidationError, lang: str) -> list[dict[str, str]]:
    return [
        _problem(
            ".".join(str(p) for p in ("config", *e["loc"])),
            str(e["type"]),
            lang,
            "invalid_shape",
            detail=pydantic_message(e, lang),
        )
        for e in exc.errors()
    ]


def _compact(value: str) -> str:
    return _SEPARATORS.sub("", value)


class LinkServices(RecordServices):
    # --- management (form.manage) ---------------------------------------------------------

    def create_link(
        self,
        conn: Any,
        actor: Actor,
        form_id: int,
        *,
        kind: LinkKind,
        name: str,
        token_hash: str,
        password_hash: str | None,
        expires_at: dt.datetime | None,
        config: Any,
    ) -> link_store.LinkRow:
        """Raises: DefinitionRejectedError (a config that does not fit the form),
        NotFoundError, ConflictError (form not published)."""
        self._manage_app(actor, form_store.get_form(conn, form_id).app_id)
        cf = self.compiled_form(conn, form_id)
        checked = self._checked_config(cf, kind, config, actor.lang)
        if expires_at is not None and expires_at <= self.clock():
            raise DefinitionRejectedError([_problem("expires_at", "expires_in_past", actor.lang)])
        row = link_store.create_link(
            conn,
            form_id=form_id,
            kind=kind,
            name=name,
            token_hash=token_hash,
            password_hash=password_hash,
            config=checked,
            expires_at=expires_at,
            created_by=actor.user_id,
            now=self.clock(),
        )
        self._audit(
            conn,
            actor,
            "link.create",
            f"link:{row.id}",
            {
                "form_id": form_id,
                "kind": kind,
                "name": name,
                "password": password_hash is not None,
                "expires_at": expires_at.isoformat() if expires_at else None,
                "config": checked,
            },
        )
        return row

    def list_links(self, conn: Any, actor: Actor, form_id: int) -> list[link_store.LinkRow]:
        self._manage_app(actor, form_store.get_form(conn, form_id).app_id)
        return link_store.list_links(conn, form_id)

    def revoke_link(self, conn: Any, actor: Actor, link_id: int) -> link_store.LinkRow:
        """Raises: NotFoundError (no such link, or already revoked)."""
        link = link_store.get_link(conn, link_id)
        self._manage_app(actor, form_store.get_form(conn, link.form_id).app_id)
        row = link_store.revoke_link(conn, link_id, now=self.clock())
        self._audit(
            conn,
            actor,
            "link.revoke",
            f"link:{row.id}",
            {"form_id": row.form_id, "kind": row.kind, "name": row.name},
        )
        return row

    def _checked_config(
        self, cf: CompiledForm, kind: LinkKind, config: Any, lang: str
    ) -> dict[str, Any]:
        model: type[_Strict] = QueryConfig if kind == "query" else FillConfig
        try:
            parsed = model.model_validate(config if config is not None else {})
        except ValidationError as exc:
            raise DefinitionRejectedError(_pydantic_problems(exc, lang)) from None
        if isinstance(parsed, QueryConfig):
            problems = _query_problems(cf, parsed, lang)
            if problems:
                raise DefinitionRejectedError(problems)
        return parsed.model_dump(exclude_none=True)

    # --- visitors ---------------------------------------------------------------------------

    def find_public_link(self, conn: Any, token_hash: str) -> link_store.LinkRow | None:
        """The live link whose token has this hash: not revoked, not expired, and its form
        still there (a deleted app's links are dead too)."""
        link = link_store.find_live_link(conn, token_hash, now=self.clock())
        if link is None:
            return None
        try:
            form_store.get_form(conn, link.form_id)
        except NotFoundError:
            return None
        return link

    def public_fill(
        self, conn: Any, link: link_store.LinkRow, data: Any, lang: str
    ) -> dict[str, Any]:
        """Create a record through the pipeline as the anonymous actor.

        Raises: RecordValidationError, ConflictError.
        """
        return self.create_record(
            conn,
            dataclasses.replace(PUBLIC, lang=lang, link_form_id=link.form_id),
            link.form_id,
            data,
        )

    def public_query(
        self, conn: Any, link: link_store.LinkRow, values: Mapping[str, Any], lang: str
    ) -> dict[str, Any] | None:
        """The answer for the one record matching ``values``, or ``None`` (no match or several).

        Raises: ConflictError (the form has no published version any more).
        """
        from runtime.store.query import Actor as QueryActor
        from runtime.store.query import query_records

        cf = self.compiled_form(conn, link.form_id)
        spec = QueryConfig.model_validate(link.config)
        # The form changed under the link so that its matching cannot work (a matched field
        # removed, or of another type). A removed *shown* field is only left out of answers.
        changed = any(p["path"].startswith("config.match") for p in _query_problems(cf, spec, lang))
        possible = not changed
        conditions = []
        for m in spec.match:
            if m.match == "exact":
                value, ok = self._exact_value(cf, m.field, values.get(m.field))
                possible = possible and ok
                conditions.append({"field": m.field, "op": "eq", "value": value})
        if changed:
            # A matched field removed, or now of a type "eq" does not take: a query for no
            # record, and the answer of any miss (never the engine's problem naming the field).
            # (A value that cannot match keeps the query's shape: a miss costs what a hit does.)
            conditions = [{"field": "id", "op": "eq", "value": 0}]
        wanted = sorted({k for k in spec.show if k in cf.fields} | {m.field for m in spec.match})
        page = query_records(
            conn,
            cf,
            filter={"and": conditions},
            limit=MAX_CANDIDATES,
            fields=[k for k in wanted if k in cf.fields],
            actor=QueryActor(user_id=None, department_ids=frozenset()),
            timezone=self.timezone,
        )
        suffixes = [m for m in spec.match if m.match == "suffix"]
        matches = [
            item
            for item in page.items
            # A list, not all(...): every matcher is checked for every candidate.
            if all(
                [
                    _suffix_matches(item["data"].get(m.field), values.get(m.field), m)
                    for m in suffixes
                ]
            )
        ]
        found = len(matches) == 1 and page.count <= MAX_CANDIDATES and possible
        record = matches[0] if len(matches) == 1 else {"data": {}, "stage": None}
        answer = self._answer(conn, cf, spec, record, lang)
        return answer if found else None

    def _exact_value(self, cf: CompiledForm, key: str, raw: Any) -> tuple[Any, bool]:
        """The visitor's value as the field stores it, and whether it could match at all.
        An impossible value is replaced by the field's sample so the query still runs."""
        f, t = cf.fields.get(key), cf.types.get(key)
        if f is None or t is None:
            return None, False
        value: Any = None
        if isinstance(raw, str) and raw.strip() and not contains_nul(raw) and len(raw) <= 500:
            try:
                value = t.coerce(f, raw, Source.JSON, self.coerce_context)
            except CoercionError:
                value = None
        if isinstance(value, str) and value:
            return value, True
        return t.sample(f), False

    def _answer(
        self, conn: Any, cf: CompiledForm, spec: QueryConfig, record: Mapping[str, Any], lang: str
    ) -> dict[str, Any]:
        data = record.get("data") or {}
        wf = cf.definition.workflow
        stage = wf.stage(record["stage"]) if wf is not None and record.get("stage") else None
        hidden = set(stage.hidden or ()) if stage is not None else set()
        shown = [key for key in spec.show if key in cf.fields and key not in hidden]
        ctx = self._naming(conn, cf, shown, data)
        fields = [
            {
                "key": key,
                "label": cf.label(key),
                "value": cf.types[key].display(cf.fields[key], data.get(key), lang, ctx),
            }
            for key in shown
        ]
        answer: dict[str, Any] = {"fields": fields}
        if spec.show_stage and wf is not None:
            answer["stage"] = None if stage is None else {"key": stage.key, "name": stage.name}
            answer["stages"] = [{"key": s.key, "name": s.name} for s in wf.stages]
        return answer

    def _naming(
        self, conn: Any, cf: CompiledForm, keys: list[str], data: Mapping[str, Any]
    ) -> CoerceContext:
        """The coercion context with the names of the people and departments ``keys`` hold:
        a visitor sees 张三, not the user id 7."""
        people = {i for k in keys if cf.fields[k].type in _PEOPLE for i in ids_of(data.get(k))}
        groups = {i for k in keys if cf.fields[k].type in _GROUPS for i in ids_of(data.get(k))}
        if not people and not groups:
            return self.coerce_context
        user_names, department_names = directory.names(conn, people, groups)
        return dataclasses.replace(
            self.coerce_context,
            describe_user=user_names.get,
            describe_department=department_names.get,
        )


_PEOPLE = frozenset({"user", "users"})
_GROUPS = frozenset({"department"})


def _suffix_matches(stored: Any, given: Any, m: Matcher) -> bool:
    if not isinstance(given, str) or not isinstance(stored, str) or m.length is None:
        # Compare something anyway: the same work for a missing value.
        hmac.compare_digest(b"x" * 4, b"y" * 4)
        return False
    want = _compact(given)
    have = _compact(stored)[-m.length :]
    same = hmac.compare_digest(want.encode("utf-8"), have.encode("utf-8"))
    return same and len(want) == m.length


def _query_problems(cf: CompiledForm, spec: QueryConfig, lang: str) -> list[dict[str, str]]:
    problems: list[dict[str, str]] = []
    if not any(m.match == "exact" for m in spec.match):
        problems.append(_problem("config.match", "exact_match_required", lang))
    seen: set[str] = set()
    for i, m in enumerate(spec.match):
        path = f"config.match[{i}].field"
        if m.field in seen:
            problems.append(_problem(path, "duplicate_field", lang, key=m.field))
        seen.add(m.field)
        if m.field not in cf.fields:
            problems.append(_problem(path, "unknown_field", lang, key=m.field))
        elif cf.storage[m.field] is not StorageKind.TEXT:
            problems.append(_problem(path, "field_not_matchable", lang, key=m.field))
    for i, key in enumerate(spec.show):
        if key not in cf.fields:
            problems.append(_problem(f"config.show[{i}]", "unknown_field", lang, key=key))
    if spec.show_stage and cf.definition.workflow is None:
        problems.append(_problem("config.show_stage", "no_workflow", lang))
    return problems

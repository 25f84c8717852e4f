"""Records: the write side of the pipeline (insert, update, delete, restore, purge), their
history and comments, and :class:`AppStoreAccess`, the pipeline's window on the database.

Every write here runs inside the caller's transaction and writes the record, its history entry,
its unique-value claims and its outbox event together: all or nothing.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Collection, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from builder.i18n import translate
from runtime.compiled import CompiledForm
from runtime.errors import (
    ConflictError,
    FieldError,
    NotFoundError,
    RecordValidationError,
    StaleVersionError,
)
from runtime.pipeline import Prepared
from runtime.search_text import search_text
from runtime.store.batch_insert import begun, driver_row, insert_many, insert_new
from runtime.store.prebuilt import Prebuilt
from runtime.store.tables import (
    departments,
    outbox,
    record_comments,
    record_history,
    record_unique,
    records,
    serial_counters,
    stage_log,
    users,
)
from runtime.store.values import BY_STATEMENT
from runtime.timestamps import utc_text, utc_text_or_none


@dataclass(frozen=True)
class RecordRow:
    id: int
    form_id: int
    schema_version: int
    version: int
    stage: str | None
    data: dict[str, Any]
    hidden: dict[str, Any] | None
    owner_id: int | None
    assignee_id: int | None
    created_at: dt.datetime
    created_by: int | None
    updated_at: dt.datetime
    updated_by: int | None
    deleted_at: dt.datetime | None

    def as_api(self) -> dict[str, Any]:
        """The record as the API shows it (DESIGN.md, "A record is …")."""
        return {
            "id": self.id,
            "form_id": self.form_id,
            "version": self.version,
            "stage": self.stage,
            "data": self.data,
            "created_at": _api_time(self.created_at),
            "created_by": self.created_by,
            "updated_at": _api_time(self.updated_at),
            "updated_by": self.updated_by,
        }


# The last time written by _api_time and its text: the rows of a batch share one timestamp
# object (created and updated at the same moment), so its text is worked out once.
_last_api_time: tuple[dt.datetime | None, str] = (None, "")


def _api_time(at: dt.datetime) -> str:
    global _last_api_time
    last, text = _last_api_time  # one read: another thread may replace it meanwhile
    if at is not last:
        text = utc_text(at)
        _last_api_time = (at, text)
    return text


_COLUMNS = [records.c[name] for name in RecordRow.__dataclass_fields__]


def _row(r: Any) -> RecordRow:
    return RecordRow(**{name: getattr(r, name) for name in RecordRow.__dataclass_fields__})


def get_record(
    conn: sa.Connection, record_id: int, *, deleted: bool = False, lock: bool = False
) -> RecordRow:
    """The record, live (or, with ``deleted=True``, in the recycle bin). ``lock``: hold its
    row lock until the transaction ends (``FOR UPDATE`` on PostgreSQL; SQLite's write
    transactions hold the whole database already), so operations that read then write the
    record's workflow state (approval votes, reassignment) run one after the other.

    Raises: NotFoundError.
    """
    cond = records.c.deleted_at.is_not(None) if deleted else records.c.deleted_at.is_(None)
    query = sa.select(*_COLUMNS).where(records.c.id == record_id, cond)
    r = conn.execute(query.with_for_update() if lock else query).first()
    if r is None:
        raise NotFoundError("record", record_id)
    return _row(r)


# One encoder for every claim (json.dumps with options builds a new one per call).
_VALUE_KEY = json.JSONEncoder(sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode


def _value_key(value: Any) -> str:
    return _VALUE_KEY(value)


def _claims(conn: sa.Connection) -> Any:
    """``INSERT INTO record_unique … ON CONFLICT DO NOTHING``: a value another record holds is
    not claimed, and the transaction goes on."""
    insert: Any = (
        postgresql.insert(record_unique)
        if conn.dialect.name == "postgresql"
        else sqlite.insert(record_unique)
    )
    return insert.on_conflict_do_nothing()


def _claim(
    conn: sa.Connection,
    cf: CompiledForm,
    record_id: int,
    values: Mapping[str, Any],
    lang: str,
) -> None:
    """Claim unique values for ``record_id`` (releasing what it held for those fields). The
    table's primary key refuses a value another record holds (``ON CONFLICT DO NOTHING`` tells
    us without aborting the transaction). New records claim in bulk (:func:`_claim_new`).

    Raises: RecordValidationError (``not_unique`` for each taken value).
    """
    errors: list[FieldError] = []
    for key, value in values.items():
        conn.execute(
            record_unique.delete().where(
                record_unique.c.record_id == record_id, record_unique.c.field_key == key
            )
        )
        row = {
            "form_id": cf.form_id,
            "field_key": key,
            "value_key": _value_key(value),
            "record_id": record_id,
        }
        claimed = conn.execute(
            _claims(conn).values(**row).returning(record_unique.c.record_id)
        ).first()
        if claimed is None:
            errors.append(_not_unique(cf, key, value, lang))
    if errors:
        raise RecordValidationError(errors)


def claim_existing(conn: sa.Connection, cf: CompiledForm, keys: Sequence[str]) -> int:
    """Claims for the values live records already hold in ``keys``, fields a new version made
    unique: from then on a write must not take one of them. Where records already share a
    value, the first (by id) holds it; the others keep theirs until they are edited. Returns
    how many values were claimed."""
    statement = _claims(conn)
    claimed = 0
    for key in keys:
        value = (
            records.c.data[key]
            if conn.dialect.name == "postgresql"
            else sa.func.json_extract(records.c.data, sa.literal(f"$.{key}"))
        )
        rows = conn.execute(
            sa.select(records.c.id, value.label("value"))
            .where(records.c.form_id == cf.form_id, records.c.deleted_at.is_(None))
            .order_by(records.c.id)
        )
        batch: list[dict[str, Any]] = []
        for record_id, held in rows.all():
            if held is None or held == "" or held == []:
                continue
            batch.append(
                {
                    "form_id": cf.form_id,
                    "field_key": key,
                    "value_key": _value_key(held),
                    "record_id": record_id,
                }
            )
            if len(batch) == 1000:
                conn.execute(statement, batch)
                claimed += len(batch)
                batch = []
        if batch:
            conn.execute(statement, batch)
            claimed += len(batch)
    return claimed


def _history(
    conn: sa.Connection,
    row_id: int,
    form_id: int,
    version: int,
    action: str,
    actor_id: int | None,
    now: dt.datetime,
    diff: Mapping[str, Any],
    comment: str | None = None,
) -> None:
    conn.execute(
        record_history.insert().values(
            record_id=row_id,
            form_id=form_id,
            version=version,
            action=action,
            actor_id=actor_id,
            at=now,
            diff=dict(diff),
            comment=comment,
        )
    )


def _event(conn: sa.Connection, topic: str, payload: dict[str, Any], now: dt.datetime) -> None:
    conn.execute(
        outbox.insert().values(topic=topic, payload=payload, created_at=now, available_at=now)
    )


def unique_taken(errors: Sequence[FieldError]) -> ConflictError:
    """409 ``unique_taken``: a restored record's unique values that others took meanwhile
    (``errors``, the ``not_unique`` problems, are the exception's cause)."""
    return ConflictError("; ".join(e.message for e in errors), code="unique_taken")


class UniqueTakenError(RecordValidationError):
    """Unique values of new records that are taken (``not_unique``); ``rows[k]`` is the index,
    in the batch, of the record ``errors[k]`` is about."""

    def __init__(self, taken: list[tuple[int, FieldError]]) -> None:
        super().__init__([e for _, e in taken])
        self.rows = [i for i, _ in taken]


def insert_records(
    conn: sa.Connection,
    cf: CompiledForm,
    prepared: Sequence[Prepared],
    *,
    actor_id: int | None,
    owner_id: int | None,
    stage: str | None,
    now: dt.datetime,
    lang: str = "zh",
    stage_due: Sequence[dt.datetime | None] | None = None,
) -> list[RecordRow]:
    """Write new records (in order) with their history entries, unique claims and
    ``record.created`` events, and — when ``stage_due`` is given (one deadline or None per
    record) — their stay in ``stage`` in the stage log.

    Set-based (:mod:`runtime.store.batch_insert`): a multi-row ``INSERT`` per 1,000 rows on
    SQLite, ``COPY`` on PostgreSQL, for each table; one statement for the unique claims. One
    record on PostgreSQL is one statement for all of it (:func:`_insert_one_postgresql`).

    Raises: UniqueTakenError (a value taken by another record or by an earlier record of the
    batch); records of the batch may then have been written, so run this inside a savepoint
    or a transaction that is rolled back on error (the services do).
    """
    if not prepared:
        return []
    if len(prepared) == 1 and conn.dialect.name == "postgresql":
        return [
            _insert_one_postgresql(
                conn,
                cf,
                prepared[0],
                actor_id=actor_id,
                owner_id=owner_id,
                stage=stage,
                now=now,
                lang=lang,
                stage_due=stage_due,
            )
        ]
    rows = _insert_rows(
        conn, cf, prepared, actor_id=actor_id, owner_id=owner_id, stage=stage, now=now
    )
    taken = _claim_new(conn, cf, rows, prepared, lang)
    if taken:
        raise UniqueTakenError(taken)
    form_id = cf.form_id
    insert_many(
        conn,
        record_history,
        ("record_id", "form_id", "version", "action", "actor_id", "at", "diff"),
        [
            (row.id, form_id, 1, "create", actor_id, now, p.changes)
            for row, p in zip(rows, prepared, strict=True)
        ],
    )
    insert_many(
        conn,
        outbox,
        ("topic", "payload", "created_at", "available_at", "attempts"),
        [
            (
                "record.created",
                {"record_id": row.id, "form_id": form_id, "version": 1, "actor_id": actor_id},
                now,
                now,
                0,
            )
            for row in rows
        ],
    )
    if stage is not None and stage_due is not None:
        insert_many(
            conn,
            stage_log,
            ("record_id", "form_id", "to_stage", "actor_id", "at", "due_at"),
            [
                (row.id, form_id, stage, actor_id, now, due)
                for row, due in zip(rows, stage_due, strict=True)
            ],
        )
    return rows


def insert_record(
    conn: sa.Connection,
    cf: CompiledForm,
    prepared: Prepared,
    *,
    actor_id: int | None,
    owner_id: int | None,
    stage: str | None,
    now: dt.datetime,
    lang: str = "zh",
    stage_due: dt.datetime | None = None,
) -> RecordRow:
    """:func:`insert_records` for one record (its stage-log entry written when ``stage`` is
    set). Raises: UniqueTakenError (see there)."""
    return insert_records(
        conn,
        cf,
        [prepared],
        actor_id=actor_id,
        owner_id=owner_id,
        stage=stage,
        now=now,
        lang=lang,
        stage_due=[stage_due],
    )[0]


def _not_unique(cf: CompiledForm, key: str, value: Any, lang: str) -> FieldError:
    label = cf.label(key)
    return FieldError(
        key,
        "not_unique",
        translate("not_unique", lang, label=label, value=value),
        {"label": label, "value": value},
    )


def _claim_new(
    conn: sa.Connection,
    cf: CompiledForm,
    rows: Sequence[RecordRow],
    prepared: Sequence[Prepared],
    lang: str,
) -> list[tuple[int, FieldError]]:
    """Claim the unique values of new records in one statement. Returns the taken ones by
    record index: values another record holds (``ON CONFLICT DO NOTHING``: they do not come
    back) and values an earlier record of the batch claims (found here, not sent)."""
    form_id = cf.form_id
    rows_sent: list[tuple[int, str, str, int]] = []  # (form_id, field_key, value_key, record_id)
    about: list[tuple[int, Any]] = []  # (record index, value) of each row sent
    taken: list[tuple[int, FieldError]] = []
    sent: set[tuple[str, str]] = set()
    for i, (row, p) in enumerate(zip(rows, prepared, strict=True)):
        for key, value in p.unique.items():
            value_key = _value_key(value)
            if (key, value_key) in sent:
                taken.append((i, _not_unique(cf, key, value, lang)))
                continue
            sent.add((key, value_key))
            rows_sent.append((form_id, key, value_key, row.id))
            about.append((i, value))
    if not rows_sent:
        return taken
    got = set(
        insert_new(
            conn,
            record_unique,
            ("form_id", "field_key", "value_key", "record_id"),
            rows_sent,
            returning=("record_id", "field_key"),
        )
    )
    if len(got) < len(rows_sent):
        taken.extend(
            (i, _not_unique(cf, key, value, lang))
            for (_, key, _, record_id), (i, value) in zip(rows_sent, about, strict=True)
            if (record_id, key) not in got
        )
        taken.sort(key=lambda t: t[0])
    return taken


_VALUES_BY_STATEMENT = sa.text(f"SELECT set_config('{BY_STATEMENT}', :on, true)")


def _atomic(conn: sa.Connection, needed: bool) -> AbstractContextManager[Any]:
    """A savepoint when a step may refuse after an earlier one wrote (a taken unique value), so
    that the refusal leaves nothing behind even inside a caller's larger transaction."""
    return conn.begin_nested() if needed else nullcontext()


_RECORD_COLUMNS = (
    "form_id", "schema_version", "stage", "data", "search_text", "owner_id",
    "created_at", "created_by", "updated_at", "updated_by", "version",
)  # fmt: skip


def _record_values(
    cf: CompiledForm,
    p: Prepared,
    stage: str | None,
    owner_id: int | None,
    actor_id: int | None,
    now: dt.datetime,
) -> tuple[Any, ...]:
    """A new record's row, in the order of :data:`_RECORD_COLUMNS`."""
    return (cf.form_id, cf.version, stage, p.data, search_text(cf, p.data), owner_id,
            now, actor_id, now, actor_id, 1)  # fmt: skip


def _insert_rows(
    conn: sa.Connection,
    cf: CompiledForm,
    prepared: Sequence[Prepared],
    *,
    actor_id: int | None,
    owner_id: int | None,
    stage: str | None,
    now: dt.datetime,
) -> list[RecordRow]:
    """Insert the records (:func:`~runtime.store.batch_insert.insert_many`: multi-row
    ``INSERT`` on SQLite, ``COPY`` on PostgreSQL); the rows as stored, in the order given. Only
    the ids come back: every other column is what was sent, so nothing is read or decoded
    again."""
    # PostgreSQL: a batch fills the value tables with one statement-level trigger call instead
    # of a row trigger per record (runtime.store.values.insert_trigger_statements).
    by_statement = conn.dialect.name == "postgresql" and len(prepared) > 1
    if by_statement:
        conn.execute(_VALUES_BY_STATEMENT, {"on": "on"})
    ids = insert_many(
        conn,
        records,
        _RECORD_COLUMNS,
        [_record_values(cf, p, stage, owner_id, actor_id, now) for p in prepared],
        new_ids=True,
    )
    if by_statement:
        conn.execute(_VALUES_BY_STATEMENT, {"on": "off"})
    first = _new_row(cf, ids[0], prepared[0].data, stage, owner_id, actor_id, now)
    return [first, *_like(first, ids[1:], [p.data for p in prepared[1:]])]


def _new_row(
    cf: CompiledForm,
    record_id: int,
    data: dict[str, Any],
    stage: str | None,
    owner_id: int | None,
    actor_id: int | None,
    now: dt.datetime,
) -> RecordRow:
    """A new record as stored (every column is what was sent)."""
    at = now.astimezone(dt.UTC)
    return RecordRow(
        id=record_id,
        form_id=cf.form_id,
        schema_version=cf.version,
        version=1,
        stage=stage,
        data=data,
        hidden=None,
        owner_id=owner_id,
        assignee_id=None,
        created_at=at,
        created_by=actor_id,
        updated_at=at,
        updated_by=actor_id,
        deleted_at=None,
    )


def _one_create_statement(with_stay: bool, with_claims: bool) -> str:
    """The single create on PostgreSQL as one statement: the record, its history entry, its
    ``record.created`` event, its stay in the initial stage and its unique claims, each
    sub-insert taking the new id from the first. Returns the id, and with claims the keys
    whose values went in (a taken value does not come back: ``ON CONFLICT DO NOTHING``).

    Foreign keys are checked at the end of the statement, when the record is there."""
    parts = [
        f"INSERT INTO records ({', '.join(_RECORD_COLUMNS)})"
        f" VALUES ({', '.join(f'%(r_{c})s' for c in _RECORD_COLUMNS)}) RETURNING id",
        "INSERT INTO record_history (record_id, form_id, version, action, actor_id, at, diff)"
        " SELECT id, %(form_id)s::integer, 1, 'create', %(actor_id)s::integer,"
        " %(at)s::timestamptz, %(diff)s::jsonb FROM r",
        "INSERT INTO outbox (topic, payload, created_at, available_at, attempts)"
        " SELECT 'record.created', %(payload)s::jsonb || jsonb_build_object('record_id', id),"
        " %(at)s::timestamptz, %(at)s::timestamptz, 0 FROM r",
    ]
    if with_stay:
        parts.append(
            "INSERT INTO stage_log (record_id, form_id, to_stage, actor_id, at, due_at)"
            " SELECT id, %(form_id)s::integer, %(stage)s::text, %(actor_id)s::integer,"
            " %(at)s::timestamptz, %(due_at)s::timestamptz FROM r"
        )
    if with_claims:
        parts.append(
            "INSERT INTO record_unique (form_id, field_key, value_key, record_id)"
            " SELECT %(form_id)s::integer, k, v, id"
            " FROM r, unnest(%(keys)s::text[], %(value_keys)s::text[]) AS c(k, v)"
            " ON CONFLICT DO NOTHING RETURNING field_key"
        )
    names = ["r", "h", "o", *(["s"] if with_stay else []), *(["u"] if with_claims else [])]
    ctes = ", ".join(f"{name} AS ({sql})" for name, sql in zip(names, parts, strict=True))
    back = "id, ARRAY(SELECT field_key FROM u)" if with_claims else "id"
    return f"WITH {ctes} SELECT {back} FROM r"


_ONE_CREATE = {
    (stay, claims): _one_create_statement(stay, claims)
    for stay in (False, True)
    for claims in (False, True)
}


def _insert_one_postgresql(
    conn: sa.Connection,
    cf: CompiledForm,
    p: Prepared,
    *,
    actor_id: int | None,
    owner_id: int | None,
    stage: str | None,
    now: dt.datetime,
    lang: str,
    stage_due: Sequence[dt.datetime | None] | None,
) -> RecordRow:
    """:func:`insert_records` of one record on PostgreSQL, in one round trip instead of five.

    A form with a serial field holds its counter's row lock from the number's allocation to
    the commit, so every round trip after it is time in which no other create of the form can
    go on: five round trips capped a form's HTTP creates near 300/s on the benchmark's
    machine, however many app servers (docs/performance.md, "Session 12")."""
    form_id = cf.form_id
    with_stay = stage is not None and stage_due is not None
    record_values = driver_row(
        conn, records, _RECORD_COLUMNS, _record_values(cf, p, stage, owner_id, actor_id, now)
    )
    diff, at = driver_row(conn, record_history, ("diff", "at"), (p.changes, now))
    (payload,) = driver_row(
        conn, outbox, ("payload",), ({"form_id": form_id, "version": 1, "actor_id": actor_id},)
    )
    params: dict[str, Any] = {
        f"r_{c}": v for c, v in zip(_RECORD_COLUMNS, record_values, strict=True)
    }
    params.update(form_id=form_id, actor_id=actor_id, at=at, diff=diff, payload=payload)
    if with_stay:
        assert stage_due is not None
        (due_at,) = driver_row(conn, stage_log, ("due_at",), (stage_due[0],))
        params.update(stage=stage, due_at=due_at)
    claims = {key: _value_key(value) for key, value in p.unique.items()}
    if claims:
        params.update(keys=list(claims), value_keys=list(claims.values()))
    begun(conn)
    raw = conn.connection.driver_connection
    with raw.cursor() as cur:  # type: ignore[union-attr]
        cur.execute(_ONE_CREATE[(with_stay, bool(claims))], params)
        got = cur.fetchone()
    if claims and len(got[1]) < len(claims):
        went_in = set(got[1])
        raise UniqueTakenError(
            [
                (0, _not_unique(cf, key, value, lang))
                for key, value in p.unique.items()
                if key not in went_in
            ]
        )
    return _new_row(cf, got[0], p.data, stage, owner_id, actor_id, now)


_new = object.__new__
_set = object.__setattr__


def _like(first: RecordRow, ids: Sequence[int], datas: Sequence[dict[str, Any]]) -> list[RecordRow]:
    """Rows equal to ``first`` but for their id and data, built from a copy of its attributes
    (the frozen dataclass's ``__init__`` sets each of the 14 fields through
    ``object.__setattr__``: ≈ 5 µs a row against ≈ 1 µs here)."""
    attributes = first.__dict__
    out: list[RecordRow] = []
    for record_id, data in zip(ids, datas, strict=True):
        row = _new(RecordRow)
        mine = attributes.copy()
        mine["id"] = record_id
        mine["data"] = data
        _set(row, "__dict__", mine)
        out.append(row)
    return out


def _write_version(
    conn: sa.Connection,
    cf: CompiledForm,
    current: RecordRow,
    data: dict[str, Any],
    changes: Mapping[str, Any],
    unique: Mapping[str, Any],
    *,
    expected_version: int,
    actor_id: int | None,
    now: dt.datetime,
    lang: str,
    hidden: dict[str, Any] | None,
    extra: Mapping[str, Any] | None = None,
    bump: bool = True,
    expected_schema: int | None = None,
) -> None:
    """Write the record's next version if it is still at ``expected_version``: its data (and
    ``extra`` columns such as the stage, or the kept ``updated_*`` of an upgrade), claims for
    new unique values, releases for cleared ones — the one versioned write that updates,
    transitions and upgrades share. ``bump=False`` (an upgrade): the version stays, so the
    write also requires the record to be still at ``expected_schema`` (its form version).

    Raises: StaleVersionError, RecordValidationError (``not_unique``).
    """
    with _atomic(conn, bool(unique)):
        values = {
            "data": data,
            "search_text": search_text(cf, data),
            "schema_version": cf.version,
            "version": expected_version + 1 if bump else expected_version,
            "updated_at": now,
            "updated_by": actor_id,
            "hidden": hidden if hidden is not None else current.hidden,
            **(extra or {}),
        }
        statement = records.update().where(
            records.c.id == current.id,
            records.c.version == expected_version,
            records.c.deleted_at.is_(None),
        )
        if expected_schema is not None:
            statement = statement.where(records.c.schema_version == expected_schema)
        else:
            # A writer that read an older form version (a publish and its upgrade committed
            # meanwhile) never writes the record back under that version: it is stale.
            statement = statement.where(records.c.schema_version <= cf.version)
        result = conn.execute(statement.values(**values))
        if result.rowcount != 1:
            raise StaleVersionError(expected_version, get_record(conn, current.id).as_api())
        if unique:
            _claim(conn, cf, current.id, unique, lang)
    released = [
        k
        for k, change in changes.items()
        if k in cf.fields and cf.fields[k].unique and change[1] is None
    ]
    if released:
        conn.execute(
            record_unique.delete().where(
                record_unique.c.record_id == current.id, record_unique.c.field_key.in_(released)
            )
        )


def update_record(
    conn: sa.Connection,
    cf: CompiledForm,
    current: RecordRow,
    prepared: Prepared,
    *,
    expected_version: int,
    actor_id: int | None,
    now: dt.datetime,
    lang: str = "zh",
    hidden: dict[str, Any] | None = None,
) -> RecordRow:
    """Write ``prepared`` over ``current`` if it is still at ``expected_version``.

    ``hidden`` replaces the record's hidden data (after a form change moved values there).

    A write that changes nothing leaves the record (and its version) as it is.

    Raises: StaleVersionError, RecordValidationError (``not_unique``).
    """
    if current.version != expected_version:
        raise StaleVersionError(expected_version, current.as_api())
    if not prepared.changes and current.schema_version == cf.version:
        return current
    _write_version(
        conn,
        cf,
        current,
        prepared.data,
        prepared.changes,
        prepared.unique,
        expected_version=expected_version,
        actor_id=actor_id,
        now=now,
        lang=lang,
        hidden=hidden,
    )
    _history(
        conn,
        current.id,
        cf.form_id,
        expected_version + 1,
        "update",
        actor_id,
        now,
        prepared.changes,
    )
    _event(
        conn,
        "record.updated",
        {
            "record_id": current.id,
            "form_id": cf.form_id,
            "version": expected_version + 1,
            "actor_id": actor_id,
            "fields": sorted(prepared.changes),
        },
        now,
    )
    return get_record(conn, current.id)


def behind(
    conn: sa.Connection, form_id: int, version: int, *, after_id: int, limit: int
) -> list[RecordRow]:
    """Up to ``limit`` live records of the form written under a version older than
    ``version``, in id order after ``after_id``."""
    result = conn.execute(
        sa.select(*_COLUMNS)
        .where(
            records.c.form_id == form_id,
            records.c.deleted_at.is_(None),
            records.c.id > after_id,
            records.c.schema_version < version,
        )
        .order_by(records.c.id)
        .limit(limit)
    )
    return [_row(r) for r in result]


def upgrade_record(
    conn: sa.Connection,
    cf: CompiledForm,
    current: RecordRow,
    prepared: Prepared,
    *,
    hidden: dict[str, Any],
    now: dt.datetime,
) -> bool:
    """Store ``current`` as ``cf``'s version derives it (``prepared``: its values, their
    changes from what is stored, the unique values to claim), as the system, not as an edit:
    the version stays (an edit begun before it is not refused: it applies to the upgraded
    values), ``updated_at``/``updated_by`` stay, no event is sent (nobody changed the record;
    automations must not fire for every record of a form that changed), and what changed is
    kept in a history entry with the action ``upgrade`` and no actor, at the record's
    current version. Returns whether it was written; ``False``: it changed since it was read
    (its writer, or another upgrader, upgraded it).

    Raises: RecordValidationError (``not_unique``: a converted value another record holds;
    nothing is written).
    """
    try:
        _write_version(
            conn,
            cf,
            current,
            prepared.data,
            prepared.changes,
            prepared.unique,
            expected_version=current.version,
            actor_id=None,
            now=now,
            lang="en",
            hidden=hidden,
            extra={"updated_at": current.updated_at, "updated_by": current.updated_by},
            bump=False,
            expected_schema=current.schema_version,
        )
    except (StaleVersionError, NotFoundError):  # changed, or deleted, since it was read
        return False
    if prepared.changes:
        _history(
            conn, current.id, cf.form_id, current.version, "upgrade", None, now, prepared.changes
        )
    return True


def delete_record(
    conn: sa.Connection,
    current: RecordRow,
    *,
    expected_version: int,
    actor_id: int | None,
    now: dt.datetime,
) -> None:
    """Move the record to the recycle bin (its unique values become free).

    Raises: StaleVersionError.
    """
    result = conn.execute(
        records.update()
        .where(
            records.c.id == current.id,
            records.c.version == expected_version,
            records.c.deleted_at.is_(None),
        )
        .values(
            deleted_at=now,
            deleted_by=actor_id,
            version=expected_version + 1,
            updated_at=now,
            updated_by=actor_id,
        )
    )
    if result.rowcount != 1:
        raise StaleVersionError(expected_version, get_record(conn, current.id).as_api())
    conn.execute(record_unique.delete().where(record_unique.c.record_id == current.id))
    _history(conn, current.id, current.form_id, expected_version + 1, "delete", actor_id, now, {})
    _event(
        conn,
        "record.deleted",
        {"record_id": current.id, "form_id": current.form_id, "actor_id": actor_id},
        now,
    )


def restore_record(
    conn: sa.Connection,
    cf: CompiledForm,
    record_id: int,
    *,
    actor_id: int | None,
    now: dt.datetime,
    lang: str = "zh",
) -> RecordRow:
    """Bring a record back from the recycle bin, re-claiming its unique values.

    Raises: NotFoundError (not in the bin), ConflictError (``unique_taken``: another record
    took one of its unique values meanwhile).
    """
    with _atomic(conn, True):
        row = get_record(conn, record_id, deleted=True)
        conn.execute(
            records.update()
            .where(records.c.id == record_id)
            .values(
                deleted_at=None,
                deleted_by=None,
                version=row.version + 1,
                updated_at=now,
                updated_by=actor_id,
            )
        )
        unique = {k: row.data[k] for k, f in cf.fields.items() if f.unique and k in row.data}
        try:
            _claim(conn, cf, record_id, unique, lang)
        except RecordValidationError as exc:
            raise unique_taken(exc.errors) from exc
    _history(conn, record_id, row.form_id, row.version + 1, "restore", actor_id, now, {})
    _event(
        conn,
        "record.restored",
        {"record_id": record_id, "form_id": row.form_id, "actor_id": actor_id},
        now,
    )
    return get_record(conn, record_id)


def purge_record(conn: sa.Connection, record_id: int) -> None:
    """Delete a record from the recycle bin for good (history and comments go with it).

    Raises: NotFoundError (not in the bin).
    """
    get_record(conn, record_id, deleted=True)
    conn.execute(records.delete().where(records.c.id == record_id))


def history(conn: sa.Connection, record_id: int) -> list[dict[str, Any]]:
    rows = conn.execute(
        sa.select(record_history)
        .where(record_history.c.record_id == record_id)
        .order_by(record_history.c.version, record_history.c.id)
    )
    return [
        {
            "version": r.version,
            "action": r.action,
            "actor_id": r.actor_id,
            "at": utc_text(r.at),
            "diff": r.diff,
            "comment": r.comment,
        }
        for r in rows
    ]


def add_comment(
    conn: sa.Connection, record_id: int, *, author_id: int | None, body: str, now: dt.datetime
) -> dict[str, Any]:
    comment_id = conn.execute(
        record_comments.insert()
        .values(
            record_id=record_id,
            author_id=author_id,
            body=body,
            created_at=now,
        )
        .returning(record_comments.c.id)
    ).scalar_one()
    return {
        "id": comment_id,
        "record_id": record_id,
        "author_id": author_id,
        "body": body,
        "created_at": utc_text(now),
    }


def list_comments(conn: sa.Connection, record_id: int) -> list[dict[str, Any]]:
    rows = conn.execute(
        sa.select(record_comments)
        .where(record_comments.c.record_id == record_id, record_comments.c.deleted_at.is_(None))
        .order_by(record_comments.c.created_at, record_comments.c.id)
    )
    return [
        {
            "id": r.id,
            "record_id": r.record_id,
            "author_id": r.author_id,
            "body": r.body,
            "created_at": utc_text(r.created_at),
        }
        for r in rows
    ]


class AppStoreAccess:
    """The pipeline's :class:`~runtime.pipeline.StoreAccess` for a form of one app, inside the
    caller's transaction.

    ``serial_block``: how many serial numbers to reserve at once (the size of a batch about to
    be prepared); the batch's numbers then cost one counter update per field and period.
    """

    def __init__(
        self,
        conn: sa.Connection,
        form_id: int,
        form_ids: Mapping[str, int] | Callable[[], Mapping[str, int]],
        *,
        serial_block: int = 1,
    ) -> None:
        """``form_ids``: the app's form ids by key, or a function that reads them (called
        only when a relation, lookup or linked default needs them)."""
        self.conn = conn
        self.form_id = form_id
        self._form_ids = form_ids
        self.serial_block = serial_block
        # (field key, period) → [next number to hand out, last number reserved]
        self._serials: dict[tuple[str, str], list[int]] = {}
        self._people: dict[str, set[int]] = {}  # kind → ids known to exist

    @property
    def form_ids(self) -> Mapping[str, int]:
        if callable(self._form_ids):
            self._form_ids = self._form_ids()
        return self._form_ids

    def _target(self, form_key: str) -> int | None:
        return self.form_ids.get(form_key)

    def existing_ids(self, form_key: str, ids: Collection[int]) -> set[int]:
        target = self._target(form_key)
        if target is None or not ids:
            return set()
        rows = self.conn.execute(
            sa.select(records.c.id).where(
                records.c.form_id == target,
                records.c.id.in_(list(ids)),
                records.c.deleted_at.is_(None),
            )
        )
        return {r.id for r in rows}

    def existing_people(self, kind: str, ids: Collection[int]) -> set[int]:
        # Remembered for this write (a batch names the same people in many records).
        known = self._people.setdefault(kind, set())
        asked = [i for i in ids if i not in known]
        if asked:
            table = departments if kind == "department" else users
            known.update(
                self.conn.execute(sa.select(table.c.id).where(table.c.id.in_(asked))).scalars()
            )
        return known.intersection(ids)

    def related_value(self, form_key: str, record_id: int, field_key: str) -> Any:
        target = self._target(form_key)
        if target is None:
            return None
        row = self.conn.execute(
            sa.select(records.c.data).where(
                records.c.form_id == target,
                records.c.id == record_id,
                records.c.deleted_at.is_(None),
            )
        ).first()
        return None if row is None else row.data.get(field_key)

    def link_value(self, form_key: str, where: Mapping[str, Any], field_key: str) -> Any:
        target = self._target(form_key)
        if target is None:
            return None
        conds = [records.c.form_id == target, records.c.deleted_at.is_(None)]
        for key, value in where.items():
            conds.append(_json_equals(self.conn, key, value))
        row = self.conn.execute(
            sa.select(records.c.data).where(*conds).order_by(records.c.id).limit(1)
        ).first()
        return None if row is None else row.data.get(field_key)

    def next_serial(self, field_key: str, period: str) -> int:
        """The next number, from the block reserved by the last counter update or from a new
        block of ``serial_block`` numbers. The counter row stays locked (PostgreSQL) or the
        database write-locked (SQLite) until the transaction ends, so concurrent writers get
        disjoint, increasing blocks."""
        block = self._serials.get((field_key, period))
        if block is not None and block[0] <= block[1]:
            block[0] += 1
            return block[0] - 1
        size = max(self.serial_block, 1)
        params = {"form_id": self.form_id, "field_key": field_key, "period": period, "size": size}
        (row,) = _SERIAL_UPSERT[self.conn.dialect.name].rows(self.conn, params)
        last = int(row.value)
        self._serials[(field_key, period)] = [last - size + 2, last]
        return last - size + 1


def _serial_upsert(insert: Any) -> Any:
    # Built once per dialect: building it per call cost more than running it (a single
    # create takes one block).
    stmt = insert(serial_counters).values(
        form_id=sa.bindparam("form_id"),
        field_key=sa.bindparam("field_key"),
        period=sa.bindparam("period"),
        value=sa.bindparam("size"),
    )
    return stmt.on_conflict_do_update(
        index_elements=["form_id", "field_key", "period"],
        set_={"value": serial_counters.c.value + stmt.excluded.value},
    ).returning(serial_counters.c.value)


_SERIAL_UPSERT = {
    "postgresql": Prebuilt(_serial_upsert(postgresql.insert)),
    "sqlite": Prebuilt(_serial_upsert(sqlite.insert)),
}


def _json_equals(conn: sa.Connection, key: str, value: Any) -> sa.ColumnElement[bool]:
    """``data[key] = value`` comparing JSON values (so 5 ≠ "5"), on either dialect."""
    if conn.dialect.name == "postgresql":
        return records.c.data[key] == sa.cast(sa.literal(json.dumps(value)), postgresql.JSONB)
    return sa.func.json_extract(records.c.data, sa.literal(f"$.{key}")) == sa.literal(value)


def enter_stage(
    conn: sa.Connection,
    *,
    record_id: int,
    form_id: int,
    from_stage: str | None,
    to_stage: str,
    transition: str | None,
    actor_id: int | None,
    comment: str | None,
    now: dt.datetime,
    due_at: dt.datetime | None,
    action: str | None = None,
) -> None:
    """Close the record's open stay in a stage (if any) and open one in ``to_stage``;
    ``action`` marks entries not made by a transition (``"migrated"``)."""
    conn.execute(
        stage_log.update()
        .where(stage_log.c.record_id == record_id, stage_log.c.left_at.is_(None))
        .values(left_at=now)
    )
    conn.execute(
        stage_log.insert().values(
            record_id=record_id,
            form_id=form_id,
            from_stage=from_stage,
            to_stage=to_stage,
            transition=transition,
            actor_id=actor_id,
            comment=comment,
            at=now,
            due_at=due_at,
            action=action,
        )
    )


def transition_record(
    conn: sa.Connection,
    cf: CompiledForm,
    current: RecordRow,
    prepared: Prepared | None,
    *,
    transition: str,
    to_stage: str,
    assignee_id: int | None,
    due_at: dt.datetime | None,
    comment: str | None,
    actor_id: int | None,
    now: dt.datetime,
    lang: str = "zh",
    hidden: dict[str, Any] | None = None,
) -> RecordRow:
    """Move the record to ``to_stage`` (with the transition's data, if any) as one versioned
    write: record, history (``stage`` in the diff), stage log, unique claims and a
    ``record.stage_changed`` event.

    Raises: StaleVersionError, RecordValidationError (``not_unique``).
    """
    data = prepared.data if prepared is not None else current.data
    changes: dict[str, Any] = dict(prepared.changes) if prepared is not None else {}
    changes["stage"] = [current.stage, to_stage]
    move_stage(
        conn,
        cf,
        current,
        data,
        changes,
        prepared.unique if prepared is not None else {},
        to_stage=to_stage,
        transition=transition,
        assignee_id=assignee_id,
        due_at=due_at,
        comment=comment,
        actor_id=actor_id,
        now=now,
        lang=lang,
        hidden=hidden,
    )
    return get_record(conn, current.id)


def move_stage(
    conn: sa.Connection,
    cf: CompiledForm,
    current: RecordRow,
    data: dict[str, Any],
    changes: dict[str, Any],
    unique: dict[str, Any],
    *,
    to_stage: str,
    transition: str | None,
    assignee_id: int | None,
    due_at: dt.datetime | None,
    comment: str | None,
    actor_id: int | None,
    now: dt.datetime,
    lang: str,
    hidden: dict[str, Any] | None,
    migrated: bool = False,
) -> None:
    """The one versioned stage move (a transition's, or a workflow version's ``migrated``
    one): record, history, stage log and a ``record.stage_changed`` event. ``changes``
    already holds the ``stage`` diff.

    Raises: StaleVersionError, RecordValidationError (``not_unique``).
    """
    _write_version(
        conn,
        cf,
        current,
        data,
        changes,
        unique,
        expected_version=current.version,
        actor_id=actor_id,
        now=now,
        lang=lang,
        hidden=hidden,
        extra={"stage": to_stage, "assignee_id": assignee_id},
    )
    version = current.version + 1
    action = "migrate" if migrated else "transition"
    _history(conn, current.id, current.form_id, version, action, actor_id, now, changes)
    enter_stage(
        conn,
        record_id=current.id,
        form_id=current.form_id,
        from_stage=current.stage,
        to_stage=to_stage,
        transition=transition,
        actor_id=actor_id,
        comment=comment,
        now=now,
        due_at=due_at,
        action="migrated" if migrated else None,
    )
    payload: dict[str, Any] = {
        "record_id": current.id,
        "form_id": current.form_id,
        "from": current.stage,
        "to": to_stage,
        "transition": transition,
    }
    if migrated:
        payload["migrated"] = True
    _event(
        conn,
        "record.stage_changed",
        {**payload, "actor_id": actor_id, "version": version},
        now,
    )


def stage_log_entries(conn: sa.Connection, record_id: int) -> list[dict[str, Any]]:
    rows = conn.execute(
        sa.select(stage_log)
        .where(stage_log.c.record_id == record_id)
        .order_by(stage_log.c.at, stage_log.c.id)
    )

    return [
        {
            "from": r.from_stage,
            "to": r.to_stage,
            "transition": r.transition,
            "actor_id": r.actor_id,
            "comment": r.comment,
            "at": utc_text_or_none(r.at),
            "due_at": utc_text_or_none(r.due_at),
            "left_at": utc_text_or_none(r.left_at),
            "action": r.action,
        }
        for r in rows
    ]


def set_stage_assignees(conn: sa.Connection, assignee_ids: Mapping[int, int]) -> None:
    """Give just-created records (record id → user id) the owner of their initial stage (part
    of their creation, so no new version); one statement for them all."""
    if assignee_ids:
        conn.execute(
            _SET_ASSIGNEE,
            [{"record": r, "assignee": a} for r, a in assignee_ids.items()],
        )


_SET_ASSIGNEE = (
    records.update()
    .where(records.c.id == sa.bindparam("record"))
    .values(assignee_id=sa.bindparam("assignee"))
)


def reassign_record(
    conn: sa.Connection,
    current: RecordRow,
    *,
    assignee_id: int,
    comment: str | None,
    actor_id: int | None,
    now: dt.datetime,
) -> RecordRow:
    """Hand the record's current stage to ``assignee_id`` (转交) as a versioned write: record,
    history (``assignee`` in the diff, the comment beside it) and ``record.reassigned``.

    Raises: StaleVersionError.
    """
    result = conn.execute(
        records.update()
        .where(
            records.c.id == current.id,
            records.c.version == current.version,
            records.c.deleted_at.is_(None),
        )
        .values(
            assignee_id=assignee_id,
            version=current.version + 1,
            updated_at=now,
            updated_by=actor_id,
        )
    )
    if result.rowcount != 1:
        raise StaleVersionError(current.version, get_record(conn, current.id).as_api())
    version = current.version + 1
    diff = {"assignee": [current.assignee_id, assignee_id]}
    _history(conn, current.id, current.form_id, version, "reassign", actor_id, now, diff, comment)
    _event(
        conn,
        "record.reassigned",
        {
            "record_id": current.id,
            "form_id": current.form_id,
            "stage": current.stage,
            "from": current.assignee_id,
            "to": assignee_id,
            "actor_id": actor_id,
            "comment": comment,
            "version": version,
        },
        now,
    )
    return get_record(conn, current.id)

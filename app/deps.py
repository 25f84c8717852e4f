"""Typed dependencies for routes: the actor, permissions and the request's transaction.

A route takes what it needs as ``Annotated`` parameters and makes one service/store call::

    @router.get("/records/{record_id}", response_model=RecordRead)
    def read_record(
        record_id: int,
        actor: Annotated[Actor, Depends(require("record.view"))],
        conn: ReadConn,
    ) -> RecordRead:
        return records.get(conn, record_id, actor=...)

- :data:`ReadConn`: a read-only transaction (on SQLite it never waits for a writer).
- :data:`WriteConn`: a write transaction, committed when the route returns — before the
  response is sent, so a failed commit is the client's error response, not a lost write — and
  rolled back if it raises. After the commit it wakes the search indexer (SQLite), which
  brings the search index up to date in its own transaction a moment later. It authenticates
  first (it depends on the current actor), so no write lock is held while a credential is
  checked.
- :data:`PublicWriteConn`: the same without authentication (login-like routes only).

Services and the store never commit; the dependency does.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request

from app.auth import CurrentActor
from app.permissions import require
from app.state import DatabaseDep, SettingsDep, get_search_indexer
from runtime.actor import Actor
from runtime.store.database import Conn

__all__ = [
    "Actor",
    "CurrentActor",
    "DatabaseDep",
    "PublicWriteConn",
    "ReadConn",
    "SettingsDep",
    "WriteConn",
    "require",
]


def _read_conn(database: DatabaseDep) -> Iterator[Conn]:
    with database.read() as conn:
        yield conn


def _write_conn(request: Request, database: DatabaseDep, actor: CurrentActor) -> Iterator[Conn]:
    with database.begin() as conn:
        yield conn
    get_search_indexer(request).poke()


def _public_write_conn(request: Request, database: DatabaseDep) -> Iterator[Conn]:
    with database.begin() as conn:
        yield conn
    get_search_indexer(request).poke()


# scope="function": the transaction ends when the route function returns, before the response
# is sent (FastAPI's default for yield dependencies is after).
ReadConn = Annotated[Conn, Depends(_read_conn, scope="function")]
WriteConn = Annotated[Conn, Depends(_write_conn, scope="function")]
PublicWriteConn = Annotated[Conn, Depends(_public_write_conn, scope="function")]

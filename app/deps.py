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
- :data:`Write`: the same transaction for an ``async def`` route that hands its work over:
  ``await write(lambda conn: ...)`` opens the transaction, runs the work, commits and wakes
  the indexer in ONE worker thread. A sync route with :data:`WriteConn` costs three
  thread-pool hops (the dependency's enter and exit, the route), each a hand-off through the
  event loop; the hot write routes (record create) use this instead. Authentication still
  comes first, in its own dependency.

Services and the store never commit; the dependency does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated, TypeVar

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from app.auth import CurrentActor
from app.permissions import require
from app.state import DatabaseDep, SettingsDep, get_search_indexer
from runtime.actor import Actor
from runtime.store.database import Conn, Database
from runtime.store.search_index import SearchIndexer

__all__ = [
    "Actor",
    "CurrentActor",
    "DatabaseDep",
    "PublicWriteConn",
    "ReadConn",
    "SettingsDep",
    "Write",
    "WriteConn",
    "Writer",
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


T = TypeVar("T")


class Writer:
    """Runs work in a write transaction in one worker thread (see :data:`Write`)."""

    def __init__(self, database: Database, indexer: SearchIndexer) -> None:
        self._database = database
        self._indexer = indexer

    async def __call__(self, work: Callable[[Conn], T]) -> T:
        """``work(conn)`` in a write transaction, committed before this returns (a failed
        commit raises here, so it is the client's error response, never a lost write);
        rolled back if ``work`` raises."""
        return await run_in_threadpool(self._run, work)

    def _run(self, work: Callable[[Conn], T]) -> T:
        with self._database.begin() as conn:
            result = work(conn)
        self._indexer.poke()
        return result


# async: builds an object, no I/O (no thread-pool hop). It depends on the actor, like
# _write_conn, so the credential is checked before the write transaction is opened.
async def _writer(request: Request, database: DatabaseDep, actor: CurrentActor) -> Writer:
    return Writer(database, get_search_indexer(request))


# scope="function": the transaction ends when the route function returns, before the response
# is sent (FastAPI's default for yield dependencies is after).
ReadConn = Annotated[Conn, Depends(_read_conn, scope="function")]
WriteConn = Annotated[Conn, Depends(_write_conn, scope="function")]
PublicWriteConn = Annotated[Conn, Depends(_public_write_conn, scope="function")]
Write = Annotated[Writer, Depends(_writer)]

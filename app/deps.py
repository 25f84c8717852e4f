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
- :func:`write_as`: authentication, the action's check and the same transaction for an
  ``async def`` route that hands its work over: ``await write(lambda actor, conn: ...)``,
  all in ONE worker thread where ``require`` + :data:`WriteConn` + a sync route take four
  hops — or, on SQLite, none: a small write runs on the event loop when the write lock is
  free (see :class:`Writer`). The single-record write routes (create, edit, transition,
  delete, restore, comment) use it; :func:`read_as` is the same for a read-only transaction
  (record pages, aggregates).

Services and the store never commit; the dependency does.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterator
from typing import Annotated, TypeVar

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from app.auth import CurrentActor, authenticate, bearer_token
from app.config import Settings
from app.errors import ApiError
from app.permissions import ACTIONS, check, require
from app.security import hash_secret
from app.state import DatabaseDep, SettingsDep, get_record_upgrader, get_search_indexer
from runtime.actor import Actor
from runtime.errors import DatabaseBusyError
from runtime.store.database import Conn, Database, WriteLockTaken

__all__ = [
    "Actor",
    "CurrentActor",
    "DatabaseDep",
    "PublicWriteConn",
    "ReadConn",
    "Reader",
    "SettingsDep",
    "WriteConn",
    "Writer",
    "published",
    "read_as",
    "require",
    "write_as",
]


def _read_conn(database: DatabaseDep) -> Iterator[Conn]:
    with database.read() as conn:
        yield conn


def _write_conn(request: Request, database: DatabaseDep, actor: CurrentActor) -> Iterator[Conn]:
    with database.begin() as conn:
        yield conn
    get_search_indexer(request).poke()
    for form_id in getattr(request.state, "published_forms", ()):
        get_record_upgrader(request).poke(form_id)


def published(request: Request, form_id: int) -> None:
    """Note that the request's write transaction publishes ``form_id``: once it commits, the
    form's older records are upgraded (:mod:`runtime.services.upgrade`)."""
    request.state.published_forms = [*getattr(request.state, "published_forms", ()), form_id]


def _public_write_conn(request: Request, database: DatabaseDep) -> Iterator[Conn]:
    with database.begin() as conn:
        yield conn
    get_search_indexer(request).poke()


T = TypeVar("T")

# How many API tokens :class:`RecentTokens` remembers.
RECENT_TOKENS = 1024


class RecentTokens:
    """The hashes of the API tokens that authenticated lately in this process (bounded, least
    recently used first out). It decides only *where* a :func:`write_as` or :func:`read_as`
    request is authenticated, never *whether*: a token met before is checked against the
    database in the work's own transaction (one thread-pool hop for the whole request at
    most), any other one in a hop of its own before anything else, as every route does — so
    a wrong token is a 401 even when the body is malformed too. A known token that fails is
    forgotten."""

    def __init__(self, size: int = RECENT_TOKENS) -> None:
        self._size = size
        self._hashes: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()

    def __contains__(self, token_hash: str) -> bool:
        with self._lock:
            if token_hash not in self._hashes:
                return False
            self._hashes.move_to_end(token_hash)
            return True

    def add(self, token_hash: str) -> None:
        with self._lock:
            self._hashes[token_hash] = None
            self._hashes.move_to_end(token_hash)
            while len(self._hashes) > self._size:
                self._hashes.popitem(last=False)

    def discard(self, token_hash: str) -> None:
        with self._lock:
            self._hashes.pop(token_hash, None)


# The largest request body (bytes) whose SQLite write may run on the event loop: the work of a
# create grows with its data (sub-form rows, long texts), and a big one is better waited for
# in a worker thread than holding up every other request's I/O.
INLINE_MAX_BODY = 64 * 1024
# How often a write tries the event loop before it waits for the lock in a worker thread.
INLINE_TRIES = 3


class Authorized:
    """A request's work, authenticated and checked, run in one worker thread — or, a small
    SQLite write, on the event loop — (see :func:`write_as` and :func:`read_as`;
    :class:`Writer` and :class:`Reader`)."""

    verb = ""  # names the dependency: write_as_record_create, read_as_record_view

    def __init__(
        self,
        request: Request,
        database: Database,
        settings: Settings,
        action: str,
        actor: Actor | None,
        token_hash: str | None,
    ) -> None:
        self._request = request
        self._database = database
        self._settings = settings
        self._action = action
        self._actor = actor
        self._token_hash = token_hash

    async def __call__(self, work: Callable[[Actor, Conn], T]) -> T:
        """``work(actor, conn)`` in the transaction of this kind (see the subclasses).

        Raises:
            ApiError: 401/403 from authentication and :func:`app.permissions.check`.
        """
        return await run_in_threadpool(self._run, work)

    def _run(self, work: Callable[[Actor, Conn], T]) -> T:
        raise NotImplementedError

    def _authenticated(self, conn: Conn | None) -> Actor:
        """The actor of the request's (recently met) API token, read through ``conn`` if
        given, once the action is allowed. A token that fails is forgotten.

        Raises:
            ApiError: 401/403 (authentication, :func:`app.permissions.check`).
        """
        try:
            actor = authenticate(self._request, self._database, self._settings, conn)
        except ApiError:
            if self._token_hash is not None:
                recent_tokens(self._request).discard(self._token_hash)
            raise
        check(self._request, actor, self._action)
        return actor


class Writer(Authorized):
    """``work(actor, conn)`` in a write transaction, committed before the call returns (a
    failed commit raises there, so it is the client's error response, never a lost write);
    rolled back if ``work`` raises.

    On SQLite, a write whose request body is small (:data:`INLINE_MAX_BODY`) runs right here
    on the event loop when the write lock is free at that moment and no read is in progress
    in this process, and in a worker thread, queued for the lock, when not. Such a write is
    CPU work on a local file (about a millisecond for a create) that holds SQLite's one
    write lock throughout, so running it on the loop delays only other writes, which would
    wait for the lock anyway — but not reads: under a mixed load the loop's writes took
    the reads' share of the GIL (pages' p50 10 → 26 ms), hence no write on the loop while
    one runs. Handing a write to a worker thread only added the hand-offs to and from the
    thread and the two threads' contention for the GIL, and made the lock, and with it
    every other writer, wait for them: over HTTP, creates went from ≈ 2.1 to ≈ 1.8 ms of
    server CPU each and edits from ≈ 4.3 to ≈ 2.7 ms (see docs/performance.md, "Session
    11"). It never waits on the loop: the lock is tried, not waited for
    (:meth:`Database.begin` with ``wait=False``). PostgreSQL writes always go to a worker
    thread: their statements are round trips to the server.
    """

    verb = "write"

    async def __call__(self, work: Callable[[Actor, Conn], T]) -> T:
        tries = INLINE_TRIES if self._inline() else 0
        for tried in range(1, tries + 1):
            try:
                return self._run(work, wait=False)
            except WriteLockTaken:
                if tried == tries:
                    break  # nothing ran: do it all in a worker thread, waiting for the lock
                # Nothing ran. Wait for the other writer in a worker thread (the loop serves
                # other requests meanwhile), then try here again: the lock may have been
                # taken once more by then.
                if not await run_in_threadpool(self._database.wait_for_write_lock):
                    raise DatabaseBusyError() from None
        return await run_in_threadpool(self._run, work)

    def _inline(self) -> bool:
        database = self._database
        if database.dialect != "sqlite" or database.reads_in_progress:
            return False
        headers = self._request.headers
        if "transfer-encoding" in headers:
            return False  # chunked: a body of unknown size
        length = headers.get("content-length", "0")  # neither: no body (a DELETE, a restore)
        return length.isdigit() and int(length) <= INLINE_MAX_BODY

    def _run(self, work: Callable[[Actor, Conn], T], wait: bool = True) -> T:
        database = self._database
        actor = self._actor
        with database.begin(wait=wait) as conn:
            if actor is None:
                # A token met before, authenticated here, in this hop, inside the write
                # transaction: no second pool checkout and transaction (and on PostgreSQL
                # their round trips); on SQLite one indexed read more under the write lock
                # (≈ 5 % less CPU a create than a statement on a reader connection first).
                actor = self._authenticated(conn)
            result = work(actor, conn)
        get_search_indexer(self._request).poke()
        return result


class Reader(Authorized):
    """``work(actor, conn)`` in a read-only transaction; a token met before is authenticated
    inside it (one pool checkout, one transaction for the whole request)."""

    verb = "read"

    def _run(self, work: Callable[[Actor, Conn], T]) -> T:
        with self._database.read() as conn:
            actor = self._actor if self._actor is not None else self._authenticated(conn)
            return work(actor, conn)


def recent_tokens(request: Request) -> RecentTokens:
    tokens: RecentTokens = request.app.state.recent_tokens
    return tokens


def write_as(action: str) -> Callable[..., Awaitable[Writer]]:
    """A dependency for an ``async def`` write route: a :class:`Writer` that authenticates
    the request, checks ``action`` as :func:`~app.permissions.require` does and runs the
    route's work in a write transaction, all in ONE worker thread. A sync route with
    ``require(...)`` and :data:`WriteConn` costs four thread-pool hops (authentication, the
    transaction's enter and exit, the route), each a hand-off through the event loop.

    An API token not met lately (see :class:`RecentTokens`) and a session cookie are checked
    here first, in a hop of their own, as every other route does.
    """
    return _authorized(action, Writer)


def read_as(action: str) -> Callable[..., Awaitable[Reader]]:
    """:func:`write_as` for a read: a :class:`Reader`, whose work runs in a read-only
    transaction (the hot read routes: record pages and aggregates)."""
    return _authorized(action, Reader)


A = TypeVar("A", bound=Authorized)


def _authorized(action: str, kind: type[A]) -> Callable[..., Awaitable[A]]:
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}; add it to app.permissions.ACTIONS")

    async def dependency(request: Request) -> A:
        # The database and settings straight from app.state (what DatabaseDep and SettingsDep
        # give): two sub-dependencies fewer for FastAPI to solve on every request.
        state = request.app.state
        database: Database = state.database
        settings: Settings = state.settings
        token = bearer_token(request)
        token_hash = hash_secret(token) if token is not None else None
        if token_hash is not None and token_hash in recent_tokens(request):
            return kind(request, database, settings, action, None, token_hash)
        actor = await run_in_threadpool(authenticate, request, database, settings)
        check(request, actor, action)
        if token_hash is not None:
            recent_tokens(request).add(token_hash)
        return kind(request, database, settings, action, actor, token_hash)

    dependency.__name__ = f"{kind.verb}_as_{action.replace('.', '_')}"
    dependency.required_action = action  # type: ignore[attr-defined]
    return dependency


# scope="function": the transaction ends when the route function returns, before the response
# is sent (FastAPI's default for yield dependencies is after).
ReadConn = Annotated[Conn, Depends(_read_conn, scope="function")]
WriteConn = Annotated[Conn, Depends(_write_conn, scope="function")]
PublicWriteConn = Annotated[Conn, Depends(_public_write_conn, scope="function")]

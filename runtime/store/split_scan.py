"""SQLite: an aggregate over a whole form's value table scanned as two halves at once.

SQLite runs a statement on one core, and an aggregate over a million records is a scan of
a million value-table rows (≈ 0.2–0.3 s of CPU here). PostgreSQL shares such a scan among
parallel workers by itself; for SQLite the query engine does it: the rows are split at the
middle of the ``record_id`` range (the value table's rowid, so each half is a range of the
table's B-tree), each half is aggregated on a connection of its own — the second in a worker
thread; the driver lets go of the GIL while SQLite works — and the partial figures are
combined by the caller: counts and sums added, minima and maxima compared, an average as its
sum over its count. (A distinct count cannot be combined from halves; it is never split.)

Both halves read **one snapshot**, as one statement would: their read transactions start
while a third connection holds SQLite's write lock (``BEGIN IMMEDIATE``), so no commit can
fall between the two starts. The lock is held for the two first reads — well under a
millisecond — and given back before the scans; if another writer has it and does not let go
within :data:`LOCK_WAIT_S`, the aggregate runs unsplit on the caller's connection instead.

Only read-only transactions are split (a write transaction's connection holds the write lock
itself), only tables of at least :data:`SPLIT_MIN_ROWS` rowids, only with more than one CPU,
and one aggregate at a time per process (others meanwhile run unsplit): a split holds two
pooled connections besides its request's, and two of them never wait for the pool at once.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from typing import Any, TypeVar

import sqlalchemy as sa

from runtime.store.engine import dialect_name, is_read_only

SPLIT_MIN_ROWS = 200_000  # below this a scan is too short for the split to pay
LOCK_WAIT_S = 0.05
T = TypeVar("T")

_executor: ThreadPoolExecutor | None = None
# One split aggregate at a time per process: it holds two more pooled connections than a
# request does, and never waits for the pool while another split holds some (no deadlock).
_one_at_a_time = threading.Lock()


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def halves(conn: sa.Connection, table: sa.Table) -> int | None:
    """The record id at which to split a whole-``table`` scan read through ``conn`` (rows
    ``record_id <= middle`` and ``record_id > middle``), or ``None`` when the
    scan should not be split: not SQLite, not a read-only transaction, one CPU, or fewer than
    :data:`SPLIT_MIN_ROWS` rowids."""
    if dialect_name(conn) != "sqlite" or not is_read_only(conn):
        return None
    if _cpus() < 2:
        return None
    rid = table.c.record_id
    # Two statements: SQLite reads a lone min() or max() of an indexed column from one end of
    # the index, but both in one statement make it scan the table.
    first = conn.execute(sa.select(sa.func.min(rid))).scalar()
    last = conn.execute(sa.select(sa.func.max(rid))).scalar()
    if first is None or last - first + 1 < max(SPLIT_MIN_ROWS, 2):
        return None
    return int(first + (last - first) // 2)


@contextmanager
def same_snapshot(conn: sa.Connection) -> Iterator[tuple[sa.Connection, sa.Connection] | None]:
    """Two new read-only connections of ``conn``'s engine whose transactions read one
    snapshot (see the module docstring), or ``None`` if SQLite's write lock was not free
    within :data:`LOCK_WAIT_S` or another aggregate of this process is split. Both are rolled
    back and returned to the pool at the end."""
    if not _one_at_a_time.acquire(blocking=False):
        yield None  # another aggregate of this process is split: two cores are busy anyway
        return
    try:
        path = conn.engine.url.database
        assert path
        locker = sqlite3.connect(path, timeout=LOCK_WAIT_S, isolation_level=None)
        try:
            locker.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError:  # busy: another writer holds it
            locker.close()
            yield None
            return
        with ExitStack() as stack:
            try:
                pair = [_reader(stack, conn) for _ in range(2)]
            finally:
                locker.execute("ROLLBACK")
                locker.close()
            yield pair[0], pair[1]
    finally:
        _one_at_a_time.release()


def _reader(stack: ExitStack, conn: sa.Connection) -> sa.Connection:
    """A new connection of ``conn``'s (read-only) engine in a transaction that has read."""
    other = stack.enter_context(conn.engine.connect())
    stack.enter_context(other.begin())
    # The first read starts SQLite's read transaction, and so fixes its snapshot.
    other.exec_driver_sql("SELECT 1 FROM sqlite_master LIMIT 1").all()
    return other


def run_both(first: Callable[[], T], second: Callable[[], T]) -> tuple[T, T]:
    """``first()`` in this thread and ``second()`` in a worker thread, at once."""
    global _executor
    if _executor is None:
        _executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="stageform-scan")
    future = _executor.submit(second)
    try:
        a = first()
    finally:
        b = future.result()  # wait for it even when ``first`` failed: it holds a connection
    return a, b


# --- combining partial figures --------------------------------------------------------------


def sqlite_order(value: Any) -> tuple[int, Any]:
    """A sort key giving SQLite's order of values: numbers, then text (by code point, as the
    BINARY collation compares UTF-8), then blobs; NULL is ordered by the caller."""
    if isinstance(value, int | float):
        return 0, value
    if isinstance(value, str):
        return 1, value
    return 2, value


def combine(op: str, a: Any, b: Any) -> Any:
    """The figure ``op`` (count, sum, min, max) of two halves' figures ``a`` and ``b``; SQL
    NULL (``None``, no value in a half) gives way to the other."""
    if op == "count":
        return a + b
    if a is None:
        return b
    if b is None:
        return a
    if op == "sum":
        return a + b
    if op == "min":
        return a if sqlite_order(a) <= sqlite_order(b) else b
    return a if sqlite_order(a) >= sqlite_order(b) else b  # max


def combine_rows(ops: Sequence[str], a: Sequence[Any], b: Sequence[Any]) -> list[Any]:
    """:func:`combine` column by column."""
    return [combine(op, x, y) for op, x, y in zip(ops, a, b, strict=True)]

"""SQLite: WAL checkpoints in a background thread, not inside a writer's commit.

In WAL mode a commit appends pages to the ``-wal`` file; a *checkpoint* copies them back into
the database file (and, with ``synchronous=NORMAL``, is where SQLite syncs to disk). By
default the connection whose commit takes the WAL past 1,000 pages runs the checkpoint
itself, inside that commit: a bulk create of 1,000 records writes more than that, so every
batch's commit paid a checkpoint with its two syncs — measured 150–220 µs of wall time a
record on this machine's disk, more than the rest of the batch's writes.

:class:`Checkpointer` moves that work to a thread of its own connection: a writer's commit
only :meth:`~Checkpointer.poke`\\ s it; the thread waits :data:`GATHER_S` for more commits to
join, then runs ``PRAGMA wal_checkpoint(PASSIVE)``, which copies what it can without ever
waiting for (or blocking) readers and writers. The writers' own automatic checkpoint stays
on with a high threshold (:data:`WRITER_AUTOCHECKPOINT_PAGES`) as a safety net: should the
thread fall behind (a reader holding an old snapshot for long), a commit checkpoints as
before once the WAL is that large.

Durability is unchanged in kind: with ``synchronous=NORMAL`` a commit was never synced by
itself (a power cut can lose the last commits, never corrupt the file); commits now reach the
disk at the thread's next checkpoint — within :data:`GATHER_S` of a write, or at most
:data:`INTERVAL_S` later for writes of other processes — instead of at the commit that
happened to cross 1,000 pages.
"""

from __future__ import annotations

import logging
import sqlite3
import threading

log = logging.getLogger(__name__)

GATHER_S = 0.25  # after a poke, wait this long for more commits before checkpointing
INTERVAL_S = 5.0  # and look this often without one (other processes' writes)
WRITER_AUTOCHECKPOINT_PAGES = 25_000  # ≈ 100 MB of WAL at 4 KiB pages: the safety net
THREAD_NAME = "stageform-checkpoint"


class Checkpointer:
    """The background checkpoints of one SQLite database file (see the module docstring)."""

    def __init__(self, path: str) -> None:
        self._path = path
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def poke(self) -> None:
        """A write transaction committed: checkpoint soon (starts the thread on first use)."""
        if self._thread is None:
            with self._lock:
                if self._thread is None and not self._stopping.is_set():
                    self._thread = threading.Thread(target=self._run, name=THREAD_NAME, daemon=True)
                    self._thread.start()
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the thread after a last checkpoint of what is in the WAL."""
        self._stopping.set()
        self._wake.set()
        thread = self._thread
        if thread is not None:
            thread.join(timeout)

    def _run(self) -> None:
        connection = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        try:
            connection.execute("PRAGMA synchronous = NORMAL")  # checkpoints sync as writers'
            while True:
                self._wake.wait(INTERVAL_S)
                stopping = self._stopping.wait(GATHER_S)
                self._wake.clear()
                try:
                    connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                except sqlite3.Error:
                    log.warning("WAL checkpoint failed; retrying later", exc_info=True)
                if stopping or self._stopping.is_set():
                    return
        finally:
            connection.close()

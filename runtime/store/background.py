"""A background thread of the app server that runs one piece of work when poked (debounced)
and now and then on its own: the search indexer (:mod:`runtime.store.search_index`) and the
record upgrader (:mod:`runtime.services.upgrade`)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger("stageform.background")


class Background:
    """:meth:`poke` after a write transaction commits; the thread waits ``delay`` seconds for
    more pokes to join, then runs ``work``. It also runs it every ``interval`` seconds, so
    that work a poke missed (or that failed, e.g. on a busy database) is done later. Never
    inside a request's transaction."""

    def __init__(
        self, name: str, work: Callable[[], object], *, delay: float, interval: float
    ) -> None:
        self._name = name
        self._work = work
        self._delay = delay
        self._interval = interval
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is not None:
            return
        self._wake.set()  # what an earlier run left
        self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
        self._thread.start()

    def poke(self) -> None:
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the thread (after the work in progress, waiting up to ``timeout`` seconds)."""
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _run(self) -> None:
        while not self._stopping.is_set():
            self._wake.wait(self._interval)
            if self._stopping.wait(self._delay):
                return
            self._wake.clear()
            try:
                self._work()
            except Exception:
                log.warning("%s failed; retrying later", self._name, exc_info=True)

"""Rate limits kept in the database (``runtime.store.rate_limits``): failed logins per account
and per IP, and requests to a public link per link and IP.

In the database, not in process memory, so that every ``stageform serve`` process (and every
machine behind a load balancer) counts the same events, and a lockout survives a restart. Each
check is one indexed read per key; each counted event is one insert, in its own short
transaction, so it counts even when the request that caused it fails.

Check-then-count is not atomic: N concurrent attempts can each pass the check, so an attacker
gets at most the limit plus their concurrency, not unlimited attempts.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Sequence

from runtime.store import rate_limits
from runtime.store.database import Database
from runtime.store.sqltypes import utcnow


class SlidingWindow:
    """At most ``limit`` events per key in the last ``window_seconds``."""

    def __init__(
        self,
        database: Database,
        *,
        window_seconds: float,
        clock: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        self.database = database
        self.window = dt.timedelta(seconds=window_seconds)
        self._clock = clock

    def retry_after(self, limits: Sequence[tuple[str, int]]) -> int | None:
        """Whole seconds until every ``(key, limit)`` allows another event, or ``None``."""
        with self.database.read() as conn:
            wait = rate_limits.retry_after(conn, limits, window=self.window, now=self._clock())
        return None if wait is None else max(1, math.ceil(wait.total_seconds()))

    def count(self, keys: Sequence[str]) -> None:
        """Count one event under each key (and drop events older than any window)."""
        now = self._clock()
        with self.database.begin() as conn:
            rate_limits.add(conn, keys, now=now)
            rate_limits.prune(conn, now=now)

    def clear(self, key: str) -> None:
        with self.database.begin() as conn:
            rate_limits.clear(conn, key)


class LoginRateLimiter:
    """Failed logins: ``max_failures`` per account (from any address) and ``ip_max_failures``
    per address (whatever the account), within ``window_seconds``; then 429 until the window
    passes. A successful login clears the account's count, not the address's.

    Locking an account after failures from anywhere lets someone who knows an e-mail address
    keep that account locked out by failing on purpose; the window is short (15 minutes by
    default) and that is the usual price of stopping a distributed guesser.
    """

    def __init__(
        self,
        database: Database,
        *,
        max_failures: int,
        ip_max_failures: int,
        window_seconds: float,
        clock: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        self.max_failures = max_failures
        self.ip_max_failures = ip_max_failures
        self._window = SlidingWindow(database, window_seconds=window_seconds, clock=clock)

    @staticmethod
    def _keys(ip: str, email: str) -> tuple[str, str]:
        return f"login-account:{email}", f"login-ip:{ip}"

    def retry_after(self, ip: str, email: str) -> int | None:
        """Seconds until another attempt is allowed, or ``None`` if one is allowed now."""
        account, by_ip = self._keys(ip, email)
        return self._window.retry_after(
            [(account, self.max_failures), (by_ip, self.ip_max_failures)]
        )

    def record_failure(self, ip: str, email: str) -> None:
        self._window.count(self._keys(ip, email))

    def reset(self, ip: str, email: str) -> None:
        """Forget the account's failures (after a successful login)."""
        self._window.clear(self._keys(ip, email)[0])


class LinkRateLimiter:
    """Requests to one public link from one address: ``max_requests`` per ``window_seconds``
    (every submission and query counts, and so does a wrong password)."""

    def __init__(
        self,
        database: Database,
        *,
        max_requests: int,
        window_seconds: float,
        clock: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        self.max_requests = max_requests
        self._window = SlidingWindow(database, window_seconds=window_seconds, clock=clock)

    def check_and_count(self, link_id: int, ip: str) -> int | None:
        """``None`` and the request is counted, or the seconds to wait (nothing counted)."""
        key = f"link:{link_id}|{ip}"
        wait = self._window.retry_after([(key, self.max_requests)])
        if wait is None:
            self._window.count([key])
        return wait

"""Rate limits kept in the database (``runtime.store.rate_limits``): failed logins per account
and per IP, and requests to a public link per link and IP.

In the database, not in process memory, so that every ``stageform serve`` process (and every
machine behind a load balancer) counts the same events, and a lockout survives a restart. Each
check is one indexed read per key; each counted event is one insert, in its own short
transaction, so it counts even when the request that caused it fails.

An attempt is checked and counted in one write transaction under a per-key lock
(:meth:`SlidingWindow.take`), so concurrent attempts cannot all pass the same check: a login
attempt counts as a failure from the moment it starts and is taken back if the password was
right.
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

    def take(self, limits: Sequence[tuple[str, int]]) -> tuple[int | None, list[int]]:
        """Atomically: the whole seconds to wait (nothing counted), or ``None`` and one event
        counted under each key (their ids, for :meth:`give_back`)."""
        now = self._clock()
        keys = [key for key, _ in limits]
        with self.database.begin() as conn:
            rate_limits.lock(conn, keys)
            wait = rate_limits.retry_after(conn, limits, window=self.window, now=now)
            if wait is not None:
                return max(1, math.ceil(wait.total_seconds())), []
            ids = rate_limits.add(conn, keys, now=now)
            rate_limits.prune(conn, now=now)
        return None, ids

    def give_back(self, ids: Sequence[int]) -> None:
        """Uncount events :meth:`take` counted."""
        with self.database.begin() as conn:
            rate_limits.remove(conn, ids)

    def clear(self, *keys: str) -> None:
        with self.database.begin() as conn:
            for key in keys:
                rate_limits.clear(conn, key)


class LoginRateLimiter:
    """Failed logins, within ``window_seconds``: ``max_failures`` per account from one address,
    ``account_max_failures`` per account from all addresses together, and
    ``ip_max_failures`` per address whatever the account; past any of them, 429 until the
    window passes. A successful login clears the account's counts, not the address's.

    Someone who knows an e-mail address and fails on purpose from one address locks the
    account for that address only; locking it for everyone takes ``account_max_failures``
    failures from ``account_max_failures / max_failures`` addresses or more. That account-wide
    limit is what stops a guesser spread over many addresses (OWASP's authentication cheat
    sheet: count failures per account, not per address alone).
    """

    def __init__(
        self,
        database: Database,
        *,
        max_failures: int,
        account_max_failures: int,
        ip_max_failures: int,
        window_seconds: float,
        clock: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        self.max_failures = max_failures
        self.account_max_failures = account_max_failures
        self.ip_max_failures = ip_max_failures
        self._window = SlidingWindow(database, window_seconds=window_seconds, clock=clock)

    def _limits(self, ip: str, email: str) -> list[tuple[str, int]]:
        # Each attempt is counted under every key: the account from this address, the
        # account, the address.
        return [
            (f"login-account-ip:{email}|{ip}", self.max_failures),
            (f"login-account:{email}", self.account_max_failures),
            (f"login-ip:{ip}", self.ip_max_failures),
        ]

    def retry_after(self, ip: str, email: str) -> int | None:
        """Seconds until another attempt is allowed, or ``None`` if one is allowed now."""
        return self._window.retry_after(self._limits(ip, email))

    def start(self, ip: str, email: str) -> tuple[int | None, list[int]]:
        """Begin an attempt: the seconds to wait, or ``None`` and the attempt counted as a
        failure (atomically with the check) until :meth:`succeeded` takes it back."""
        return self._window.take(self._limits(ip, email))

    def succeeded(self, ip: str, email: str, counted: Sequence[int]) -> None:
        """The attempt :meth:`start` counted was right: uncount it, forget the account's
        failures (not the address's)."""
        self._window.give_back(counted)
        self.reset(ip, email)

    def reset(self, ip: str, email: str) -> None:
        """Forget the account's failures, from this address and from all (after a
        successful login)."""
        by_account_ip, by_account, _ = self._limits(ip, email)
        self._window.clear(by_account_ip[0], by_account[0])


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
        wait, _ = self._window.take([(f"link:{link_id}|{ip}", self.max_requests)])
        return wait

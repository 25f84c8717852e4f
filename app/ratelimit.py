"""Login rate limit: failed attempts per (IP, e-mail) and per IP, in a sliding window.

In-process memory: right for the single-process default. Several ``stageform serve``
processes (``--workers`` or several machines) each count on their own, so an attacker gets
N times the attempts; a shared limit needs a table (issue 5).
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable

# Above this many keys, keys whose attempts have all expired are dropped.
_PRUNE_ABOVE = 10_000


class LoginRateLimiter:
    def __init__(
        self,
        *,
        max_failures: int,
        ip_max_failures: int,
        window_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_failures = max_failures
        self.ip_max_failures = ip_max_failures
        self.window = window_seconds
        self._clock = clock
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _keys(ip: str, email: str) -> tuple[str, str]:
        return f"pair:{ip}|{email}", f"ip:{ip}"

    def retry_after(self, ip: str, email: str) -> int | None:
        """Seconds until another attempt is allowed, or ``None`` if one is allowed now."""
        pair, by_ip = self._keys(ip, email)
        now = self._clock()
        with self._lock:
            waits = [
                self._wait(key, limit, now)
                for key, limit in ((pair, self.max_failures), (by_ip, self.ip_max_failures))
            ]
        wait = max(w for w in waits if w is not None) if any(w is not None for w in waits) else None
        return None if wait is None else max(1, math.ceil(wait))

    def record_failure(self, ip: str, email: str) -> None:
        now = self._clock()
        with self._lock:
            for key in self._keys(ip, email):
                self._failures.setdefault(key, deque()).append(now)
            if len(self._failures) > _PRUNE_ABOVE:
                self._prune(now)

    def reset(self, ip: str, email: str) -> None:
        """Forget the failures of this IP and e-mail (after a successful login)."""
        pair, _ = self._keys(ip, email)
        with self._lock:
            self._failures.pop(pair, None)

    def _wait(self, key: str, limit: int, now: float) -> float | None:
        attempts = self._failures.get(key)
        if not attempts:
            return None
        while attempts and attempts[0] <= now - self.window:
            attempts.popleft()
        if len(attempts) < limit:
            return None
        # Allowed again when the oldest attempt that keeps the count at the limit expires.
        return attempts[len(attempts) - limit] + self.window - now

    def _prune(self, now: float) -> None:
        for key in [k for k, v in self._failures.items() if not v or v[-1] <= now - self.window]:
            del self._failures[key]

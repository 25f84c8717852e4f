"""The database-backed rate limits (logins, public links), on a fake clock, on both databases."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from app.ratelimit import LinkRateLimiter, LoginRateLimiter
from runtime.store import tables
from runtime.store.database import Database

START = dt.datetime(2026, 11, 23, 10, 0, tzinfo=dt.UTC)


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += dt.timedelta(seconds=seconds)


def _limiter(database: Database, clock: Clock) -> LoginRateLimiter:
    return LoginRateLimiter(
        database, max_failures=3, ip_max_failures=5, window_seconds=60, clock=clock
    )


def test_blocks_after_max_failures_until_the_window_passes(database: Database) -> None:
    clock = Clock()
    limiter = _limiter(database, clock)
    for _ in range(3):
        assert limiter.retry_after("1.2.3.4", "a@x") is None
        limiter.record_failure("1.2.3.4", "a@x")
        clock.advance(10)
    # Failures at 0, 10, 20 s; now 30 s: allowed again when the first expires at 60 s.
    assert limiter.retry_after("1.2.3.4", "a@x") == 30
    clock.now = START + dt.timedelta(seconds=59.5)
    assert limiter.retry_after("1.2.3.4", "a@x") == 1
    clock.now = START + dt.timedelta(seconds=60)
    assert limiter.retry_after("1.2.3.4", "a@x") is None


def test_an_account_is_locked_from_every_address(database: Database) -> None:
    clock = Clock()
    limiter = _limiter(database, clock)
    for n in range(3):  # a distributed guesser: one failure from each of three addresses
        limiter.record_failure(f"10.0.0.{n}", "a@x")
    assert limiter.retry_after("192.0.2.1", "a@x") == 60
    assert limiter.retry_after("192.0.2.1", "b@x") is None


def test_an_address_is_limited_whatever_the_account(database: Database) -> None:
    clock = Clock()
    limiter = _limiter(database, clock)
    for n in range(5):
        limiter.record_failure("1.2.3.4", f"user{n}@x")
    assert limiter.retry_after("1.2.3.4", "fresh@x") == 60
    assert limiter.retry_after("5.6.7.8", "fresh@x") is None


def test_success_resets_the_account_but_not_the_address(database: Database) -> None:
    clock = Clock()
    limiter = _limiter(database, clock)
    for _ in range(5):
        limiter.record_failure("1.2.3.4", "a@x")
    limiter.reset("1.2.3.4", "a@x")
    assert limiter.retry_after("5.6.7.8", "a@x") is None  # the account is free again
    assert limiter.retry_after("1.2.3.4", "z@x") is not None  # the address is not
    clock.advance(61)
    assert limiter.retry_after("1.2.3.4", "a@x") is None


def test_the_lockout_is_shared_by_every_process(database: Database) -> None:
    # Two app processes are two limiter objects over one database.
    clock = Clock()
    first, second = _limiter(database, clock), _limiter(database, clock)
    for _ in range(3):
        first.record_failure("1.2.3.4", "a@x")
    assert second.retry_after("9.9.9.9", "a@x") == 60


def test_old_events_are_pruned(database: Database) -> None:
    clock = Clock()
    limiter = _limiter(database, clock)
    limiter.record_failure("1.2.3.4", "a@x")
    clock.advance(2 * 86_400)
    limiter.record_failure("1.2.3.4", "b@x")
    with database.read() as conn:
        keys = conn.execute(sa.select(tables.rate_events.c.key)).scalars().all()
    assert sorted(keys) == ["login-account:b@x", "login-ip:1.2.3.4"]


def test_link_limit_counts_allowed_requests_per_link_and_address(database: Database) -> None:
    clock = Clock()
    limiter = LinkRateLimiter(database, max_requests=2, window_seconds=60, clock=clock)
    assert limiter.check_and_count(1, "1.2.3.4") is None
    assert limiter.check_and_count(1, "1.2.3.4") is None
    assert limiter.check_and_count(1, "1.2.3.4") == 60
    assert limiter.check_and_count(1, "1.2.3.4") == 60  # a refused request adds nothing
    assert limiter.check_and_count(2, "1.2.3.4") is None
    assert limiter.check_and_count(1, "5.6.7.8") is None
    clock.advance(60)
    assert limiter.check_and_count(1, "1.2.3.4") is None

"""The database-backed rate limits (logins, public links), on a fake clock, on both databases."""

from __future__ import annotations

import datetime as dt
import threading

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
        database,
        max_failures=3,
        account_max_failures=4,
        ip_max_failures=5,
        window_seconds=60,
        clock=clock,
    )


def _fail(limiter: LoginRateLimiter, ip: str, email: str) -> None:
    """A failed login: an attempt started (and so counted) and never taken back."""
    wait, counted = limiter.start(ip, email)
    assert wait is None and len(counted) == 3  # account from address, account, address


def test_blocks_after_max_failures_until_the_window_passes(database: Database) -> None:
    clock = Clock()
    limiter = _limiter(database, clock)
    for _ in range(3):
        assert limiter.retry_after("1.2.3.4", "a@x") is None
        _fail(limiter, "1.2.3.4", "a@x")
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
    for n in range(3):  # a distributed guesser: one failure from each of four addresses
        _fail(limiter, f"10.0.0.{n}", "a@x")
    assert limiter.retry_after("192.0.2.1", "a@x") is None
    _fail(limiter, "10.0.0.3", "a@x")
    assert limiter.retry_after("192.0.2.1", "a@x") == 60
    assert limiter.retry_after("192.0.2.1", "b@x") is None


def test_failures_from_one_address_lock_the_account_for_that_address_only(
    database: Database,
) -> None:
    """Someone who knows an e-mail address cannot lock its owner out from one address."""
    clock = Clock()
    limiter = _limiter(database, clock)
    for _ in range(3):
        _fail(limiter, "6.6.6.6", "a@x")
    assert limiter.retry_after("6.6.6.6", "a@x") == 60
    for _ in range(5):  # refused, so not counted: the account-wide count stays at 3 of 4
        assert limiter.start("6.6.6.6", "a@x") == (60, [])
    assert limiter.retry_after("192.0.2.1", "a@x") is None
    wait, counted = limiter.start("192.0.2.1", "a@x")  # the owner, from their own address
    assert wait is None
    limiter.succeeded("192.0.2.1", "a@x", counted)  # right: the account's counts are cleared
    assert limiter.retry_after("6.6.6.6", "a@x") == 60  # that address stays locked out
    for n in range(3):
        _fail(limiter, f"10.0.0.{n}", "a@x")
    assert limiter.retry_after("192.0.2.1", "a@x") is None  # 3 of 4 since the reset


def test_an_address_is_limited_whatever_the_account(database: Database) -> None:
    clock = Clock()
    limiter = _limiter(database, clock)
    for n in range(5):
        _fail(limiter, "1.2.3.4", f"user{n}@x")
    assert limiter.retry_after("1.2.3.4", "fresh@x") == 60
    assert limiter.retry_after("5.6.7.8", "fresh@x") is None


def test_success_resets_the_account_but_not_the_address(database: Database) -> None:
    clock = Clock()
    limiter = _limiter(database, clock)
    for email in ("other@x", "other@x", "a@x", "a@x"):
        _fail(limiter, "1.2.3.4", email)  # the address: 4 of 5; the account a@x: 2 of 3
    wait, counted = limiter.start("1.2.3.4", "a@x")
    assert wait is None  # counted while the password is checked: address 5 of 5
    limiter.succeeded("1.2.3.4", "a@x", counted)  # right: uncounted, the account reset
    assert limiter.retry_after("5.6.7.8", "a@x") is None  # the account is free again
    for _ in range(3):
        _fail(limiter, "5.6.7.8", "a@x")  # (its failures start from zero)
    assert limiter.retry_after("5.6.7.8", "a@x") == 60
    assert limiter.retry_after("9.9.9.9", "a@x") is None  # 3 of 4 for the account
    _fail(limiter, "9.9.9.9", "a@x")
    assert limiter.retry_after("9.9.9.9", "a@x") == 60
    _fail(limiter, "1.2.3.4", "z@x")  # the address keeps its 4 failures: the 5th is allowed
    assert limiter.retry_after("1.2.3.4", "y@x") == 60
    clock.advance(61)
    assert limiter.retry_after("1.2.3.4", "a@x") is None


def test_the_lockout_is_shared_by_every_process(database: Database) -> None:
    # Two app processes are two limiter objects over one database.
    clock = Clock()
    first, second = _limiter(database, clock), _limiter(database, clock)
    for _ in range(3):
        _fail(first, "1.2.3.4", "a@x")
    assert second.retry_after("1.2.3.4", "a@x") == 60
    _fail(second, "5.6.7.8", "a@x")
    assert first.retry_after("9.9.9.9", "a@x") == 60


def test_old_events_are_pruned(database: Database) -> None:
    clock = Clock()
    limiter = _limiter(database, clock)
    _fail(limiter, "1.2.3.4", "a@x")
    clock.advance(2 * 86_400)
    _fail(limiter, "1.2.3.4", "b@x")
    with database.read() as conn:
        keys = conn.execute(sa.select(tables.rate_events.c.key)).scalars().all()
    assert sorted(keys) == ["login-account-ip:b@x|1.2.3.4", "login-account:b@x", "login-ip:1.2.3.4"]


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


def test_concurrent_attempts_cannot_all_pass_one_check(database: Database) -> None:
    """Check and count are one step: of 8 attempts at once on an account allowing 4 failures
    (from 8 addresses), exactly 4 go ahead (without the lock, several pass the same check)."""
    clock = Clock()
    limiter = _limiter(database, clock)
    barrier = threading.Barrier(8)
    waits: list[int | None] = []

    def attempt(n: int) -> None:
        barrier.wait()
        waits.append(limiter.start(f"10.0.0.{n}", "a@x")[0])

    threads = [threading.Thread(target=attempt, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(waits, key=lambda w: w is not None)[:5] == [None, None, None, None, 60]
    assert waits.count(None) == 4

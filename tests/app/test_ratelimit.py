"""The in-process login limiter, on a fake clock."""

from __future__ import annotations

from app.ratelimit import LoginRateLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _limiter(clock: Clock) -> LoginRateLimiter:
    return LoginRateLimiter(max_failures=3, ip_max_failures=5, window_seconds=60, clock=clock)


def test_blocks_after_max_failures_until_the_window_passes() -> None:
    clock = Clock()
    limiter = _limiter(clock)
    for _ in range(3):
        assert limiter.retry_after("1.2.3.4", "a@x") is None
        limiter.record_failure("1.2.3.4", "a@x")
        clock.now += 10
    # Failures at 1000, 1010, 1020; now 1030: allowed again when the first expires at 1060.
    assert limiter.retry_after("1.2.3.4", "a@x") == 30
    clock.now = 1059.5
    assert limiter.retry_after("1.2.3.4", "a@x") == 1
    clock.now = 1060.0
    assert limiter.retry_after("1.2.3.4", "a@x") is None


def test_accounts_and_addresses_are_counted_separately() -> None:
    clock = Clock()
    limiter = _limiter(clock)
    for _ in range(3):
        limiter.record_failure("1.2.3.4", "a@x")
    assert limiter.retry_after("1.2.3.4", "a@x") is not None
    assert limiter.retry_after("1.2.3.4", "b@x") is None
    assert limiter.retry_after("5.6.7.8", "a@x") is None
    for _ in range(2):
        limiter.record_failure("1.2.3.4", "b@x")
    # Five failures from the address, whatever the account.
    assert limiter.retry_after("1.2.3.4", "c@x") == 60


def test_success_resets_the_account_but_not_the_address() -> None:
    clock = Clock()
    limiter = _limiter(clock)
    for _ in range(5):
        limiter.record_failure("1.2.3.4", "a@x")
    limiter.reset("1.2.3.4", "a@x")
    assert limiter.retry_after("1.2.3.4", "z@x") is not None
    clock.now += 61
    assert limiter.retry_after("1.2.3.4", "a@x") is None

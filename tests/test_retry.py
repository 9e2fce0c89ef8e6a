"""The one waiting policy: Retry-After (seconds or an HTTP date) and the backoff, shared by the
Edge Impulse client and Slack delivery."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.retry import Backoff, retry_after_seconds, server_now

NOW = datetime(2015, 10, 21, 7, 28, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("120", 120.0),
        (" 3 ", 3.0),
        ("1.5", 1.5),
        ("-5", 0.0),
        ("Wed, 21 Oct 2015 07:29:00 GMT", 60.0),
        ("Wed, 21 Oct 2015 07:27:00 GMT", 0.0),
        ("soon", None),
        ("", None),
        (None, None),
        ("nan", None),
    ],
)
def test_retry_after_seconds(value: str | None, seconds: float | None) -> None:
    assert retry_after_seconds(value, now=NOW) == seconds


def test_server_now_reads_the_date_header_else_our_clock() -> None:
    later = NOW.replace(year=2030)
    assert server_now("Wed, 21 Oct 2015 07:28:00 GMT", fallback=lambda: later) == NOW
    assert server_now("not a date", fallback=lambda: NOW) == NOW
    assert server_now(None, fallback=lambda: NOW) == NOW


@pytest.mark.parametrize(
    ("failures", "low", "high"),
    [
        (0, 0.5, 0.55),
        (1, 0.5, 0.55),
        (2, 1.0, 1.1),
        (3, 2.0, 2.2),
        (10, 10.0, 10.0),
        (500, 10.0, 10.0),
    ],
)
def test_backoff_doubles_with_jitter_and_is_capped(failures: int, low: float, high: float) -> None:
    policy = Backoff(initial=0.5, cap=10.0)
    assert policy.delay(failures, rng=lambda: 0.0) == low
    assert policy.delay(failures, rng=lambda: 1.0) == pytest.approx(high)


def test_what_the_server_asked_wins_capped() -> None:
    policy = Backoff(initial=0.5, cap=60.0)
    assert policy.wait(1, 30.0) == 30.0
    assert policy.wait(1, 3600.0) == 60.0
    assert 0.5 <= policy.wait(1, None) <= 0.55

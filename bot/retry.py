"""How long to wait before asking again: one policy for Edge Impulse polls and Slack delivery.

- What the server asked (`Retry-After`, RFC 9110: delay-seconds or an HTTP date, the date read
  on the server's own clock, its `Date` header) is honoured, capped by the caller.
- Otherwise an exponential backoff: `initial`, doubling with each failure, capped, plus up to
  10 % jitter so that many pollers (or channels) that failed together do not retry in step.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

JITTER = 0.1


def _http_date(text: str) -> datetime | None:
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def server_now(date_header: str | None, *, fallback: Callable[[], datetime]) -> datetime:
    """The server's clock from its `Date` header, else ours: an HTTP-date `Retry-After` is
    on the server's clock, so a skewed host still waits what was asked."""
    when = _http_date(date_header) if date_header else None
    return when if when is not None else fallback()


def retry_after_seconds(value: str | None, *, now: datetime) -> float | None:
    """Seconds a `Retry-After` header asks to wait (delay-seconds or an HTTP date), or None
    when there is none or it cannot be read; never negative."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        when = _http_date(text)
        if when is None:
            return None
        seconds = (when - now).total_seconds()
    if math.isnan(seconds):
        return None
    return max(0.0, seconds)


@dataclass(frozen=True, slots=True)
class Backoff:
    """`initial * 2**(failures-1)` plus up to `JITTER` of it, never more than `cap` seconds."""

    initial: float
    cap: float

    def delay(self, failures: int, *, rng: Callable[[], float] = random.random) -> float:
        base = self.initial * 2.0 ** (min(max(failures, 1), 64) - 1)
        return min(self.cap, base + base * JITTER * rng())

    def wait(self, failures: int, retry_after: float | None) -> float:
        """What the server asked (capped) if it said, else the backoff."""
        if retry_after is not None:
            return min(retry_after, self.cap)
        return self.delay(failures)

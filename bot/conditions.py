"""Log a dependency's trouble once per condition, not once per attempt.

A dependency that fails (the database; Edge Impulse for a project) is said once when it goes
down, with what failed and the fix; while it stays down, at most one summary line every
`SUMMARY_EVERY_S` ("still down for 2 min, 340 failures"); and one line when it is back.
With a thousand projects polled every few seconds, a line per attempt would be hundreds a
second, and a traceback each would bury everything else in the log.

`Unexpected` does the same for errors nothing expects (a bug): the traceback once per
distinct error (its type and where it was raised), then a count at most once a minute.
`Refusals` does it for requests refused at the door (a bad signature, a stale timestamp).
`Once` says a lasting fact about a key (a route Edge Impulse refuses a project) once.
"""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from bot.fmt import one_line

SUMMARY_EVERY_S = 60.0
NEW_DOWN_LINES = 10  # keys said down one by one in a summary period; the rest in the summary
LISTED_KEYS = 10  # keys named in a summary line


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


@dataclass(slots=True)
class _Down:
    since: float
    reason: str
    failures: int = 1


@dataclass
class Condition:
    """The up/down state of one dependency, per key (a project for Edge Impulse; "" when the
    dependency is one thing, as the database is). `what` names it in a line ("the database",
    "Edge Impulse"); `fix` says what to do about it."""

    log: logging.Logger
    what: str
    fix: str
    key_name: str = "project"
    every_s: float = SUMMARY_EVERY_S
    clock: Callable[[], float] = time.monotonic
    _down: dict[str, _Down] = field(default_factory=dict)
    _summary_at: float | None = None
    _said_down: int = 0  # down lines in this summary period
    _failures_since_summary: int = 0

    @property
    def down(self) -> Mapping[str, float]:
        """The keys down now, with when each went down (clock seconds)."""
        return {key: down.since for key, down in self._down.items()}

    def why(self, key: str = "") -> str | None:
        """The last failure's reason while `key` is down (for /healthz), else None."""
        down = self._down.get(key)
        return None if down is None else down.reason

    def _name(self, key: str) -> str:
        return f"{self.what} for {self.key_name} {key}" if key else self.what

    def _extra(self, key: str) -> dict[str, str]:
        return {self.key_name: key} if key else {}

    def failed(self, doing: str, error: BaseException | str, key: str = "") -> None:
        """An attempt at `doing` ("polling", "a health check") failed with `error`."""
        now = self.clock()
        self._failures_since_summary += 1
        reason = one_line(str(error) or type(error).__name__, 300)
        down = self._down.get(key)
        if down is not None:
            down.failures += 1
            down.reason = reason
            self._summarise(now)
            return
        self._down[key] = _Down(since=now, reason=reason)
        if self._summary_at is None:
            self._summary_at = now
        if self._said_down < NEW_DOWN_LINES:
            self._said_down += 1
            self.log.warning(
                "%s is down: %s failed: %s; %s",
                self._name(key),
                doing,
                reason,
                self.fix,
                extra=self._extra(key),
            )
        self._summarise(now)

    def ok(self, key: str = "") -> None:
        """An attempt succeeded: the key is up (said once, if it was down)."""
        down = self._down.pop(key, None)
        if down is None:
            return
        self.log.warning(
            "%s is back after %s (%d failure%s meanwhile)",
            self._name(key),
            _duration(self.clock() - down.since),
            down.failures,
            "" if down.failures == 1 else "s",
            extra=self._extra(key),
        )
        if not self._down:
            self._summary_at, self._said_down, self._failures_since_summary = None, 0, 0

    def _summarise(self, now: float) -> None:
        if self._summary_at is None or now - self._summary_at < self.every_s:
            return
        keys = sorted(self._down, key=lambda k: self._down[k].since)
        longest = now - self._down[keys[0]].since
        failures = self._failures_since_summary
        if keys == [""]:
            self.log.warning(
                "%s still down after %s: %d failure%s in the last %s; %s",
                self.what,
                _duration(longest),
                failures,
                "" if failures == 1 else "s",
                _duration(now - self._summary_at),
                self.fix,
            )
        else:
            named = ", ".join(keys[:LISTED_KEYS]) + (" …" if len(keys) > LISTED_KEYS else "")
            self.log.warning(
                "%s still failing for %d %s(s) (%s), the longest for %s: %d failure%s in "
                "the last %s; %s",
                self.what,
                len(keys),
                self.key_name,
                named,
                _duration(longest),
                failures,
                "" if failures == 1 else "s",
                _duration(now - self._summary_at),
                self.fix,
            )
        self._summary_at, self._said_down, self._failures_since_summary = now, 0, 0


@dataclass
class _Gate:
    """Once per kind at once, then at most once every `every_s`, counting the repeats between:
    the rule `Unexpected` and `Refusals` share."""

    every_s: float
    clock: Callable[[], float]
    _seen: dict[object, list[float]] = field(default_factory=dict)

    def open(self, kind: object) -> int | None:
        """None: stay quiet; else say it now, with this many repeats since it was last said
        (0 the first time)."""
        now = self.clock()
        seen = self._seen.get(kind)
        if seen is None:
            self._seen[kind] = [now, 0.0]  # last said, repeats since
            return 0
        seen[1] += 1
        if now - seen[0] < self.every_s:
            return None
        repeats = int(seen[1])
        seen[0], seen[1] = now, 0.0
        return repeats


@dataclass
class Unexpected:
    """Errors nothing expects: a traceback once per distinct error (type and the line that
    raised it), then one line a minute at most counting its repeats."""

    log: logging.Logger
    every_s: float = SUMMARY_EVERY_S
    clock: Callable[[], float] = time.monotonic
    _gate: _Gate = field(init=False)

    def __post_init__(self) -> None:
        self._gate = _Gate(self.every_s, self.clock)

    def __call__(self, doing: str, error: BaseException, **extra: str) -> None:
        """Log `error`, raised while `doing` (e.g. "delivery to channel C1")."""
        frames = traceback.extract_tb(error.__traceback__)
        where = f"{frames[-1].filename}:{frames[-1].lineno}" if frames else "?"
        repeats = self._gate.open((type(error).__qualname__, where))
        if repeats == 0:
            self.log.error("%s failed unexpectedly", doing, exc_info=error, extra=extra)
        elif repeats is not None:
            self.log.error(
                "%s failed unexpectedly: %s: %s (the same error %d more time(s) since its "
                "traceback was logged above)",
                doing,
                type(error).__name__,
                one_line(str(error), 200),
                repeats,
                extra=extra,
            )


@dataclass
class Refusals:
    """Requests refused at the door (a bad signature, a stale timestamp): one line per cause,
    then at most one a minute per cause counting the others, so a flood of forged requests
    is a few lines, and a real misconfiguration (a stale signing secret, a clock off by
    minutes) is still said at once. A line names the cause and the fix, never the request."""

    log: logging.Logger
    every_s: float = SUMMARY_EVERY_S
    clock: Callable[[], float] = time.monotonic
    _gate: _Gate = field(init=False)

    def __post_init__(self) -> None:
        self._gate = _Gate(self.every_s, self.clock)

    def __call__(self, cause: str, said: str) -> None:
        """One more refusal for `cause`; `said` is its line (cause, detail, fix)."""
        repeats = self._gate.open(cause)
        if repeats == 0:
            self.log.warning("%s", said)
        elif repeats is not None:
            self.log.warning(
                "%s (and %d more refused for this cause since the last such line)", said, repeats
            )


@dataclass
class Once:
    """A lasting fact about a key (a project whose Edge Impulse refuses a read) said once in the
    process's life: it does not pass, so repeating it would only bury other lines."""

    log: logging.Logger
    key_name: str = "project"
    _said: set[str] = field(default_factory=set)

    def __call__(self, key: str, message: str, *args: object) -> bool:
        """Log `message % args` at WARNING unless said for `key` before; whether it was said now."""
        if key in self._said:
            return False
        self._said.add(key)
        self.log.warning(message, *args, extra={self.key_name: key})
        return True


DATABASE_FIX = "check that the database at DATABASE_URL is up and reachable; nothing is lost"


def database_condition(log: logging.Logger) -> Condition:
    """The database's one condition, shared by whatever uses it (polls, delivery, leases,
    /healthz), so an outage is one line however many parts notice it."""
    return Condition(log, "the database", DATABASE_FIX)

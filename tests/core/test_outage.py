"""`after_failure` / `after_success` as tables: a sequence of poll outcomes on a fixed clock in,
the outage notices owed out. One row per behaviour, so a changed rule names the row it broke."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest

from bot.core.events import Event, EventKind
from bot.core.outage import Outage, after_failure, after_success
from bot.errors import (
    EonBotError,
    MissingApiKey,
    StoredKeyUnreadable,
    TunerAuthError,
    TunerBadResponse,
    TunerNotFound,
    TunerReportedError,
    TunerUnavailable,
)

PROJECT = "7"
NOTICE_AFTER = 300.0
EPOCH = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)

DOWN = EventKind.API_UNREACHABLE
UP = EventKind.API_RECOVERED

# Every failure a poll can end in, by the name a table row uses.
HTML_500 = TunerUnavailable(PROJECT, "HTTP 500 Internal Server Error; 3 attempts", 500)
HTML_502 = TunerUnavailable(PROJECT, "HTTP 502 Bad Gateway; 3 attempts", 502)
LIMITED = TunerUnavailable(PROJECT, "HTTP 429 Too Many Requests; 3 attempts", 429)
TIMEOUT = TunerUnavailable(PROJECT, "timed out: ReadTimeout; 3 attempts")
REFUSED = TunerUnavailable(PROJECT, "connection failed: ConnectError; 3 attempts")
BAD_JSON = TunerBadResponse(PROJECT, "not valid JSON (expected value at line 1 column 1)", 200)
CUT_JSON = TunerBadResponse(PROJECT, "not valid JSON (EOF while parsing a string)", 200)
UNSUCCESSFUL = TunerReportedError(PROJECT, "Simulated failure")
GONE = TunerNotFound(PROJECT)
KEY_401 = TunerAuthError(PROJECT, 401)
KEY_403 = TunerAuthError(PROJECT, 403)
NO_KEY = MissingApiKey(PROJECT)
OK = None  # a poll that got a state

Poll = tuple[float, EonBotError | None]  # (seconds since EPOCH, the failure or OK)


def run(polls: Sequence[Poll], *, start: Outage | None = None) -> tuple[list[Event], Outage]:
    """Fold the polls through the two steps as the poller does, on a clock it never reads."""
    outage = start or Outage()
    events: list[Event] = []
    for seconds, error in polls:
        now = EPOCH + timedelta(seconds=seconds)
        if error is None:
            step = after_success(PROJECT, outage)
        else:
            step = after_failure(PROJECT, outage, error, now=now, notice_after=NOTICE_AFTER)
        events.extend(step.events)
        outage = step.outage
    return events, outage


def kinds(events: Sequence[Event]) -> list[EventKind]:
    return [event.kind for event in events]


def failing(error: EonBotError, *seconds: float) -> list[Poll]:
    return [(s, error) for s in seconds]


CASES = [
    pytest.param([(0, OK), (30, OK)], [], id="all well: nothing said"),
    pytest.param(
        [*failing(HTML_500, 0, 30, 60, 299), (330, OK)],
        [],
        id="blip just under the threshold, then an answer: nothing said",
    ),
    pytest.param(
        [(0, HTML_500), (1, BAD_JSON), (2, CUT_JSON), (3, UNSUCCESSFUL), (4, GONE), (5, OK)],
        [],
        id="a burst of every non-auth failure kind, seconds long: nothing said",
    ),
    pytest.param(
        [*failing(HTML_500, 0, 299.999), (300, OK), *failing(HTML_502, 310, 609), (620, OK)],
        [],
        id="two blips back to back: an answer between them resets the outage clock",
    ),
    pytest.param(
        [*failing(HTML_500, 0, 300)],
        [DOWN],
        id="failing for exactly the threshold: the notice is due",
    ),
    pytest.param(
        [*failing(HTML_500, 0, 100, 200, 300, 400, 500), (600, OK)],
        [DOWN, UP],
        id="long outage: one unreachable, then one recovered",
    ),
    pytest.param(
        [
            (0, HTML_500),
            (60, HTML_502),
            (120, BAD_JSON),
            (180, CUT_JSON),
            (240, UNSUCCESSFUL),
            (300, LIMITED),
            (360, TIMEOUT),
            (420, REFUSED),
            (480, GONE),
            (540, OK),
        ],
        [DOWN, UP],
        id="long outage changing failure kind every poll: still one notice of each",
    ),
    pytest.param(
        [*failing(HTML_500, 0, 400), (500, OK), (530, OK), (560, OK)],
        [DOWN, UP],
        id="answers after the recovery say nothing more",
    ),
    pytest.param(
        [*failing(HTML_500, 0, 400), (500, OK), *failing(REFUSED, 600, 1000), (1100, OK)],
        [DOWN, UP, DOWN, UP],
        id="two long outages: a pair each",
    ),
    pytest.param(
        [(0, KEY_401)],
        [DOWN],
        id="401: told at once, no waiting for the threshold",
    ),
    pytest.param(
        [(0, KEY_403)],
        [DOWN],
        id="403: told at once too",
    ),
    pytest.param(
        [(0, NO_KEY)],
        [DOWN],
        id="no key configured: told at once, only a person can fix it",
    ),
    pytest.param(
        [*failing(KEY_401, 0, 30, 60, 400, 900, 3600)],
        [DOWN],
        id="401 again and again, past the threshold: still the one notice",
    ),
    pytest.param(
        [*failing(KEY_401, 0, 30), (60, HTML_500), (400, BAD_JSON), (500, KEY_401)],
        [DOWN],
        id="401 then other failures in the same outage: no second notice",
    ),
    pytest.param(
        [*failing(KEY_401, 0, 30, 60), (90, OK)],
        [DOWN, UP],
        id="key fixed after the auth notice: recovered",
    ),
    pytest.param(
        [(0, HTML_500), (10, KEY_401), (20, HTML_500), (30, OK)],
        [DOWN, UP],
        id="key refused in the middle of a blip: told at once, then recovered",
    ),
]


@pytest.mark.parametrize(("polls", "expected"), CASES)
def test_notices_owed(polls: list[Poll], expected: list[EventKind]) -> None:
    events, _ = run(polls)
    assert kinds(events) == expected


@pytest.mark.parametrize(
    ("polls", "owed_at"),
    [
        pytest.param(
            [*failing(HTML_500, 0, 100, 200, 299, 301, 400)], 301, id="first poll past it"
        ),
        pytest.param([(0, HTML_500), (150, KEY_401), (400, KEY_401)], 150, id="first 401"),
        pytest.param([(0, OK), (30, NO_KEY)], 30, id="first poll without a key"),
    ],
)
def test_the_notice_comes_with_the_poll_that_makes_it_due(
    polls: list[Poll], owed_at: float
) -> None:
    """Not a poll late (users wait a whole interval more) and not a poll early (a blip)."""
    for index, (seconds, _) in enumerate(polls):
        events, _ = run(polls[: index + 1])
        assert kinds(events) == ([DOWN] if seconds >= owed_at else []), f"after t={seconds}"


@pytest.mark.parametrize(
    ("failure", "no_key"),
    [(KEY_401, False), (NO_KEY, True), (StoredKeyUnreadable(PROJECT, secret_key_set=True), True)],
)
def test_a_key_never_sent_is_not_said_to_be_refused(failure: EonBotError, no_key: bool) -> None:
    (event,), _ = run([(0, failure)])
    assert event.payload.get("no_key", False) is no_key and event.payload["refused"] is True


@pytest.mark.parametrize("refused", [KEY_401, KEY_403, NO_KEY], ids=["401", "403", "no key"])
def test_a_refused_key_names_the_variable_to_fix(refused: EonBotError) -> None:
    """The channel can act on the notice: it says which setting holds the key."""
    events, outage = run([(0, refused)])
    (event,) = events
    error = event.payload["error"]
    assert isinstance(error, str)
    assert f"EI_API_KEY_{PROJECT}" in error  # this project's own key
    assert re.search(r"\bEI_API_KEY\b", error)  # and the default one
    assert outage.auth_notified and outage.unreachable_notified


@pytest.mark.parametrize(
    "error",
    [HTML_500, HTML_502, LIMITED, TIMEOUT, REFUSED, BAD_JSON, CUT_JSON, UNSUCCESSFUL, GONE],
)
def test_an_outage_that_is_not_about_the_key_never_counts_as_a_refusal(
    error: EonBotError,
) -> None:
    """Only 401/403/missing key skip the threshold; a 404 or a 5xx may pass by itself."""
    events, outage = run([(0, error), (NOTICE_AFTER - 1, error)])
    assert events == []
    assert outage.failing_since == EPOCH
    assert not outage.auth_notified and not outage.unreachable_notified


def test_payloads_carry_the_error_of_the_outage() -> None:
    """Unreachable quotes the failure that made it due; recovered the last one seen, so a
    workflow reacting to either knows what the outage was."""
    events, _ = run([(0, HTML_500), (300, REFUSED), (400, BAD_JSON), (500, OK)])
    down, up = events
    assert (down.kind, up.kind) == (DOWN, UP)
    assert down.project_id == up.project_id == PROJECT
    assert down.payload == {"error": REFUSED.detail}
    assert up.payload == {"error": BAD_JSON.detail}
    assert down.metadata()["event_type"] == "eon_api_unreachable"
    assert up.metadata()["event_payload"] == {"project_id": PROJECT, "error": BAD_JSON.detail}


def test_event_keys_are_unique_per_outage_and_stable_within_one() -> None:
    """The store posts each key once per channel: a key reused by a later outage would swallow
    its notices, and a key that changed within one outage would post it twice."""
    polls: list[Poll] = [
        *failing(HTML_500, 0, 400),
        (500, OK),
        *failing(KEY_401, 600, 700),
        (800, OK),
        *failing(REFUSED, 900, 1300),
        (1400, OK),
    ]
    events, _ = run(polls)
    assert kinds(events) == [DOWN, UP] * 3
    keys = [event.key for event in events]
    assert len(set(keys)) == len(keys), keys
    assert all(key.startswith(f"{PROJECT}:outage:") for key in keys)
    # The same outage replayed (a poll retried after a crash before its commit) gives the
    # same keys, so the outbox's uniqueness makes the retry harmless.
    again, _ = run(polls)
    assert [event.key for event in again] == keys


def test_a_replayed_failure_after_the_notice_gives_no_second_one() -> None:
    """The outage state is what the store keeps between polls: from it alone, no repeat."""
    _, outage = run([*failing(HTML_500, 0, 400)])
    events, later = run([(500, HTML_500), (800, BAD_JSON), (900, GONE)], start=outage)
    assert events == []
    assert later.failing_since == EPOCH


def test_recovery_forgets_the_outage() -> None:
    """A clean slate: the next outage is timed from its own first failure."""
    _, outage = run([*failing(HTML_500, 0, 400), (500, OK)])
    assert outage == Outage()


def test_a_key_revoked_during_a_notified_outage_is_still_told() -> None:
    """Edge Impulse was down long enough for the unreachable notice, then comes back refusing
    the key: waiting will not end this outage, so the channel must hear which setting to fix."""
    events, _ = run([*failing(HTML_500, 0, 400), (500, KEY_401)])
    assert kinds(events) == [DOWN, DOWN]
    assert "EI_API_KEY" in str(events[1].payload["error"])

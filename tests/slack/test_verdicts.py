"""The one verdict a failed attempt leads to (`bot.slack.delivery.verdicts.judge`), as a table."""

from __future__ import annotations

import pytest

from bot.errors import SlackError, SlackOutcomeUnknown, SlackRetryLater
from bot.slack.delivery.verdicts import (
    MAX_ATTEMPTS,
    UNKNOWN_OUTCOME_WAIT_S,
    Pause,
    Stop,
    Verdict,
    Wait,
    judge,
)

CAP = 300.0


@pytest.mark.parametrize(
    ("error", "attempts", "verdict"),
    [
        (SlackError.from_answer("not_in_channel"), 1, Pause("not_in_channel")),
        (SlackError.from_answer("is_archived"), MAX_ATTEMPTS + 3, Pause("is_archived")),
        (SlackError.from_answer("invalid_auth"), 1, Stop("invalid_auth")),
        (SlackError.from_answer("token_revoked"), MAX_ATTEMPTS, Stop("token_revoked")),
        # an error with no rule of its own: waits, then pauses at the MAX_ATTEMPTS-th
        (SlackError.from_answer("restricted_action"), MAX_ATTEMPTS - 1, None),
        (SlackError.from_answer("restricted_action"), MAX_ATTEMPTS, Pause("restricted_action")),
        (SlackError.from_answer("missing_scope"), MAX_ATTEMPTS + 1, Pause("missing_scope")),
        (SlackError.from_answer("invalid_blocks"), MAX_ATTEMPTS, Pause("invalid_blocks")),
        # a rate limit or an unknown outcome never pauses, however often
        (SlackRetryLater("ratelimited", 3.0), 50, None),
        (SlackOutcomeUnknown("ServerDisconnectedError"), 50, None),
    ],
)
def test_the_verdict_on_a_failed_attempt(
    error: SlackError, attempts: int, verdict: Verdict | None
) -> None:
    got = judge(error, attempts, max_wait_s=CAP)
    if verdict is None:
        assert isinstance(got, Wait) and 0.0 < got.seconds <= CAP
    else:
        assert got == verdict


@pytest.mark.parametrize(
    ("error", "attempts", "least", "most"),
    [
        (SlackRetryLater("ratelimited", 30.0), 1, 30.0, 30.0),  # as Slack asked
        (SlackRetryLater("ratelimited", 3600.0), 1, CAP, CAP),  # asked too much: capped
        (SlackRetryLater("ratelimited", None), 1, UNKNOWN_OUTCOME_WAIT_S, UNKNOWN_OUTCOME_WAIT_S),
        (SlackOutcomeUnknown("TimeoutError"), 1, UNKNOWN_OUTCOME_WAIT_S, UNKNOWN_OUTCOME_WAIT_S),
        (SlackOutcomeUnknown("TimeoutError"), 6, 64.0, 64.0 * 1.1),  # the backoff, doubling
        (SlackError.from_answer("fatal_error"), 4, 16.0, 16.0 * 1.1),
        (SlackOutcomeUnknown("TimeoutError"), 40, CAP, CAP),
    ],
)
def test_a_wait_is_what_slack_asked_or_the_backoff_whichever_is_longer_capped(
    error: SlackError, attempts: int, least: float, most: float
) -> None:
    got = judge(error, attempts, max_wait_s=CAP)
    assert isinstance(got, Wait)
    assert least <= got.seconds <= most

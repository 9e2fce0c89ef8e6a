"""What a failed attempt leads to for its channel: one verdict, decided in one place.

An attempt (a post, the look-up before a repost, a card edit) that Slack did not do ends its
channel's drain with exactly one verdict: `Wait` so many seconds and drain again, `Pause` the
channel with a reason (`/eon list` shows it; inviting the bot, unarchiving or `/eon watch`
resumes it), or `Stop` all delivery (the token is refused; the outbox is kept). Success needs
no verdict: the drain goes on posting.

The verdict weighs the failure's place in the error tree (`bot.errors`) and one count: how many
times in a row the thing that failed has failed. For a row that is its stored `attempts` (the
look-ups' included, so it survives a restart); for what has no row (a card edit), the
channel's consecutive failed drains. An error with no rule of its own (`restricted_action`,
`missing_scope` on the look-up, …) pauses the channel after `MAX_ATTEMPTS`.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.errors import (
    SlackAuthError,
    SlackChannelUnusable,
    SlackError,
    SlackOutcomeUnknown,
    SlackRetryLater,
)
from bot.retry import Backoff

MAX_ATTEMPTS = 5  # of one row (or card edit) failing with an error delivery has no rule for
UNKNOWN_OUTCOME_WAIT_S = 5.0  # before looking up a post whose answer was lost
INITIAL_BACKOFF_S = 2.0


@dataclass(frozen=True, slots=True)
class Wait:
    """Drain the channel again after `seconds`."""

    seconds: float


@dataclass(frozen=True, slots=True)
class Pause:
    """Pause the channel, its rows kept, until someone resumes it; `reason` is Slack's error."""

    reason: str


@dataclass(frozen=True, slots=True)
class Stop:
    """Stop all delivery, the outbox kept: Slack refused the bot token (`reason`)."""

    reason: str


Verdict = Wait | Pause | Stop


class Failed(Exception):
    """A row's attempt failed with `error`; `attempts`: the row's count so far, as stored
    (None when the store did not count it, e.g. an unknown outcome)."""

    def __init__(self, error: SlackError, attempts: int | None) -> None:
        super().__init__(str(error))
        self.error = error
        self.attempts = attempts


def judge(error: SlackError, attempts: int, *, max_wait_s: float) -> Verdict:
    """The verdict on an attempt that failed with `error`, the `attempts`-th in a row."""
    if isinstance(error, SlackChannelUnusable):
        return Pause(error.code)
    if isinstance(error, SlackAuthError):
        return Stop(error.code)
    no_rule = not isinstance(error, SlackOutcomeUnknown) and error.code != "ratelimited"
    if no_rule and attempts >= MAX_ATTEMPTS:
        return Pause(error.code)
    asked = UNKNOWN_OUTCOME_WAIT_S
    if isinstance(error, SlackRetryLater) and error.retry_after is not None:
        asked = error.retry_after
    backoff = Backoff(initial=INITIAL_BACKOFF_S, cap=max_wait_s).delay(attempts)
    return Wait(min(max_wait_s, max(asked, backoff)))

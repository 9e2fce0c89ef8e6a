"""A failed Slack Web API call as its place in the error tree (`bot.errors.SlackError`): what
delivery, the chart uploads and start-up decide on, instead of reading error strings."""

from __future__ import annotations

import aiohttp
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.clock import utcnow
from bot.errors import SlackError, SlackOutcomeUnknown
from bot.retry import retry_after_seconds, server_now

TRANSPORT_ERRORS = (SlackClientError, aiohttp.ClientError, TimeoutError, OSError)
"""No answer at all: the call may or may not have been done."""


def slack_failure(error: BaseException) -> SlackError:
    """What a failed call amounts to: Slack's answer sorted by `SlackError.from_answer` (its
    Retry-After read as seconds or an HTTP date on Slack's clock), or, without an answer,
    `SlackOutcomeUnknown`."""
    if not isinstance(error, SlackApiError) or error.response is None:
        return SlackOutcomeUnknown(type(error).__name__)
    response = error.response
    code = str(response.get("error") or "unknown_error")
    headers = response.headers or {}
    now = server_now(headers.get("Date"), fallback=utcnow)
    retry_after = retry_after_seconds(headers.get("Retry-After"), now=now)
    return SlackError.from_answer(code, status=response.status_code, retry_after=retry_after)

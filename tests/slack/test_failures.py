"""Slack's answers sorted into the error tree (`bot.errors`), which is what delivery acts on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import aiohttp
import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse

from bot.errors import (
    EonBotError,
    SlackAuthError,
    SlackChannelUnusable,
    SlackError,
    SlackOutcomeUnknown,
    SlackRetryLater,
    SlackUnrenderable,
)
from bot.slack.failures import slack_failure


@pytest.mark.parametrize(
    ("code", "status", "kind"),
    [
        ("ratelimited", 429, SlackRetryLater),
        ("internal_error", 500, SlackOutcomeUnknown),
        ("not_in_channel", 503, SlackOutcomeUnknown),  # a 5xx may have been done, whatever it says
        ("not_in_channel", 200, SlackChannelUnusable),
        ("channel_not_found", 200, SlackChannelUnusable),
        ("is_archived", 200, SlackChannelUnusable),
        ("invalid_auth", 200, SlackAuthError),
        ("token_revoked", 200, SlackAuthError),
        ("account_inactive", 200, SlackAuthError),
        ("invalid_blocks", 200, SlackUnrenderable),
        ("msg_too_long", 200, SlackUnrenderable),
        ("restricted_action", 200, SlackRetryLater),
        ("something_new", None, SlackRetryLater),
    ],
)
def test_from_answer(code: str, status: int | None, kind: type[SlackError]) -> None:
    error = SlackError.from_answer(code, status=status)
    assert type(error) is kind and isinstance(error, EonBotError)
    assert error.code == code and code in str(error) and "\n" not in str(error)


def answer(status: int, body: dict[str, Any], headers: dict[str, str]) -> SlackApiError:
    response = AsyncSlackResponse(
        client=AsyncWebClient(token="xoxb-test"),
        http_verb="POST",
        api_url="https://slack.test/api/chat.postMessage",
        req_args={},
        data=body,
        headers=headers,
        status_code=status,
    )
    return SlackApiError("refused", response)


def test_retry_after_in_seconds() -> None:
    failure = slack_failure(
        answer(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "7"})
    )
    assert isinstance(failure, SlackRetryLater) and failure.retry_after == 7.0


def test_retry_after_as_an_http_date_on_slacks_clock() -> None:
    slack_now = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)  # far from ours: Slack's clock counts
    headers = {
        "Date": format_datetime(slack_now, usegmt=True),
        "Retry-After": format_datetime(slack_now + timedelta(seconds=42), usegmt=True),
    }
    failure = slack_failure(answer(429, {"ok": False, "error": "ratelimited"}, headers))
    assert isinstance(failure, SlackRetryLater) and failure.retry_after == 42.0


@pytest.mark.parametrize("error", [aiohttp.ServerDisconnectedError(), TimeoutError(), OSError()])
def test_no_answer_is_an_unknown_outcome(error: Exception) -> None:
    assert isinstance(slack_failure(error), SlackOutcomeUnknown)

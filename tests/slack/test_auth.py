"""`bot.slack.auth`, below the process: what one `auth.test` answer makes of the bot token (its
identity and scopes, a refusal that will never pass, or a failure that may), and how start-up
asks again. Slack is a stub: each case is one answer."""

from __future__ import annotations

import logging
from typing import Any, cast

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse

from bot.errors import BotTokenRefused
from bot.retry import Backoff
from bot.slack.auth import Identity, SlackUnavailable, auth_test, slack_condition, verify_bot_token

BASE_URL = "http://slack.test/api/"
FIX = (
    "check SLACK_API_URL and the network; eon-bot keeps asking and serves /healthz (503) meanwhile"
)


def response(data: dict[str, Any], status: int = 200, **headers: str) -> AsyncSlackResponse:
    return AsyncSlackResponse(
        client=None,
        http_verb="POST",
        api_url=f"{BASE_URL}auth.test",
        req_args={},
        data=data,
        headers=headers,
        status_code=status,
    )


class Stub:
    """auth.test answers each of `answers` in turn (an exception is raised)."""

    def __init__(self, *answers: AsyncSlackResponse | BaseException) -> None:
        self.answers = list(answers)
        self.base_url = BASE_URL

    async def auth_test(self) -> AsyncSlackResponse:
        answer = self.answers.pop(0)
        if isinstance(answer, BaseException):
            raise answer
        return answer


def slack(*answers: AsyncSlackResponse | BaseException) -> AsyncWebClient:
    return cast(AsyncWebClient, Stub(*answers))


def api_error(code: str | None, status: int = 200) -> SlackApiError:
    answer = None if code is None else response({"ok": False, "error": code}, status)
    return SlackApiError(f"The request to the Slack API failed: {code}", cast(Any, answer))


async def test_an_answer_gives_the_bots_identity_and_its_scopes() -> None:
    answer = response({"ok": True, "team": "Eon", "user_id": "U0BOT", "team_id": "T0EON"},
                      **{"x-oauth-scopes": "commands, chat:write,,files:write"})  # fmt: skip
    assert await auth_test(slack(answer)) == Identity(
        team="Eon",
        user_id="U0BOT",
        scopes=frozenset({"commands", "chat:write", "files:write"}),
        team_id="T0EON",
    )
    org = response({"ok": True, "team_id": "T0EON", "enterprise_id": "E0ORG",
                    "is_enterprise_install": True})  # fmt: skip
    assert (await auth_test(slack(org))).team_id == "E0ORG"  # an org-wide install's key
    unnamed = response({"ok": True, "team_id": "T0EON", "is_enterprise_install": True})
    assert (await auth_test(slack(unnamed))).team_id == "T0EON"  # no enterprise id: the team's
    bare = response({"ok": True})
    assert await auth_test(slack(bare)) == Identity(team="", user_id="", scopes=None)


@pytest.mark.parametrize(
    "code", ["invalid_auth", "token_revoked", "not_allowed_token_type", "missing_scope"]
)
async def test_an_answer_about_the_token_itself_is_a_refusal(code: str) -> None:
    with pytest.raises(BotTokenRefused) as refused:
        await auth_test(slack(api_error(code)))
    assert refused.value.error == code


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (api_error("ratelimited", 429), "ratelimited, HTTP 429"),
        (api_error("internal_error", 500), "internal_error, HTTP 500"),
        (api_error(""), "no error code, HTTP 200"),
        (api_error(None), "no error code, HTTP ?"),
        (SlackApiError("?", cast(Any, response({"ok": False}, 502))), "no error code, HTTP 502"),
        (ConnectionRefusedError("refused"), "ConnectionRefusedError: refused"),
        (TimeoutError(), "TimeoutError"),
        (ValueError("not JSON:\n" + "x" * 300), "ValueError: not JSON: " + "x" * 149 + "…"),
    ],
)  # fmt: skip
async def test_any_other_failure_may_pass_and_says_why_in_one_line(
    error: BaseException, reason: str
) -> None:
    with pytest.raises(SlackUnavailable) as unavailable:
        await auth_test(slack(error))
    assert unavailable.value.reason == reason and str(unavailable.value) == reason


class Steps:
    """A backoff that records the attempt numbers it is asked for, and a sleep that records."""

    def __init__(self) -> None:
        self.asked: list[int] = []
        self.slept: list[float] = []

    def delay(self, failures: int) -> float:
        self.asked.append(failures)
        return float(failures * 10)

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)


async def test_start_up_asks_again_after_each_failure_waiting_longer_each_time(
    caplog: pytest.LogCaptureFixture,
) -> None:
    steps = Steps()
    flaky = slack(ConnectionRefusedError("no"), api_error("ratelimited", 429),
                  response({"ok": True, "user_id": "U0BOT"}))  # fmt: skip
    with caplog.at_level(logging.WARNING, logger="bot.slack.auth"):
        identity = await verify_bot_token(flaky, backoff=cast(Backoff, steps), sleep=steps.sleep)
    assert identity.user_id == "U0BOT"
    assert (steps.asked, steps.slept) == ([1, 2], [10.0, 20.0])
    first, back = (r.getMessage() for r in caplog.records)
    assert first == (
        f"Slack is down: auth.test at {BASE_URL} failed: ConnectionRefusedError: no; {FIX}"
    )
    assert back.startswith("Slack is back after") and "(2 failures meanwhile)" in back


async def test_a_refusal_at_start_up_is_raised_at_once() -> None:
    steps = Steps()
    with pytest.raises(BotTokenRefused):
        await verify_bot_token(slack(api_error("invalid_auth")), backoff=cast(Backoff, steps),
                               sleep=steps.sleep)  # fmt: skip
    assert steps.asked == []


def test_slacks_condition_is_named_with_its_fix() -> None:
    condition = slack_condition()
    assert (condition.log.name, condition.what, condition.fix) == ("bot.slack.auth", "Slack", FIX)

"""`bot.slack.key_admins`: who may add or remove Edge Impulse keys, below the process (the key
form through bolt and real servers is tests/slack/test_eon_key.py): ADMIN_USER_IDS when set,
else the workspace's admins and owners as `users.info` says, and a refusal when it cannot."""

from __future__ import annotations

import asyncio
import logging
from typing import Any, cast

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.settings import Settings
from bot.slack import key_admins
from bot.slack.key_admins import key_refusal

ONLY_WORKSPACE_ADMINS = (
    "⛔ Only workspace admins and owners can add or remove Edge Impulse keys "
    "(ADMIN_USER_IDS is empty); ask one of them."
)
NOT_KNOWN = (
    "⚠ Slack did not say whether you are a workspace admin (users.info failed), "
    "so no key can be changed now. Try again."
)


class UsersInfo:
    """The part of `AsyncWebClient` asked: `users.info`, answered as given (or never)."""

    def __init__(self, answer: dict[str, Any] | Exception | None) -> None:
        self.answer = answer
        self.asked: list[str] = []

    async def users_info(self, *, user: str) -> dict[str, Any]:
        self.asked.append(user)
        if self.answer is None:
            await asyncio.Event().wait()  # Slack never answers
        if isinstance(self.answer, Exception):
            raise self.answer
        assert self.answer is not None
        return self.answer


async def refusal(answer: dict[str, Any] | Exception | None, user: str, admins: str = "") -> Any:
    slack = UsersInfo(answer)
    said = await asyncio.wait_for(
        key_refusal(cast(AsyncWebClient, slack), Settings.given(admin_user_ids=admins), user), 5
    )
    return said, slack.asked


async def test_admin_user_ids_decide_alone_and_the_refusal_names_five_of_them() -> None:
    admins = "U7,U3,U1,U6,U2,U5,U4"
    assert await refusal({"user": {"is_admin": True}}, "U4", admins) == (None, [])
    said, asked = await refusal({"user": {"is_admin": True}}, "U9", admins)
    assert said == (
        "⛔ Only eon-bot admins (ADMIN_USER_IDS) can add or remove Edge Impulse keys; "
        "ask <@U1>, <@U2>, <@U3>, <@U4>, <@U5>."
    )
    assert asked == [], "a workspace admin is no eon-bot admin when ADMIN_USER_IDS is set"


@pytest.mark.parametrize(
    ("user", "said"),
    [
        ({"is_admin": True}, None),
        ({"is_owner": True}, None),
        ({"is_admin": True, "is_owner": False}, None),
        ({"is_admin": False, "is_owner": False}, ONLY_WORKSPACE_ADMINS),
        ({}, ONLY_WORKSPACE_ADMINS),
        (None, ONLY_WORKSPACE_ADMINS),
    ],
)
async def test_without_admin_user_ids_slack_says_who_is_a_workspace_admin(
    user: dict[str, Any] | None, said: str | None
) -> None:
    assert await refusal({"ok": True, "user": user}, "U9") == (said, ["U9"])


async def test_a_users_info_that_fails_is_a_refusal_that_says_to_try_again(
    caplog: pytest.LogCaptureFixture,
) -> None:
    error = SlackApiError("ratelimited", cast(Any, {"ok": False, "error": "ratelimited"}))
    with caplog.at_level(logging.WARNING, logger="bot.slack.key_admins"):
        assert await refusal(error, "U9") == (NOT_KNOWN, ["U9"])
    assert [r.getMessage() for r in caplog.records] == ["users.info for U9 failed: SlackApiError"]


async def test_a_users_info_that_never_answers_is_refused_within_the_limit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Slack gives the command 3 s; an answer that does not come is a refusal in time."""
    monkeypatch.setattr(key_admins, "ADMIN_CHECK_TIMEOUT_S", 0.05)
    assert await refusal(None, "U9") == (NOT_KNOWN, ["U9"])

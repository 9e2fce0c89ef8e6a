"""Slack unreachable at start is one condition of the log (`verify_bot_token`): one line when
auth.test first fails, at most one summary a minute while it keeps failing, one line when it
answers; never a line per attempt."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from bot.conditions import Condition
from bot.slack.auth import Identity, slack_condition, verify_bot_token


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds


class FlakySlack(AsyncWebClient):
    """auth.test fails `failures` times (no connection), then answers."""

    def __init__(self, failures: int) -> None:
        super().__init__(token="xoxb-test", base_url="http://127.0.0.1:9/api/")
        self.failures = failures
        self.calls = 0

    async def auth_test(self, **kwargs: Any) -> Any:
        self.calls += 1
        if self.calls <= self.failures:
            raise ConnectionRefusedError("Connect call failed ('127.0.0.1', 9)")
        return _Answer({"ok": True, "team": "T", "user_id": "U0BOT"})


class _Answer(dict[str, Any]):
    headers: dict[str, str] = {"x-oauth-scopes": "commands,chat:write"}


async def test_slack_down_at_start_is_one_line_then_a_summary_a_minute_then_back(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock()
    template = slack_condition()
    condition = Condition(template.log, template.what, template.fix, clock=clock)
    slack = FlakySlack(failures=20)  # 1, 2, 4, 8, then every 15 s: about 4½ minutes
    with caplog.at_level(logging.WARNING, logger="bot.slack.auth"):
        identity = await verify_bot_token(slack, condition=condition, sleep=clock.sleep)
    assert isinstance(identity, Identity) and identity.user_id == "U0BOT"
    lines = [r.getMessage() for r in caplog.records]
    assert lines[0].startswith("Slack is down: auth.test at http://127.0.0.1:9/api/ failed")
    summaries = [line for line in lines if line.startswith("Slack still down after")]
    assert lines[-1].startswith("Slack is back after") and "20 failures" in lines[-1]
    assert len(lines) == 2 + len(summaries)
    assert 3 <= len(summaries) <= clock.now / 60  # at most one a minute, yet said
    assert "xoxb-test" not in "\n".join(lines)

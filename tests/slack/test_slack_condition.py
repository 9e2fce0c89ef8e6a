"""Slack failing for a while is one line when it goes down and one when it is back (issue 21),
not one per retried post: the drain's waits go through `bot.conditions`."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from bot.sandbox.stack import CHANNEL, running_stack

PROJECT = "3"


@pytest.mark.slow
async def test_a_slack_outage_is_one_line_down_and_one_back(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bot.slack")
    async with running_stack(tmp_path, trials=12, poll_interval=0.2) as stack:
        stack.slack.fail_next("chat.postMessage", status=503, times=2)
        assert (await stack.command(f"watch {PROJECT}")).status_code == 200
        async with asyncio.timeout(60):  # the backoff: 2 s, then 4 s
            await stack.slack.wait_for(lambda fake: fake.top_level(CHANNEL), timeout=60)
            while not any("Slack is back" in r.getMessage() for r in caplog.records):  # noqa: ASYNC110
                await asyncio.sleep(0.05)
    said = [r.getMessage() for r in caplog.records if r.name.startswith("bot.slack.delivery")]
    down = [line for line in said if line.startswith("Slack is down")]
    back = [line for line in said if line.startswith("Slack is back")]
    assert len(down) == 1 and len(back) == 1, said
    assert "Slack said internal_error" in down[0] and "wait in the outbox" in down[0]
    assert "2 failures meanwhile" in back[0], back
    assert not [line for line in said if "will retry" in line], said

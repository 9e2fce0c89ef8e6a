"""Faults injected into the real `eon-bot run` process (issue #4 builds on these)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.harness import (
    CHANNEL,
    assert_notifications,
    delivered_all,
    e2e_stack,
    explain,
    owed_notifications,
    step_with_news,
)

pytestmark = pytest.mark.e2e


async def test_a_post_slack_made_but_answered_500_is_not_posted_twice(tmp_path: Path) -> None:
    """Slack posts the message, then answers 500: the outcome is unknown to the bot, which
    must find the message by its metadata instead of posting it again."""
    async with e2e_stack(tmp_path) as stack:
        simulation = stack.simulation
        owed = owed_notifications(simulation)
        times = [t for t in simulation.milestones() if t > 0]
        stop_at = step_with_news(times, owed, len(times) // 2)
        with explain(stack.bot):
            await stack.bot.start()
            await stack.watch()
            for t in times[:stop_at]:
                await stack.advance(t)
            stack.slack.fail_next("chat.postMessage", status=500, take_effect=True)
            for t in times[stop_at:]:
                await stack.advance(t)
            await stack.slack.wait_for(lambda f: delivered_all(f, CHANNEL, owed), timeout=30)
            await stack.grace()  # time for a wrong second post to show up
            failed = [c for c in stack.slack.calls_to("chat.postMessage") if c.status == 500]
            assert len(failed) == 1, "the fault was not injected: the test would prove nothing"
            assert (await stack.bot.terminate()).returncode == 0
            assert_notifications(stack.slack, CHANNEL, owed)

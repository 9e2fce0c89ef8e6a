"""A workspace leaves one `eon-bot run` serving two (issue 33), on the real process, SQLite and
PostgreSQL: Slack's `app_uninstalled` (or `tokens_revoked` of its bot token) stops every call
with that workspace's token at once and for good (a restart on the same database keeps it
so), the other workspace goes on being told, and /metrics counts one installed, one left.
Whether the departed workspace's projects are still polled during its grace week is not
asserted here: only what reaches Slack."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.e2e.harness import explain
from tests.e2e.workspaces import (
    ALPHA,
    BETA,
    CHANNEL,
    OWN,
    SHARED,
    TRIAL_COMPLETED,
    WAIT_S,
    Many,
    completions,
    first_completions,
    installed_and_watching,
    many_stack,
    metric,
    news,
)

pytestmark = pytest.mark.e2e


async def delivered(many: Many) -> None:
    """Until nothing waits in the outbox: no post is on its way when the test cuts."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT_S
    while metric(await many.metrics(), "eonbot_outbox_waiting") != 0:
        assert loop.time() < deadline, "the outbox never emptied"
        await asyncio.sleep(0.05)


async def round_of_news(many: Many, index: int) -> None:
    """News for both workspaces: alpha's own project moved (not waited on: whether it is still
    polled is not this test's), beta's and the shared one moved and told to beta."""
    controller = many.stack.controller
    controller.set_time(OWN[ALPHA], completions(controller.simulation(OWN[ALPHA]))[index])
    await news(many, index, OWN[BETA], SHARED, told=(BETA,))


@pytest.mark.parametrize("how", ["app_uninstalled", "tokens_revoked"])
async def test_leaving_stops_that_workspace_alone_also_after_a_restart(
    tmp_path: Path, database_url: str, how: str
) -> None:
    async with many_stack(tmp_path, database_url) as many:
        with explain(many.bot):
            await installed_and_watching(many)
            await first_completions(many, OWN[ALPHA], OWN[BETA], SHARED)
            await delivered(many)
            assert many.calls_of(ALPHA), "alpha was never called: the test would prove nothing"

            cut = len(many.slack.calls)
            assert await many.leave(ALPHA, how) == 200
            assert await many.workspaces() == {"installed": 1, "left": 1}
            for index in (1, 2):  # the second round leaves time for a late post of the first
                await round_of_news(many, index)
            assert many.calls_of(ALPHA, cut) == []
            assert many.calls_of(BETA, cut), "beta was not called after alpha left"
            gone = await many.eon(ALPHA, "help")
            assert "/eon watch" not in gone.text, gone.text  # no workspace to answer for
            assert "/eon watch" in (await many.eon(BETA, "help")).text
            assert many.calls_of(ALPHA, cut) == []

            stopped = await many.bot.terminate()
            assert stopped.returncode == 0, stopped
            restart = len(many.slack.calls)
            await many.bot.start()
            assert await many.workspaces() == {"installed": 1, "left": 1}
            await round_of_news(many, 3)
            assert many.calls_of(ALPHA, cut) == []
            assert many.calls_of(BETA, restart), "beta was not called after the restart"
            assert len(many.slack.messages(CHANNEL[BETA])) > 0
            assert not many.misdirected(), many.misdirected()
            assert not many.leaked(), many.leaked()


async def test_a_workspace_installing_again_is_told_again_at_once(
    tmp_path: Path, database_url: str
) -> None:
    """A departed workspace's channels are held a minute between looks (no token to post
    with); once it installs again through this process they are looked at at once: its next
    news is posted with its new token well within that minute. (What its channels were owed
    while it was away is not asserted: that is the grace week's rule.)"""
    async with many_stack(tmp_path, database_url) as many:
        with explain(many.bot):
            await installed_and_watching(many)
            await first_completions(many, OWN[BETA], SHARED)
            await delivered(many)
            assert await many.leave(ALPHA) == 200
            await news(many, 1, SHARED, told=(BETA,))
            await many.slack.wait_for(  # the premise: delivery looked at alpha's channel, held it
                lambda _: "no token for it" in many.bot.log_text(), timeout=WAIT_S
            )
            assert "eon-bot is installed" in await many.install(ALPHA)
            assert await many.workspaces() == {"installed": 2, "left": 0}
            await news(many, 2, SHARED, told=(BETA,))
            await many.wait_post(ALPHA, SHARED, TRIAL_COMPLETED, count=2)  # within WAIT_S
            assert not many.misdirected(), many.misdirected()

"""End to end: the real `eon-bot run` process watches a whole simulated EON Tuner run (two
tuner jobs: the first stops at its time limit, then an extended search) and posts it to a
FakeSlack channel, driven by signed `/eon` commands.

The simulated clock is frozen and stepped through every moment a trial or the job changes
(`Simulation.milestones()`), waiting each time until the bot has polled it, so the bot sees
every state and what the channel is owed follows from the simulation alone
(`harness.owed_notifications`). The assertions are exact: each notification once, in its
run's thread, with its metadata; one card per run, edited to its final state.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.sandbox.slashcmd import signed_headers, slash_body

from .harness import (
    CHANNEL,
    POLL_INTERVAL_S,
    SIGNING_SECRET,
    STOP_LIMIT_S,
    TRIAL_FAILED,
    USER,
    Stack,
    assert_ack,
    assert_notifications,
    delivered_all,
    e2e_stack,
    explain,
    owed_notifications,
    step_with_news,
)

pytestmark = pytest.mark.e2e

DELIVERY_TIMEOUT_S = 20.0
WALL_LIMIT_S = 60.0


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[Stack]:
    async with e2e_stack(tmp_path) as running:
        yield running


def counts_line(document: dict[str, Any]) -> str:
    """The `/eon status` line of trial counts for the document the bot last saw."""
    status = document["status"]
    return (
        f"Trials: {status['numCompletedTrials']} completed, {status['numFailedTrials']} failed, "
        f"{status['numRunningTrials']} running, {status['numPendingTrials']} pending"
    )


async def test_a_whole_run_reaches_slack_exactly_once(stack: Stack) -> None:
    """The service as deployed: forged requests refused, every `/eon` answered fast and
    privately, and the whole run in the channel exactly as owed; SIGTERM ends it cleanly."""
    simulation = stack.simulation
    owed = owed_notifications(simulation)
    times = [t for t in simulation.milestones() if t > 0]
    # What makes this run worth watching end to end; if the simulator changes, say so here.
    assert len(simulation.runs) == 2 and simulation.runs[0].time_limit_at is not None
    assert any(item.event_type == TRIAL_FAILED and item.retries for item in owed)
    started = time.monotonic()
    with explain(stack.bot):
        await stack.bot.start()

        body = slash_body(
            "list", channel_id=CHANNEL, user_id=USER, response_url=stack.slack.response_url()
        )
        forged = await stack.bot.post_events(
            stack.http, body, signed_headers("not-the-signing-secret", body)
        )
        assert forged.status_code == 401, f"a forged signature got {forged.status_code}"
        stale = signed_headers(SIGNING_SECRET, body, timestamp=int(time.time()) - 600)
        replayed = await stack.bot.post_events(stack.http, body, stale)
        assert replayed.status_code == 401, f"a 10-minute-old request got {replayed.status_code}"

        assert_ack(await stack.command("help"), "/eon watch PROJECT_ID", "/eon unwatch")
        assert_ack(await stack.command("list"), "watches nothing")
        await stack.watch()
        assert_ack(await stack.command("list"), f"project *{stack.project_id}*")

        middle = len(times) // 2
        for t in times[:middle]:
            await stack.advance(t)
        mid_run = simulation.document(times[middle - 1])
        assert_ack(await stack.command("status"), "State: running", counts_line(mid_run))
        for t in times[middle:]:
            await stack.advance(t)
        await stack.slack.wait_for(
            lambda fake: delivered_all(fake, CHANNEL, owed), timeout=DELIVERY_TIMEOUT_S
        )

        final = simulation.document(simulation.duration)
        assert_ack(await stack.command("status"), "State: finished", counts_line(final))
        assert_ack(
            await stack.command(f"unwatch {stack.project_id}"),
            f"Stopped watching project {stack.project_id}",
        )
        assert_ack(await stack.command("list"), "watches nothing")
        # The unwatch follow-up removes the poll job: at most a poll already under way lands.
        polled = stack.controller.requests(stack.project_id)
        await asyncio.sleep(10 * POLL_INTERVAL_S)
        assert stack.controller.requests(stack.project_id) <= polled + 1, "still polling"

        stopped = await stack.bot.terminate()
        assert stopped.returncode == 0, f"SIGTERM: exit code {stopped.returncode}"
        assert stopped.seconds < STOP_LIMIT_S, f"SIGTERM: took {stopped.seconds:.1f}s"
        assert_notifications(stack.slack, CHANNEL, owed)
        assert "Traceback" not in stack.bot.log_text(), "the bot logged a traceback"
    assert time.monotonic() - started < WALL_LIMIT_S, "the end-to-end run took over a minute"


async def test_sigterm_halfway_then_restart_misses_and_repeats_nothing(stack: Stack) -> None:
    """A deploy mid-run: SIGTERM while a step's news is being stored or posted, the run going
    on meanwhile, a new process on the same database; the channel must not notice."""
    simulation = stack.simulation
    owed = owed_notifications(simulation)
    times = [t for t in simulation.milestones() if t > 0]
    stop_at = step_with_news(times, owed, len(times) // 2)
    with explain(stack.bot):
        await stack.bot.start()
        await stack.watch()
        for t in times[:stop_at]:
            await stack.advance(t)
        # One poll of a moment with news, then SIGTERM at once.
        await stack.advance(times[stop_at], polls=1)
        stopped = await stack.bot.terminate()
        assert stopped.returncode == 0, f"SIGTERM: exit code {stopped.returncode}"
        assert stopped.seconds < STOP_LIMIT_S, f"SIGTERM: took {stopped.seconds:.1f}s"
        assert len(stack.slack.messages(CHANNEL)) < len(owed), "the run was over before the stop"

        # The run goes on while the bot is down: its first poll after the restart meets news.
        stack.controller.set_time(stack.project_id, times[stop_at + 1])
        await stack.bot.start()
        assert_ack(await stack.command("list"), f"project *{stack.project_id}*")
        for t in times[stop_at + 1 :]:
            await stack.advance(t)
        await stack.slack.wait_for(
            lambda fake: delivered_all(fake, CHANNEL, owed), timeout=DELIVERY_TIMEOUT_S
        )
        # Whatever the second process would still (wrongly) post would come within a few polls.
        await stack.grace()
        stopped = await stack.bot.terminate()
        assert stopped.returncode == 0, f"second SIGTERM: exit code {stopped.returncode}"
        assert stopped.seconds < STOP_LIMIT_S, f"second SIGTERM: took {stopped.seconds:.1f}s"
        assert_notifications(stack.slack, CHANNEL, owed)
        assert "Traceback" not in stack.bot.log_text(), "the bot logged a traceback"

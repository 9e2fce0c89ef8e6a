"""Watching again, through the assembled app (real `build()`, store, poller, delivery) against
the simulator and the Slack stand-in: a project nobody followed takes a fresh baseline."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from bot.sandbox.fakeslack import Message
from bot.sandbox.simulator.simulation import Simulation
from bot.sandbox.stack import CHANNEL, Stack, running_stack
from bot.slack.delivery import card_edit_gap
from bot.store import TeamChannel
from tests.sql import statements

OTHER = "C0OTHER"
PROJECT = "3"
FINISHED = "🏁 *Finished*"  # the card's state once its run ended (`render.card.state_text`)
HANG_S = 120.0  # only a guard against a hang: a busy machine is slow, never this slow


@pytest.fixture
async def running(tmp_path: Path) -> AsyncIterator[Stack]:
    async with running_stack(tmp_path, trials=12, poll_interval=0.2) as stack:
        yield stack


def moment(sim: Simulation, completed: int) -> float:
    """The first simulated second at which `completed` trials of the run have completed."""
    for t in sim.milestones():
        if sim.document(t)["status"]["numCompletedTrials"] >= completed:
            return t
    raise AssertionError(f"the run never completes {completed} trials")


def trial_messages(stack: Stack, channel: str) -> list[str]:
    return [
        m.event_type or ""
        for m in stack.slack.messages(channel)
        if m.event_type in ("eon_trial_completed", "eon_trial_failed")
    ]


async def polls(stack: Stack, count: int) -> None:
    """Wait for `count` more polls of the project, then for delivery to settle."""
    controller = stack.simulator.controller
    start = controller.requests(PROJECT)
    # Polled: neither the simulator nor delivery offers an event to wait on.
    async with asyncio.timeout(HANG_S):
        while controller.requests(PROJECT) < start + count:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        while not await stack.bot.delivery.idle():  # noqa: ASYNC110
            await asyncio.sleep(0.05)


@pytest.mark.parametrize("channel", [OTHER, CHANNEL], ids=["another channel", "the same channel"])
async def test_a_new_watch_of_a_project_nobody_follows_takes_a_fresh_baseline(
    running: Stack, channel: str
) -> None:
    controller = running.simulator.controller
    sim = controller.simulation(PROJECT)
    controller.set_time(PROJECT, moment(sim, 1))
    assert (await running.command(f"watch {PROJECT}")).status_code == 200
    await running.slack.wait_for(lambda slack: slack.top_level(CHANNEL), timeout=HANG_S)
    await polls(running, 2)
    assert (await running.command(f"unwatch {PROJECT}", channel_id=CHANNEL)).status_code == 200

    later = moment(sim, 6)  # five more trials complete while nobody watches
    controller.set_time(PROJECT, later)
    before = len(trial_messages(running, channel))
    assert (await running.command(f"watch {PROJECT}", channel_id=channel)).status_code == 200
    await polls(running, 3)

    assert trial_messages(running, channel)[before:] == []  # no history flood
    [card] = running.slack.top_level(channel)
    completed = sim.document(later)["status"]["numCompletedTrials"]
    fields = [field["text"] for block in card.blocks for field in block.get("fields") or []]
    assert f"*Completed*\n{completed}" in fields  # the card shows where the run is


async def test_a_second_channel_does_not_reset_the_first(running: Stack) -> None:
    """Only a project no channel follows starts afresh: the watching channel misses nothing."""
    controller = running.simulator.controller
    sim = controller.simulation(PROJECT)
    controller.set_time(PROJECT, moment(sim, 1))
    assert (await running.command(f"watch {PROJECT}")).status_code == 200
    await running.slack.wait_for(lambda slack: slack.top_level(CHANNEL), timeout=HANG_S)
    await polls(running, 1)
    controller.set_time(PROJECT, moment(sim, 3))
    assert (await running.command(f"watch {PROJECT}", channel_id=OTHER)).status_code == 200
    await polls(running, 3)
    assert trial_messages(running, CHANNEL).count("eon_trial_completed") >= 2


async def test_on_sqlite_polls_and_posts_prove_no_lease(running: Stack) -> None:
    """SQLite serves one process (`SqliteLock`): a save or a post has no other replica to
    prove itself against, so neither reads a lease, and a drain lets go of none."""
    controller = running.simulator.controller
    sim = controller.simulation(PROJECT)
    controller.set_time(PROJECT, moment(sim, 1))
    assert (await running.command(f"watch {PROJECT}")).status_code == 200
    await polls(running, 2)
    with statements(running.bot.store) as seen:
        controller.set_time(PROJECT, moment(sim, 4))
        await polls(running, 2)
    assert any(s.startswith("INSERT INTO projects") for s in seen)  # polls were saved
    assert any(s.startswith("UPDATE outbox SET state") for s in seen)  # and posted
    assert not [s for s in seen if s.startswith(("SELECT leases.owner", "DELETE FROM leases"))]


@pytest.mark.slow
async def test_a_running_runs_card_is_edited_at_most_every_gap_and_its_end_at_once(
    tmp_path: Path,
) -> None:
    """Slack allows `chat.update` about 50 times a minute per workspace: a running run's card
    gathers several polls' news into one edit (`card_edit_gap`), and shows the end at once.

    Neither half reads the machine's speed: a busy machine only spreads the edits further
    apart (the gap is a lower bound), and "at once" is the first look at the channel's cards
    after the end was posted, not a number of seconds."""
    interval = 1.0  # a gap of 3 s: room for the end's poll and chart before it
    gap = card_edit_gap(interval)
    async with running_stack(tmp_path, trials=12, poll_interval=interval) as running:
        controller = running.simulator.controller
        sim = controller.simulation(PROJECT)
        first = sim.document(0)["tunerCoordinatorJobId"]  # the simulation extends its run later
        end = max(t for t in sim.milestones() if sim.document(t)["tunerCoordinatorJobId"] == first)
        assert sim.document(end)["status"]["status"] == "completed"
        completed = sim.document(end)["status"]["numCompletedTrials"]
        shows_end = looks_after_the_end(running)
        controller.set_time(PROJECT, moment(sim, 1))
        assert (await running.command(f"watch {PROJECT}")).status_code == 200
        await running.slack.wait_for(lambda slack: slack.top_level(CHANNEL), timeout=HANG_S)
        [card] = running.slack.top_level(CHANNEL)
        for completed_now in range(2, 8):  # the summary changes at every poll
            controller.set_time(PROJECT, moment(sim, completed_now))
            await polls(running, 1)
        edited = len(running.slack.calls_to("chat.update"))
        controller.set_time(PROJECT, moment(sim, 8))
        await running.slack.wait_for(
            lambda slack: len(slack.calls_to("chat.update")) > edited, timeout=HANG_S
        )
        controller.set_time(PROJECT, end)  # just after an edit: the end is not held back
        await running.slack.wait_for(lambda _: shows_end, timeout=HANG_S)

        assert shows_end[0], "the first look at the cards after the end was posted held it back"
        edits = [call.time for call in running.slack.calls_to("chat.update")]
        gaps = [b - a for a, b in zip(edits, edits[1:], strict=False)]
        assert len(gaps) >= 2
        assert min(gaps[:-1]) >= gap - 0.05  # 0.05: FakeSlack's clock, not delivery's
        [shown] = [m for m in running.slack.top_level(CHANNEL) if m.ts == card.ts]
        assert FINISHED in shown.text
        assert f"*Completed*\n{completed}" in card_fields(shown)


def card_fields(message: Message) -> list[str]:
    return [f["text"] for block in message.blocks for f in block.get("fields") or []]


def looks_after_the_end(stack: Stack) -> list[bool]:
    """For each look of delivery at the channel's cards that starts once the run's end is
    posted: whether the card shows the end when the look is over. The end's summary is saved
    with its message, so the first such look finds it: shown, or held back."""
    cards = stack.bot.delivery._cards  # the editor: no other seam sees a held edit
    update = cards.update
    looks: list[bool] = []

    def ended() -> bool:
        return any(m.event_type == "eon_job_finished" for m in stack.slack.messages(CHANNEL))

    async def update_and_look(where: TeamChannel, slack: AsyncWebClient) -> None:
        after_end = where.channel_id == CHANNEL and ended()
        await update(where, slack)
        if after_end:
            card = stack.slack.top_level(CHANNEL)[0]  # the run's card, posted first
            looks.append(FINISHED in card.text)

    cards.update = update_and_look  # type: ignore[method-assign]
    return looks


async def test_run_says_what_it_does_in_info_lines(
    running: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    """A project watched, a run found, a notice posted: one INFO line each."""
    caplog.set_level("INFO", logger="bot")
    assert (await running.command(f"watch {PROJECT}")).status_code == 200
    card = await running.slack.wait_for(lambda slack: slack.top_level(CHANNEL), timeout=HANG_S)
    assert card
    await polls(running, 1)
    said = [r.getMessage() for r in caplog.records if r.levelname == "INFO"]
    assert f"watching project {PROJECT}: a poll every 0.2 s" in said
    assert any(line.startswith(f"project {PROJECT}: found a tuner run (job ") for line in said)
    assert f"posted eon_run_started of project {PROJECT} to {CHANNEL}" in said

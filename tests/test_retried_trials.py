"""A trial that fails, is retried and completes, told truthfully in the channel: through the
assembled app (real `build()`, store, poller, delivery, slack_sdk) against the simulator and
the Slack stand-in. Pure rules are in tests/core/test_diff.py and tests/slack/test_render.py."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.sandbox.fakeslack import FakeSlack
from bot.sandbox.simulator.simulation import Simulation
from bot.sandbox.stack import CHANNEL, Stack, running_stack

PROJECT = "3"


@pytest.fixture
async def running(tmp_path: Path) -> AsyncIterator[Stack]:
    async with running_stack(tmp_path, trials=12, poll_interval=0.2) as stack:
        yield stack


def retried_then_completed(sim: Simulation) -> str:
    """A trial whose first attempt fails and whose retry completes."""
    for trial in sim.document(sim.duration)["trials"]:
        attempts = sim.attempts(trial["id"])
        if len(attempts) == 2 and attempts[0].failed and not attempts[1].failed:
            return str(trial["id"])
    raise AssertionError("the simulated run has no trial that completes on its retry")


def of_trial(slack: FakeSlack, kind: str, trial_id: str) -> list[str]:
    return [
        m.text
        for m in slack.messages(CHANNEL)
        if m.event_type == kind
        and (m.metadata or {}).get("event_payload", {}).get("trial_id") == trial_id
    ]


async def test_a_failure_retried_to_completion_is_edited_and_the_completion_counts_retries(
    running: Stack,
) -> None:
    controller = running.simulator.controller
    sim = controller.simulation(PROJECT)
    trial_id = retried_then_completed(sim)
    first, retry = sim.attempts(trial_id)
    name = next(t["name"] for t in sim.document(sim.duration)["trials"] if t["id"] == trial_id)

    controller.set_time(PROJECT, first.start + 1)
    assert (await running.command(f"watch {PROJECT}")).status_code == 200
    await running.slack.wait_for(lambda slack: slack.top_level(CHANNEL), timeout=10)

    controller.set_time(PROJECT, first.end + 1)  # failed, its retry not started yet
    [failure] = await running.slack.wait_for(
        lambda slack: of_trial(slack, "eon_trial_failed", trial_id), timeout=10
    )
    assert failure == f"❌ *{name}* failed — a retry may follow"

    controller.set_time(PROJECT, retry.end + 1)
    [completion] = await running.slack.wait_for(
        lambda slack: of_trial(slack, "eon_trial_completed", trial_id), timeout=10
    )
    # (the only completion so far, so also the run's first new best)
    assert completion.startswith(f"✅ *{name}* completed after 1 retry · 🏆 new best — accuracy ")
    # The failure message now tells the whole story; it is still that failure's message.
    [edited] = of_trial(running.slack, "eon_trial_failed", trial_id)
    assert edited == f"❌ *{name}* failed → retried → ✅ completed"
    assert len(running.slack.calls_to("chat.postMessage")) == len(
        running.slack.messages(CHANNEL)
    )  # edited in place, never posted again

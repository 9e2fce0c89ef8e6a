"""An extended search gets its own card that says which run it continues and links to that run's
card: through the assembled app against the simulator and the Slack stand-in."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.sandbox.stack import CHANNEL, Stack, running_stack

PROJECT = "3"


@pytest.fixture
async def running(tmp_path: Path) -> AsyncIterator[Stack]:
    async with running_stack(tmp_path, trials=12, poll_interval=0.2) as stack:
        yield stack


def header(blocks: list[dict[str, object]]) -> str:
    return str(blocks[0]["text"]["text"])  # type: ignore[index]


async def test_an_extended_run_card_names_and_links_the_run_it_continues(running: Stack) -> None:
    controller = running.simulator.controller
    sim = controller.simulation(PROJECT)
    first, extension = sim.runs  # the simulated search is cut by its limit, then extended
    assert extension.continuation_job_id == first.coordinator_job_id

    controller.set_time(PROJECT, first.first_start + 1)
    assert (await running.command(f"watch {PROJECT}")).status_code == 200
    [earlier] = await running.slack.wait_for(lambda slack: slack.top_level(CHANNEL), timeout=10)
    controller.set_time(PROJECT, first.end + 1)
    await running.slack.wait_for(
        lambda slack: any(m.event_type == "eon_job_finished" for m in slack.messages(CHANNEL)),
        timeout=10,
    )
    controller.set_time(PROJECT, extension.ready + 1)
    cards = await running.slack.wait_for(
        lambda slack: len(slack.top_level(CHANNEL)) == 2 and slack.top_level(CHANNEL), timeout=10
    )
    later = cards[1]

    assert header(later.blocks) != header(earlier.blocks)
    assert header(later.blocks).endswith(
        f"(extended search) · Machine vibration anomalies (project {PROJECT})"
    )
    link = f"https://eon-test.slack.com/archives/{CHANNEL}/p{earlier.ts.replace('.', '')}"
    context = next(b for b in later.blocks if b["type"] == "context")
    assert context["elements"][0]["text"] == (
        f"↪ Extends an earlier run's search · <{link}|earlier card>"
    )
    assert "↪ Extends an earlier run's search" in later.text
    assert str(first.coordinator_job_id) not in later.text
    asked = running.slack.calls_to("chat.getPermalink")
    assert asked and all(call.args.get("message_ts") == earlier.ts for call in asked)

"""Through the assembled app against the simulator and the Slack stand-in: the run card and a
run's end notice name the project ("Gesture recognition (project 2)", from Edge Impulse's
project info) and the run ("EON Tuner run N"), and no job id is in their text; the job ids
stay in the metadata."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.sandbox.simulator.projects import PROJECT_INFO
from bot.sandbox.stack import CHANNEL, Stack, running_stack

PROJECT = "2"


@pytest.fixture
async def running(tmp_path: Path) -> AsyncIterator[Stack]:
    async with running_stack(tmp_path, trials=12, poll_interval=0.2) as stack:
        yield stack


async def test_a_card_and_a_notice_name_the_project_and_the_run(running: Stack) -> None:
    controller = running.simulator.controller
    sim = controller.simulation(PROJECT)
    first = sim.runs[0]
    controller.set_time(PROJECT, first.first_start + 1)
    assert (await running.command(f"watch {PROJECT}")).status_code == 200
    [card] = await running.slack.wait_for(lambda slack: slack.top_level(CHANNEL), timeout=20)
    controller.set_time(PROJECT, first.end + 1)
    done = await running.slack.wait_for(
        lambda slack: [m for m in slack.messages(CHANNEL) if m.event_type == "eon_job_finished"],
        timeout=20,
    )
    [card] = running.slack.top_level(CHANNEL)  # as last edited
    project = "Gesture recognition (project 2)"
    run = sim.document(first.end)["config"]["name"]
    assert run.startswith("EON Tuner run ")
    ids = {str(first.coordinator_job_id), str(first.tuner_job_id)}
    for message in (card, done[0]):
        text = message.plain_text
        assert project in text and run in text, text
        assert not any(job in text for job in ids), text
    payload = done[0].metadata["event_payload"]  # type: ignore[index]
    assert payload["tuner_job_id"] == str(first.tuner_job_id)
    assert running.simulator.app[PROJECT_INFO].requests[PROJECT] == 1  # not once per poll

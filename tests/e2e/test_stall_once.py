"""One stall, one resume, on the real `eon-bot run` process (issue #22): a project watched by
two channels (`all` and `best`), `STALL_AFTER=2`, `POLL_INTERVAL=0.3`, a run held still for
twice `STALL_AFTER`: each channel gets exactly one "stalled"; once the run moves, exactly one
"moves again"; nothing more while it then runs on."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bot.sandbox.fakeslack import FakeSlack, Message
from tests.e2e.harness import CHANNEL, assert_ack, e2e_stack, explain

pytestmark = pytest.mark.e2e

BEST = "C0EONBEST"
STALL_AFTER_S = 2.0
STALLED, RESUMED = "eon_run_stalled", "eon_run_resumed"


def of(fake: FakeSlack, channel: str, kind: str) -> list[Message]:
    return [m for m in fake.messages(channel) if m.event_type == kind]


async def test_a_run_held_still_stalls_once_and_resumes_once_in_each_channel(
    tmp_path: Path,
) -> None:
    env = {"STALL_AFTER": f"{STALL_AFTER_S:g}"}
    async with e2e_stack(tmp_path, poll_interval=0.3, extra_env=env) as stack:
        simulation = stack.simulation
        times = [t for t in simulation.milestones() if t > 0]
        hold = times[len(times) // 3]  # a moment while the first job runs
        assert simulation.document(hold)["tunerJobIsRunning"] is True
        after = [t for t in times if t > hold][:3]
        with explain(stack.bot):
            await stack.bot.start()
            await stack.watch()
            reply = await stack.command(f"watch {stack.project_id} best", channel_id=BEST)
            assert_ack(reply, f"Watching project {stack.project_id}")
            for t in times[: times.index(hold)]:
                await stack.advance(t)
            await stack.advance(hold)
            held_from = asyncio.get_running_loop().time()
            for channel in (CHANNEL, BEST):
                await stack.slack.wait_for(
                    lambda fake, c=channel: of(fake, c, STALLED), timeout=15.0
                )
            # Hold on until twice STALL_AFTER has passed (polls every 0.3 s meanwhile).
            while asyncio.get_running_loop().time() - held_from < 2 * STALL_AFTER_S + 0.5:
                await stack.advance(hold, polls=1)
            for channel in (CHANNEL, BEST):
                assert len(of(stack.slack, channel, STALLED)) == 1, f"stalled again in {channel}"
                assert not of(stack.slack, channel, RESUMED), f"a false resume in {channel}"

            for t in after:
                await stack.advance(t)
            for channel in (CHANNEL, BEST):
                await stack.slack.wait_for(
                    lambda fake, c=channel: of(fake, c, RESUMED), timeout=15.0
                )
            await stack.advance(after[-1], polls=3)  # less than STALL_AFTER: no new stall
            await stack.bot.terminate()
        for channel in (CHANNEL, BEST):
            assert len(of(stack.slack, channel, STALLED)) == 1, channel
            (resumed,) = of(stack.slack, channel, RESUMED)
            assert "moves again" in resumed.text

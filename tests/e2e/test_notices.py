"""End to end on the real `eon-bot run` process: the notices a channel chose.

- `failures`: a channel watching in `failures` mode gets each run's card, every failed attempt,
  the time limit, the end and its chart (`harness.owed_notifications`, completions left out),
  and not one completion.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from .harness import (
    CHANNEL,
    JOB_FINISHED,
    RUN_STARTED,
    TIME_LIMIT,
    TRIAL_COMPLETED,
    TRIAL_FAILED,
    assert_ack,
    assert_notifications,
    delivered_all,
    e2e_stack,
    explain,
    identity_of,
    owed_notifications,
)

pytestmark = pytest.mark.e2e

DELIVERY_TIMEOUT_S = 30.0


async def test_failures_mode_tells_failures_and_the_end_never_a_completion(
    tmp_path: Path,
) -> None:
    async with e2e_stack(tmp_path) as stack:
        simulation = stack.simulation
        owed = [
            item for item in owed_notifications(simulation) if item.event_type != TRIAL_COMPLETED
        ]
        failures = sum(item.event_type == TRIAL_FAILED for item in owed)
        # What makes this run worth it; if the simulator changes, say so here.
        assert failures >= 3 and any(item.event_type == TIME_LIMIT for item in owed)
        times = [t for t in simulation.milestones() if t > 0]
        with explain(stack.bot):
            await stack.bot.start()
            reply = await stack.command(f"watch {stack.project_id} failures")
            assert_ack(reply, f"Watching project {stack.project_id}", "failures only")
            await stack.slack.wait_for(lambda fake: fake.top_level(CHANNEL), timeout=15.0)
            assert_ack(await stack.command("list"), "failures only (failed trials")
            for t in times:
                await stack.advance(t)
            await stack.slack.wait_for(
                lambda fake: delivered_all(fake, CHANNEL, owed), timeout=DELIVERY_TIMEOUT_S
            )
            await stack.bot.terminate()
            assert_notifications(stack.slack, CHANNEL, owed)  # nothing else was posted
            kinds = Counter(identity_of(m)[0] for m in stack.slack.messages(CHANNEL))
            assert kinds[TRIAL_COMPLETED] == 0
            assert kinds[TRIAL_FAILED] == failures
            assert kinds[RUN_STARTED] == kinds[JOB_FINISHED] == len(simulation.runs)

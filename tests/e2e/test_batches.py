"""A batch told as it happened, under the real `eon-bot run` process (issue 28, point 7).

One simulated run is followed milestone by milestone, except for a stretch of about eleven
minutes during which Edge Impulse answers nothing but errors: the first poll after it sees four
completions, and a trial that failed, was retried and failed again. The channel must get every
notification once, in the order the run made them (completions by when they completed, not
by the document's order), "🏆 new best" on the trials that were the best when they completed,
and the failure that a retry hid from every poll told as failed, once.

The window is chosen from the simulation (seed 1, 24 trials, project 1), and the test checks
that it still shows the case: the document lists the batch's completions in another order
than they completed in, and judging new bests in the document's order would crown another.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.sandbox.simulator.server import Fault
from tests.e2e.harness import (
    TRIAL_COMPLETED,
    TRIAL_FAILED,
    Identity,
    Stack,
    assert_notifications,
    delivered_all,
    e2e_stack,
    explain,
    identity_of,
    owed_notifications,
)
from tests.e2e.test_tuner_faults import drain, polls_after

pytestmark = pytest.mark.e2e

BEFORE, AFTER = 600.0, 1300.0  # the outage: the last poll before it, the first after it
HTML_502 = Fault.raw(b"<html><body><h1>502 Bad Gateway</h1></body></html>", status=502)


def batch_of(stack: Stack) -> tuple[list[str], list[str], Identity]:
    """The batch's completions in completion order and in document order, and the identity of
    the failure that was retried before the first poll after the outage."""
    simulation = stack.simulation
    listed = [trial["id"] for trial in simulation.document(AFTER)["trials"]]
    done: list[tuple[int, str]] = []
    retried: list[Identity] = []
    for trial_id in listed:
        attempts = simulation.attempts(trial_id)
        for index, attempt in enumerate(attempts):
            if not BEFORE < attempt.end <= AFTER:
                continue
            if not attempt.failed:
                done.append((attempt.end, trial_id))
            elif index + 1 < len(attempts) and attempts[index + 1].start <= AFTER:
                job = str(simulation.runs[0].tuner_job_id)
                retried.append((TRIAL_FAILED, job, trial_id, index))
    in_time = [trial_id for _, trial_id in sorted(done)]
    in_document = [trial_id for trial_id in listed if trial_id in in_time]
    assert len(retried) == 1, f"the window no longer holds one retried failure: {retried}"
    return in_time, in_document, retried[0]


async def test_a_batch_after_an_outage_is_told_as_it_happened(tmp_path: Path) -> None:
    async with e2e_stack(tmp_path, trials=24) as stack:
        controller, project = stack.controller, stack.project_id
        simulation = stack.simulation
        in_time, in_document, retried = batch_of(stack)
        assert len(in_time) >= 3 and in_time != in_document, "the window shows no batch"
        owed = owed_notifications(simulation)
        times = [t for t in simulation.milestones() if t > 0]
        with explain(stack.bot):
            await stack.bot.start()
            await stack.watch()
            for t in (t for t in times if t <= BEFORE):
                await stack.advance(t)
            controller.inject(project, *[HTML_502] * 9)  # three polls of three attempts
            controller.set_time(project, AFTER)
            await drain(controller, project)
            await polls_after(controller, project, 2)
            for t in (t for t in times if t > AFTER):
                await stack.advance(t)
            rest = [item for item in owed if item.identity != retried]  # may be missing
            await stack.slack.wait_for(
                lambda fake: delivered_all(fake, stack.channel, rest), timeout=30.0
            )

        messages = stack.slack.messages(stack.channel)
        told = [
            identity[2]
            for message in messages
            if (identity := identity_of(message)) is not None
            and identity[0] == TRIAL_COMPLETED
            and identity[2] in in_time
        ]
        assert told == in_time, f"told {told}, completed {in_time} (document: {in_document})"
        # Each notification once, in the run's order (but the retried failure: no document
        # shows when it happened), with its payload: `is_best` on the true new bests.
        assert_notifications(stack.slack, stack.channel, owed, unordered={retried})
        failures = [identity_of(m) for m in messages if identity_of(m) == retried]
        assert len(failures) == 1

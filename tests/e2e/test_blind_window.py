"""A run that ends while the bot cannot look, on the real `eon-bot run` process (issue #22).

The simulated search is cut by its time limit and extended. The bot watches the first run,
then stops looking (the process stopped, or Edge Impulse answering garbage) from the middle
of the first run until the extension has started, and watches on to the end. For both shapes
of the state (the extension listing the first run's trials beside its own, or only its own):

- each trial of either run is told once, under the run that ran it (its `tuner_job_id`, in
  that run's thread), and each run's completions number what the simulator says;
- the first run's time limit is told once, and its end with the true counts and best trial;
- two cards, the first one showing its run finished.

When the first run's own state cannot be read (refused), its end says what was seen and no
count it did not see.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from bot.sandbox.fakeslack import FakeSlack, Message
from bot.sandbox.simulator.server import Fault
from bot.sandbox.simulator.simulation import RunInfo, Simulation
from tests.e2e.harness import (
    CHANNEL,
    JOB_FINISHED,
    RUN_STARTED,
    TIME_LIMIT,
    TRIAL_COMPLETED,
    TRIAL_FAILED,
    Stack,
    best_trial,
    e2e_stack,
    explain,
)

pytestmark = pytest.mark.e2e

TRIALS = 12
DELIVERY_TIMEOUT_S = 60.0
GARBAGE = Fault.raw(b'{"success": true, "trials": [{"id": ', content_type="application/json")


def payload(message: Message) -> dict[str, Any]:
    assert message.metadata is not None
    found: dict[str, Any] = message.metadata.get("event_payload") or {}
    return found


def of(fake: FakeSlack, kind: str) -> list[Message]:
    return [m for m in fake.messages(CHANNEL) if m.event_type == kind]


def ended_trials(simulation: Simulation, run: RunInfo, status: str) -> set[str]:
    """The run's trials in `status` at its end (the simulator's truth)."""
    end = simulation.document(run.end)
    return {t["id"] for t in end["trials"] if t["status"] == status and t["id"] in run.trial_ids}


async def blind(stack: Stack, how: str, until: float) -> None:
    """The bot does not look while the clock moves to `until`, then looks again."""
    if how == "stopped":
        await stack.bot.terminate()
        stack.controller.set_time(stack.project_id, until)
        await stack.bot.start()
        return
    faults = 12  # several polls' worth, retries included
    stack.controller.inject(stack.project_id, *[GARBAGE] * faults)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 30.0
    while stack.controller.pending_faults(stack.project_id) > faults // 2:
        assert loop.time() < deadline, "the bot stopped polling during the garbage"
        await asyncio.sleep(0.01)
    stack.controller.set_time(stack.project_id, until)  # the end falls inside the garbage


async def watch_across_the_gap(stack: Stack, how: str) -> tuple[RunInfo, RunInfo, float]:
    """Watch the first run's first half, not look until the extension started, then watch
    to the end; the runs, and the last moment seen before the gap."""
    simulation = stack.simulation
    first, extension = simulation.runs
    assert first.time_limit_at is not None
    times = [t for t in simulation.milestones() if t > 0]
    before = [t for t in times if t < first.time_limit_at]
    before = before[: len(before) // 2]
    await stack.bot.start()
    await stack.watch()
    for t in before:
        await stack.advance(t)
    assert of(stack.slack, TRIAL_COMPLETED), "the gap starts after some completions"
    await blind(stack, how, extension.ready + 5)
    for t in [t for t in times if t > extension.ready + 5]:
        await stack.advance(t)
    return first, extension, before[-1]


@pytest.mark.parametrize("lists_earlier", [True, False], ids=["beside", "own-only"])
@pytest.mark.parametrize("how", ["stopped", "garbage"])
async def test_each_trial_told_once_under_its_run_with_true_counts(
    tmp_path: Path, how: str, lists_earlier: bool
) -> None:
    async with e2e_stack(tmp_path, trials=TRIALS, outage_notice_after=300.0) as stack:
        stack.controller.configure(stack.project_id, trials=TRIALS, lists_earlier=lists_earlier)
        simulation = stack.simulation
        with explain(stack.bot):
            first, extension, _ = await watch_across_the_gap(stack, how)
            await stack.slack.wait_for(
                lambda fake: len(of(fake, JOB_FINISHED)) == 2, timeout=DELIVERY_TIMEOUT_S
            )
            await stack.bot.terminate()

        fake = stack.slack
        cards = fake.top_level(CHANNEL)
        assert [payload(c)["tuner_job_id"] for c in cards] == [
            str(first.tuner_job_id),
            str(extension.tuner_job_id),
        ], "one card per run, nothing else at the top level"
        card_of = {str(r.tuner_job_id): c for r, c in zip((first, extension), cards, strict=True)}
        run_of = {trial: str(r.tuner_job_id) for r in (first, extension) for trial in r.trial_ids}

        told = Counter(payload(m)["trial_id"] for m in of(fake, TRIAL_COMPLETED))
        assert max(told.values()) == 1, "a completion told twice"
        for message in [*of(fake, TRIAL_COMPLETED), *of(fake, TRIAL_FAILED)]:
            job = payload(message)["tuner_job_id"]
            assert job == run_of[payload(message)["trial_id"]], message.text
            assert message.thread_ts == card_of[job].ts, "told outside its run's thread"

        for run in (first, extension):
            job = str(run.tuner_job_id)
            completed = ended_trials(simulation, run, "completed")
            failed = ended_trials(simulation, run, "failed")
            mine = {payload(m)["trial_id"] for m in of(fake, TRIAL_COMPLETED)}
            assert mine & set(run.trial_ids) == completed, f"completions of job {job}"
            finals = {payload(m)["trial_id"] for m in of(fake, TRIAL_FAILED)}
            assert failed <= finals, f"a final failure of job {job} never told"
            (end,) = [m for m in of(fake, JOB_FINISHED) if payload(m)["tuner_job_id"] == job]
            truth = simulation.document(run.end)["status"]
            assert payload(end)["completed_trials"] == truth["numCompletedTrials"]
            assert payload(end)["failed_trials"] == truth["numFailedTrials"]
            best = best_trial(simulation.document(run.end))
            assert best is not None and payload(end)["best_trial_id"] == best["id"]
            assert end.thread_ts == card_of[job].ts
        (limit,) = of(fake, TIME_LIMIT)
        assert payload(limit)["tuner_job_id"] == str(first.tuner_job_id)
        assert "Finished" in card_of[str(first.tuner_job_id)].text
        assert len(of(fake, RUN_STARTED)) == 2


async def test_an_end_that_cannot_be_read_says_what_was_seen(tmp_path: Path) -> None:
    async with e2e_stack(tmp_path, trials=TRIALS) as stack:
        stack.controller.configure(
            stack.project_id, trials=TRIALS, lists_earlier=False, runs_readable=False
        )
        with explain(stack.bot):
            first, extension, last_seen = await watch_across_the_gap(stack, "stopped")
            await stack.slack.wait_for(
                lambda fake: len(of(fake, JOB_FINISHED)) == 2, timeout=DELIVERY_TIMEOUT_S
            )
            await stack.bot.terminate()
        fake = stack.slack
        ends = {payload(m)["tuner_job_id"]: m for m in of(fake, JOB_FINISHED)}
        unseen = ends[str(first.tuner_job_id)]
        seen = payload(unseen)
        assert seen["ended_unseen"] is True
        assert not {"completed_trials", "failed_trials", "outcome", "best_trial_id"} & set(seen)
        told = of(fake, TRIAL_COMPLETED) + of(fake, TRIAL_FAILED)
        then = stack.simulation.document(last_seen)["trials"]
        ended = [t for t in then if t["status"] in ("completed", "failed")]
        assert seen["trials_seen"] == len(ended) < len(first.trial_ids)
        assert seen["trials_planned"] == TRIALS
        assert (
            f"ended while eon-bot could not look; {len(ended)} of {TRIALS} trials seen"
            in unseen.text
        )
        assert "could not look" in fake.top_level(CHANNEL)[0].text  # the first run's card
        for message in told:  # nothing of the first run told under the extension
            if payload(message)["trial_id"] in first.trial_ids:
                assert payload(message)["tuner_job_id"] == str(first.tuner_job_id)

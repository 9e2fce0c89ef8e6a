"""A stop is a stop, under the real `eon-bot run` process (issue 28, point 8).

"⏹ Stop the run" clicked on a run with trials running: the simulator's cancel leaves those
trials `failed` (as Edge Impulse's does: its trials have no other end), and the channel must
hear no "❌ failed" for them; the end and the card count them as stopped. The same for an
extended search, whose end is told under its one name, never "failed" nor by a job id.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from bot.sandbox.fakeslack import FakeSlack, Message
from tests.e2e.harness import CHANNEL, USER, explain
from tests.e2e.test_run_buttons import EXTEND, STOP, WAIT_S, audit_lines, message_with, started

pytestmark = pytest.mark.e2e

JOB_ID_NAME = re.compile(r"\brun \d{5,}")  # "run 17848129": a run named by its job id
TRAINING = re.compile(r"Training time \(all workers\)\*\\n(?:(?P<h>\d+)h )?(?P<m>\d+)m")


def ends(fake: FakeSlack) -> list[Message]:
    return [m for m in fake.messages(CHANNEL) if m.event_type == "eon_job_finished"]


def failures(fake: FakeSlack) -> list[Message]:
    return [m for m in fake.messages(CHANNEL) if m.event_type == "eon_trial_failed"]


def running_at(document: dict[str, Any]) -> int:
    return sum(trial["status"] == "running" for trial in document["trials"])


def everything(fake: FakeSlack) -> str:
    """All the channel shows, every edit included: texts and blocks."""
    shown = []
    for message in fake.messages(CHANNEL):
        for version in [*message.edits, message]:
            shown.append(version.text + repr(version.blocks))
    return "\n".join(shown)


async def test_a_stopped_run_tells_no_failure_and_counts_its_trials_stopped(tmp_path: Path) -> None:
    async with started(tmp_path) as (stack, clicker):
        run = stack.simulation.runs[0]
        at = run.first_start + 30
        cut = running_at(stack.simulation.document(at))
        assert cut >= 2, "nothing running to cut short"
        with explain(stack.bot):
            await stack.bot.start()
            await stack.watch()
            await stack.advance(at)
            card = await stack.slack.wait_for(lambda f: message_with(f, STOP), timeout=WAIT_S)
            await clicker.press(card, STOP, USER)
            [end] = await stack.slack.wait_for(ends, timeout=WAIT_S)
            await stack.slack.wait_for(
                lambda f: "Stopped" in f.message(CHANNEL, card.ts).text, timeout=WAIT_S
            )
        assert failures(stack.slack) == [], [m.text for m in failures(stack.slack)]
        assert end.text.startswith("⏹") and f"0 completed · 0 failed · {cut} stopped" in end.text
        assert (end.metadata or {})["event_payload"]["stopped_trials"] == cut
        shown = stack.slack.message(CHANNEL, card.ts)
        assert f"*Stopped*\\n{cut}" in repr(shown.blocks) or f"*Stopped*\n{cut}" in str(
            shown.blocks
        ), shown.blocks


async def test_a_stopped_extended_search_is_stopped_under_its_name(tmp_path: Path) -> None:
    async with started(tmp_path) as (stack, clicker):
        simulation = stack.controller.configure(stack.project_id, extend=False)
        first = simulation.runs[0]
        with explain(stack.bot):
            await stack.bot.start()
            await stack.watch()
            await stack.advance(first.end + 1)
            [first_end] = await stack.slack.wait_for(ends, timeout=WAIT_S)
            await clicker.press(first_end, EXTEND, USER)
            await stack.slack.wait_for(lambda f: len(f.top_level(CHANNEL)) == 2, timeout=WAIT_S)
            extension = stack.controller.simulation(stack.project_id).runs[1]
            at = extension.first_start + 30
            cut = running_at(stack.controller.simulation(stack.project_id).document(at))
            await stack.advance(at)
            card = await stack.slack.wait_for(
                lambda f: (m := message_with(f, STOP)) and "(extended search)" in m.text and m,
                timeout=WAIT_S,
            )
            failed_before = len(failures(stack.slack))
            await clicker.press(card, STOP, USER)
            await stack.slack.wait_for(lambda f: len(ends(f)) == 2, timeout=WAIT_S)
            await stack.slack.wait_for(
                lambda f: audit_lines(f, "eon_action_outcome"), timeout=WAIT_S
            )
        end = ends(stack.slack)[1]
        assert len(failures(stack.slack)) == failed_before, [m.text for m in failures(stack.slack)]
        assert end.text.startswith("⏹") and f"{cut} stopped" in end.text, end.text
        [outcome] = audit_lines(stack.slack, "eon_action_outcome")
        assert "💥" not in outcome.text and "failed" not in outcome.text, outcome.text
        assert "stopped" in outcome.text and "(extended search)" in outcome.text, outcome.text
        shown = everything(stack.slack)
        assert not JOB_ID_NAME.search(shown), JOB_ID_NAME.findall(shown)


def latest_with(fake: FakeSlack, kind: str) -> Message:
    [message] = [m for m in fake.messages(CHANNEL) if m.event_type == kind]
    return message


async def test_after_extend_the_earlier_card_keeps_its_name_and_extend_buttons_go(
    tmp_path: Path,
) -> None:
    async with started(tmp_path) as (stack, clicker):
        simulation = stack.controller.configure(stack.project_id, extend=False)
        first = simulation.runs[0]
        assert first.time_limit_at is not None
        with explain(stack.bot):
            await stack.bot.start()
            await stack.watch()
            await stack.advance(first.time_limit_at + 1)
            notice = await stack.slack.wait_for(
                lambda f: message_with(f, EXTEND), timeout=WAIT_S
            )  # the time limit's: the run has not ended yet
            earlier = stack.slack.top_level(CHANNEL)[0]
            named = earlier.text.splitlines()[0].split(" · ", 1)[-1]  # "… · <project label>"
            await clicker.press(notice, EXTEND, USER)  # the end is seen with the extension
            await stack.slack.wait_for(lambda f: len(f.top_level(CHANNEL)) == 2, timeout=WAIT_S)
            await stack.slack.wait_for(ends, timeout=WAIT_S)
            extension = stack.controller.simulation(stack.project_id).runs[1]
            await stack.advance(extension.first_start + 300)
            await stack.slack.wait_for(
                lambda f: "Running" in f.top_level(CHANNEL)[1].text, timeout=WAIT_S
            )
            await stack.slack.wait_for(lambda f: not message_with(f, EXTEND), timeout=WAIT_S)
        # The extended search's card: the training of its own trials, not the earlier run's too.
        t = extension.first_start + 300
        truth = sum(
            min(t, attempt.end) - attempt.start
            for trial_id in extension.trial_ids
            for attempt in stack.controller.simulation(stack.project_id).attempts(trial_id)
            if attempt.start <= t
        )

        def minutes(fake: FakeSlack) -> int:
            shown = TRAINING.search(repr(fake.top_level(CHANNEL)[1].blocks))
            return 60 * int(shown["h"] or 0) + int(shown["m"]) if shown else -1

        shown = await stack.slack.wait_for(
            lambda f: minutes(f) >= truth // 60 - 2 and minutes(f), timeout=WAIT_S
        )  # the card's edit of the last poll (edits are spaced)
        assert shown <= truth // 60, (shown, truth)
        card = stack.slack.message(CHANNEL, earlier.ts)
        for version in [*card.edits, card]:
            assert named in version.text.splitlines()[0], (named, version.text)
        for kind in ("eon_time_limit_exceeded", "eon_job_finished"):
            assert "eon_extend_search" not in repr(latest_with(stack.slack, kind).blocks)

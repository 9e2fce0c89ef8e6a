"""End to end on the real `eon-bot run` process: "🔔 Tell me when it ends".

One person clicks the card's bell while the run runs: the card names them, a second click
answers that they are already on the list (with a button to take them off), and the run's end
reaches their direct message (`conversations.open`, then one `eon_job_finished` with the best
trial and a link to the card's thread), nothing before it. Another person who clicked and took
themselves off gets nothing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Final

import pytest
from slack_sdk.models.blocks import Block

from bot.sandbox.buttons import Button, buttons_in, press
from bot.sandbox.fakeslack import FakeSlack, Message
from bot.slack.render.bell import ALREADY, BELL_ACTION_ID, BELL_OFF_ACTION_ID, ON_THE_LIST

from .harness import CHANNEL, SIGNING_SECRET, USER, Stack, e2e_stack, explain

pytestmark = pytest.mark.e2e

OTHER: Final = "U0SECOND"
WAIT_S: Final = 30.0  # a loaded machine: generous, and only ever waited on a condition


def dm_of(user: str) -> str:
    """FakeSlack's DM channel with `user` (what its conversations.open answers)."""
    return f"D{user[1:]}"


def bell_of(message: Message, action_id: str = BELL_ACTION_ID) -> Button | None:
    return next((b for b in buttons_in([message]) if b.action_id == action_id), None)


async def click(stack: Stack, button: Button, user: str) -> tuple[str, list[Block]]:
    """Press as `user`; the ephemeral answer's text and its blocks (parsed by slack_sdk)."""
    url = stack.slack.response_url()
    response = await press(
        stack.http, stack.bot.events_url, SIGNING_SECRET, button,
        user_id=user, channel_name="eon-runs", response_url=url,
    )  # fmt: skip
    assert response.status_code == 200, response.text
    rid = url.rsplit("/", 1)[1]
    [answer] = await stack.slack.wait_for(lambda f: f.responses(rid), timeout=WAIT_S)
    assert answer.response_type == "ephemeral"
    return answer.text, [valid(raw) for raw in answer.blocks]


def valid(raw: dict[str, object]) -> Block:
    block = Block.parse(raw)
    assert block is not None
    block.validate_json()
    return block


def answer_message(stack: Stack, blocks: list[Block]) -> Message:
    """The ephemeral answer as a message whose buttons can be pressed."""
    return Message(channel=CHANNEL, ts="1.000001", blocks=[b.to_dict() for b in blocks])


def blocks_text(fake: FakeSlack, ts: str) -> str:
    """The card's blocks as sent (mentions as Slack's `<@U…>`)."""
    return json.dumps(fake.message(CHANNEL, ts).blocks, ensure_ascii=False)


def ends(fake: FakeSlack, channel: str) -> list[Message]:
    return [m for m in fake.messages(channel) if m.event_type == "eon_job_finished"]


async def test_the_bell_tells_the_end_by_dm_once_and_nothing_earlier(tmp_path: Path) -> None:
    async with e2e_stack(tmp_path, trials=8) as stack:
        run = stack.controller.configure(stack.project_id, extend=False).runs[0]
        fake = stack.slack
        with explain(stack.bot):
            await stack.bot.start()
            await stack.watch()
            await stack.advance(run.first_start + 1)
            card = await fake.wait_for(
                lambda f: next((m for m in f.top_level(CHANNEL) if bell_of(m)), None),
                timeout=WAIT_S,
            )
            bell = bell_of(card)
            assert bell is not None and "🔔" in bell.label
            for raw in card.blocks:
                valid(raw)

            said, _ = await click(stack, bell, USER)
            assert said == ON_THE_LIST
            said, blocks = await click(stack, bell, USER)
            assert said == ALREADY
            # Someone else asks, then takes themselves off with the answer's button.
            await click(stack, bell, OTHER)
            _, blocks = await click(stack, bell, OTHER)
            off = bell_of(answer_message(stack, blocks), BELL_OFF_ACTION_ID)
            assert off is not None
            said, _ = await click(stack, off, OTHER)
            assert said.startswith("🔕 You are off the list")

            await fake.wait_for(
                lambda f: (
                    f"🔔 <@{USER}> will hear when it ends" in blocks_text(f, card.ts)
                    and OTHER not in blocks_text(f, card.ts)
                ),
                timeout=WAIT_S,
            )
            # Trials fail and complete in the thread: nothing of it reaches the DM.
            await stack.advance((run.first_start + run.end) / 2)
            await fake.wait_for(lambda f: f.replies(CHANNEL, card.ts), timeout=WAIT_S)
            assert fake.messages(dm_of(USER)) == [] and fake.calls_to("conversations.open") == []

            await stack.advance(run.end + 1)
            [end] = await fake.wait_for(lambda f: ends(f, CHANNEL), timeout=WAIT_S)
            [dm] = await fake.wait_for(lambda f: f.messages(dm_of(USER)), timeout=WAIT_S)
            assert dm.event_type == "eon_job_finished" and dm.metadata is not None
            assert end.metadata is not None
            assert dm.metadata["event_payload"] == end.metadata["event_payload"]
            assert dm.metadata["event_payload"]["best_trial_id"]
            assert "Best:" in dm.text and "the run's thread" in dm.text
            assert f"/archives/{CHANNEL}/p{card.ts.replace('.', '')}" in dm.text
            assert buttons_in([dm]) == []  # nothing there acts on the run
            for raw in dm.blocks:
                valid(raw)
            [opened] = fake.calls_to("conversations.open")
            assert opened.args["users"] == USER
            assert fake.messages(dm_of(OTHER)) == []
            # The card no longer offers the bell nor names who waited.
            await fake.wait_for(
                lambda f: bell_of(f.message(CHANNEL, card.ts)) is None, timeout=WAIT_S
            )
            await stack.bot.terminate()
            assert len(fake.messages(dm_of(USER))) == 1

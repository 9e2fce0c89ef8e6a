"""A button pressed from the terminal reaches the running app as Slack's own press would: the
real bolt app verifies the signature and routes it to the listener of its `action_id`, with the
message, channel, user and value a listener reads."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from slack_sdk.models.blocks import ActionsBlock, ButtonElement, ConfirmObject, SectionBlock

from bot.sandbox.buttons import buttons_in, describe, press
from bot.sandbox.stack import CHANNEL, USER, running_stack

BLOCKS = [
    SectionBlock(
        block_id="card",
        text="EON Tuner run 1 · project 1",
        accessory=ButtonElement(text="Open", action_id="open", url="https://example.com/x"),
    ).to_dict(),
    ActionsBlock(
        block_id="acts",
        elements=[
            ButtonElement(
                text="Stop the run",
                action_id="try_stop",
                value="1:42",
                confirm=ConfirmObject(title="Stop?", text="It ends the run.", confirm="Stop"),
            )
        ],
    ).to_dict(),
]


async def test_buttons_are_listed_in_order_and_a_press_reaches_its_listener(
    tmp_path: Path,
) -> None:
    async with running_stack(tmp_path) as stack:
        message = stack.slack.add_message(CHANNEL, "card", blocks=BLOCKS)
        found = buttons_in(stack.slack.messages(CHANNEL))
        assert [b.label for b in found] == ["Open", "Stop the run"]
        assert found[0].url == "https://example.com/x" and found[1].url is None
        assert found[1].confirm == "Stop? · It ends the run. · Stop"
        assert describe(found[1]) == "Stop the run  (on: EON Tuner run 1 · project 1)"

        pressed: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()

        @stack.bot.bolt.action("try_stop")
        async def on_stop(ack: Any, body: dict[str, Any], action: dict[str, Any]) -> None:
            await ack()
            pressed.set_result({"body": body, "action": action})

        reply = await press(
            stack.http,
            stack.events_url,
            stack.secret,
            found[1],
            user_id=USER,
            channel_name="eon-runs",
            response_url=stack.slack.response_url(),
        )
        assert reply.status_code == 200, reply.text
        got = await asyncio.wait_for(pressed, 10)
        assert got["action"]["value"] == "1:42" and got["action"]["block_id"] == "acts"
        assert got["body"]["user"]["id"] == USER
        assert got["body"]["container"]["message_ts"] == message.ts
        assert got["body"]["channel"]["id"] == CHANNEL

        forged = await press(
            stack.http,
            stack.events_url,
            "not-the-signing-secret",
            found[1],
            user_id=USER,
            channel_name="eon-runs",
            response_url=stack.slack.response_url(),
        )
        assert forged.status_code == 401

"""The demo's one action: "Use this trial" pressed on the run's end message, as a user would
(the click Slack sends after its confirm dialog: a signed `block_actions` POST to the app), so
a newcomer sees a button work: the audit line, then the outcome with the impulse's link."""

from __future__ import annotations

import json

from bot.sandbox.clicks import block_actions, find_button, send_click
from bot.sandbox.fakeslack import FakeSlack, Message
from bot.sandbox.simulator.jobs import JOBS_KEY
from bot.sandbox.stack import CHANNEL, USER, Stack
from bot.sandbox.terminal import TerminalPrinter

USE = "eon_use_trial"
WAIT_S = 15.0


def _end_message(fake: FakeSlack) -> Message | None:
    ends = [m for m in fake.messages(CHANNEL) if find_button(m.blocks, USE)]
    return ends[-1] if ends else None


def _outcome(fake: FakeSlack) -> bool:
    return any(m.event_type == "eon_action_outcome" for m in fake.messages(CHANNEL))


async def use_best_trial(stack: Stack, printer: TerminalPrinter) -> bool:
    """Press "Use this trial" on the last end message; False if there is none to press."""
    stack.simulator.app[JOBS_KEY].use_job_s = 1.0  # the impulse is "built" within a second
    end = _end_message(stack.slack)
    button = find_button(end.blocks, USE) if end is not None else None
    if end is None or button is None:
        return False
    trial = json.loads(str(button.get("value")))["t"]
    printer.say(f"> click ✅ Use this trial (trial {trial}) on the end message, and confirm")
    payload = block_actions(
        button,
        user_id=USER,
        channel_id=CHANNEL,
        message_ts=end.ts,
        response_url=stack.slack.response_url(),
    )
    await send_click(stack.http, stack.events_url, stack.secret, payload)
    await stack.slack.wait_for(_outcome, timeout=WAIT_S)
    return True

"""The demo's one action: "Use this trial" pressed on the run's end message, as a user would
(the press Slack sends after its confirm dialog: `bot.sandbox.buttons.press`, a signed
`block_actions` POST to the app), so a newcomer sees a button work: the audit line, then the
outcome with the impulse's link."""

from __future__ import annotations

import json

from bot.sandbox.buttons import Button, buttons_in, press
from bot.sandbox.fakeslack import FakeSlack
from bot.sandbox.simulator.jobs import JOBS_KEY
from bot.sandbox.stack import CHANNEL, CHANNEL_NAME, USER, Stack
from bot.sandbox.terminal import TerminalPrinter

USE = "eon_use_trial"
WAIT_S = 15.0


def _use_button(fake: FakeSlack) -> Button | None:
    found = [b for b in buttons_in(fake.messages(CHANNEL)) if b.action_id == USE]
    return found[-1] if found else None


def _outcome(fake: FakeSlack) -> bool:
    return any(m.event_type == "eon_action_outcome" for m in fake.messages(CHANNEL))


async def use_best_trial(stack: Stack, printer: TerminalPrinter) -> bool:
    """Press "Use this trial" on the last end message; False if there is none to press."""
    stack.simulator.app[JOBS_KEY].use_job_s = 1.0  # the impulse is "built" within a second
    button = _use_button(stack.slack)
    if button is None:
        return False
    trial = json.loads(str(button.element.get("value")))["t"]
    printer.say(f"> click ✅ Use this trial (trial {trial}) on the end message, and confirm")
    await press(
        stack.http, stack.events_url, stack.secret, button,
        user_id=USER, channel_name=CHANNEL_NAME, response_url=stack.slack.response_url(),
    )  # fmt: skip
    await stack.slack.wait_for(_outcome, timeout=WAIT_S)
    return True

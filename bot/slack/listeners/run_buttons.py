"""Clicks on the buttons that act on a run (stop, extend, use a trial): acknowledged at once,
then, in a task, checked (who may act: `eon_answers.refusal`, the rule `/eon watch` follows)
and handed to `bot.slack.actions`; what the clicker alone should know comes back ephemeral.

A task rather than code after `ack()`: with `process_before_response=True` bolt sends the
acknowledgement only once the handler returns, and Edge Impulse may take longer than
Slack's 3 s. The same handler serves HTTP and Socket Mode.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any, Final

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond

from bot.slack.actions import BAD_BUTTON, read_click
from bot.slack.listeners.deps import Deps
from bot.slack.listeners.eon_answers import INTERNAL_ERROR, refusal
from bot.slack.render.actions import ACTION_IDS

log = logging.getLogger(__name__)

DOING: Final = "act on a run (stop it, extend its search, use a trial)"
NOT_HERE: Final = "⚠ This eon-bot cannot act on runs (it was started without that part)."


async def answer(deps: Deps, body: dict[str, Any]) -> str | None:
    """What the clicker is told (ephemeral), or None."""
    user_id = str((body.get("user") or {}).get("id") or "")
    refused = refusal(deps, user_id, DOING)
    if refused is not None:
        return refused
    click = read_click(body)
    if click is None:
        return BAD_BUTTON
    if deps.act is None:
        return NOT_HERE
    return await deps.act(click)


def register(app: AsyncApp, deps: Deps) -> None:
    pending: set[asyncio.Task[None]] = set()  # strong references until the tasks end

    async def handle(body: dict[str, Any], respond: AsyncRespond) -> None:
        try:
            said = await answer(deps, body)
        except Exception:
            log.exception("a click on a run's button failed")
            said = INTERNAL_ERROR
        if said:
            with contextlib.suppress(Exception):  # logged by slack_sdk; nothing else to tell
                await respond(text=said, response_type="ephemeral", replace_original=False)

    async def on_click(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        await ack()
        task = asyncio.create_task(handle(body, respond))
        pending.add(task)
        task.add_done_callback(pending.discard)

    for action_id in ACTION_IDS:
        app.action(action_id)(on_click)

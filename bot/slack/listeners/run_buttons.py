"""Clicks on the buttons that act on a run (stop, extend, use a trial): checked (who may act:
`eon_answers.refusal`, the rule `/eon watch` follows) and claimed in the store *before* Slack is
acknowledged, then handed to `bot.slack.actions` in a task, which calls Edge Impulse; what the
clicker alone should know comes back ephemeral.

With `process_before_response=True` bolt sends the acknowledgement when the handler returns
(over HTTP and Socket Mode alike), so what the handler awaits goes before it: the claim (a few
reads and one row), never the call, since Edge Impulse may take longer than Slack's 3 s. A
process killed after the ack thus always leaves the claim, which the next start (or another
replica) tells as "unknown" in the run's thread, naming the clicker (`RunActions.sweep`). One
killed before the claim was written never acknowledged the click: Slack shows the clicker it
failed, and nothing was done.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import replace
from typing import Any, Final

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_bolt.context.async_context import AsyncBoltContext

from bot.slack.actions import BAD_BUTTON, read_click
from bot.slack.listeners.deps import Deps
from bot.slack.listeners.eon_answers import INTERNAL_ERROR, refusal
from bot.slack.render.actions import ACTION_IDS
from bot.store import ActionRecord

log = logging.getLogger(__name__)

DOING: Final = "act on a run (stop it, extend its search, use a trial)"
NOT_HERE: Final = "⚠ This eon-bot cannot act on runs (it was started without that part)."


async def take(deps: Deps, body: dict[str, Any]) -> ActionRecord | str:
    """The click claimed (its record, for `finish`), or what the clicker is told instead."""
    user_id = str((body.get("user") or {}).get("id") or "")
    refused = refusal(deps, user_id, DOING)
    if refused is not None:
        return refused
    click = read_click(body)
    if click is None:
        return BAD_BUTTON
    click = replace(click, team_id=deps.team)
    if deps.act is None:
        return NOT_HERE
    return await deps.act.claim(click)


async def finish(deps: Deps, taken: ActionRecord | str) -> str | None:
    """The claimed click's Edge Impulse call: what the clicker is told (ephemeral), or None."""
    if isinstance(taken, str) or deps.act is None:
        return taken if isinstance(taken, str) else NOT_HERE
    return await deps.act.call(taken)


async def answer(deps: Deps, body: dict[str, Any]) -> str | None:
    """A click from start to end (`take`, then `finish`): what the clicker is told, or None."""
    return await finish(deps, await take(deps, body))


def register(app: AsyncApp, deps: Deps) -> None:
    pending: set[asyncio.Task[None]] = set()  # strong references until the tasks end

    async def handle(taken: ActionRecord | str, respond: AsyncRespond) -> None:
        try:
            said = await finish(deps, taken)
        except Exception:
            log.exception("a click on a run's button failed")
            said = INTERNAL_ERROR
        if said:
            with contextlib.suppress(Exception):  # logged by slack_sdk; nothing else to tell
                await respond(text=said, response_type="ephemeral", replace_original=False)

    async def on_click(
        ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond, context: AsyncBoltContext
    ) -> None:
        try:  # written down before Slack hears the ack, for the clicking workspace
            taken = await take(deps.of(context), body)
        except Exception:
            log.exception("a click on a run's button could not be recorded")
            taken = INTERNAL_ERROR
        await ack()
        task = asyncio.create_task(handle(taken, respond))
        pending.add(task)
        task.add_done_callback(pending.discard)

    for action_id in ACTION_IDS:
        app.action(action_id)(on_click)

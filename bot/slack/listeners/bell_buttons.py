"""Clicks on "🔔 Tell me when it ends" (the run card) and "🔕 Take me off" (the answer to a
second click): anyone in a channel that watches the project may ask, for themselves alone.

The request is one row written before Slack is acknowledged (`bot.store.bells`), so a click
Slack saw acknowledged is never lost; the clicker's answer (ephemeral) goes after, in a task.
A request for a run that ended meanwhile is still rung: `ring_due` runs right after the row is
written, and the end is queued to the person if it is already stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_bolt.context.async_context import AsyncBoltContext

from bot.slack.actions import BAD_BUTTON
from bot.slack.listeners.deps import Deps
from bot.slack.listeners.eon_answers import INTERNAL_ERROR
from bot.slack.render import Message
from bot.slack.render.actions import parse_value
from bot.slack.render.bell import (
    BELL_ACTION_ID,
    BELL_OFF_ACTION_ID,
    ENDED,
    NOT_ON_LIST,
    ON_THE_LIST,
    TAKEN_OFF,
    render_already,
)
from bot.slack.render.blocks import safe

log = logging.getLogger(__name__)

Answer = Message | str


def _click(body: Mapping[str, Any]) -> tuple[str, str, str, str] | None:
    """(project, run, user, channel) of a bell button's click, or None for a malformed one."""
    actions = body.get("actions") or [{}]
    pressed = actions[0] if isinstance(actions[0], dict) else {}
    value = parse_value(pressed.get("value"))
    user = str((body.get("user") or {}).get("id") or "")
    channel = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get(
        "channel_id"
    )
    if value is None or not user or not channel:
        return None
    project_id, run_id, _ = value
    return project_id, run_id, user, str(channel)


async def ring(deps: Deps, body: Mapping[str, Any]) -> Answer:
    """A click on the card's bell: the request kept (once), and what the clicker is told."""
    click = _click(body)
    if click is None:
        return BAD_BUTTON
    project_id, run_id, user, channel = click
    snapshot = await deps.store.snapshot(project_id)
    summary = snapshot.summary if snapshot is not None else None
    if snapshot is None or summary is None or snapshot.run_id != run_id or summary.finished:
        return ENDED
    added = await deps.store.add_bell(deps.team, project_id, run_id, user, channel)
    if added == "not_watched":
        return f"This channel no longer watches project {safe(project_id, 20)}: nothing was done."
    if added == "exists":
        return render_already(project_id, run_id)
    await deps.store.ring_due()  # the run may have ended since the snapshot was read
    deps.wake_delivery()
    return ON_THE_LIST


async def unring(deps: Deps, body: Mapping[str, Any]) -> Answer:
    """A click on "Take me off": the request forgotten."""
    click = _click(body)
    if click is None:
        return BAD_BUTTON
    project_id, run_id, user, _ = click
    if not await deps.store.remove_bell(deps.team, project_id, run_id, user):
        return NOT_ON_LIST
    deps.wake_delivery()  # the card no longer names them
    return TAKEN_OFF


def register(app: AsyncApp, deps: Deps) -> None:
    pending: set[asyncio.Task[None]] = set()  # strong references until the tasks end

    async def tell(answer: Answer, respond: AsyncRespond, *, replace: bool) -> None:
        said = {"text": answer} if isinstance(answer, str) else {
            "text": answer.text, "blocks": answer.blocks
        }  # fmt: skip
        with contextlib.suppress(Exception):  # logged by slack_sdk; nothing else to tell
            await respond(**said, response_type="ephemeral", replace_original=replace)

    def listener(step: Any, *, replace: bool) -> Any:
        async def on_click(
            ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond, context: AsyncBoltContext
        ) -> None:
            try:  # written down before Slack hears the ack
                answer = await step(deps.of(context), body)
            except Exception:
                log.exception("a click on a bell button failed")
                answer = INTERNAL_ERROR
            await ack()
            task = asyncio.create_task(tell(answer, respond, replace=replace))
            pending.add(task)
            task.add_done_callback(pending.discard)

        return on_click

    app.action(BELL_ACTION_ID)(listener(ring, replace=False))
    app.action(BELL_OFF_ACTION_ID)(listener(unring, replace=True))

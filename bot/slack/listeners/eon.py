"""The `/eon` slash command: acknowledge with the answer (parse → answer from the store), then
run the answer's follow-up as a background task.

It is a task rather than code after `ack()` because bolt, with `process_before_response=True`,
only sends the acknowledgement once the handler returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_bolt.context.async_context import AsyncBoltContext
from slack_sdk.web.async_client import AsyncWebClient

from bot.fmt import one_line
from bot.slack.listeners import eon_alert, eon_digest
from bot.slack.listeners.deps import Deps
from bot.slack.listeners.eon_answers import (
    FOLLOW_UP_ERROR,
    INTERNAL_ERROR,
    FollowUp,
    Reply,
    Respond,
    answer,
)
from bot.slack.listeners.eon_key import key_command
from bot.slack.listeners.eon_parse import AlertAdd, AlertList, AlertRemove, Digest, Key, parse

log = logging.getLogger(__name__)


def register(app: AsyncApp, deps: Deps) -> None:
    pending: set[asyncio.Task[None]] = set()  # strong references until the tasks end

    async def _key(parsed: Key, command: dict[str, Any], client: AsyncWebClient, deps: Deps) -> str:
        try:
            return await key_command(
                parsed,
                channel_id=str(command.get("channel_id") or ""),
                user_id=str(command.get("user_id") or ""),
                trigger_id=str(command.get("trigger_id") or ""),
                slack=client,
                deps=deps,
            )
        except Exception:
            log.exception("/eon key failed")
            return INTERNAL_ERROR

    async def follow(follow_up: FollowUp, respond: Respond, text: str) -> None:
        try:
            await follow_up(respond)
        except Exception:
            log.exception("follow-up of /eon %s failed", one_line(text, 100))
            with contextlib.suppress(Exception):  # already logged; respond may be what failed
                await respond(
                    text=FOLLOW_UP_ERROR, response_type="ephemeral", replace_original=False
                )

    @app.command("/eon")
    async def on_eon(
        ack: AsyncAck,
        command: dict[str, Any],
        respond: AsyncRespond,
        client: AsyncWebClient,
        context: AsyncBoltContext,
    ) -> None:
        here = deps.of(context)  # the asking workspace: it sees its own rows alone
        text = str(command.get("text") or "")
        parsed = parse(text)
        if isinstance(parsed, Key):  # a form to open: eon_key answers it
            said = await _key(parsed, command, client, here)
            await (ack(text=said, response_type="ephemeral") if said else ack())  # "": a form
            return
        channel_id = str(command.get("channel_id") or "")
        user_id = str(command.get("user_id") or "")
        try:
            if isinstance(parsed, AlertAdd | AlertList | AlertRemove):
                said = await eon_alert.answer(
                    parsed, channel_id=channel_id, user_id=user_id, deps=here
                )
                reply = Reply(said)
            elif isinstance(parsed, Digest):
                reply = Reply(
                    await eon_digest.answer(
                        parsed, channel_id=channel_id, user_id=user_id, deps=here
                    )
                )
            else:
                reply = await answer(parsed, channel_id=channel_id, user_id=user_id, deps=here)
        except Exception:
            log.exception("/eon %s failed", one_line(text, 100))
            reply = Reply(INTERNAL_ERROR)
        await ack(text=reply.text, blocks=reply.blocks, response_type="ephemeral")
        if reply.follow_up is not None:
            task = asyncio.create_task(follow(reply.follow_up, respond, text))
            pending.add(task)
            task.add_done_callback(pending.discard)

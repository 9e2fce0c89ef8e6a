"""`member_joined_channel`: when the bot itself is invited back into a channel paused for
`not_in_channel`, delivery there resumes and what waited is posted, in order."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.async_context import AsyncBoltContext

from bot.slack.listeners.deps import Deps


def register(app: AsyncApp, deps: Deps) -> None:
    @app.event("member_joined_channel")
    async def bot_invited(event: dict[str, Any], context: AsyncBoltContext) -> None:
        if event.get("user") and event.get("user") == context.bot_user_id:
            here = deps.of(context)
            await here.store.resume_channel(here.team, str(event.get("channel")))
            deps.wake_delivery()

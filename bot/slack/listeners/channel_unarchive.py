"""`channel_unarchive`: a channel paused for `is_archived` is back; what waited is posted."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.async_context import AsyncBoltContext

from bot.slack.listeners.deps import Deps


def register(app: AsyncApp, deps: Deps) -> None:
    @app.event("channel_unarchive")
    async def channel_unarchived(event: dict[str, Any], context: AsyncBoltContext) -> None:
        here = deps.of(context)
        await here.store.resume_channel(here.team, str(event.get("channel")))
        deps.wake_delivery()

"""Clicks on "Open in Studio": a link button still sends Slack an interaction, which shows the
user an error if left unanswered, so it is acknowledged and nothing else."""

from __future__ import annotations

from slack_bolt.async_app import AsyncAck, AsyncApp

from bot.slack.listeners.deps import Deps
from bot.slack.render import STUDIO_ACTION_ID


def register(app: AsyncApp, deps: Deps) -> None:
    @app.action(STUDIO_ACTION_ID)
    async def on_studio_link(ack: AsyncAck) -> None:
        await ack()

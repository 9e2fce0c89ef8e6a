"""`app_uninstalled` and `tokens_revoked` (its bot token): a workspace leaves. Many-workspace
mode only (`bot.slack.install`); one bot token has nothing to fall back on, and its delivery
stops on Slack's refusal as before.

bolt lets these two events through without a token (the workspace's is dead by then); the
workspace is the request's (`bot.slack.tokens.request_workspace`), never another named in the
body, so one workspace can never make another leave.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.async_context import AsyncBoltContext

from bot.slack.tokens import request_workspace

Leave = Callable[[str], Awaitable[bool]]


def register(app: AsyncApp, leave: Leave) -> None:
    @app.event("app_uninstalled")
    async def uninstalled(context: AsyncBoltContext) -> None:
        team = request_workspace(context)
        if team:
            await leave(team)

    @app.event("tokens_revoked")
    async def revoked(context: AsyncBoltContext, event: dict[str, Any]) -> None:
        tokens = event.get("tokens")
        bots = tokens.get("bot") if isinstance(tokens, dict) else None
        team = request_workspace(context)
        if bots and team:  # a user's token alone: eon-bot keeps none, nothing changes
            await leave(team)

"""One in-process stack: the tuner simulator, the Slack stand-in, and the real `build()` wired to
them on loopback ports. The demo and the in-process tests start this same stack, so what the
demo shows is what the tests check. (The end-to-end tests start the real process instead.)"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from bot.sandbox.fakeslack import FakeSlack, Message
from bot.sandbox.fresh import DATABASE
from bot.sandbox.simulator.server import SimulatorServer
from bot.sandbox.slashcmd import send_slash_command
from bot.service.app import Bot, build
from bot.settings import Settings

TOKEN, SECRET, API_KEY = "xoxb-sandbox", "sandbox-signing-secret", "ei_sandbox_key"
CHANNEL, USER = "C0EONRUNS", "U0EONADA"
CHANNEL_NAME = "eon-runs"  # what Slack's slash-command body says the channel is called


@dataclass(frozen=True, slots=True)
class Stack:
    bot: Bot
    simulator: SimulatorServer
    slack: FakeSlack
    http: httpx.AsyncClient  # for talking to the bot as Slack would
    secret: str

    @property
    def events_url(self) -> str:
        return f"http://127.0.0.1:{self.bot.port}/slack/events"

    async def command(
        self,
        text: str,
        *,
        channel_id: str = CHANNEL,
        user_id: str = USER,
        response_url: str | None = None,
        trigger_id: str | None = None,
    ) -> httpx.Response:
        """`/eon text`, signed and posted to the bot's `/slack/events` as Slack does."""
        return await send_slash_command(
            self.http,
            self.events_url,
            self.secret,
            text,
            channel_id=channel_id,
            user_id=user_id,
            response_url=response_url or self.slack.response_url(),
            trigger_id=trigger_id,
        )


@asynccontextmanager
async def running_stack(
    folder: Path,
    *,
    token: str = TOKEN,
    secret: str = SECRET,
    api_key: str = API_KEY,
    speed: float = 1.0,
    trials: int = 24,
    on_message: Callable[[Message, str], None] | None = None,
    **settings: Any,
) -> AsyncIterator[Stack]:
    """The stack started, its SQLite database in `folder`; `settings` override the bot's
    (built with `Settings.given`, so nothing comes from the environment or `.env`)."""
    async with (
        SimulatorServer(api_key=api_key, speed=speed, trials=trials) as simulator,
        FakeSlack(token=token, on_message=on_message) as slack,
        httpx.AsyncClient(timeout=10.0) as http,
    ):
        config = Settings.given(
            **{
                "slack_bot_token": token,
                "slack_signing_secret": secret,
                "slack_api_url": slack.api_url,
                "ei_api_url": simulator.url,
                "ei_api_key": api_key,
                "database_url": f"sqlite:///{folder}/{DATABASE}",
                "poll_interval": 0.5,
                "port": 0,
            }
            | settings
        )
        bot = await build(config)
        await bot.start()
        try:
            yield Stack(bot, simulator, slack, http, secret)
        finally:
            await bot.stop()

"""`eon-bot demo`: a whole simulated EON Tuner run through the real pipeline, shown in the terminal.

The simulator plays Edge Impulse and a local Slack-compatible server plays Slack, printing each
message as it arrives; everything in between is what `eon-bot run` runs: the scheduler, the
SQLite store (in a temporary folder), delivery through slack_sdk, and a signed `/eon watch`
sent to the app's own `/slack/events`. No credentials, nothing written elsewhere; it ends by
itself once the run is over and every message is delivered.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from typing import TextIO

import httpx

from bot.app import Bot, build
from bot.sandbox.fakeslack import FakeSlack
from bot.sandbox.simulator.server import SimulatorServer
from bot.sandbox.slashcmd import send_slash_command
from bot.sandbox.terminal import TerminalPrinter
from bot.settings import Settings

PROJECT_ID = "1"
CHANNEL = "C0EONDEMO"
USER = "U0EONDEMO"
RUN_SECONDS = 30.0  # wall-clock time the simulated run is squeezed into
DEADLINE_SECONDS = 55.0
_TOKEN, _SECRET, _KEY = "xoxb-demo", "demo-signing-secret", "ei_demo_key"


async def demo(*, out: TextIO = sys.stdout, run_seconds: float = RUN_SECONDS) -> int:
    started = time.monotonic()
    speed = SimulatorServer(api_key=_KEY).controller.simulation(PROJECT_ID).duration / run_seconds
    with tempfile.TemporaryDirectory(prefix="eon-bot-demo-") as folder:
        async with (
            SimulatorServer(api_key=_KEY, speed=speed) as simulator,
            FakeSlack(token=_TOKEN, on_message=TerminalPrinter(stream=out)) as slack,
            httpx.AsyncClient(timeout=5.0) as http,
        ):
            settings = Settings(
                _env_file=None,
                slack_bot_token=_TOKEN,
                slack_signing_secret=_SECRET,
                slack_api_url=slack.api_url,
                ei_api_url=simulator.url,
                ei_api_key=_KEY,
                project_keys={},
                database_url=f"sqlite:///{folder}/eon-bot.db",
                poll_interval=0.5,
                port=0,
            )
            bot = await build(settings)
            await bot.start()
            events_url = f"http://127.0.0.1:{bot.port}/slack/events"
            print(
                f"eon-bot demo: Edge Impulse simulator at {simulator.url} ({speed:.0f}x speed), "
                f"Slack stand-in at {slack.api_url}, channel #eon-runs\n",
                file=out,
            )
            try:
                for text in ("watch 1", "status"):
                    print(f"> /eon {text}", file=out)
                    reply = await send_slash_command(
                        http,
                        events_url,
                        _SECRET,
                        text,
                        channel_id=CHANNEL,
                        user_id=USER,
                        response_url=slack.response_url(),
                    )
                    print(f"  {reply.json().get('text', '')}\n", file=out)
                    if text == "watch 1":
                        await _wait_until_over(bot, simulator, started + DEADLINE_SECONDS - 5)
            finally:
                await bot.stop()
    print(f"\ndemo over in {time.monotonic() - started:.0f} s", file=out)
    return 0


async def _wait_until_over(bot: Bot, simulator: SimulatorServer, deadline: float) -> None:
    """Until the simulated run is over, polled once more, and every message delivered."""
    simulation = simulator.controller.simulation(PROJECT_ID)
    while time.monotonic() < deadline:
        await asyncio.sleep(0.5)
        if simulator.controller.now(PROJECT_ID) < simulation.duration:
            continue
        snapshot = await bot.store.snapshot(PROJECT_ID)
        if snapshot is not None and snapshot.finished_reported and await bot.delivery.idle():
            return

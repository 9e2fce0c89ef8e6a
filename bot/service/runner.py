"""`eon-bot run`: the process's life. The port is taken first (`Front`), then the bot is
built and started (`build`, `Bot.start`), served until SIGTERM or SIGINT, and stopped cleanly.

This module imports only what the port needs; the rest of the bot (`bot.service.app`, which
brings bolt, SQLAlchemy, matplotlib's loader…) is imported once the port answers: on a busy
machine those imports take seconds, which a platform's health check would see as no answer.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any, TypeVar

from bot.errors import ConfigError
from bot.metrics import Metrics
from bot.service.front import Front
from bot.settings import Settings, missing_for_run
from bot.stopping import Stopping

if TYPE_CHECKING:
    from bot.service.app import Bot

log = logging.getLogger("bot.service.app")  # the service's lines under one name, as before
_T = TypeVar("_T")


async def run(settings: Settings) -> int:
    """`eon-bot run`: serve until SIGTERM/SIGINT, then stop cleanly (exit 0).

    The port is taken first (`Front`: /healthz says 503 and why while the rest starts). The
    signals are caught first too, so they end the process in every state: opening the
    database, asking Slack who the bot is (`auth.test`, retried while Slack does not answer),
    serving, and connecting or reconnecting in Socket Mode. A refused token is a
    `ConfigError`. Ctrl-C (SIGINT) ends as KeyboardInterrupt once all is closed, for its exit
    status.
    """
    missing = missing_for_run(settings)  # said before the port is taken
    if missing:
        raise ConfigError("; ".join(missing) + ".")
    with Stopping() as stopping:
        starting: list[Bot] = []
        front = Front(Metrics(), lambda: _starting(starting))
        await front.open(settings.port)
        try:
            # The rest of the bot, imported in a thread so the port answers meanwhile.
            app = await asyncio.to_thread(importlib.import_module, "bot.service.app")
            building = app.build(settings, metrics=front.metrics)
            bot = await _unless_stopped(building, stopping.event)
            if bot is not None:
                starting.append(bot)
                await _serve(bot, front, settings, stopping.event)
        finally:
            await front.close()
    stopping.end()
    return 0


def _starting(built: list[Bot]) -> str:
    """What `run` waits for, for /healthz before the bot is ready."""
    if not built:
        return "starting: loading, then opening the database (DATABASE_URL)"
    why = built[0].slack_start.why()
    if why is None:
        return "starting: asking Slack who the bot is (auth.test)"
    return f"starting: Slack does not answer auth.test ({why}); asking again"


async def _serve(bot: Bot, front: Front, settings: Settings, stop: asyncio.Event) -> None:
    from bot.service.app import settle
    from bot.slack.socket_mode import SocketMode

    socket_mode: SocketMode | None = None
    try:
        bot.port = front.port
        await _unless_stopped(bot.start(serve=False), stop)
        if stop.is_set():
            return
        assert bot.unhealthy is not None  # made by build()
        front.attach(bot.events, bot.unhealthy, bot.pages)
        settle()
        if settings.slack_app_token is not None:
            socket_mode = SocketMode(bot.bolt, settings.slack_app_token.get_secret_value())
            socket_mode.start()
            await _first(stop.wait(), socket_mode.refused.wait())
            if socket_mode.refusal is not None:
                raise socket_mode.refusal
        else:
            await stop.wait()
        log.info("stopping")
    finally:
        if socket_mode is not None:
            await socket_mode.close()
        await bot.stop()


async def _unless_stopped(work: Awaitable[_T], stop: asyncio.Event) -> _T | None:
    """`work`'s result, or None if `stop` is set first (then `work` is cancelled)."""
    task = asyncio.ensure_future(work)
    await _first(task, stop.wait())  # cancels whichever did not finish
    return None if task.cancelled() else task.result()


async def _first(*waits: Awaitable[Any]) -> None:
    """Until the first of `waits` is done; the others are cancelled. Failures are not raised
    here: a caller that needs a result asks its task."""
    tasks = [asyncio.ensure_future(w) for w in waits]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            if not task.done():
                task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)

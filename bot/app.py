"""Everything assembled in one place: `build()` wires the store, the clients, the scheduler, the
poller, delivery and the bolt app; `Bot.start()`/`stop()` run them; `eon-bot run` calls both."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

import aiohttp
import httpx
from aiohttp import web
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from pydantic import SecretStr
from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot import collector
from bot.clock import utcnow
from bot.errors import ConfigError
from bot.fleet import Fleet, SqliteLock, lease_seconds, replica_id
from bot.keys import KeyRing
from bot.metrics import MeteredWebClient, Metrics, rate_limit_handler
from bot.poller import Poller, database_condition
from bot.settings import Settings
from bot.slack.actions import RunActions
from bot.slack.auth import verify_bot_token
from bot.slack.delivery import Delivery
from bot.slack.listeners import Deps, register_all
from bot.slack.plot import load_matplotlib
from bot.slack.socket_mode import SocketMode
from bot.slack.web import make_web_app
from bot.store import Store, parse_url
from bot.tuner.client import TunerClient, default_transport
from bot.tuner.jobs import TunerJobs
from bot.tuner.keys import KeyChecker

log = logging.getLogger(__name__)
_T = TypeVar("_T")

SLACK_TIMEOUT_S = 10.0  # per Slack call; an unclear outcome is looked up before a repost


def slack_client(
    settings: Settings,
    session: aiohttp.ClientSession | None = None,
    metrics: Metrics | None = None,
) -> AsyncWebClient:
    """The real client. Only 429s are retried here: Slack did not act on them. Any other
    unclear outcome is left to delivery, which looks the message up before posting again.
    Without a `session`, slack_sdk opens (and closes) an aiohttp session for every call.
    With `metrics`, every call is counted by method and result."""
    token = settings.slack_bot_token
    if token is None:
        raise ConfigError("SLACK_BOT_TOKEN is not set (the bot token, xoxb-…).")
    options: dict[str, Any] = {
        "token": token.get_secret_value(),
        "base_url": settings.slack_api_url,
        "timeout": int(SLACK_TIMEOUT_S),
        "retry_handlers": [rate_limit_handler(metrics, max_retry_count=3)],
        "session": session,
    }
    if metrics is None:
        return AsyncWebClient(**options)
    return MeteredWebClient(metrics=metrics, **options)


@dataclass
class Bot:
    settings: Settings
    store: Store
    ei_transport: httpx.AsyncBaseTransport  # the Edge Impulse client's
    slack: AsyncWebClient
    tuner: TunerClient
    scheduler: AsyncIOScheduler
    poller: Poller
    delivery: Delivery
    fleet: Fleet
    bolt: AsyncApp
    web_app: web.Application
    now: Callable[[], datetime]
    keys: KeyRing
    actions: RunActions
    metrics: Metrics = field(default_factory=Metrics)
    port: int | None = None
    _owned: contextlib.AsyncExitStack = field(default_factory=contextlib.AsyncExitStack)
    _runner: web.AppRunner | None = None
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def start(self) -> None:
        """Check the bot token with Slack, then poll, deliver and serve. A refused token raises
        `BotTokenRefused`; while Slack does not answer, this waits (see `verify_bot_token`)."""
        await verify_bot_token(self.slack)
        self.scheduler.start()
        await self.fleet.start()
        self._tasks.append(asyncio.create_task(self.delivery.run()))
        if self.store.shared:  # keys stored through another replica, within one poll interval
            self._tasks.append(asyncio.create_task(self.keys.run(self.settings.poll_interval / 2)))
        self._tasks.append(asyncio.create_task(self.actions.run()))  # started jobs, lost claims
        self.delivery.wake()  # whatever a previous run left in the outbox
        self._runner = web.AppRunner(self.web_app, access_log=None)
        await self._runner.setup()
        try:
            await web.TCPSite(self._runner, "0.0.0.0", self.settings.port).start()
        except OSError as error:  # taken, or a privileged port
            raise ConfigError(
                f"cannot listen on PORT={self.settings.port}: {error.strerror or error}; "
                "set PORT to a free port"
            ) from None
        self.port = self._runner.addresses[0][1]  # the real one when PORT=0
        log.info(
            "eon-bot listening on port %s as %r, polling %d project(s)",
            self.port,
            self.fleet.owner,
            len(self.fleet.polling),
        )

    async def stop(self, grace_s: float = 8.0) -> None:
        """Stop polling, let deliveries in flight finish (bounded), close everything."""
        await self.poller.stop(grace_s=grace_s / 4)
        await self.delivery.stop(grace_s=grace_s / 2)
        await self.fleet.stop()  # the next replica takes over at once
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._runner is not None:
            await self._runner.cleanup()
        await self._owned.aclose()  # the transports and the store, unless passed in


def tuner_client(
    settings: Settings,
    transport: httpx.AsyncBaseTransport,
    api_key_for: Callable[[str], SecretStr | None] | None = None,
) -> TunerClient:
    """The Edge Impulse client as every command uses it (`run`, `status`, `check`); keys from
    `api_key_for` (a `KeyRing`'s, with the stored keys), else from the settings alone."""
    return TunerClient(
        transport,
        base_url=settings.ei_api_url,
        api_key_for=api_key_for or settings.api_key_for,
        max_bytes=int(settings.ei_max_response_mb * 1024 * 1024),
    )


async def _edges(
    settings: Settings,
    owned: contextlib.AsyncExitStack,
    *,
    store: Store | None,
    ei_transport: httpx.AsyncBaseTransport | None,
    slack: AsyncWebClient | None,
    now: Callable[[], datetime],
    metrics: Metrics,
) -> tuple[Store, httpx.AsyncBaseTransport, AsyncWebClient]:
    """The I/O edges not passed in, made here and put on `owned` (closed with the bot); if
    one cannot be made, those made before it are closed again."""
    if slack is None:
        # One session (its connection pool) for every Slack call the bot makes.
        session = aiohttp.ClientSession()
        try:
            slack = slack_client(settings, session, metrics)
        except BaseException:
            await session.close()
            raise
        owned.push_async_callback(session.close)
    if ei_transport is None:
        ei_transport = default_transport()
        owned.push_async_callback(ei_transport.aclose)
    if store is None:
        try:
            sqlite_path = parse_url(settings.database_url).sqlite_path
            if sqlite_path is not None:  # one process per SQLite file
                lock = SqliteLock(sqlite_path)
                lock.acquire()
                owned.callback(lock.release)
            store = await Store.open(settings.database_url, now=now)
        except BaseException:
            await owned.aclose()
            raise
        owned.push_async_callback(store.close)
    return store, ei_transport, slack


async def build(
    settings: Settings,
    *,
    store: Store | None = None,
    ei_transport: httpx.AsyncBaseTransport | None = None,
    slack: AsyncWebClient | None = None,
    now: Callable[[], datetime] = utcnow,
) -> Bot:
    """The whole bot, not started. What is passed in stays the caller's (left open by
    `Bot.stop`); what is made here is the bot's, closed by `Bot.stop`."""
    if settings.slack_signing_secret is None and settings.slack_app_token is None:
        raise ConfigError("SLACK_SIGNING_SECRET is not set (needed to verify Slack's requests).")
    owned = contextlib.AsyncExitStack()
    metrics = Metrics()
    store, ei_transport, slack = await _edges(
        settings,
        owned,
        store=store,
        ei_transport=ei_transport,
        slack=slack,
        now=now,
        metrics=metrics,
    )
    database = database_condition(log)
    keys = KeyRing(settings, store, database=database)
    try:
        await keys.refresh()  # a wrong SECRET_KEY is logged now, on one line
    except BaseException:
        await owned.aclose()
        raise
    tuner = tuner_client(settings, ei_transport, keys.api_key_for)
    scheduler = AsyncIOScheduler(timezone=UTC)
    owner = replica_id()
    claim_s = lease_seconds(settings.poll_interval)
    # Only beside other replicas must a save or a post prove its lease; on SQLite this process
    # is the only one, and the proofs would be a third of its statements.
    claims = owner if store.shared else None
    delivery = Delivery(
        store=store,
        slack=slack,
        owner=claims,
        claim_s=claim_s,
        poll_interval=settings.poll_interval,
        metrics=metrics,
        database=database,
    )
    poller = Poller(
        store=store,
        tuner=tuner,
        scheduler=scheduler,
        interval=settings.poll_interval,
        outage_notice_after=settings.outage_notice_after,
        stall_after=settings.stall_after,
        now=now,
        on_events=delivery.wake,
        owner=claims,
        metrics=metrics,
        database=database,
    )
    fleet = Fleet(
        store=store,
        poller=poller,
        owner=owner,
        interval=settings.poll_interval,
        retention_days=settings.retention_days,
        database=database,
    )
    actions = RunActions(
        store=store,
        jobs=TunerJobs(ei_transport, base_url=settings.ei_api_url, api_key_for=keys.api_key_for),
        tuner=tuner,
        wake_delivery=delivery.wake,
        interval=max(1.0, min(5.0, settings.poll_interval)),  # the SDK follows a job every 1-5 s
        database=database,
    )
    signing = settings.slack_signing_secret
    bolt = AsyncApp(
        client=slack,
        signing_secret=signing.get_secret_value() if signing else None,
        process_before_response=True,
    )
    register_all(
        bolt,
        Deps(
            store=store,
            settings=settings,
            start_watching=fleet.watch,
            stop_watching=fleet.unwatch,
            check_project=poller.check,
            wake_delivery=delivery.wake,
            keys=keys,
            check_key=KeyChecker(ei_transport, base_url=settings.ei_api_url).check,
            act=actions.click,
        ),
    )

    async def unhealthy() -> str | None:
        """Why this replica cannot do its job (for /healthz), or None."""
        if not scheduler.running:
            return "the scheduler is not running"
        if delivery.auth_error is not None:
            return (
                f"delivery stopped: Slack refused the bot token ({delivery.auth_error}); "
                "fix SLACK_BOT_TOKEN and restart"
            )
        if not await store.healthy():
            database.failed("a health check", "SELECT 1 did not answer")
            return "the database does not answer"
        database.ok()
        return None

    async def refresh() -> None:
        """The gauges read when scraped."""
        metrics.leases.labels("poll").set(len(fleet.polling))
        metrics.leases.labels("deliver").set(delivery.draining)
        metrics.slow_projects.set(len(poller.lanes.slow))
        metrics.stalls_open.set(len(poller.stalled))
        metrics.outages_open.set(len(poller.unreachable))
        metrics.outbox_waiting.set(await store.waiting_count())

    metrics.on_scrape(refresh)

    return Bot(
        settings=settings,
        store=store,
        ei_transport=ei_transport,
        slack=slack,
        tuner=tuner,
        scheduler=scheduler,
        poller=poller,
        delivery=delivery,
        fleet=fleet,
        bolt=bolt,
        web_app=make_web_app(bolt, unhealthy, metrics.render),
        now=now,
        keys=keys,
        actions=actions,
        metrics=metrics,
        _owned=owned,
    )


async def run(settings: Settings) -> int:
    """`eon-bot run`: serve until SIGTERM/SIGINT, then stop cleanly (exit 0).

    The signals are caught first, so they end the process in every state: opening the
    database, asking Slack who the bot is (`auth.test`, retried while Slack does not answer),
    serving, and connecting or reconnecting in Socket Mode. A refused token is a `ConfigError`.
    """
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    bot = await _unless_stopped(build(settings), stop)
    if bot is None:
        return 0
    socket_mode: SocketMode | None = None
    try:
        await _unless_stopped(bot.start(), stop)
        if stop.is_set():
            return 0
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
    return 0


def settle() -> None:
    """Take what the process holds for its whole life out of the garbage collector's rounds
    (`collector.freeze`), matplotlib's modules too: loaded now rather than at the first chart."""
    load_matplotlib()
    collector.freeze()


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

"""Everything assembled in one place: `build()` wires the store, the clients, the scheduler, the
poller, delivery and the bolt app; `Bot.start()`/`stop()` run them; `eon-bot run` calls both."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import httpx
from aiohttp import web
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from pydantic import SecretStr
from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot import collector
from bot.clock import utcnow
from bot.conditions import Condition, Unexpected, database_condition
from bot.errors import ConfigError
from bot.keys import KeyRing
from bot.metrics import Metrics
from bot.service.edges import open_edges, tuner_client, workspace_clients
from bot.service.fleet import Fleet, lease_seconds, replica_id
from bot.service.front import Handler, listen
from bot.service.names import ProjectNames
from bot.service.poller import Poller
from bot.settings import Settings, missing_for_run
from bot.slack.actions import RunActions
from bot.slack.auth import slack_condition, verify_bot_token
from bot.slack.delivery import Delivery, Digester
from bot.slack.installed import Installed, ManyWorkspaces, many_workspaces
from bot.slack.listeners import Deps, register_all
from bot.slack.tokens import BotTokens, OneWorkspace
from bot.slack.web import make_web_app, oauth_handlers, quiet_bolt_errors, slack_events
from bot.store import Store
from bot.tuner.client import TunerClient
from bot.tuner.jobs import TunerJobs
from bot.tuner.keys import KeyChecker

log = logging.getLogger(__name__)


@dataclass
class Bot:
    settings: Settings
    store: Store
    ei_transport: httpx.AsyncBaseTransport  # the Edge Impulse client's
    slack: AsyncWebClient  # the bot token's client (single mode)
    tokens: BotTokens  # each workspace's client (`bot.slack.tokens`)
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
    unhealthy: Callable[[], Awaitable[str | None]] | None = None  # why /healthz says 503
    slack_start: Condition = field(default_factory=slack_condition)
    port: int | None = None
    _owned: contextlib.AsyncExitStack = field(default_factory=contextlib.AsyncExitStack)
    _runner: web.AppRunner | None = None
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    @property
    def events(self) -> Handler:
        """`POST /slack/events`, for a `Front` that serves for the bot."""
        return slack_events(self.bolt, _secret(self.settings.slack_signing_secret))

    @property
    def pages(self) -> dict[str, Handler]:
        """ "Add to Slack"'s pages by path, for a `Front` (none with one workspace)."""
        return dict(oauth_handlers(self.bolt))

    async def start(self, *, serve: bool = True) -> None:
        """Check the bot token with Slack (many workspaces: read the installations instead),
        then poll, deliver and serve (unless a `Front`
        serves for it). A refused token raises `BotTokenRefused`; while Slack does not
        answer, this waits (see `verify_bot_token`)."""
        if isinstance(self.tokens, Installed):  # many workspaces: no token of its own
            await self.tokens.refresh()  # and re-sealed under a new SECRET_KEY
            if self.store.shared:  # installs and departures through other replicas
                every = min(5.0, self.settings.poll_interval / 2)
                self._tasks.append(asyncio.create_task(self.tokens.run(every)))
        else:
            identity = await verify_bot_token(self.slack, condition=self.slack_start)
            if isinstance(self.tokens, OneWorkspace):  # single mode: its rows are its team's
                self.tokens.named(identity.team_id)
                if adopted := await self.store.adopt(identity.team_id):
                    log.info(
                        "%d row(s) from before workspaces adopted by %s", adopted, identity.team_id
                    )
        self.scheduler.start()
        await self.fleet.start()
        self._tasks.append(asyncio.create_task(self.delivery.run()))
        if self.store.shared:  # keys stored through another replica, within one poll interval
            self._tasks.append(asyncio.create_task(self.keys.run(self.settings.poll_interval / 2)))
        self._tasks.append(asyncio.create_task(self.actions.run()))  # started jobs, lost claims
        self.delivery.wake()  # whatever a previous run left in the outbox
        if serve:
            self._runner = web.AppRunner(self.web_app, access_log=None)
            await self._runner.setup()
            self.port = await listen(self._runner, self.settings.port)
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


async def build(
    settings: Settings,
    *,
    store: Store | None = None,
    ei_transport: httpx.AsyncBaseTransport | None = None,
    slack: AsyncWebClient | None = None,
    now: Callable[[], datetime] = utcnow,
    metrics: Metrics | None = None,
) -> Bot:
    """The whole bot, not started; `Bot.stop` closes what it made, never what was passed in."""
    require(settings)
    owned, database = contextlib.AsyncExitStack(), database_condition(log)
    metrics = metrics if metrics is not None else Metrics()
    store, ei_transport, slack, keys = await open_edges(
        settings,
        owned,
        store=store,
        ei_transport=ei_transport,
        slack=slack,
        now=now,
        metrics=metrics,
        database=database,
    )
    tuner = tuner_client(settings, ei_transport, keys.api_key_for, metrics)
    many = None
    if settings.many_workspaces:  # "Add to Slack" (`bot.slack.install`)
        clients = workspace_clients(settings, slack, metrics)
        many = many_workspaces(settings, store, clients, now=now, keys=keys, database=database)
    tokens: BotTokens = many.tokens if many is not None else OneWorkspace(slack)
    parts = _pipeline(settings, store, tuner, tokens, keys, now=now, metrics=metrics, db=database)
    scheduler, delivery, poller, fleet = parts
    jobs = TunerJobs(ei_transport, base_url=settings.ei_api_url, api_key_for=keys.api_key_for)
    actions = _run_actions(settings, store, jobs, tuner, keys, delivery, fleet, database)
    deps = Deps(
        store=store,
        settings=settings,
        start_watching=fleet.watch,
        stop_watching=fleet.unwatch,
        check_project=poller.check,
        wake_delivery=delivery.wake,
        keys=keys,
        check_key=KeyChecker(ei_transport, base_url=settings.ei_api_url).check,
        act=actions,
        digests=delivery.digests,
        team_of=tokens.team_of,
    )
    bolt = _bolt_app(settings, slack, deps, many)
    metrics.on_scrape(_gauges(metrics, fleet=fleet, delivery=delivery, poller=poller, store=store))
    metrics.on_scrape(_workspace_gauge(metrics, store, many=many is not None))
    unhealthy = _health(scheduler, delivery, store, database)
    return Bot(
        settings=settings,
        store=store,
        ei_transport=ei_transport,
        slack=slack,
        tokens=tokens,
        tuner=tuner,
        scheduler=scheduler,
        poller=poller,
        delivery=delivery,
        fleet=fleet,
        bolt=bolt,
        web_app=_web_app(settings, bolt, unhealthy, metrics),
        unhealthy=unhealthy,
        now=now,
        keys=keys,
        actions=actions,
        metrics=metrics,
        _owned=owned,
    )


def _pipeline(
    settings: Settings,
    store: Store,
    tuner: TunerClient,
    tokens: BotTokens,
    keys: KeyRing,
    *,
    now: Callable[[], datetime],
    metrics: Metrics,
    db: Condition,
) -> tuple[AsyncIOScheduler, Delivery, Poller, Fleet]:
    """The scheduler of the polls, delivery, the poller that wakes it, and the fleet that
    shares the polls and the channels out among the replicas. Only beside other replicas must
    a save or a post prove its lease; on SQLite this process is the only one, and the proofs
    would be statements for nothing."""
    scheduler = AsyncIOScheduler(timezone=UTC)
    owner = replica_id()
    claims = owner if store.shared else None
    delivery = Delivery(
        store=store,
        tokens=tokens,
        owner=claims,
        claim_s=lease_seconds(settings.poll_interval),
        poll_interval=settings.poll_interval,
        metrics=metrics,
        database=db,
        digests=Digester(store=store, tz=ZoneInfo(settings.digest_tz), now=now),
    )
    if isinstance(tokens, Installed):  # a workspace back: its held channels go at once
        tokens.on_change(delivery.look_again)
    names = ProjectNames(store=store, tuner=tuner, now=now)
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
        database=db,
        names=names,
        idle_full_read=settings.idle_full_read,
        readers=keys.readers,  # a workspace is told only of what it may read
    )
    names.on_renamed = poller.renamed
    fleet = Fleet(
        store=store,
        poller=poller,
        owner=owner,
        interval=settings.poll_interval,
        retention_days=settings.retention_days,
        database=db,
    )
    return scheduler, delivery, poller, fleet


def _run_actions(
    settings: Settings,
    store: Store,
    jobs: TunerJobs,
    tuner: TunerClient,
    keys: KeyRing,
    delivery: Delivery,
    fleet: Fleet,
    database: Condition,
) -> RunActions:
    """What the run's buttons do, and the jobs they started followed."""
    return RunActions(
        store=store,
        jobs=jobs,
        tuner=tuner,
        wake_delivery=delivery.wake,
        interval=max(1.0, min(5.0, settings.poll_interval)),  # the SDK follows a job every 1-5 s
        owner=fleet.owner,  # its claims live while this replica does
        database=database,
        key_of=keys.key_of,  # a workspace acts with its own key, never another's
    )


def require(settings: Settings) -> None:
    """What `run` needs and `settings` lack, as one `ConfigError`."""
    missing = missing_for_run(settings)
    if missing:
        raise ConfigError("; ".join(missing) + ".")


def _bolt_app(
    settings: Settings, slack: AsyncWebClient, deps: Deps, many: ManyWorkspaces | None = None
) -> AsyncApp:
    """The bolt app with every listener registered (`bot.slack.listeners`); with `many`, its
    OAuth flow too, and each request's token found among the installations."""
    secret = _secret(settings.slack_signing_secret)
    bolt = AsyncApp(
        client=slack,
        signing_secret=secret,
        # Socket Mode has no signatures: without a secret there is nothing to verify (bolt
        # 1.20, the lowest allowed, built a verifier anyway and refused the empty secret)
        request_verification_enabled=secret is not None,
        process_before_response=True,
        **(many.bolt_options() if many is not None else {}),
    )
    quiet_bolt_errors(bolt, Unexpected(log))
    register_all(bolt, deps)
    if many is not None:
        many.register(bolt)
    return bolt


def _secret(value: SecretStr | None) -> str | None:
    return value.get_secret_value() if value is not None else None


def _web_app(
    settings: Settings,
    bolt: AsyncApp,
    unhealthy: Callable[[], Awaitable[str | None]],
    metrics: Metrics,
) -> web.Application:
    """`/slack/events` (verified with SLACK_SIGNING_SECRET), `/healthz` and `/metrics`."""
    signing = _secret(settings.slack_signing_secret)
    return make_web_app(bolt, unhealthy, metrics.render, signing_secret=signing)


def _health(
    scheduler: AsyncIOScheduler, delivery: Delivery, store: Store, database: Condition
) -> Callable[[], Awaitable[str | None]]:
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

    return unhealthy


def _gauges(
    metrics: Metrics, *, fleet: Fleet, delivery: Delivery, poller: Poller, store: Store
) -> Callable[[], Awaitable[None]]:
    async def refresh() -> None:
        """The gauges read when scraped."""
        metrics.leases.labels("poll").set(len(fleet.polling))
        metrics.leases.labels("deliver").set(delivery.draining)
        metrics.slow_projects.set(len(poller.lanes.slow))
        metrics.stalls_open.set(len(poller.stalled))
        metrics.outages_open.set(len(poller.unreachable))
        for tier, count in poller.tiers().items():
            metrics.tiers.labels(tier).set(count)
        metrics.outbox_waiting.set(await store.waiting_count())

    return refresh


def _workspace_gauge(
    metrics: Metrics, store: Store, *, many: bool
) -> Callable[[], Awaitable[None]]:
    async def refresh() -> None:
        """Many workspaces: as the database counts them; else the bot token's one."""
        installed, left = await store.workspace_counts() if many else (1, 0)
        metrics.workspaces.labels("installed").set(installed)
        metrics.workspaces.labels("left").set(left)

    return refresh


def settle() -> None:
    """Take what the process holds for its whole life out of the garbage collector's rounds
    (`collector.freeze`). matplotlib is not loaded here: the first chart loads it, and freezes
    it then (`bot.slack.plot.load_matplotlib`)."""
    collector.freeze()

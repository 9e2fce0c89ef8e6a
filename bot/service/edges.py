"""The I/O edges as every command makes them (`run`, `status`, `check`): the Slack client, the
Edge Impulse client over its transport, the store (one process per SQLite file), and the keys
the store holds."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from datetime import datetime
from typing import Any

import aiohttp
import httpx
from pydantic import SecretStr
from slack_sdk.web.async_client import AsyncWebClient

from bot.conditions import Condition
from bot.errors import ConfigError
from bot.keys import KeyRing
from bot.metrics import MeteredWebClient, Metrics, rate_limit_handler
from bot.service.fleet import SqliteLock
from bot.settings import Settings
from bot.store import Store, parse_url
from bot.tuner.client import TunerClient, default_transport

SLACK_TIMEOUT_S = 10.0  # per Slack call; an unclear outcome is looked up before a repost


def slack_client(
    settings: Settings,
    session: aiohttp.ClientSession | None = None,
    metrics: Metrics | None = None,
    *,
    token: SecretStr | None = None,
) -> AsyncWebClient:
    """The real client, with `token` (a workspace's, many-workspace mode) or SLACK_BOT_TOKEN;
    with many workspaces and no `token`, one without any (bolt's, which sets each request's).
    Only 429s are retried here: Slack did not act on them. Any other unclear outcome is left to
    delivery, which looks the message up before posting again. Without a `session`, slack_sdk
    opens (and closes) an aiohttp session for every call. With `metrics`, every call is counted
    by method and result."""
    token = token if token is not None else settings.slack_bot_token
    if token is None and not settings.many_workspaces:
        raise ConfigError("SLACK_BOT_TOKEN is not set (the bot token, xoxb-…).")
    options: dict[str, Any] = {
        "token": token.get_secret_value() if token is not None else None,
        "base_url": settings.slack_api_url,
        "timeout": int(SLACK_TIMEOUT_S),
        "retry_handlers": [rate_limit_handler(metrics, max_retry_count=3)],
        "session": session,
    }
    if metrics is None:
        return AsyncWebClient(**options)
    return MeteredWebClient(metrics=metrics, **options)


def workspace_clients(
    settings: Settings, slack: AsyncWebClient, metrics: Metrics | None
) -> Callable[[SecretStr], AsyncWebClient]:
    """Many workspaces: each one's client as `slack_client` makes it, over `slack`'s session."""

    def make(token: SecretStr) -> AsyncWebClient:
        return slack_client(settings, slack.session, metrics, token=token)

    return make


def tuner_client(
    settings: Settings,
    transport: httpx.AsyncBaseTransport,
    api_key_for: Callable[[str], SecretStr | None] | None = None,
    metrics: Metrics | None = None,
) -> TunerClient:
    """The Edge Impulse client as every command uses it (`run`, `status`, `check`); keys from
    `api_key_for` (a `KeyRing`'s, with the stored keys), else from the settings alone. With
    `metrics`, every request is counted by route and status, with its bytes."""
    return TunerClient(
        transport,
        base_url=settings.ei_api_url,
        api_key_for=api_key_for or settings.api_key_for,
        max_bytes=int(settings.ei_max_response_mb * 1024 * 1024),
        observe=(lambda answer: metrics.edge_impulse_answer(*answer)) if metrics else None,
    )


async def open_edges(
    settings: Settings,
    owned: contextlib.AsyncExitStack,
    *,
    store: Store | None,
    ei_transport: httpx.AsyncBaseTransport | None,
    slack: AsyncWebClient | None,
    now: Callable[[], datetime],
    metrics: Metrics,
    database: Condition,
) -> tuple[Store, httpx.AsyncBaseTransport, AsyncWebClient, KeyRing]:
    """The I/O edges not passed in, made here and put on `owned` (closed with the bot), and
    the keys the store holds; if one cannot be made, those made before it are closed again."""
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
    keys = KeyRing(settings, store, database=database)
    try:
        await keys.refresh()  # a wrong SECRET_KEY is logged now, on one line
    except BaseException:
        await owned.aclose()
        raise
    return store, ei_transport, slack, keys

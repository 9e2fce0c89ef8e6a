"""The bot's memory, opened from `DATABASE_URL`: one `Store` made of its parts.

A poll's result is stored in ONE transaction (snapshot, summary, outage and one outbox row per
(event, subscribed channel)), so a crash never leaves a snapshot that claims events were
reported without their rows, nor rows without the snapshot. Inserts that may race (two
pollers, a restart) use the dialect's `INSERT … ON CONFLICT DO NOTHING`; UNIQUE(channel, event
key) makes each event reach a channel at most once. Tables and migrations: `schema`; the URL
and the engine: `url`; what each part keeps: `subscriptions`, `polls`, `outbox`, `actions`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from bot.clock import utcnow
from bot.errors import ConfigError
from bot.store import url
from bot.store.actions import Actions
from bot.store.ei_keys import EiKeys
from bot.store.leases import Leases
from bot.store.migrations import migrate
from bot.store.outages import Outages
from bot.store.outbox import Outbox
from bot.store.polls import Polls
from bot.store.retention import Retention
from bot.store.subscriptions import Subscriptions


class Store(Actions, Subscriptions, Polls, Outbox, Leases, Retention, EiKeys, Outages):
    """All database access. Create with `await Store.open(url)`; `close()` when done."""

    @classmethod
    async def open(cls, database_url: str, *, now: Callable[[], datetime] = utcnow) -> Store:
        """Connect, create or migrate the schema; ConfigError if the URL or the database is bad."""
        target = url.parse(database_url)
        engine = url.create_engine(database_url, target)
        store = cls(engine, now=now, is_sqlite=target.is_sqlite)
        try:
            async with store._write() as conn:
                await conn.run_sync(migrate)
        except ConfigError:
            await engine.dispose()
            raise
        except Exception as exc:
            await engine.dispose()
            raise url.cannot_open(database_url, target, exc) from exc
        if target.is_sqlite:
            await store.load_mirror()
        return store

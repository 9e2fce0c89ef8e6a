"""What every part of the store shares: the engine, transactions that take turns on SQLite,
and the dialect's INSERT (for `ON CONFLICT`)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bot.store.mirror import Mirror

log = logging.getLogger(__name__)

HEALTH_TIMEOUT_S = 5.0


def project_order(project_id: str) -> tuple[int, int, str]:
    """Numeric ids in numeric order, then anything else by its text."""
    return (0, int(project_id), "") if project_id.isdigit() else (1, 0, project_id)


class Database:
    """The connection side of `Store`; its parts (subscriptions, polls, outbox) build on it."""

    def __init__(
        self, engine: AsyncEngine, *, now: Callable[[], datetime], is_sqlite: bool
    ) -> None:
        self._engine = engine
        self._writer = engine.execution_options(eon_write=True)
        self._reader = engine.execution_options(eon_read=True)
        self._now = now
        self._postgres = not is_sqlite
        # In one process, SQLite transactions take turns here instead of spinning on
        # busy_timeout; PostgreSQL has MVCC. Reads of a SQLite file do not wait (WAL lets them
        # run beside a write); `:memory:` has one shared connection, so its reads take turns too.
        self._lock = asyncio.Lock() if is_sqlite else None
        shared = is_sqlite and engine.url.database in (None, "", ":memory:")
        self._read_lock = self._lock if shared else None
        # SQLite: this process is the only writer, so it can keep each project's latest
        # summary (JSON, "" for none) for `/eon status`; PostgreSQL replicas read the table.
        self._views: dict[str, str] | None = {} if is_sqlite else None
        # Likewise the subscriptions (`bot.store.mirror`), loaded when the store opens (`None`
        # until then, and always on PostgreSQL).
        self._subs: Mirror | None = None

    @property
    def shared(self) -> bool:
        """Whether other processes may write here too: PostgreSQL replicas (`bot.fleet`).
        A SQLite file serves one process (`bot.fleet.SqliteLock`)."""
        return self._postgres

    async def close(self) -> None:
        await self._engine.dispose()

    def _turn(self) -> AbstractAsyncContextManager[Any]:
        return self._lock if self._lock is not None else nullcontext()

    @asynccontextmanager
    async def _read(self) -> AsyncIterator[AsyncConnection]:
        """A connection to read with. On SQLite its statements run outside any transaction,
        each seeing what was committed when it began (one trip to the database each, with no
        BEGIN before or ROLLBACK after): a read that needs one view across two statements
        uses `_write` instead."""
        turn = self._read_lock if self._read_lock is not None else nullcontext()
        async with turn, self._reader.connect() as conn:
            yield conn

    def _view(self, project_id: str, summary: str | None) -> None:
        """After a commit: the project's latest summary is now `summary` (None: unknown)."""
        if self._views is not None:
            if summary is None:
                self._views.pop(project_id, None)
            else:
                self._views[project_id] = summary

    def _may_await_start(self, project_id: str) -> bool:
        """False only when memory knows no subscription to the project awaits its start event."""
        if self._subs is None:
            return True
        return any(sub.needs_start for sub in self._subs.of_project(project_id))

    def _started(self, project_id: str, channel_ids: Iterable[str]) -> None:
        """After a commit: these channels' subscriptions to the project got their start event."""
        if self._subs is not None:
            for channel_id in channel_ids:
                self._subs.change(channel_id, project_id, needs_start=False)

    @asynccontextmanager
    async def _write(self) -> AsyncIterator[AsyncConnection]:
        """One transaction: committed when the block ends, rolled back if it raises."""
        async with self._turn(), self._writer.begin() as conn:
            yield conn

    def _insert(self, table: Any) -> sqlite.Insert | postgresql.Insert:
        return postgresql.insert(table) if self._postgres else sqlite.insert(table)

    async def healthy(self) -> bool:
        """SELECT 1 answers within a few seconds (for /healthz)."""
        try:
            async with asyncio.timeout(HEALTH_TIMEOUT_S), self._read() as conn:
                await conn.execute(text("SELECT 1"))
        except Exception:
            log.warning("database health check failed", exc_info=True)
            return False
        return True

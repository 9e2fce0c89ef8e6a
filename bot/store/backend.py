"""SQLite and PostgreSQL behind one interface: what the store's parts ask of a database.

The parts (`subscriptions`, `polls`, `outbox`, `leases`, `retention`) write their queries
once and never ask which database they talk to; a `Backend` answers for it. SQLite serves one
process (`bot.service.fleet.SqliteLock`): its transactions take turns on a lock in the process, its
clock is the process's, every lease belongs to whoever asks, and it keeps the subscriptions
and summaries in memory (`bot.store.mirror`). PostgreSQL serves replicas: MVCC instead of a
lock, the server's clock, leases that lapse or whose holder's session is gone, row locks, and
nothing kept in memory. `Backend.of(target, engine)` picks one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Interval,
    Select,
    Table,
    column,
    func,
    literal,
    or_,
    select,
    table,
    text,
    true,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bot.store.mirror import Memory, Mirror, Subscription
from bot.store.schema import REPLICA, UtcDateTime, leases, outbox
from bot.store.url import Target

log = logging.getLogger(__name__)

HEALTH_TIMEOUT_S = 5.0

_sessions = table("pg_stat_activity", column("application_name"))


class Backend(ABC):
    """One database as the store's parts see it. Create with `Backend.of(target, engine)`."""

    shared: bool  # other processes may write here too: PostgreSQL replicas (`bot.service.fleet`)

    def __init__(self, engine: AsyncEngine, memory: Memory) -> None:
        self.engine = engine
        self.memory = memory
        self._writer = engine.execution_options(eon_write=True)
        self._reader = engine.execution_options(eon_read=True)

    @staticmethod
    def of(target: Target, engine: AsyncEngine) -> Backend:
        return SqliteBackend(engine) if target.is_sqlite else PostgresBackend(engine)

    def write(self) -> AbstractAsyncContextManager[AsyncConnection]:
        """One transaction: committed when the block ends, rolled back if it raises."""
        return self._writer.begin()

    def read(self) -> AbstractAsyncContextManager[AsyncConnection]:
        """A connection to read with (`SqliteBackend.read`: outside any transaction)."""
        return self._reader.connect()

    @abstractmethod
    def insert(self, target: Table) -> sqlite.Insert | postgresql.Insert:
        """The dialect's INSERT, for `ON CONFLICT`."""

    @abstractmethod
    def clock(self) -> ColumnElement[datetime]:
        """Now, as the expression every lease and claim comparison uses."""

    @abstractmethod
    def until(self, seconds: float) -> ColumnElement[datetime]:
        """`seconds` from now, as an expression."""

    @abstractmethod
    def free(self, owner: str) -> ColumnElement[bool]:
        """A lease `owner` may take (`bot.store.leases`)."""

    @abstractmethod
    def claimable(self, owner: str) -> ColumnElement[bool]:
        """An outbox row `owner` may claim for posting (`bot.store.outbox`)."""

    @abstractmethod
    def gone(self, holder: ColumnElement[str]) -> ColumnElement[bool]:
        """The replica named in `holder` has ended (`bot.store.actions`; asked only of the
        others' names: the asking replica is alive)."""

    @abstractmethod
    def locking(self, query: Select[Any]) -> Select[Any]:
        """`query`, holding the rows it reads against other replicas until the transaction ends."""

    @abstractmethod
    async def lock(self, conn: AsyncConnection, query: Select[Any]) -> None:
        """Lock the rows `query` reads, in its order, where other replicas may wait on them."""

    @abstractmethod
    def latest_last(self, query: Select[Any], group: Any, order: Any) -> Select[Any]:
        """`query`'s rows by `group`, each group's latest by `order` last (maybe alone)."""

    @abstractmethod
    async def live_replicas(self) -> int:
        """Replicas whose heartbeat has not expired (at least 1: the caller)."""

    @abstractmethod
    async def start(self, subscriptions: Callable[[], Awaitable[list[Subscription]]]) -> None:
        """Once the schema is ready: fill memory, if this backend keeps any."""

    @abstractmethod
    async def join(self, owner: str) -> None:
        """Announce this replica to the others (`bot.store.leases`), if there can be others."""

    @abstractmethod
    async def leave(self) -> None:
        """Stop announcing it."""

    async def close(self) -> None:
        await self.leave()
        await self.engine.dispose()

    async def healthy(self) -> bool:
        """SELECT 1 answers within a few seconds (for /healthz)."""
        try:
            async with asyncio.timeout(HEALTH_TIMEOUT_S), self.read() as conn:
                await conn.execute(text("SELECT 1"))
        except Exception:  # said once per outage by /healthz's caller (`bot.conditions`)
            log.debug("database health check failed", exc_info=True)
            return False
        return True


class SqliteBackend(Backend):
    """One process: its transactions take turns here instead of spinning on busy_timeout, and
    it keeps what it wrote in memory. Reads of a SQLite file do not wait (WAL lets them run
    beside a write); `:memory:` has one shared connection, so its reads take turns too."""

    shared = False

    def __init__(self, engine: AsyncEngine) -> None:
        super().__init__(engine, Mirror())
        self._lock = asyncio.Lock()
        in_memory = engine.url.database in (None, "", ":memory:")
        self._read_lock = self._lock if in_memory else None

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        async with self._lock, self._writer.begin() as conn:
            yield conn

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """Its statements run outside any transaction, each seeing what was committed when it
        began (one trip to the database each, with no BEGIN before or ROLLBACK after): a read
        that needs one view across two statements uses `write` instead."""
        turn = self._read_lock if self._read_lock is not None else nullcontext()
        async with turn, self._reader.connect() as conn:
            yield conn

    def insert(self, target: Table) -> sqlite.Insert:
        return sqlite.insert(target)

    def clock(self) -> ColumnElement[datetime]:
        return literal(datetime.now(UTC), UtcDateTime())

    def until(self, seconds: float) -> ColumnElement[datetime]:
        return literal(datetime.now(UTC) + timedelta(seconds=seconds), UtcDateTime())

    def free(self, owner: str) -> ColumnElement[bool]:
        return true()  # another owner's lease can only be a dead process's

    def claimable(self, owner: str) -> ColumnElement[bool]:
        return true()  # likewise another's claim

    def gone(self, holder: ColumnElement[str]) -> ColumnElement[bool]:
        return true()  # another process's: it can only have ended

    def locking(self, query: Select[Any]) -> Select[Any]:
        return query  # writes take turns in the process

    async def lock(self, conn: AsyncConnection, query: Select[Any]) -> None:
        return None

    def latest_last(self, query: Select[Any], group: Any, order: Any) -> Select[Any]:
        return query.order_by(group, order)

    async def live_replicas(self) -> int:
        return 1

    async def start(self, subscriptions: Callable[[], Awaitable[list[Subscription]]]) -> None:
        self.memory.load(await subscriptions())

    async def join(self, owner: str) -> None:
        return None  # one process: nobody to tell

    async def leave(self) -> None:
        return None


class PostgresBackend(Backend):
    """Replicas: leases lapse by the server's clock (so replicas whose own clocks differ still
    agree), or at once when their holder's session is gone (see `join`)."""

    shared = True

    def __init__(self, engine: AsyncEngine) -> None:
        super().__init__(engine, Memory())
        self._presence: AsyncConnection | None = None

    def insert(self, target: Table) -> postgresql.Insert:
        return postgresql.insert(target)

    def clock(self) -> ColumnElement[datetime]:
        return func.clock_timestamp()

    def until(self, seconds: float) -> ColumnElement[datetime]:
        return func.clock_timestamp() + literal(timedelta(seconds=seconds), Interval())

    def free(self, owner: str) -> ColumnElement[bool]:
        """Its own, expired, or its holder's session is gone."""
        held = leases.c.owner
        return or_(held == owner, leases.c.expires_at < self.clock(), ~_present(held))

    def claimable(self, owner: str) -> ColumnElement[bool]:
        """Unclaimed, claimed by `owner`, or by a replica whose claim lapsed or that is gone."""
        return or_(
            outbox.c.claimed_by.is_(None),
            outbox.c.claimed_by == owner,
            outbox.c.claim_expires < self.clock(),
            ~_present(outbox.c.claimed_by),
        )

    def gone(self, holder: ColumnElement[str]) -> ColumnElement[bool]:
        """Its session is over (`join`): crashed, killed, or cut off from the database."""
        return ~_present(holder)

    async def start(self, subscriptions: Callable[[], Awaitable[list[Subscription]]]) -> None:
        return None  # nothing kept: replicas share the tables

    def locking(self, query: Select[Any]) -> Select[Any]:
        return query.with_for_update()

    async def lock(self, conn: AsyncConnection, query: Select[Any]) -> None:
        await conn.execute(query.with_for_update())

    def latest_last(self, query: Select[Any], group: Any, order: Any) -> Select[Any]:
        return query.order_by(group, order.desc()).ext(distinct_on(group))

    async def live_replicas(self) -> int:
        alive = (leases.c.expires_at >= self.clock(), _present(leases.c.owner))
        query = select(func.count()).select_from(leases).where(leases.c.kind == REPLICA, *alive)
        async with self.read() as conn:
            return max(1, int(await conn.scalar(query) or 0))

    async def join(self, owner: str) -> None:
        """A connection kept open under this replica's id (its `application_name`); again
        after the connection was lost. `owner` is at most 63 characters (PostgreSQL's cap)."""
        if self._presence is not None:
            try:
                await self._presence.execute(select(literal(1)))
                # Not left open: an idle transaction holds back vacuum (the horizon stays at
                # its snapshot), and `idle_in_transaction_session_timeout` would end it.
                await self._presence.commit()
                return
            except Exception:  # the server or the network dropped it: announce again
                await self.leave()
        presence = await self.engine.connect()
        try:
            await presence.execute(select(func.set_config("application_name", owner, False)))
            await presence.commit()
        except BaseException:
            await presence.close()
            raise
        self._presence = presence

    async def leave(self) -> None:
        presence, self._presence = self._presence, None
        if presence is not None:
            with contextlib.suppress(Exception):
                await presence.invalidate()  # never back to the pool under this replica's name


def _present(owner: Any) -> ColumnElement[bool]:
    """The replica `owner` still has its session open (`PostgresBackend.join`)."""
    # IN, not a correlated EXISTS: SQLAlchemy does not correlate inside ON CONFLICT … WHERE.
    names = _sessions.c.application_name
    return owner.in_(select(names).where(names.is_not(None)))  # type: ignore[no-any-return]

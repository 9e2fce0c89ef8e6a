"""Leases: which replica polls a project, delivers to a channel, and which replicas are alive.

A lease is a row (kind, name) → (owner, expires_at). A replica takes a lease that is free,
expired or already its own with one `INSERT … ON CONFLICT DO UPDATE … WHERE` per batch: the
conditional upsert locks the row it touches, and a second replica racing for the same lease
re-checks the condition once the first commits and finds it taken, so at most one replica
holds a lease at a time without `SKIP LOCKED` scans or session-bound advisory locks (which a
pooled connection would hold past its user). The holder renews its leases every few seconds
(`bot.fleet`); a replica that dies stops renewing, and its leases are free once they expire.

A replica that is killed outright need not wait for its leases to expire: on PostgreSQL each
replica keeps one connection open whose `application_name` is its id (`join`), and a lease
whose owner has no such session is free, since the server ends a dead process's session as
soon as its socket closes. Expiry still covers a replica that hangs or loses the network.
Expiry is read from the database's clock, so replicas whose own clocks differ still agree.

SQLite serves one process (`bot.fleet.SqliteLock` makes sure), so there every lease belongs to
whoever asks: another owner's lease can only be a dead process's.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    Interval,
    and_,
    column,
    delete,
    func,
    literal,
    or_,
    select,
    table,
    true,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.store.db import Database
from bot.store.schema import DELIVER, POLL, REPLICA, UtcDateTime, leases, outbox


class LeaseLost(Exception):
    """Another replica holds the lease now: what this one was about to write is not its to
    write (its transaction is rolled back)."""


_sessions = table("pg_stat_activity", column("application_name"))


class Leases(Database):
    _presence: AsyncConnection | None = None

    async def join(self, owner: str) -> None:
        """Announce this replica (PostgreSQL): a connection kept open under its id; again
        after the connection was lost. `owner` is at most 63 characters (PostgreSQL's cap)."""
        if not self._postgres:
            return
        if self._presence is not None:
            try:
                await self._presence.execute(select(literal(1)))
                return
            except Exception:  # the server or the network dropped it: announce again
                await self.leave()
        presence = await self._engine.connect()
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

    async def close(self) -> None:
        await self.leave()
        await super().close()

    def _free(self, owner: str) -> Any:
        """A lease `owner` may take: its own, expired, or its holder's session is gone."""
        if not self._postgres:
            return true()
        present = self._present(leases.c.owner)
        return or_(leases.c.owner == owner, leases.c.expires_at < self._clock(), ~present)

    def _present(self, owner: Any) -> Any:
        """PostgreSQL: the replica `owner` still has its session open (see `join`)."""
        # IN, not a correlated EXISTS: SQLAlchemy does not correlate inside ON CONFLICT … WHERE.
        names = _sessions.c.application_name
        return owner.in_(select(names).where(names.is_not(None)))

    def _clock(self) -> Any:
        """Now, as the expression every lease comparison uses (see the module docstring)."""
        if self._postgres:
            return func.clock_timestamp()
        return literal(datetime.now(UTC), UtcDateTime())

    def _until(self, seconds: float) -> Any:
        """`seconds` from now, as an expression."""
        if self._postgres:
            return func.clock_timestamp() + literal(timedelta(seconds=seconds), Interval())
        return literal(datetime.now(UTC) + timedelta(seconds=seconds), UtcDateTime())

    async def take(self, kind: str, names: Iterable[str], owner: str, ttl_s: float) -> list[str]:
        """Of `names`, those this replica holds for `ttl_s` more seconds: free, expired or
        already its own. The others are held by live replicas."""
        wanted = sorted(set(names))
        if not wanted:
            return []
        expires = self._until(ttl_s)
        stmt = self._insert(leases).values(
            [{"kind": kind, "name": name, "owner": owner, "expires_at": expires} for name in wanted]
        )
        taken = stmt.on_conflict_do_update(
            index_elements=[leases.c.kind, leases.c.name],
            set_={"owner": owner, "expires_at": self._until(ttl_s)},
            where=self._free(owner),
        ).returning(leases.c.name)
        async with self._write() as conn:
            return sorted((await conn.execute(taken)).scalars())

    async def renew(self, owner: str, ttl_s: float) -> dict[str, list[str]]:
        """Extend every lease this replica holds, and its claims on outbox rows it is posting;
        returns its leases by kind. A lease another replica took after it expired is not
        renewed, and is not in the answer: the caller lets go of that work."""
        mine = leases.c.owner == owner
        async with self._write() as conn:
            await self._lock_in_order(conn, mine)
            rows = await conn.execute(
                update(leases)
                .where(mine)
                .values(expires_at=self._until(ttl_s))
                .returning(leases.c.kind, leases.c.name)
            )
            held: dict[str, list[str]] = {POLL: [], DELIVER: [], REPLICA: []}
            for kind, name in rows:
                held.setdefault(kind, []).append(name)
        # Apart: a row being claimed is locked before its channel's lease (`mark_attempting`).
        async with self._write() as conn:
            await conn.execute(
                update(outbox)
                .where(outbox.c.claimed_by == owner)
                .values(claim_expires=self._until(ttl_s))
            )
        return {kind: sorted(names) for kind, names in held.items()}

    async def _lock_in_order(self, conn: AsyncConnection, which: Any) -> None:
        """Lock the lease rows `which` selects in (kind, name) order, the order a multi-row
        `take` locks them in, so two transactions never wait on each other (PostgreSQL
        answers a deadlock by failing one of them)."""
        if self._postgres:
            order = (leases.c.kind, leases.c.name)
            await conn.execute(select(*order).where(which).order_by(*order).with_for_update())

    async def release(self, owner: str, kind: str, names: Iterable[str] | None = None) -> None:
        """Let go of leases (all of `kind` if `names` is None), for another replica to take
        at once instead of after they expire."""
        which = and_(leases.c.owner == owner, leases.c.kind == kind)
        if names is not None:
            which = and_(which, leases.c.name.in_(sorted(set(names))))
        async with self._write() as conn:
            await self._lock_in_order(conn, which)
            await conn.execute(delete(leases).where(which))

    async def live_replicas(self) -> int:
        """Replicas whose heartbeat has not expired (at least 1: the caller)."""
        if not self._postgres:
            return 1
        present = self._present(leases.c.owner)
        query = (
            select(func.count())
            .select_from(leases)
            .where(leases.c.kind == REPLICA, leases.c.expires_at >= self._clock(), present)
        )
        async with self._read() as conn:
            return max(1, int(await conn.scalar(query) or 0))

    async def _hold(self, conn: AsyncConnection, kind: str, name: str, owner: str) -> None:
        """Inside a write: raise LeaseLost unless `owner` holds the lease (expired or not: no
        one else took it). Locks the lease row on PostgreSQL, so a replica taking it over
        waits for this transaction to end."""
        query = select(leases.c.owner).where(and_(leases.c.kind == kind, leases.c.name == name))
        if self._postgres:
            query = query.with_for_update()
        holder = await conn.scalar(query)
        if holder != owner:
            raise LeaseLost(f"{kind} lease on {name} is held by {holder or 'no one'}")

"""Leases: which replica polls a project, delivers to a channel, and which replicas are alive.

A lease is a row (kind, name) → (owner, expires_at). A replica takes a lease that is free,
expired or already its own with one `INSERT … ON CONFLICT DO UPDATE … WHERE` per batch: the
conditional upsert locks the row it touches, and a second replica racing for the same lease
re-checks the condition once the first commits and finds it taken, so at most one replica
holds a lease at a time without `SKIP LOCKED` scans or session-bound advisory locks (which a
pooled connection would hold past its user). The holder renews its leases every few seconds
(`bot.service.fleet`); a replica that dies stops renewing, and its leases are free once they expire.

A replica that is killed outright need not wait for its leases to expire: on PostgreSQL each
replica keeps one connection open whose `application_name` is its id (`Backend.join`), and a
lease whose owner has no such session is free, since the server ends a dead process's session
as soon as its socket closes. Expiry still covers a replica that hangs or loses the network.
Expiry is read from the database's clock, so replicas whose own clocks differ still agree.

SQLite serves one process (`bot.service.fleet.SqliteLock` makes sure), so there every lease
belongs to whoever asks: another owner's lease can only be a dead process's. Which lease is free,
what "now" is and which rows get locked is the backend's to say (`bot.store.backend`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, NamedTuple

from sqlalchemy import and_, delete, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.store.backend import Backend
from bot.store.schema import DELIVER, POLL, REPLICA, leases, outbox


class TeamChannel(NamedTuple):
    """A channel of a workspace, what delivery drains: Slack Connect shares one channel id
    between workspaces, each with its own rows and token."""

    team_id: str
    channel_id: str

    @property
    def lease(self) -> str:
        """The name of its DELIVER lease."""
        return f"{self.team_id}:{self.channel_id}"


class LeaseLost(Exception):
    """Another replica holds the lease now: what this one was about to write is not its to
    write (its transaction is rolled back)."""


class Leases:
    def __init__(self, backend: Backend) -> None:
        self._backend = backend

    async def take(self, kind: str, names: Iterable[str], owner: str, ttl_s: float) -> list[str]:
        """Of `names`, those this replica holds for `ttl_s` more seconds: free, expired or
        already its own. The others are held by live replicas."""
        wanted = sorted(set(names))
        if not wanted:
            return []
        db = self._backend
        expires = db.until(ttl_s)
        stmt = db.insert(leases).values(
            [{"kind": kind, "name": name, "owner": owner, "expires_at": expires} for name in wanted]
        )
        taken = stmt.on_conflict_do_update(
            index_elements=[leases.c.kind, leases.c.name],
            set_={"owner": owner, "expires_at": db.until(ttl_s)},
            where=db.free(owner),
        ).returning(leases.c.name)
        async with db.write() as conn:
            return sorted((await conn.execute(taken)).scalars())

    async def renew(self, owner: str, ttl_s: float) -> dict[str, list[str]]:
        """Extend every lease this replica holds, and its claims on outbox rows it is posting;
        returns its leases by kind. A lease another replica took after it expired is not
        renewed, and is not in the answer: the caller lets go of that work."""
        mine = leases.c.owner == owner
        db = self._backend
        async with db.write() as conn:
            await self._lock_in_order(conn, mine)
            rows = await conn.execute(
                update(leases)
                .where(mine)
                .values(expires_at=db.until(ttl_s))
                .returning(leases.c.kind, leases.c.name)
            )
            held: dict[str, list[str]] = {POLL: [], DELIVER: [], REPLICA: []}
            for kind, name in rows:
                held.setdefault(kind, []).append(name)
        # Apart: a row being claimed is locked before its channel's lease (`mark_attempting`).
        async with db.write() as conn:
            await conn.execute(
                update(outbox)
                .where(outbox.c.claimed_by == owner)
                .values(claim_expires=db.until(ttl_s))
            )
        return {kind: sorted(names) for kind, names in held.items()}

    async def _lock_in_order(self, conn: AsyncConnection, which: Any) -> None:
        """Lock the lease rows `which` selects in (kind, name) order, the order a multi-row
        `take` locks them in, so two transactions never wait on each other (PostgreSQL
        answers a deadlock by failing one of them)."""
        order = (leases.c.kind, leases.c.name)
        await self._backend.lock(conn, select(*order).where(which).order_by(*order))

    async def release(self, owner: str, kind: str, names: Iterable[str] | None = None) -> None:
        """Let go of leases (all of `kind` if `names` is None), for another replica to take
        at once instead of after they expire."""
        which = and_(leases.c.owner == owner, leases.c.kind == kind)
        if names is not None:
            which = and_(which, leases.c.name.in_(sorted(set(names))))
        async with self._backend.write() as conn:
            await self._lock_in_order(conn, which)
            await conn.execute(delete(leases).where(which))

    async def hold(self, conn: AsyncConnection, kind: str, name: str, owner: str) -> None:
        """Inside a write: raise LeaseLost unless `owner` holds the lease (expired or not: no
        one else took it). Locks the lease row on PostgreSQL, so a replica taking it over
        waits for this transaction to end."""
        query = select(leases.c.owner).where(and_(leases.c.kind == kind, leases.c.name == name))
        holder = await conn.scalar(self._backend.locking(query))
        if holder != owner:
            raise LeaseLost(f"{kind} lease on {name} is held by {holder or 'no one'}")

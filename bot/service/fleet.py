"""Running more than one `eon-bot run` on one PostgreSQL database: who polls what.

Every replica ticks every few seconds (`Fleet.tick`): it renews its heartbeat and leases
(`bot.store.leases`), lets go of projects nobody watches any more and of what it holds beyond
its fair share (the watched projects over the live replicas, rounded up), and takes free
projects up to that share, a dead replica's included. A project is polled only by the holder
of its lease, and a poll is stored only while that holds (`save_poll(owner=…)`), so each
project is polled by exactly one live replica. Replicas learn of new subscriptions from the
database; the replica a `/eon watch` reaches takes the project at once if it is free.

Timing, for `POLL_INTERVAL` = i: a lease lasts `lease_seconds(i)` = max(2i, 6 s) and is
renewed every `tick_seconds(i)` = min(lease/3, max(i, 1 s)). A replica killed outright (crash,
OOM, SIGKILL) frees its leases at once (its database session ends); one that hangs or loses
the network frees them when they expire. Either way the next tick of another replica takes
them and polls at once: within max(3i, 10 s) of the failure.

Each replica also prunes what is older than `RETENTION_DAYS` (`bot.store.retention`) when it
starts and every `PRUNE_EVERY_S` after (pruning twice is harmless), and deletes the workspaces
that left over a week ago (`bot.slack.install.forget_departed`).

SQLite serves one process: `SqliteLock` makes a second `eon-bot run` on the same file refuse
to start, and the fleet logic degenerates to "this process holds everything".
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import math
import os
import socket
import time
import uuid
from collections.abc import Set as AbstractSet
from datetime import timedelta
from pathlib import Path

from bot.clock import utcnow
from bot.conditions import Condition
from bot.errors import ConfigError
from bot.fmt import one_line
from bot.service.poller import Poller
from bot.slack.install import forget_departed
from bot.store import DELIVER, POLL, REPLICA, Store, database_away, project_order

log = logging.getLogger(__name__)

PRUNE_EVERY_S = 3600.0


def lease_seconds(interval: float) -> float:
    """How long a lease lasts without renewal."""
    return max(2.0 * interval, 6.0)


def tick_seconds(interval: float) -> float:
    """How often a replica renews its leases and looks for work."""
    return min(lease_seconds(interval) / 3.0, max(interval, 1.0))


def replica_id() -> str:
    """Unique per process, readable in `pg_stat_activity` (at most 63 characters)."""
    return f"eon-bot {socket.gethostname()[:24]} {os.getpid()} {uuid.uuid4().hex[:8]}"


class Fleet:
    def __init__(
        self,
        *,
        store: Store,
        poller: Poller,
        owner: str,
        interval: float,
        retention_days: float = 30.0,
        database: Condition | None = None,
    ) -> None:
        self._store = store
        self._database = database  # the database's one condition, shared with polls
        self._retention = timedelta(days=retention_days)
        self._next_prune = 0.0  # monotonic seconds
        self._poller = poller
        self.owner = owner
        self._interval = interval
        self.lease_s = lease_seconds(interval)
        self.tick_s = tick_seconds(interval)
        self.polling: set[str] = set()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Join the fleet and take a share of the work; the first polls are spread over one
        interval, so a start does not burst."""
        await self.tick(spread=True)
        await self.prune()
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.tick_s)
            try:
                await self.tick()
            except Exception as error:  # the database is away: leases lapse, are taken again
                self._failed("renewing this replica's leases", error)
                continue
            if self._database is not None:
                self._database.ok()
            try:
                await self.prune()
            except Exception as error:
                self._failed("pruning old rows", error)

    def _failed(self, doing: str, error: Exception) -> None:
        if self._database is not None and database_away(error):  # once per outage
            self._database.failed(doing, error)
        else:
            log.warning("%s failed: %s", doing, one_line(str(error)))

    async def prune(self) -> None:
        """Forget what is older than the retention period, when due."""
        if time.monotonic() < self._next_prune:
            return
        self._next_prune = time.monotonic() + PRUNE_EVERY_S
        gone = await self._store.prune(utcnow() - self._retention)
        if any(gone.values()):
            log.info("pruned rows older than %s: %s", self._retention, gone)
        await forget_departed(self._store, utcnow())  # workspaces that left a week ago

    async def tick(self, *, spread: bool = False) -> None:
        store, owner = self._store, self.owner
        polling_before = set(self.polling)  # `watch` may add to it while this tick awaits
        await store.join(owner)
        await store.take(REPLICA, [owner], owner, self.lease_s)
        held = await store.renew(owner, self.lease_s)
        watched = await store.watched_projects()
        renewed = set(held[POLL])
        keep = [p for p in watched if p in renewed]
        share = math.ceil(len(watched) / await store.live_replicas())
        drop = renewed - set(keep[:share])
        if drop:
            await store.release(owner, POLL, drop)
        keep = keep[:share]
        room = share - len(keep)
        taken: list[str] = []
        if room > 0:
            unavailable = set(keep) | drop
            free = [p for p in watched if p not in unavailable]
            taken = await store.take(POLL, free, owner, self.lease_s)
            extra = set(sorted(taken, key=project_order)[room:])  # free, but not ours to take
            if extra:
                await store.release(owner, POLL, extra)
            taken = [p for p in taken if p not in extra]
            keep += taken
        # Taken again after it lapsed: another replica may have polled it meanwhile, so
        # what the poller kept of it is forgotten (see `_follow`).
        lapsed = set(taken) & polling_before
        self._follow(set(keep) | (self.polling - polling_before), spread=spread, again=lapsed)

    def _follow(
        self, holding: set[str], *, spread: bool, again: AbstractSet[str] = frozenset()
    ) -> None:
        """Poll exactly the projects whose leases this replica holds; `again` are held anew
        after lapsing, so they start over as a new watch does."""
        for project_id in sorted(self.polling - holding, key=project_order):
            self._poller.unwatch(project_id)
        new = sorted((holding - self.polling) | (again & holding), key=project_order)
        for index, project_id in enumerate(new):
            delay = self._interval * index / len(new) if spread else 0.0
            self._poller.watch(project_id, delay=delay)
        if new or self.polling - holding:
            log.info(
                "polling %d project(s); took %s, let go of %s",
                len(holding),
                new or "none",
                sorted(self.polling - holding, key=project_order) or "none",
            )
        self.polling = holding

    async def watch(self, project_id: str) -> None:
        """A `/eon watch` reached this replica: poll the project now, unless a live replica
        already does (then it polls it within an interval)."""
        if await self._store.take(POLL, [project_id], self.owner, self.lease_s):
            self.polling.add(project_id)
            self._poller.watch(project_id)

    async def unwatch(self, project_id: str) -> None:
        """No channel watches the project any more: stop polling it here (other replicas let
        go of it at their next tick)."""
        if not await self._store.all_subscriptions(project_id=project_id):
            self.polling.discard(project_id)
            self._poller.unwatch(project_id)
            await self._store.release(self.owner, POLL, [project_id])

    async def stop(self) -> None:
        """After polling and delivery stopped: hand everything over at once, not at expiry."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for kind in (POLL, DELIVER, REPLICA):
            try:
                await self._store.release(self.owner, kind)
            except Exception as error:  # the leases lapse by themselves
                log.warning("could not hand over the %s leases: %s", kind, one_line(str(error)))
        await self._store.leave()


class SqliteLock:
    """An exclusive lock on `<database>.lock`, held while `eon-bot run` runs: SQLite serves one
    process, and a second one would post what the first posts. The kernel drops the lock when
    the process ends, however it ends."""

    def __init__(self, database: Path) -> None:
        self.path = database.with_name(database.name + ".lock")
        self._fd: int | None = None

    def acquire(self) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 64).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise ConfigError(
                f"Another eon-bot (pid {holder}) already runs on the SQLite database "
                f"{self.path.with_suffix('')}: SQLite serves one process; stop that one, or use "
                "PostgreSQL (DATABASE_URL=postgresql://…) to run more than one."
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._fd = fd

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)

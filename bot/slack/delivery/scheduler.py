"""Which channel drains when: wakes, delivery leases, and when each channel may go next.

Each channel drains in its own task, so one slow or broken channel never delays the others,
and a channel has at most one drain at a time. Every `idle_s` the scheduler looks at every
subscription (rows another replica wrote, a channel out of its wait, a held card edit fallen
due); in between, a wake with a project looks only at that project's subscriptions, and a drain
that ends looks again at its own channel if news came meanwhile. So a poll's news costs a look
at a few rows, not at every subscription.

Replicas (`bot.service.fleet`): a channel is drained only by the replica holding its delivery lease,
taken before the drain and released after a clean one. On SQLite the process is the only one
(`owner` None): no lease.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Collection, Iterable
from typing import Protocol

from bot.conditions import Condition, Unexpected
from bot.fmt import one_line
from bot.store import DELIVER, LeaseLost, TeamChannel, database_away

log = logging.getLogger(__name__)

UNEXPECTED_ERROR_WAIT_S = 30.0  # before a channel whose drain failed unexpectedly goes again

Drain = Callable[[TeamChannel], Awaitable[bool]]
"""Drains one channel; True when it ended with all it owed done, False when it stopped."""


class SchedulerStore(Protocol):
    """The part of `bot.store.Store` the scheduler uses."""

    async def work(
        self,
        *,
        projects: Collection[str] | None = None,
        channels: Collection[TeamChannel] | None = None,
    ) -> dict[TeamChannel, bool]: ...
    async def take(
        self, kind: str, names: Iterable[str], owner: str, ttl_s: float
    ) -> list[str]: ...
    async def release(self, owner: str, kind: str, names: Iterable[str] | None = None) -> None: ...
    async def ring_due(self) -> int: ...


class ChannelScheduler:
    """Starts `drain(channel)` for each channel with work that may go now. `cards_due(channel)`:
    the loop time its held card edit falls due, for a channel that owes no row."""

    def __init__(
        self,
        *,
        store: SchedulerStore,
        drain: Drain,
        cards_due: Callable[[TeamChannel], float],
        idle_s: float,
        owner: str | None,
        lease_s: float,
        database: Condition | None = None,
        look: Callable[[], Awaitable[object]] | None = None,
    ) -> None:
        self._look = look  # what else is due at each look everywhere (the daily digests)
        self._store = store
        # The database's one condition (`bot.service.poller.database_condition`), shared with polls.
        self._database = database
        self._unexpected = Unexpected(log)
        self._drain = drain
        self._cards_due = cards_due
        self._idle_s = idle_s
        self._owner = owner
        self._lease_s = lease_s
        self._wake = asyncio.Event()
        self._look_everywhere = False
        self._news: set[str] = set()  # projects whose polls wrote news since the last look
        self._drained: set[TeamChannel] = set()  # channels to look at again, their drain over
        self._look_after: set[TeamChannel] = set()  # channels with news found while they drained
        self._workers: dict[TeamChannel, asyncio.Task[None]] = {}
        self._not_before: dict[TeamChannel, float] = {}
        self.stopping = False
        self.halted = False  # nothing is drained any more (`halt`)

    def wake(self, project_id: str | None = None) -> None:
        """Look for work now: the subscriptions to `project_id` (its poll wrote news), or
        every subscription (None)."""
        if project_id is None:
            self._look_everywhere = True
        else:
            self._news.add(project_id)
        self._wake.set()

    def hold(self, channel: TeamChannel, seconds: float) -> None:
        """The channel is not drained again for `seconds`."""
        self._not_before[channel] = asyncio.get_running_loop().time() + seconds

    def release(self, team_id: str) -> None:
        """The workspace's held channels may drain at once, and every channel is looked at."""
        for channel in [c for c in self._not_before if c.team_id == team_id]:
            del self._not_before[channel]
        self.wake()

    def halt(self) -> None:
        """No channel is drained any more (until the process restarts)."""
        self.halted = True

    async def run(self) -> None:
        """Until `stop()`: start a drain task for each channel with work."""
        loop = asyncio.get_running_loop()
        looked_everywhere = loop.time()
        while not self.stopping:
            with contextlib.suppress(TimeoutError):
                due = looked_everywhere + self._idle_s - loop.time()
                await asyncio.wait_for(self._wake.wait(), timeout=max(0.0, due))
            self._wake.clear()
            if self.stopping or self.halted:
                continue
            everywhere = self._look_everywhere or loop.time() - looked_everywhere >= self._idle_s
            if everywhere:
                looked_everywhere = loop.time()
            work = await self._work(everywhere)
            if work is None:
                continue
            for channel in await self._take(self._ready(work, loop.time())):
                self._workers[channel] = asyncio.create_task(self._run_drain(channel))

    async def _work(self, everywhere: bool) -> dict[TeamChannel, bool] | None:
        """Channels with work (and whether rows are owed): everywhere, or where news was."""
        projects, channels = self._news, self._drained
        self._news, self._drained, self._look_everywhere = set(), set(), False
        try:
            if everywhere:
                await self._store.ring_due()  # runs ended that people asked to hear of by DM
                if self._look is not None:
                    await self._look()
                found = await self._store.work()
            else:
                found = await self._store.work(projects=projects, channels=channels)
        except Exception as error:
            self._trouble("reading the outbox", error)
            self._look_everywhere = True  # what the wake was for is still to be found
            return None
        if self._database is not None:
            self._database.ok()
        return found

    def _trouble(self, doing: str, error: Exception, **extra: str) -> None:
        """Log a failure of delivery's own: once per database outage, or once per distinct
        unexpected error (`bot.conditions`), never a traceback per attempt."""
        if not database_away(error):
            self._unexpected(doing, error, **extra)
        elif self._database is not None:
            self._database.failed(doing, error)
        else:
            log.warning("%s failed: %s", doing, one_line(str(error), 200), extra=extra)

    @property
    def draining(self) -> int:
        """Channels this replica is draining now (each under its delivery lease)."""
        return sum(1 for task in self._workers.values() if not task.done())

    def _ready(self, work: dict[TeamChannel, bool], now: float) -> list[TeamChannel]:
        """The channels with work that may go now: not draining, not held, owing rows or a
        card edit fallen due."""
        busy = {channel for channel in work if self._draining(channel)}
        self._look_after |= busy  # its drain may have read its outbox before the news
        return [
            channel
            for channel, rows_owed in sorted(work.items())
            if channel not in busy
            and self._not_before.get(channel, 0.0) <= now
            and (rows_owed or self._cards_due(channel) <= now)
        ]

    def _draining(self, channel: TeamChannel) -> bool:
        worker = self._workers.get(channel)
        return worker is not None and not worker.done()

    async def _take(self, channels: list[TeamChannel]) -> list[TeamChannel]:
        """The channels this replica may drain now: those whose delivery lease it holds."""
        if self._owner is None or not channels:
            return channels
        by_lease = {channel.lease: channel for channel in channels}
        try:
            taken = await self._store.take(DELIVER, by_lease, self._owner, self._lease_s)
            return [by_lease[name] for name in taken if name in by_lease]
        except Exception as error:  # the database is away or busy: the next round tries again
            self._trouble("taking channels to deliver to", error)
            return []

    async def _run_drain(self, channel: TeamChannel) -> None:
        try:
            if not await self._drain(channel):
                return
            if self._owner is not None and not self.stopping:
                await self._store.release(self._owner, DELIVER, [channel.lease])
            if channel in self._look_after:  # news came while it drained: look again
                self._look_after.discard(channel)
                self._drained.add(channel)
                self._wake.set()
        except LeaseLost as lost:  # another replica drains the channel now
            log.info("not delivering to %s: %s", channel.channel_id, lost)
        except Exception as error:
            where = channel.channel_id
            self._trouble(f"delivery to channel {where}", error, channel=where)
            self.hold(channel, UNEXPECTED_ERROR_WAIT_S)

    async def stop(self, grace_s: float = 5.0) -> None:
        """Let in-flight drains finish (bounded); an interrupted post is looked up at restart."""
        self.stopping = True
        self._wake.set()
        pending = [task for task in self._workers.values() if not task.done()]
        if pending:
            _, late = await asyncio.wait(pending, timeout=grace_s)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)

    async def idle(self) -> bool:
        """True when nothing is left to deliver (for the demo and tests)."""
        return not await self._store.work() and all(task.done() for task in self._workers.values())

"""One APScheduler job per watched project: fetch, diff, store (one transaction), wake delivery.

Most polls find the document exactly as last time (every run that is over, and most seconds
of one that is not): its bytes' digest equals the last one stored, so it is not parsed,
diffed or written and delivery is not woken. Only the stall clock is looked at: a running
job's document that has not moved by its stall time (`bot.core.stall.stall_due`) goes the
whole way, which tells the stall.

The work is shared by four classes, one job each: `Poller` schedules the polls and runs each
one's course; `Reader` (`bot.service.reader`) reads a changed document in its thread; `Saver`
(`bot.service.saver`) stores what was read; `Failures` (`bot.service.failures`) keeps the
outage's books. What was stored last is kept per project (`Kept`), seeded from the store on the
first poll after a start or a `watch` (that first poll always writes, so a channel that just
started watching gets its run card; `bot.service.fleet` calls `watch` for every lease it takes,
which forgets what was kept). A failed poll forgets it all.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta
from typing import Any

from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.capacity import CAPACITY
from bot.conditions import Condition, Unexpected, database_condition
from bot.errors import EonBotError, TunerApiError, TunerAuthError, TunerUnavailable
from bot.metrics import Metrics, error_kind
from bot.service.failures import Failures
from bot.service.lanes import Lanes
from bot.service.names import ProjectNames
from bot.service.reader import Reader
from bot.service.saver import Kept, Readers, Saver, everyone
from bot.service.tiers import IDLE, TIERS, Tiers
from bot.store import LeaseLost, Store, database_away
from bot.tuner.activity import active_jobs
from bot.tuner.client import TunerClient
from bot.tuner.piecewise import body_digest
from bot.tuner.runs import refused

log = logging.getLogger(__name__)

# How much a process with more to poll than CPU gives to polling: `bot.capacity` (fetches and
# writes at once); slow projects hold a quarter of the fetches at most (`lanes`); reading uses
# at most half of the process's time (`reader`).
BEHIND_LOG_EVERY_S = 60.0  # "falling behind" is said at most this often


def _due(stored: Kept, now: datetime) -> bool:
    return stored.stall_due is not None and now >= stored.stall_due


class Poller:
    def __init__(
        self,
        *,
        store: Store,
        tuner: TunerClient,
        scheduler: AsyncIOScheduler,
        interval: float,
        outage_notice_after: float,
        stall_after: float = 1800.0,
        now: Callable[[], datetime],
        on_events: Callable[[str], None],
        owner: str | None = None,
        max_fetches: int = CAPACITY.fetches,
        max_writes: int = CAPACITY.writes,
        metrics: Metrics | None = None,
        database: Condition | None = None,
        names: ProjectNames | None = None,
        idle_full_read: float = 0.0,
        readers: Readers = everyone,
    ) -> None:
        """`idle_full_read`: `IDLE_FULL_READ` (`bot.service.tiers`); 0, every poll reads the
        whole state. `readers`: the workspaces told of a project (`KeyRing.readers`)."""
        self._names = names  # the projects' names in messages (`bot.service.names`)
        self._store = store
        self._tuner = tuner
        self._scheduler = scheduler
        self._interval = interval
        self._now = now
        self._in_flight: set[asyncio.Task[Any]] = set()
        self._stopping = False
        self.lanes = Lanes(max_fetches, interval=interval, log=log)
        self._writing = asyncio.Semaphore(max_writes)
        self._metrics = metrics if metrics is not None else Metrics()
        self._database = database if database is not None else database_condition(log)
        self._unexpected = Unexpected(log)
        self.stalled: set[str] = set()  # projects told stalled, not moved since
        self.unreachable: set[str] = set()  # projects whose channels were told of an outage
        self._behind_said_at: float | None = None
        self._stored: dict[str, Kept] = {}
        self._watched: set[str] = set()
        self._tiers = Tiers(full_read_every=idle_full_read, log=log)
        self._reader = Reader(tuner, now=now, stopped=store.stopped_from_slack)
        self._saver = Saver(
            store=store,
            kept=self._stored,
            now=now,
            stall_after=stall_after,
            on_events=on_events,
            owner=owner,
            stalled=self.stalled,
            unreachable=self.unreachable,
            readers=readers,
        )
        self._failures = Failures(
            store=store,
            kept=self._stored,
            notice_after=outage_notice_after,
            on_events=on_events,
            owner=owner,
            names=names,
            unreachable=self.unreachable,
            readers=readers,
        )

    @staticmethod
    def _job_id(project_id: str) -> str:
        return f"poll:{project_id}"

    def watch(self, project_id: str, *, delay: float = 0.0) -> None:
        """Poll `project_id` every interval, the first time after `delay` seconds; that first
        poll writes even an unchanged document (a new channel may be waiting for the card)."""
        log.info("watching project %s: a poll every %g s", project_id, self._interval)
        self._stored.pop(project_id, None)
        self._tiers.forget(project_id)
        self._watched.add(project_id)
        self._scheduler.add_job(
            self.poll,
            "interval",
            seconds=self._interval,
            args=[project_id],
            id=self._job_id(project_id),
            replace_existing=True,
            max_instances=1,
            coalesce=True,
            misfire_grace_time=None,
            next_run_time=self._now() + timedelta(seconds=delay),
        )

    async def check(self, project_id: str) -> str | None:
        """A reason to give up watching a new project (Edge Impulse's one-line answer), or
        None. An outage is no reason: polls keep trying and tell the channel if it lasts."""
        try:
            body = await self._tuner.fetch(project_id)
            await self._reader.whole(project_id, body)
        except TunerUnavailable:
            return None
        except TunerAuthError as error:
            return (
                f"Edge Impulse refused the key for project {project_id} (HTTP {error.status}); "
                f"an admin can add one with /eon key {project_id}"
            )
        except TunerApiError as error:
            return error.detail
        return None

    def renamed(self, project_id: str) -> None:
        """The project's name changed (`names`): the next poll writes, so cards show it."""
        self._stored.pop(project_id, None)

    def unwatch(self, project_id: str) -> None:
        with contextlib.suppress(JobLookupError):  # not watched: nothing to do
            self._scheduler.remove_job(self._job_id(project_id))
        self._stored.pop(project_id, None)
        self._tiers.forget(project_id, refusal=True)
        self._watched.discard(project_id)
        self.lanes.forget(project_id)
        self.stalled.discard(project_id)
        self.unreachable.discard(project_id)

    async def poll(self, project_id: str) -> None:
        """One poll. Never raises: one failing project must not stop the others."""
        task = asyncio.current_task()
        if task is not None:
            self._in_flight.add(task)
        started = time.perf_counter()
        outcome, kind = "failed", "cancelled"
        try:
            outcome, kind = await self._poll(project_id)
            if outcome != "unchanged":  # the database answered
                self._database.ok()
        except asyncio.CancelledError:
            if not self._stopping:
                raise
            # cut short by stop() after its grace: its save is one transaction, committed
            # whole or not at all, and the next start polls again
            log.info("poll of project %s cut short by the stop", project_id)
        except LeaseLost as lost:  # this replica stalled past its lease; another polls now
            log.info("not polling project %s any more: %s", project_id, lost)
            self.unwatch(project_id)
            kind = "lease_lost"
        except Exception as error:
            if database_away(error):
                kind = "database"
                self._database.failed(f"storing a poll of project {project_id}", error)
            else:
                kind = "unexpected"
                self._unexpected(f"poll of project {project_id}", error, project=project_id)
        finally:
            self._in_flight.discard(task)
            self._metrics.polls.labels(outcome, kind).inc()
            self._metrics.poll_seconds.observe(time.perf_counter() - started)

    async def stop(self, grace_s: float) -> None:
        """No new polls; the ones under way may finish (bounded). One cut short loses nothing:
        its transaction never committed, and the next start polls again."""
        if self._scheduler.running:
            self._scheduler.pause()
        self._stopping = True
        if self._in_flight:
            await asyncio.wait(set(self._in_flight), timeout=grace_s)
        late = set(self._in_flight)  # a fetch in its retry backoff, say
        for task in late:
            task.cancel()
        if late:
            await asyncio.wait(late)
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)
        if self._names is not None:
            await self._names.stop()
        self._reader.shutdown()

    async def _poll(self, project_id: str) -> tuple[str, str]:
        """The poll's outcome and, when it failed, the error's kind (for the metrics)."""
        asked_at = self._now()  # an outage starts when the poll began, before its retries
        stored = self._stored.get(project_id)
        jobs: frozenset[str] | None = None  # the idle tier's active jobs (`tiers`)
        refusal: TunerApiError | None = None
        try:
            # Not known yet (`stored` None): the jobs first too, to compare the next poll with.
            if self._tiers.tier(project_id, stored is not None and stored.running) == IDLE:
                async with self.lanes.fetch(project_id):
                    jobs, refusal = await self._active_jobs(project_id)
                quiet = jobs is not None and self._tiers.quiet(project_id, jobs, asked_at)
                if stored is not None and quiet:
                    self._failures.ok(project_id)
                    return "idle", ""
            async with self.lanes.fetch(project_id):
                body = await self._tuner.fetch(project_id)
        except EonBotError as error:  # Edge Impulse failed, or the key is missing
            async with self._writing:
                await self._failures.failed(project_id, error, asked_at)
            return "failed", error_kind(error)
        if refusal is not None:  # the jobs list only: the state was read
            self._tiers.refused(project_id, refusal)
        self._tiers.read(project_id, jobs, asked_at)
        self._metrics.ei_bytes.inc(len(body))
        digest = body_digest(body)
        stored = self._stored.get(project_id)
        if stored is not None and stored.digest == digest and not _due(stored, asked_at):
            self._failures.ok(project_id)
            return "unchanged", ""
        name = await self._names.name(project_id) if self._names else None
        async with self._turn(self._writing):
            failure = await self._changed(project_id, body, digest, stored, asked_at, name)
        return ("failed", error_kind(failure)) if failure is not None else ("ok", "")

    async def _active_jobs(
        self, project_id: str
    ) -> tuple[frozenset[str] | None, TunerApiError | None]:
        """The project's active jobs, or Edge Impulse's refusal of the list (`runs.refused`);
        anything that may pass is raised, and the poll fails as a failed state read does."""
        try:
            return await active_jobs(self._tuner, project_id), None
        except TunerApiError as error:
            if not refused(error):
                raise
            return None, error

    def tiers(self) -> dict[str, int]:
        """How many of the projects polled here are in each tier (`bot.service.tiers`)."""
        counts = dict.fromkeys(TIERS, 0)
        for project_id in self._watched:
            stored = self._stored.get(project_id)
            counts[self._tiers.tier(project_id, stored.running if stored else None)] += 1
        return counts

    @contextlib.asynccontextmanager
    async def _turn(self, slots: asyncio.Semaphore) -> AsyncIterator[None]:
        """One of `slots` (to read and store a changed document), once free. A poll that
        waited over half an interval for it means the process has more to poll than it keeps
        up with: said once a minute at most. (Fetches wait in `bot.service.lanes`.)"""
        loop = asyncio.get_running_loop()
        queued = loop.time()
        async with slots:
            now = loop.time()
            said = self._behind_said_at
            late = now - queued > self._interval / 2
            if late and (said is None or now - said >= BEHIND_LOG_EVERY_S):
                self._behind_said_at = now
                log.warning(
                    "polls are falling behind: one waited %.1f s for its turn to store what "
                    "changed (POLL_INTERVAL is %g s); this process has more projects than it "
                    "keeps up with: add a replica or raise POLL_INTERVAL",
                    now - queued,
                    self._interval,
                )
            yield

    async def _changed(
        self,
        project_id: str,
        body: bytes,
        digest: str,
        stored: Kept | None,
        asked_at: datetime,
        name: str | None = None,
    ) -> EonBotError | None:
        """Read and store a changed document; the error if it is not a state. `name`: the
        project's, for its messages (`bot.service.names`)."""
        kept: str | None
        if stored is not None:
            kept, outage = stored.snapshot, stored.outage
        else:
            kept, outage = await self._store.stored_project(project_id)
        try:
            snapshot, read = await self._reader.news(project_id, body, digest, kept)
        except EonBotError as error:  # an answer that is not a state
            await self._failures.failed(project_id, error, asked_at, outage)
            return error
        await self._saver.save(project_id, read, snapshot, outage, digest, kept, name)
        self._failures.ok(project_id)
        return None

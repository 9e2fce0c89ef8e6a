"""One APScheduler job per watched project: fetch, diff, store (one transaction), wake delivery."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.core.diff import diff, started_event
from bot.core.outage import after_failure, after_success
from bot.core.stall import progress_digest, watch_progress
from bot.errors import EonBotError, TunerApiError, TunerUnavailable
from bot.store import Store
from bot.tuner.client import TunerClient

log = logging.getLogger(__name__)


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
        on_events: Callable[[], None],
    ) -> None:
        self._store = store
        self._tuner = tuner
        self._scheduler = scheduler
        self._interval = interval
        self._notice_after = outage_notice_after
        self._stall_after = stall_after
        self._now = now
        self._on_events = on_events
        self._in_flight: set[asyncio.Task[Any]] = set()

    @staticmethod
    def _job_id(project_id: str) -> str:
        return f"poll:{project_id}"

    async def restore(self) -> list[str]:
        """Rebuild the jobs from the store at start; returns the watched projects."""
        projects = await self._store.watched_projects()
        for index, project_id in enumerate(projects):
            # Spread the first polls over one interval, so a restart does not burst.
            self.watch(project_id, delay=self._interval * index / max(1, len(projects)))
        return projects

    def watch(self, project_id: str, *, delay: float = 0.0) -> None:
        """Poll `project_id` every interval, the first time after `delay` seconds."""
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

    async def start_watching(self, project_id: str) -> None:
        """A channel began watching: poll now, then every interval."""
        self.watch(project_id)

    async def stop_watching(self, project_id: str) -> None:
        """A channel stopped watching: drop the job unless another channel still watches."""
        if not await self._store.subscriptions(project_id=project_id):
            self.unwatch(project_id)

    async def check(self, project_id: str) -> str | None:
        """A reason to give up watching a new project (Edge Impulse's one-line answer), or
        None. An outage is no reason: polls keep trying and tell the channel if it lasts."""
        try:
            await self._tuner.get_state(project_id)
        except TunerUnavailable:
            return None
        except TunerApiError as error:
            return error.detail
        return None

    def unwatch(self, project_id: str) -> None:
        with contextlib.suppress(JobLookupError):  # not watched: nothing to do
            self._scheduler.remove_job(self._job_id(project_id))
        self._tuner.forget(project_id)

    async def poll(self, project_id: str) -> None:
        """One poll. Never raises: one failing project must not stop the others."""
        task = asyncio.current_task()
        if task is not None:
            self._in_flight.add(task)
        try:
            await self._poll(project_id)
        except Exception:
            log.exception("poll of project %s failed", project_id)
        finally:
            self._in_flight.discard(task)

    async def stop(self, grace_s: float) -> None:
        """No new polls; the ones under way may finish (bounded). One cut short loses nothing:
        its transaction never committed, and the next start polls again."""
        if self._scheduler.running:
            self._scheduler.pause()
        if self._in_flight:
            await asyncio.wait(set(self._in_flight), timeout=grace_s)
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)

    async def _poll(self, project_id: str) -> None:
        snapshot, outage = await self._store.load_project(project_id)
        asked_at = self._now()  # an outage starts when the poll began, before its retries
        try:
            state = await self._tuner.get_state(project_id)
        except EonBotError as error:  # Edge Impulse failed, or the key is missing
            step = after_failure(
                project_id, outage, error, now=asked_at, notice_after=self._notice_after
            )
            if outage.last_error != step.outage.last_error:  # log a failure once, not every poll
                log.warning("%s", error)
            await self._store.save_poll(
                project_id, snapshot=None, events=step.events, outage=step.outage
            )
        else:
            recovered = after_success(project_id, outage)
            now = self._now()
            events, fresh = diff(snapshot, state, project_id=project_id, now=now)
            stalls, fresh = watch_progress(
                fresh, progress_digest(state), now=now, stall_after=self._stall_after
            )
            await self._store.save_poll(
                project_id,
                snapshot=fresh,
                events=[*recovered.events, *events, *stalls],
                outage=recovered.outage,
                start_event=started_event(fresh),
            )
        self._on_events()  # new rows, or a card to edit

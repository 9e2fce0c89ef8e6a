"""The simulator's active jobs: `GET /v1/api/{projectId}/jobs` (the official client's
`JobsApi.list_active_jobs`, a `ListJobsResponse`), `{"success":true,"jobs":[],"totalJobCount":0}`
when nothing runs.

Listed: a run's coordinator job from the run's start to its end (or its cancel), a "use this
trial" job until it is done (`simulator.jobs`), and the unrelated jobs a test or
`eon-bot simulate --side-job` starts (`SideJobs`: a training job that is no tuner run). A project
can refuse the route (`refuse`: a 404, as an older deployment would), for the bot's fallback.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final

from aiohttp import web

from bot.sandbox.simulator.jobs import JobBook
from bot.sandbox.simulator.simulation import Simulation

JOBS_ROUTE: Final = "jobs"
Render = Callable[[Simulation, float], bytes | None]
Respond = Callable[[web.Request, Render, str], Awaitable[web.StreamResponse]]


def _iso(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def job_entry(job_id: int, category: str, category_key: str, created: datetime) -> dict[str, Any]:
    """One active `Job` (the official model's required fields, and `started`)."""
    return {
        "id": job_id, "category": category, "categoryKey": category_key,
        "key": f"{category_key}-{job_id}", "created": _iso(created), "started": _iso(created),
        "jobNotificationUids": [],
    }  # fmt: skip


@dataclass(slots=True)
class SideJobs:
    """Unrelated jobs (a training job, say) started on projects, by tests or `--side-job`, and
    projects whose jobs list is refused."""

    always: bool = False  # `--side-job`: every project runs one from its first request on
    running: dict[str, dict[int, datetime]] = field(default_factory=dict)
    refused: set[str] = field(default_factory=set)
    _always_started: set[str] = field(default_factory=set)
    _next: int = 80_000_000

    def start(self, project_id: str, when: datetime | None = None) -> int:
        """Start an unrelated job on the project; its id."""
        self._next += 1
        self.running.setdefault(project_id, {})[self._next] = when or datetime(2025, 3, 3, 9)
        return self._next

    def finish(self, project_id: str, job_id: int) -> None:
        self.running.get(project_id, {}).pop(job_id, None)

    def refuse(self, project_id: str, refused: bool = True) -> None:
        """The project's jobs list answers 404 (or, `refused=False`, is served again)."""
        (self.refused.add if refused else self.refused.discard)(project_id)

    def of(self, project_id: str, epoch: datetime) -> list[dict[str, Any]]:
        if self.always and project_id not in self._always_started:
            self._always_started.add(project_id)
            self.start(project_id, epoch)
        jobs = self.running.get(project_id, {})
        return [job_entry(i, "Training model", "learn-train", c) for i, c in jobs.items()]


def jobs_document(
    simulation: Simulation, t: float, book: JobBook, side: SideJobs
) -> dict[str, Any]:
    """The `ListJobsResponse` at simulated second `t`."""
    key = simulation.project_id
    stopped = book.project(key).stopped_at
    listed = []
    for run in simulation.runs:
        end = run.end if stopped is None else min(run.end, stopped)
        if run.start <= t < end:
            created = simulation.epoch + timedelta(seconds=run.start)
            listed.append(job_entry(run.coordinator_job_id, "EON Tuner", "optimize", created))
    for use in book.project(key).uses.values():
        if book.clock() < use.done_at:
            listed.append(
                job_entry(use.job_id, "Set primary job", "tuner-primary", simulation.epoch)
            )
    listed += side.of(key, simulation.epoch)
    return {"success": True, "jobs": listed, "totalJobCount": len(listed)}


def add_jobs_route(
    router: web.UrlDispatcher, book: JobBook, side: SideJobs, *, respond: Respond
) -> None:
    """Register the route; `respond(request, render, route)` serves a body (or a queued fault)."""

    async def jobs(request: web.Request) -> web.StreamResponse:
        def render(simulation: Simulation, t: float) -> bytes | None:
            if simulation.project_id in side.refused:
                return None  # a 404
            document = jobs_document(simulation, t, book, side)
            return json.dumps(document, separators=(",", ":")).encode()

        return await respond(request, render, JOBS_ROUTE)

    router.add_get("/v1/api/{projectId}/jobs", jobs)

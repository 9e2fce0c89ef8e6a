"""The project's active jobs: `GET /api/{projectId}/jobs` (the official client's
`JobsApi.list_active_jobs`, a `ListJobsResponse`), 44 bytes when nothing runs.

The poller reads it instead of the whole tuner state while no run is going
(`bot.service.tiers`): a tuner run's coordinator is an ordinary project job, so a run that
starts changes the set of active job ids. Which job is the tuner's is not told by the list
(its `categoryKey` is undocumented), so only the ids are kept; the state says the rest.
"""

from __future__ import annotations

from bot.tuner.client import TunerClient
from bot.tuner.models import _Model

JOBS_PATH = "jobs"


class ActiveJob(_Model):
    """One job of the list (the official `Job`, ids as strings); only its id is read."""

    id: str
    category: str | None = None
    finished: str | None = None


class ListJobsResponse(_Model):
    success: bool
    error: str | None = None
    jobs: list[ActiveJob]
    total_job_count: int | None = None


async def active_jobs(tuner: TunerClient, project_id: str) -> frozenset[str]:
    """The ids of the project's active jobs; a `TunerApiError` when they cannot be had
    (`bot.tuner.runs.refused` tells a refusal, for good, from what may pass)."""
    answer = await tuner.fetch_answer(project_id, JOBS_PATH, ListJobsResponse, "the jobs list")
    return frozenset(job.id for job in answer.jobs if job.finished is None)

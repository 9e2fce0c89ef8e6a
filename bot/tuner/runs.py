"""Reads of a project's earlier tuner runs: the runs list and one run's own state.

Edge Impulse keeps each run readable after a later one started (paths and shapes of the
official client's `OptimizationApi`):

- `GET /api/{projectId}/optimize/runs` (`list_tuner_runs`): a `ListTunerRunsResponse`, each
  `TunerRun` with `tunerJobId`, `tunerCoordinatorJobId`, `index`, `created`, `jobStatus` and
  `continuationJobId`;
- `GET /api/{projectId}/optimize/{tunerCoordinatorJobId}/state` (`get_tuner_run_state`): the
  run's own `OptimizeStateResponse`, read like the project's state (`TunerClient.read`).

The poller asks for these only when the run in the state is not the run its snapshot holds
(`bot.core.handover`), so once per new run, never per poll.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import Executor

from bot.core.handover import Earlier, RunIds, Wanted, to_close
from bot.core.run_name import numbered
from bot.errors import (
    NotEdgeImpulse,
    TunerApiError,
    TunerAuthError,
    TunerNotFound,
    TunerReportedError,
    TunerUnavailable,
)
from bot.fmt import one_line
from bot.tuner.client import TunerClient, whole_state
from bot.tuner.models import OptimizeStateResponse, _Model

log = logging.getLogger(__name__)


class TunerRun(_Model):
    """One entry of the runs list (the official `TunerRun`; ids as strings, like the state's)."""

    tuner_job_id: str
    tuner_coordinator_job_id: str
    index: int | None = None
    name: str | None = None
    created: str | None = None
    job_status: str | None = None
    continuation_job_id: str | None = None


class ListTunerRunsResponse(_Model):
    success: bool
    error: str | None = None
    runs: list[TunerRun]


def run_state_path(coordinator_job_id: str) -> str:
    """The run's state under `/api/{projectId}/`; the id must be a number (it goes in a URL)."""
    if not coordinator_job_id.isascii() or not coordinator_job_id.isdigit():
        raise ValueError(f"not a job id: {one_line(coordinator_job_id, 32)!r}")
    return f"optimize/{coordinator_job_id}/state"


async def fetch_run_state(tuner: TunerClient, project_id: str, coordinator_job_id: str) -> bytes:
    """The body of the run's own state, unread (`TunerClient.read` it like a state)."""
    return await tuner.fetch(project_id, run_state_path(coordinator_job_id))


async def list_runs(tuner: TunerClient, project_id: str) -> list[TunerRun]:
    """The project's runs, oldest first (by `index`, then `created`: the list's own order is
    not relied on); a `TunerApiError` when they cannot be had."""
    answer = await tuner.fetch_answer(
        project_id, "optimize/runs", ListTunerRunsResponse, "the runs list"
    )
    return sorted(answer.runs, key=_order)


def refused(error: TunerApiError) -> bool:
    """Whether Edge Impulse answered that a read cannot be had (a 404, a refusal, its own
    `success: false`, no such route), so the run is closed with what was seen. Anything else
    (an outage, a garbled answer) may pass: the poll fails and the next one asks again."""
    if isinstance(error, TunerReportedError | NotEdgeImpulse | TunerNotFound | TunerAuthError):
        return True
    return error.status is not None and 400 <= error.status < 500 and error.status != 429


def as_earlier(state: OptimizeStateResponse, run: TunerRun | None) -> OptimizeStateResponse:
    """An earlier run's own state, named as the runs list names it when its configuration
    gives no name (`core.run_name`), without its `nextRunIndex`: that counts the project's
    runs, so it does not number this one."""
    config = state.config
    if config is not None and not (config.name or "").strip() and run is not None:
        config = config.model_copy(update={"name": run.name or numbered(run.index)})
    return state.model_copy(update={"config": config, "next_run_index": None})


def _order(run: TunerRun) -> tuple[bool, int, str]:
    return run.index is None, run.index or 0, run.created or ""


async def read_earlier(
    tuner: TunerClient, project_id: str, wanted: Wanted, reader: Executor
) -> list[Earlier]:
    """The runs to close (`bot.core.handover.to_close`, from the runs list, or without it when
    it is refused or not understood), each with its own state read in `reader` (the poller's
    thread), or None when Edge Impulse refuses it (`refused`). An outage, or a garbled state,
    is raised: the poll fails and the next one asks again, rather than close a run unseen."""
    listed: dict[str, TunerRun] = {}
    runs: list[RunIds] | None
    try:
        listed = {run.tuner_coordinator_job_id: run for run in await list_runs(tuner, project_id)}
        runs = [(run.tuner_coordinator_job_id, run.tuner_job_id) for run in listed.values()]
    except TunerUnavailable:
        raise
    except TunerApiError as error:  # refused or not understood: the list is only a help
        log.info("project %s: no runs list (%s); closing the last run seen only", project_id, error)
        runs = None
    loop = asyncio.get_running_loop()
    found: list[Earlier] = []
    for coordinator in to_close(wanted.previous, wanted.current, runs):
        state: OptimizeStateResponse | None = None
        try:
            body = await fetch_run_state(tuner, project_id, coordinator)
            state = await loop.run_in_executor(reader, tuner.read, project_id, body, whole_state)
            state = as_earlier(state, listed.get(coordinator))
        except TunerApiError as error:
            if not refused(error):
                raise
            log.info("project %s: run %s cannot be read (%s)", project_id, coordinator, error)
        except ValueError:  # an id that is not a number: no URL to read it at
            pass
        found.append(Earlier(coordinator, state))
    return found

"""The simulator's reads of a project's runs, in the official client's shapes
(`edgeimpulse_api` `OptimizationApi`):

- `GET /v1/api/{projectId}/optimize/runs` (`list_tuner_runs`, a `ListTunerRunsResponse`): every
  run started so far, newest first, each with its `jobStatus` and `continuationJobId`;
- `GET /v1/api/{projectId}/optimize/{tunerCoordinatorJobId}/state` (`get_tuner_run_state`, an
  `OptimizeStateResponse`): that run's own state, held at its end once it ended; a run not
  started yet, or another id, is a 404.

A project configured with `runs_readable=False` answers both with a 404, as a deployment
without these reads would. Faults queued for the project are served here too.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from aiohttp import web

from bot.sandbox.simulator.simulation import RunInfo, Simulation

Render = Callable[[Simulation, float], bytes | None]
Respond = Callable[[web.Request, Render], Awaitable[web.StreamResponse]]


def _job_status(simulation: Simulation, run: RunInfo, t: float) -> str:
    """The run's job as `JobStatus` names it."""
    if t < run.ready:
        return "creating"
    if t < run.end:
        return "running"
    return "failed" if simulation.runs[-1] is run and simulation.job_error else "success"


def runs_document(simulation: Simulation, t: float) -> dict[str, Any]:
    """The `ListTunerRunsResponse` at simulated second `t`."""
    listed = []
    for run in reversed(simulation.runs):
        if t < run.start:
            continue
        created = simulation.epoch + timedelta(seconds=run.start)
        entry: dict[str, Any] = {
            "tunerJobId": run.tuner_job_id,
            "tunerCoordinatorJobId": run.coordinator_job_id,
            "index": run.index,
            "name": f"EON Tuner run {run.index + 1}",
            "created": created.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
            "jobStatus": _job_status(simulation, run, t),
            "visible": True,
        }
        if run.continuation_job_id is not None:
            entry["continuationJobId"] = run.continuation_job_id
        listed.append(entry)
    return {"success": True, "runs": listed}


def run_state_bytes(simulation: Simulation, coordinator_job_id: str, t: float) -> bytes | None:
    """The run's own state at `t` (its last document once it ended), or None: no such run yet."""
    for run in simulation.runs:
        if str(run.coordinator_job_id) == coordinator_job_id and t >= run.start:
            return simulation.document_bytes(min(t, run.end))
    return None


def add_run_routes(router: web.UrlDispatcher, *, respond: Respond) -> None:
    """Register both routes; `respond(request, render)` serves a body (or a queued fault)."""

    async def runs(request: web.Request) -> web.StreamResponse:
        return await respond(
            request, lambda simulation, t: json.dumps(runs_document(simulation, t)).encode()
        )

    async def run_state(request: web.Request) -> web.StreamResponse:
        coordinator = request.match_info["tunerCoordinatorJobId"]
        return await respond(
            request, lambda simulation, t: run_state_bytes(simulation, coordinator, t)
        )

    router.add_get("/v1/api/{projectId}/optimize/runs", runs)
    router.add_get("/v1/api/{projectId}/optimize/{tunerCoordinatorJobId}/state", run_state)

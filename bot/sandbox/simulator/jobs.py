"""The simulator's job routes: acting on a run as Edge Impulse's `JobsApi` does.

    POST /v1/api/{projectId}/jobs/{jobId}/cancel                       the run ends now
    POST /v1/api/{projectId}/jobs/optimize?extendedFromJobId={jobId}   the search is extended
    POST /v1/api/{projectId}/jobs/set-tuner-primary-job?trialId={id}   the trial becomes the impulse
    GET  /v1/api/{projectId}/jobs/{jobId}/status                       a job's `GetJobResponse`

Stopping freezes the run at that simulated second: running trials fail, pending ones are
dropped, `tunerJobIsRunning` false and `status` "completed". Extending switches the project to
the simulation with its extended search and moves its clock to the moment that search starts
(so the extension's new coordinator job is the id returned). Using a trial starts a job that
finishes `use_job_s` wall seconds later; from then on the trial carries
`impulseAddedToProject`. Every request is kept in `JobBook.requests`, so tests can count what
reached "Edge Impulse".
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from aiohttp import web

if TYPE_CHECKING:
    from bot.sandbox.simulator.server import SimController

STUDIO: Final = "https://studio.edgeimpulse.com/studio"
_JSON: Final = {"Content-Type": "application/json; charset=utf-8"}


@dataclass(frozen=True, slots=True)
class JobRequest:
    method: str
    path: str
    query: tuple[tuple[str, str], ...]
    body: bytes


@dataclass(slots=True)
class _Use:
    job_id: int
    done_at: float  # wall clock (`clock()`)
    impulse_id: int


@dataclass(slots=True)
class _Project:
    stopped_at: float | None = None  # simulated second the run was cancelled
    uses: dict[str, _Use] = field(default_factory=dict)  # by trial id


class JobBook:
    """What was done to each simulated project through the job routes."""

    def __init__(
        self, controller: SimController, *, use_job_s: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:  # fmt: skip
        self.controller = controller
        self.use_job_s = use_job_s
        self.clock = clock
        self.requests: list[JobRequest] = []
        self.delay_s = 0.0  # how long a POST waits before it is done and answered (a slow EI)
        self._projects: dict[str, _Project] = {}
        self._next_job = 70_000_000

    def project(self, key: str) -> _Project:
        return self._projects.setdefault(key, _Project())

    def requests_to(self, action: str) -> list[JobRequest]:
        """The POSTs whose path ends with `action`: cancel, optimize, set-tuner-primary-job."""
        return [r for r in self.requests if r.method == "POST" and r.path.endswith(action)]

    def _job_id(self) -> int:
        self._next_job += 1
        return self._next_job

    def rewrite(self, key: str, t: float, body: bytes) -> bytes:
        """The document at `t` with what was done to the project applied (unchanged bytes when
        nothing was)."""
        project = self._projects.get(key)
        if project is None or (project.stopped_at is None and not project.uses):
            return body
        if project.stopped_at is not None:
            body = self.controller.simulation(key).document_bytes(project.stopped_at)
        document = json.loads(body)
        if project.stopped_at is not None:
            _stop(document)
        now = self.clock()
        for trial in document.get("trials", []):
            use = project.uses.get(str(trial.get("id")))
            if use is not None and now >= use.done_at:
                link = f"{STUDIO}/{key}/impulse/{use.impulse_id}"
                trial["impulseAddedToProject"] = {"impulseId": use.impulse_id, "link": link}
        return json.dumps(document, separators=(",", ":")).encode()

    def cancel(self, key: str, job_id: str) -> web.Response:
        simulation = self.controller.simulation(key)
        t = self.controller.now(key)
        run = next((r for r in reversed(simulation.runs) if r.start <= t), None)
        ids = {str(r.coordinator_job_id) for r in simulation.runs} | {
            str(r.tuner_job_id) for r in simulation.runs
        }
        if job_id not in ids:
            return _answer({"success": False, "error": f"Unknown job ID {job_id}"})
        project = self.project(key)
        if run is not None and t < run.end and project.stopped_at is None:
            project.stopped_at = t
        return _answer({"success": True})

    def extend(self, key: str, from_job: str | None) -> web.Response:
        if from_job is None:
            return _answer({"success": False, "error": "Only extending a search is simulated"})
        first = self.controller.simulation(key).runs[0]
        if from_job != str(first.coordinator_job_id):
            return _answer({"success": False, "error": f"Unknown job ID {from_job}"})
        if self.project(key).stopped_at is not None:
            return _answer({"success": False, "error": "This run was cancelled"})
        simulation = self.controller.simulation(key)
        if not simulation.extend:
            simulation = self.controller.configure(
                key,
                seed=simulation.seed,
                trials=simulation.trials,
                extend=True,
                job_error=simulation.job_error,
            )
        if len(simulation.runs) < 2:
            return _answer({"success": False, "error": "This search cannot be extended"})
        extension = simulation.runs[1]
        t = self.controller.now(key)
        if t < extension.start:
            self.controller.set_time(key, extension.start, frozen=self.controller.is_frozen(key))
        return _answer({"success": True, "id": extension.coordinator_job_id})

    def use(self, key: str, trial_id: str | None) -> web.Response:
        simulation = self.controller.simulation(key)
        trials = simulation.document(self.controller.now(key)).get("trials", [])
        trial = next((x for x in trials if x.get("id") == trial_id), None)
        if trial is None or trial.get("status") != "completed":
            return _answer({"success": False, "error": f"No completed trial {trial_id}"})
        project = self.project(key)
        job = self._job_id()
        project.uses[str(trial_id)] = _Use(job, self.clock() + self.use_job_s, self._job_id())
        return _answer({"success": True, "id": job})

    def status(self, key: str, job_id: str) -> web.Response:
        found = self._job_state(key, job_id)
        if found is None:
            return _answer({"success": False, "error": f"Unknown job ID {job_id}"})
        finished, ok = found
        job: dict[str, Any] = {
            "id": int(job_id), "category": "EON Tuner", "categoryKey": "optimize",
            "key": f"job-{job_id}", "created": "2025-03-03T09:00:00.000Z",
            "jobNotificationUids": [],
        }  # fmt: skip
        if finished:
            job["finished"] = "2025-03-03T10:00:00.000Z"
            job["finishedSuccessful"] = ok
        return _answer({"success": True, "job": job})

    def _job_state(self, key: str, job_id: str) -> tuple[bool, bool] | None:
        """(finished, successful) of a job this project knows, or None."""
        project = self.project(key)
        for use in project.uses.values():
            if str(use.job_id) == job_id:
                return self.clock() >= use.done_at, True
        t = self.controller.now(key)
        for run in self.controller.simulation(key).runs:
            if job_id in (str(run.coordinator_job_id), str(run.tuner_job_id)):
                if project.stopped_at is not None:
                    return True, False
                return t >= run.end, run.job_error is None
        return None


def _stop(document: dict[str, Any]) -> None:
    """A cancelled run: nothing runs any more, nothing waits."""
    kept = []
    for trial in document.get("trials", []):
        if trial.get("status") == "pending":
            continue
        if trial.get("status") == "running":
            trial["status"] = "failed"
        kept.append(trial)
    document["trials"] = kept
    document["tunerJobIsRunning"] = False
    document["workers"] = []
    document["canExtendSearch"] = False
    status = document.setdefault("status", {})
    status.update(
        status="completed", numPendingTrials=0, numRunningTrials=0, numReadyWorkers=0,
        numBusyWorkers=0, numPendingWorkers=0,
        numCompletedTrials=sum(t.get("status") == "completed" for t in kept),
        numFailedTrials=sum(t.get("status") == "failed" for t in kept),
    )  # fmt: skip


def _answer(document: dict[str, Any]) -> web.Response:
    return web.Response(body=json.dumps(document).encode(), headers=_JSON)


JOBS_KEY: Final = web.AppKey("eon_simulator_jobs", JobBook)


def register(app: web.Application, controller: SimController, **options: Any) -> JobBook:
    """Add the job routes to the simulator's app; the book also rewrites its documents."""
    book = JobBook(controller, **options)
    app[JOBS_KEY] = book
    controller.rewrite = book.rewrite

    async def handle(request: web.Request) -> web.Response:
        from bot.sandbox.simulator.server import project_key

        key = project_key(request.match_info["projectId"])
        if key is None:
            raise web.HTTPNotFound(reason="Project not found")
        body = await request.read()
        book.requests.append(
            JobRequest(request.method, request.path, tuple(request.query.items()), body)
        )
        job_id = request.match_info.get("jobId")
        route = request.match_info.get("route")
        if request.method == "POST" and book.delay_s > 0:
            await asyncio.sleep(book.delay_s)
        if request.method == "GET" and job_id is not None:
            return book.status(key, job_id)
        if job_id is not None:
            return book.cancel(key, job_id)
        if route == "optimize":
            return book.extend(key, request.query.get("extendedFromJobId"))
        return book.use(key, request.query.get("trialId"))

    base = "/v1/api/{projectId}/jobs"
    app.router.add_post(base + r"/{jobId:\d+}/cancel", handle)
    app.router.add_get(base + r"/{jobId:\d+}/status", handle)
    app.router.add_post(base + "/{route:optimize|set-tuner-primary-job}", handle)
    return book

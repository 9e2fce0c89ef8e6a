"""The EON Tuner simulator: an HTTP server that answers like Edge Impulse's tuner state API.

`GET /v1/api/{projectId}/optimize/state` serves, for any positive numeric project id, the
document of that project's own `Simulation` (see `.simulation` for the timeline);
`GET /v1/api/{projectId}` its project info, with its name (`.projects`);
`GET /v1/api/{projectId}/jobs` its active jobs (`.active`). A
project's simulated clock starts at its first request: `t = (clock() - first) * speed`, so
every project watched in a demo starts from the beginning of a run. Timestamps in the documents
count from a fixed date (reproducible bytes), or with `live_timestamps` from the wall-clock time
the project was first asked for, so that "running for 12 minutes" reads right in a live demo
(`eon-bot simulate` uses that; at speed > 1 later timestamps run ahead of the wall clock).

Errors look like Edge Impulse's: JSON `{"success": false, "error": ...}` with 401 for a
missing or wrong `x-api-key` (when a key is required; checked before anything else, and never
echoed), 404 for a project id that is not a positive number and for unknown routes under `/v1`.
Outside `/v1` it answers as a web site does (Studio's pages live there): an HTML 404 page, which
is what an `EI_API_URL` without `/v1` gets.

Tests drive it through the `SimController` at `app[SIM_KEY]` (also `SimulatorServer.controller`):
`inject(project_id, *faults)` queues responses to serve instead of the next documents (errors,
bad bodies, slow answers, dropped connections), `set_time(project_id, t)` freezes or moves a
project's simulated clock, `configure(...)` picks other run options for one project,
`side_jobs` starts unrelated jobs or refuses a project's jobs list, `reads(project_id, route)`
counts requests by route. With `gzip`, answers are compressed for a client that accepts it.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from aiohttp import web

from bot.errors import ConfigError
from bot.sandbox.server import LocalServer
from bot.sandbox.simulator import jobs
from bot.sandbox.simulator.active import JOBS_ROUTE, SideJobs, add_jobs_route
from bot.sandbox.simulator.faults import JSON_HEADERS, Fault, error_body
from bot.sandbox.simulator.keys import PROJECT_KEYS
from bot.sandbox.simulator.keys import install as install_keys
from bot.sandbox.simulator.projects import install as install_project_info
from bot.sandbox.simulator.runs import Render, add_run_routes
from bot.sandbox.simulator.simulation import Simulation
from bot.stopping import Stopping

__all__ = [
    "SIM_KEY",
    "Fault",
    "SimController",
    "Simulation",
    "SimulatorServer",
    "make_app",
    "serve",
]

log = logging.getLogger(__name__)


@dataclass(slots=True)
class _Project:
    simulation: Simulation
    base: float = 0.0  # simulated second at `anchor`
    anchor: float | None = None  # clock() when `base` was set; None: not started yet
    frozen: bool = False
    faults: deque[Fault] = field(default_factory=deque)
    requests: int = 0  # of the state and the runs (not of the jobs list)
    reads: Counter[str] = field(default_factory=Counter)  # by route: state, runs, jobs
    runs_readable: bool = True


@dataclass(frozen=True, slots=True)
class Stall:
    """A run that stops moving: `at_s` seconds of wall time after its clock started, every
    project's simulated clock holds for `hold_s` seconds of wall time, then runs on (for
    trying stall notices by hand). Both count the watcher's seconds, the clock `STALL_AFTER`
    counts, whatever the simulator's speed."""

    at_s: float
    hold_s: float

    def apply(self, start: float, t: float, speed: float) -> float:
        """The simulated second `t` becomes once the hold is taken out (clocks that started
        past the hold's moment never hold)."""
        at = self.at_s * speed
        if start >= at or t <= at:
            return t
        return at + max(0.0, t - at - self.hold_s * speed)


def project_key(project_id: str | int) -> str | None:
    """The canonical project id ("007" -> "7"), or None unless it is a positive number."""
    text = str(project_id)
    if not text.isascii() or not text.isdigit() or int(text) <= 0:
        return None
    return str(int(text))


class SimController:
    """The simulated projects of one server: their runs, clocks and queued faults."""

    def __init__(
        self,
        *,
        seed: int = 1,
        speed: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        trials: int = 24,
        live_timestamps: bool = False,
        stall: Stall | None = None,
        gzip: bool = False,
    ) -> None:
        self.seed, self.speed, self.clock, self.trials = seed, speed, clock, trials
        self.live_timestamps = live_timestamps
        self.stall = stall
        self.gzip = gzip
        self.side_jobs = SideJobs()
        self._projects: dict[str, _Project] = {}
        # What the job routes did to a document (`simulator.jobs`): (project, t, bytes) -> bytes.
        self.rewrite: Callable[[str, float, bytes], bytes] | None = None

    def _simulation(self, key: str, **options: Any) -> Simulation:
        if self.live_timestamps:
            options["epoch"] = datetime.now(UTC).replace(microsecond=0)
        return Simulation(key, **options)

    def _project(self, project_id: str | int) -> _Project:
        key = project_key(project_id)
        if key is None:
            raise ValueError(f"not a project id: {project_id!r}")
        if key not in self._projects:
            self._projects[key] = _Project(
                self._simulation(key, seed=self.seed, trials=self.trials)
            )
        return self._projects[key]

    def simulation(self, project_id: str | int) -> Simulation:
        return self._project(project_id).simulation

    def configure(
        self,
        project_id: str | int,
        *,
        seed: int | None = None,
        trials: int | None = None,
        extend: bool = True,
        job_error: bool = False,
        lists_earlier: bool = True,
        runs_readable: bool = True,
    ) -> Simulation:
        """Give one project other run options (its clock and queued faults are kept);
        `runs_readable=False`: its runs list and each run's own state answer 404."""
        project = self._project(project_id)
        project.simulation = self._simulation(
            project.simulation.project_id,
            seed=self.seed if seed is None else seed,
            trials=self.trials if trials is None else trials,
            extend=extend,
            job_error=job_error,
            lists_earlier=lists_earlier,
        )
        project.runs_readable = runs_readable
        return project.simulation

    def now(self, project_id: str | int) -> float:
        """The project's simulated second, starting its clock if this is the first look."""
        project = self._project(project_id)
        if project.anchor is None:
            project.anchor = self.clock()
        if project.frozen:
            return project.base
        t = project.base + (self.clock() - project.anchor) * self.speed
        return self.stall.apply(project.base, t, self.speed) if self.stall else t

    def started(self) -> list[str]:
        """The projects whose clock has started (asked for at least once)."""
        return [key for key, project in self._projects.items() if project.anchor is not None]

    def set_time(self, project_id: str | int, t: float, *, frozen: bool = True) -> None:
        """Put the project at simulated second `t`, held there or (frozen=False) running on."""
        project = self._project(project_id)
        project.base, project.anchor, project.frozen = t, self.clock(), frozen

    def is_frozen(self, project_id: str | int) -> bool:
        return self._project(project_id).frozen

    def inject(self, project_id: str | int, *faults: Fault) -> None:
        """Serve these, in order, to the project's next requests instead of its document."""
        self._project(project_id).faults.extend(faults)

    def pending_faults(self, project_id: str | int) -> int:
        return len(self._project(project_id).faults)

    def requests(self, project_id: str | int) -> int:
        """How many state and runs requests the project has had (faulted ones included)."""
        key = project_key(project_id)
        return self._projects[key].requests if key in self._projects else 0

    def reads(self, project_id: str | int, route: str = "state") -> int:
        """How many requests of `route` ("state", "runs", "jobs") the project has had."""
        key = project_key(project_id)
        return self._projects[key].reads[route] if key in self._projects else 0

    async def respond(
        self, project_id: str, render: Render | None = None, route: str | None = None
    ) -> web.StreamResponse | None:
        """The answer to one request (`render` makes its body, by default the state; its None,
        or a runs read of a project whose runs are not readable, is a 404); None means: drop
        the connection. Faults are served to any route. `route`: what it counts as."""
        project = self._project(project_id)
        route = route or ("state" if render is None else "runs")
        project.reads[route] += 1
        if route != JOBS_ROUTE:
            project.requests += 1
        self.now(project_id)  # a faulted first request starts the clock all the same
        fault = project.faults.popleft() if project.faults else None
        if fault is not None:
            if fault.delay > 0:
                await asyncio.sleep(fault.delay)
            if fault.drop:
                return None
            if fault.status is not None:
                return web.Response(
                    status=fault.status, body=fault.body, headers=dict(fault.headers)
                )
        t = self.now(project_id)
        if render is None:
            body: bytes | None = project.simulation.document_bytes(t)
            if self.rewrite is not None and body is not None:
                body = self.rewrite(project.simulation.project_id, t, body)
        elif route == JOBS_ROUTE or project.runs_readable:
            body = render(project.simulation, t)
        else:
            body = None
        if body is None:
            return _json_error(404, "Tuner run not found" if route != JOBS_ROUTE else "Not found")
        response = web.Response(body=body, headers=dict(JSON_HEADERS))
        if self.gzip:
            response.enable_compression()  # if the request accepts it
        return response


SIM_KEY: Final = web.AppKey("eon_simulator", SimController)
_API_KEY: Final = web.AppKey("eon_simulator_api_key", str)


_NOT_THE_API_PAGE: Final = "<!doctype html><title>Page not found</title><h1>Page not found</h1>"


def _json_error(status: int, message: str) -> web.Response:
    return web.Response(status=status, body=error_body(message), headers=dict(JSON_HEADERS))


_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def _edge(request: web.Request, handler: _Handler) -> web.StreamResponse:
    """The key first (as Edge Impulse's gateway does), then JSON for every HTTP error."""
    if not request.path.startswith("/v1/"):
        return web.Response(status=404, text=_NOT_THE_API_PAGE, content_type="text/html")
    expected = request.app.get(_API_KEY)
    project_keys = request.app[PROJECT_KEYS]
    if expected is not None or project_keys:
        given = request.headers.get("x-api-key")
        if not given:
            return _json_error(401, "Missing API key: send it in the x-api-key header")
        universal = expected is not None and hmac.compare_digest(given.encode(), expected.encode())
        project = project_key(request.match_info.get("projectId", ""))
        if not universal and not project_keys.opens(given, project):
            return _json_error(401, "Invalid API key")
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return _json_error(exc.status, exc.reason)


async def _state(request: web.Request) -> web.StreamResponse:
    return await _answer(request, None)


async def _answer(
    request: web.Request, render: Render | None, route: str | None = None
) -> web.StreamResponse:
    key = project_key(request.match_info["projectId"])
    if key is None:
        return _json_error(404, "Project not found: the id must be a positive number")
    controller = request.app[SIM_KEY]
    routed = {"route": route} if route is not None else {}  # wrappers that time the state
    response = await controller.respond(key, render, **routed)
    if response is None:  # drop the connection: the client sees it closed, with no answer
        if request.transport is not None:
            request.transport.abort()
        return web.Response(status=499)  # written nowhere: the transport is gone
    return response


def make_app(
    *,
    api_key: str | None = None,
    seed: int = 1,
    speed: float = 1.0,
    clock: Callable[[], float] = time.monotonic,
    trials: int = 24,
    live_timestamps: bool = False,
    stall: Stall | None = None,
    gzip: bool = False,
) -> web.Application:
    """The simulator as an aiohttp application (for `aiohttp_client` or `SimulatorServer`)."""
    app = web.Application(middlewares=[_edge])
    app[SIM_KEY] = SimController(
        seed=seed,
        speed=speed,
        clock=clock,
        trials=trials,
        live_timestamps=live_timestamps,
        stall=stall,
        gzip=gzip,
    )
    if api_key is not None:
        app[_API_KEY] = api_key
    app.router.add_get("/v1/api/{projectId}/optimize/state", _state)
    book = jobs.register(app, app[SIM_KEY])
    add_jobs_route(app.router, book, app[SIM_KEY].side_jobs, respond=_answer)
    install_keys(app)  # per-project keys and api-key-info
    install_project_info(app, project_key)  # the project's name
    add_run_routes(app.router, respond=_answer)
    return app


class SimulatorServer(LocalServer):
    """The simulator on a local port; `url` is what `EI_API_URL` should be set to."""

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, **options: Any) -> None:
        """`options`: `make_app`'s (the key, seed, speed, clock, trials, stall, gzip, …)."""
        super().__init__(host=host, port=port)
        self.app = make_app(**options)
        self.controller = self.app[SIM_KEY]

    def make_app(self) -> web.Application:
        return self.app

    @property
    def url(self) -> str:
        """The API base, `http://HOST:PORT/v1`."""
        return f"{super().url}/v1"


async def serve(
    host: str,
    port: int,
    *,
    api_key: str | None,
    seed: int,
    speed: float,
    stall: Stall | None = None,
    side_job: bool = False,
) -> int:
    """`eon-bot simulate`: serve until SIGINT or SIGTERM (Ctrl-C: exit 130, as every command).
    A port that cannot be had is one line (exit 2). Answers are compressed, as Edge Impulse's;
    `side_job`: every project runs an unrelated job (`.active`)."""
    with Stopping() as stopping:  # before the port opens, so whoever sees it up can stop it
        server = SimulatorServer(
            host=host,
            port=port,
            api_key=api_key,
            seed=seed,
            speed=speed,
            live_timestamps=True,
            stall=stall,
            gzip=True,
        )
        server.controller.side_jobs.always = side_job
        try:
            await server.start()
        except OSError as error:
            raise ConfigError(
                f"cannot listen on {host}:{port}: {error.strerror or error}; choose another --port"
            ) from None
        try:
            log.info(
                "EON Tuner simulator at %s (set EI_API_URL to it); speed %gx, seed %d, %s",
                server.url, speed, seed, "x-api-key required" if api_key else "any x-api-key",
            )  # fmt: skip
            await stopping.event.wait()
        finally:
            await server.stop()
    log.info("EON Tuner simulator stopped")
    stopping.end()
    return 0

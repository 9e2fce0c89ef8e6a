"""The calls that act on a run, checked against the official `edgeimpulse_api` client: each is
built with its `JobsApi` and with `bot.tuner.jobs`, both pointed at one local server that
records requests, and the two requests must be the same (method, path, query, body, key).
Then the simulator's answers to them, and the errors a user is shown."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
from aiohttp import web
from edgeimpulse_api import ApiClient, Configuration, JobsApi, SetTunerPrimaryJobRequest
from pydantic import SecretStr

from bot.errors import TunerReportedError, TunerUnavailable, TunerWriteRefused
from bot.sandbox.server import LocalServer
from bot.sandbox.simulator.jobs import JOBS_KEY
from bot.sandbox.simulator.server import SimulatorServer
from bot.tuner.jobs import JobStatus, TunerJobs, action_call, run_job_id

KEY = "ei_SECRET-jobs-key-7c0ffee123"


@dataclass(frozen=True)
class Seen:
    method: str
    path: str
    query: tuple[tuple[str, str], ...]
    body: Any
    key: str | None


class Recorder(LocalServer):
    """Answers every request like a successful job start, and keeps what it was asked."""

    def __init__(self, status: int = 200, answer: dict[str, Any] | None = None) -> None:
        super().__init__()
        self.seen: list[Seen] = []
        self.status = status
        self.answer = answer or {"success": True, "id": 4242}

    def make_app(self) -> web.Application:
        async def record(request: web.Request) -> web.Response:
            raw = await request.read()
            self.seen.append(
                Seen(
                    request.method,
                    request.path,
                    tuple(sorted(parse_qsl(urlsplit(str(request.url)).query))),
                    json.loads(raw) if raw else None,
                    request.headers.get("x-api-key"),
                )
            )
            return web.json_response(self.answer, status=self.status)

        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", record)
        return app


@pytest.fixture
async def recorder() -> AsyncIterator[Recorder]:
    async with Recorder() as server:
        yield server


def official(base: str) -> JobsApi:
    config = Configuration(host=base, api_key={"ApiKeyAuthentication": KEY})
    return JobsApi(ApiClient(config))


def bot_jobs(base: str, key: str | None = KEY) -> TunerJobs:
    return TunerJobs(
        httpx.AsyncHTTPTransport(),
        base_url=base,
        api_key_for=lambda _: SecretStr(key) if key else None,
    )


CASES: list[tuple[str, Callable[[JobsApi], Any], str, str, str | None]] = [
    ("stop", lambda api: api.cancel_job(12345, 777), "stop", "777", None),
    (
        "extend",
        lambda api: api.optimize_job(12345, extended_from_job_id=778),
        "extend",
        "778",
        None,
    ),
    (
        "use",
        lambda api: api.set_tuner_primary_job(12345, "trial-7f a", SetTunerPrimaryJobRequest()),
        "use",
        "trial-7f a",
        None,
    ),
    (
        "use named",
        lambda api: api.set_tuner_primary_job(
            12345, "t1", SetTunerPrimaryJobRequest(name="kws v2")
        ),
        "use",
        "t1",
        "kws v2",
    ),
]


@pytest.mark.parametrize(("case", "with_official", "action", "target", "name"), CASES)
async def test_each_action_sends_what_the_official_client_sends(
    recorder: Recorder,
    case: str,
    with_official: Callable[[JobsApi], Any],
    action: Any,
    target: str,
    name: str | None,
) -> None:
    await asyncio.to_thread(with_official, official(recorder.url))
    await bot_jobs(recorder.url).act(action, "12345", target, name)
    theirs, ours = recorder.seen
    assert ours == theirs
    assert ours.key == KEY


async def test_the_job_status_is_read_where_the_official_client_reads_it(
    recorder: Recorder,
) -> None:
    recorder.answer = {
        "success": True,
        "job": {
            "id": 5, "category": "EON Tuner", "categoryKey": "optimize", "key": "k",
            "created": "2025-01-01T00:00:00Z", "finished": "2025-01-01T01:00:00Z",
            "finishedSuccessful": False, "jobNotificationUids": [],
        },
    }  # fmt: skip
    theirs_read = await asyncio.to_thread(official(recorder.url).get_job_status, 12345, 5)
    ours_read = await bot_jobs(recorder.url).status("12345", "5")
    assert ours_read == JobStatus(True, False)
    assert (theirs_read.job.finished is not None, theirs_read.job.finished_successful) == (
        ours_read.finished,
        ours_read.ok,
    )
    theirs, ours = recorder.seen
    assert ours == theirs


def test_the_run_is_acted_on_through_its_coordinator_job() -> None:
    assert run_job_id("900", "901") == "900"
    assert run_job_id(None, "901") == "901"


@pytest.mark.parametrize("bad", ["12/../1", "x", "", "1 2"])
def test_a_job_id_that_is_not_a_number_never_reaches_a_url(bad: str) -> None:
    with pytest.raises(ValueError, match="whole number"):
        action_call("stop", "1", bad)


@pytest.mark.parametrize("status", [401, 403])
async def test_a_read_only_key_is_told_with_its_fix_and_never_shown(status: int) -> None:
    async with Recorder(status, {"success": False, "error": f"key {KEY} is read-only"}) as server:
        with pytest.raises(TunerWriteRefused) as caught:
            await bot_jobs(server.url).act("stop", "12345", "9")
    message = str(caught.value)
    assert "/eon key 12345" in message and "read-only" in message
    assert KEY not in message and KEY not in repr(caught.value)


async def test_success_false_is_an_error_quoting_edge_impulse_without_the_key() -> None:
    async with Recorder(200, {"success": False, "error": f"Unknown job ID 9 ({KEY})"}) as server:
        with pytest.raises(TunerReportedError, match="Unknown job ID 9") as caught:
            await bot_jobs(server.url).act("stop", "12345", "9")
    assert KEY not in str(caught.value)


async def test_no_answer_is_an_unknown_outcome() -> None:
    jobs = bot_jobs("http://127.0.0.1:9/v1")  # the discard port: nothing listens
    with pytest.raises(TunerUnavailable, match="connection failed: ConnectError") as caught:
        await jobs.act("extend", "12345", "9")
    assert KEY not in str(caught.value)  # worded as every tuner call is (`bot.tuner.failures`)


# --- the simulator's side of the same calls --------------------------------------------------


@pytest.fixture
async def sim() -> AsyncIterator[SimulatorServer]:
    async with SimulatorServer(api_key=KEY) as server:
        server.app[JOBS_KEY].use_job_s = 0.0
        yield server


async def state(sim: SimulatorServer, project: str = "5") -> dict[str, Any]:
    async with httpx.AsyncClient() as http:
        url = f"{sim.url}/api/{project}/optimize/state"
        answer: dict[str, Any] = (await http.get(url, headers={"x-api-key": KEY})).json()
        return answer


async def test_the_simulator_stops_a_run_for_good(sim: SimulatorServer) -> None:
    controller = sim.controller
    simulation = controller.simulation("5")
    first = simulation.runs[0]
    controller.set_time("5", first.first_start + 200)
    await bot_jobs(sim.url).act("stop", "5", str(first.coordinator_job_id))
    controller.set_time("5", simulation.duration)  # long after: the run stays stopped
    doc = await state(sim)
    assert doc["tunerJobIsRunning"] is False and doc["status"]["status"] == "completed"
    assert doc["tunerCoordinatorJobId"] == first.coordinator_job_id  # no extension followed
    assert {t["status"] for t in doc["trials"]} <= {"completed", "failed"}
    assert len(sim.app[JOBS_KEY].requests_to("cancel")) == 1


async def test_the_simulator_extends_a_search_with_a_continuation_run(
    sim: SimulatorServer,
) -> None:
    controller = sim.controller
    simulation = controller.configure("5", extend=False)
    first = simulation.runs[0]
    assert first.time_limit_at is not None
    controller.set_time("5", first.end + 1)
    assert (await state(sim))["canExtendSearch"] is True
    jobs = bot_jobs(sim.url)
    job = await jobs.act("extend", "5", str(first.coordinator_job_id))
    doc = await state(sim)
    assert job == str(doc["tunerCoordinatorJobId"]) != str(first.coordinator_job_id)
    assert doc["continuationJobId"] == first.coordinator_job_id
    assert job is not None and await jobs.status("5", job) == JobStatus(False)


async def test_the_simulator_uses_a_trial_as_the_impulse(sim: SimulatorServer) -> None:
    controller = sim.controller
    controller.set_time("5", controller.simulation("5").duration)
    trial = next(t for t in (await state(sim))["trials"] if t["status"] == "completed")
    jobs = bot_jobs(sim.url)
    job = await jobs.act("use", "5", trial["id"])
    assert job is not None and await jobs.status("5", job) == JobStatus(True, True)
    used = next(t for t in (await state(sim))["trials"] if t["id"] == trial["id"])
    assert used["impulseAddedToProject"]["link"].startswith("https://studio.edgeimpulse.com/")

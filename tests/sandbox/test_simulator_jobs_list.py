"""The simulator's active jobs list, read by the official `edgeimpulse_api` client
(`JobsApi.list_active_jobs`: its path and auth) and validated by its `ListJobsResponse` model:
empty (44 bytes) when nothing runs, the coordinator job while a run runs, an unrelated job
when one is started, a 404 when the project refuses the route; read by the bot's own reader."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from edgeimpulse_api import ApiClient, Configuration, JobsApi
from edgeimpulse_api.exceptions import ApiException
from edgeimpulse_api.models.list_jobs_response import ListJobsResponse
from pydantic import SecretStr

from bot.errors import TunerNotFound
from bot.sandbox.simulator.server import SimulatorServer
from bot.tuner.activity import active_jobs
from bot.tuner.client import TunerClient, default_transport
from bot.tuner.runs import refused

KEY = "ei_jobs_list_key"
PROJECT = 3


def official_list(base_url: str) -> Any:
    config = Configuration(host=base_url)
    config.api_key["ApiKeyAuthentication"] = KEY
    with ApiClient(config) as client:
        return JobsApi(client).list_active_jobs(PROJECT)


async def raw_list(http: httpx.AsyncClient, server: SimulatorServer) -> bytes:
    response = await http.get(f"{server.url}/api/{PROJECT}/jobs", headers={"x-api-key": KEY})
    response.raise_for_status()
    return response.content


async def test_the_jobs_list_follows_the_runs_in_the_official_shape() -> None:
    async with SimulatorServer(api_key=KEY, trials=12) as server, httpx.AsyncClient() as http:
        controller = server.controller
        first, extension = controller.simulation(PROJECT).runs
        seen: dict[str, list[int]] = {}
        for name, t in (
            ("running", first.first_start + 1),
            ("between", first.end + 1),
            ("extension", extension.start + 1),
            ("over", extension.end + 1),
        ):
            controller.set_time(PROJECT, t)
            body = await raw_list(http, server)
            strict = ListJobsResponse.parse_raw(body)  # validates every required field
            official = await asyncio.to_thread(official_list, server.url)
            assert [job.id for job in official.jobs] == [job.id for job in strict.jobs]
            assert official.success is True and official.total_job_count == len(official.jobs)
            seen[name] = [job.id for job in official.jobs]
            if not official.jobs:
                assert body == b'{"success":true,"jobs":[],"totalJobCount":0}' and len(body) == 44
        assert seen == {
            "running": [first.coordinator_job_id],
            "between": [],
            "extension": [extension.coordinator_job_id],
            "over": [],
        }


async def test_an_unrelated_job_is_listed_until_it_finishes() -> None:
    async with SimulatorServer(api_key=KEY, trials=12) as server, httpx.AsyncClient() as http:
        controller = server.controller
        controller.set_time(PROJECT, controller.simulation(PROJECT).duration)
        job = controller.side_jobs.start(str(PROJECT))
        [listed] = ListJobsResponse.parse_raw(await raw_list(http, server)).jobs
        assert (listed.id, listed.category_key) == (job, "learn-train")
        controller.side_jobs.finish(str(PROJECT), job)
        assert ListJobsResponse.parse_raw(await raw_list(http, server)).jobs == []
        controller.side_jobs.always = True  # `eon-bot simulate --side-job`
        assert len(ListJobsResponse.parse_raw(await raw_list(http, server)).jobs) == 1


async def test_a_refused_list_is_a_404_to_the_official_client_and_to_the_bot() -> None:
    transport = default_transport()
    async with SimulatorServer(api_key=KEY, trials=12) as server:
        controller = server.controller
        controller.set_time(PROJECT, controller.simulation(PROJECT).duration)
        controller.side_jobs.refuse(str(PROJECT))
        try:
            with pytest.raises(ApiException) as official:
                await asyncio.to_thread(official_list, server.url)
            assert official.value.status == 404
            tuner = TunerClient(
                transport, base_url=server.url, api_key_for=lambda _: SecretStr(KEY)
            )
            with pytest.raises(TunerNotFound) as ours:
                await active_jobs(tuner, str(PROJECT))
            assert refused(ours.value)
            controller.side_jobs.refuse(str(PROJECT), refused=False)
            assert await active_jobs(tuner, str(PROJECT)) == frozenset()
        finally:
            await transport.aclose()
        assert controller.reads(PROJECT, "jobs") == 3
        assert controller.requests(PROJECT) == 0, "the jobs list is not a state read"

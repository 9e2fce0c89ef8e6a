"""The simulator's project keys and api-key-info, read by the official `edgeimpulse_api`
client (its path, its auth header, its response model), and what a project key opens."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from edgeimpulse_api import ApiClient, Configuration, ProjectsApi
from edgeimpulse_api.exceptions import ApiException

from bot.sandbox.simulator.keys import PROJECT_KEYS
from bot.sandbox.simulator.server import SimulatorServer

KEY_7, KEY_8 = "ei_" + "7" * 64, "ei_" + "8" * 64


def official_key_info(base_url: str, key: str) -> object:
    config = Configuration(host=base_url)
    config.api_key["ApiKeyAuthentication"] = key
    with ApiClient(config) as client:
        return ProjectsApi(client).get_current_api_key_info()


async def test_api_key_info_answers_in_the_official_shape() -> None:
    async with SimulatorServer(api_key="ei_universal") as server:
        server.app[PROJECT_KEYS].add(KEY_7, 7, role="readonly")
        info = await asyncio.to_thread(official_key_info, server.url, KEY_7)
        assert info.success is True  # type: ignore[attr-defined]
        assert info.project_id == 7  # type: ignore[attr-defined]
        assert info.role == "readonly"  # type: ignore[attr-defined]
        with pytest.raises(ApiException) as refused:
            await asyncio.to_thread(official_key_info, server.url, "ei_nobody")
        assert refused.value.status == 401


@pytest.mark.parametrize(
    ("key", "project", "status"),
    [(KEY_7, 7, 200), (KEY_7, 8, 401), (KEY_8, 8, 200), ("ei_universal", 8, 200), ("x", 7, 401)],
)
async def test_a_project_key_opens_only_its_project(key: str, project: int, status: int) -> None:
    async with SimulatorServer(api_key="ei_universal") as server, httpx.AsyncClient() as http:
        server.app[PROJECT_KEYS].add(KEY_7, 7)
        server.app[PROJECT_KEYS].add(KEY_8, 8)
        url = f"{server.url}/api/{project}/optimize/state"
        response = await http.get(url, headers={"x-api-key": key})
        assert response.status_code == status

"""Projects' names (`bot.service.names`) asked of the simulator over real HTTP: once per
project, not per poll; again after a day or when the key changes; a refusal keeps "project N", said
once. The simulator's project info is checked against the official client's model."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import edgeimpulse_api
import pytest
from pydantic import SecretStr

from bot.sandbox.simulator.projects import PROJECT_INFO, ProjectInfos
from bot.sandbox.simulator.server import SimulatorServer
from bot.service.names import ProjectNames
from bot.store import Store
from bot.tuner.client import TunerClient, default_transport
from bot.tuner.project_info import fetch_project_name

T0 = datetime(2025, 1, 2, tzinfo=UTC)


@dataclass
class World:
    names: ProjectNames
    infos: ProjectInfos
    store: Store
    clock: list[datetime]
    keys: dict[str, str]
    renamed: list[str]


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    async with SimulatorServer() as simulator, default_transport() as transport:
        keys = {"1": "k1", "2": "k2"}
        tuner = TunerClient(
            transport, base_url=simulator.url, api_key_for=lambda p: SecretStr(keys[p]), attempts=1
        )
        store = await Store.open(f"sqlite:///{tmp_path / 'names.db'}")
        clock = [T0]
        renamed: list[str] = []
        names = ProjectNames(store=store, tuner=tuner, now=lambda: clock[0], first_wait_s=30.0)
        names.on_renamed = renamed.append
        try:
            yield World(names, simulator.app[PROJECT_INFO], store, clock, keys, renamed)
        finally:
            await names.stop()
            await store.close()


async def test_the_project_info_is_the_official_shape(world: World) -> None:
    async with SimulatorServer() as simulator, default_transport() as transport:
        tuner = TunerClient(transport, base_url=simulator.url, api_key_for=lambda _: SecretStr("k"))
        body = await tuner.fetch("3", "")
        official = edgeimpulse_api.ProjectInfoResponse.parse_raw(body)  # validates
        assert edgeimpulse_api.ProjectInfoResponse.from_json(body.decode()).project.name == (
            official.project.name
        )
        assert official.project.id == 3
        assert await fetch_project_name(tuner, "3") == official.project.name
        assert official.project.name == "Machine vibration anomalies"


async def test_a_name_is_asked_once_then_daily_or_when_the_key_changes(world: World) -> None:
    assert await world.names.name("1") == "Keyword spotting"  # the first poll waits for it
    for _ in range(5):
        assert await world.names.name("1") == "Keyword spotting"
    assert world.infos.requests["1"] == 1  # not one request per poll
    assert await world.store.project_name("1") == ("Keyword spotting", T0)

    world.infos.names["1"] = "Wake word"
    world.clock[0] = T0 + timedelta(hours=23)
    await world.names.name("1")
    assert world.infos.requests["1"] == 1
    world.clock[0] = T0 + timedelta(days=1)
    await world.names.name("1")  # the refresh runs in the background: wait for its answer
    await _settled(world.names)
    assert world.infos.requests["1"] == 2
    # told at the first answer (a card drawn before it gets the name) and at the new name
    assert await world.names.name("1") == "Wake word" and world.renamed == ["1", "1"]

    world.keys["1"] = "another-key"
    await world.names.name("1")
    await _settled(world.names)
    assert world.infos.requests["1"] == 3


async def test_a_refused_name_keeps_project_n_and_is_said_once(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    world.infos.refused.add("2")
    with caplog.at_level(logging.INFO, logger="bot.service.names"):
        for _ in range(4):
            assert await world.names.name("2") is None
    assert world.infos.requests["2"] == 1  # a refusal is an answer: asked again in a day
    said = [r for r in caplog.records if "project info" in r.getMessage()]
    assert len(said) == 1, [r.getMessage() for r in said]
    assert "k2" not in caplog.text
    _, asked_at = await world.store.project_name("2")
    assert asked_at == T0  # another process does not ask again either


async def _settled(names: ProjectNames) -> None:
    """Wait for the questions under way (a condition, not a sleep)."""
    tasks = list(names._asking.values())
    if tasks:
        await asyncio.wait(tasks, timeout=30)

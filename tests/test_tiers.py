"""The poller's two tiers against the simulator over HTTP and a real store: a project where
nothing runs is polled by its active jobs list and its state read only when the set of jobs
changes (or every `IDLE_FULL_READ`); a run that starts is seen at the next poll; a refused
jobs list falls back to whole reads, said once; every request is counted by route and status."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from prometheus_client import generate_latest
from pydantic import SecretStr

from bot.metrics import Metrics
from bot.sandbox.simulator.faults import Fault
from bot.sandbox.simulator.server import SimController, SimulatorServer
from bot.service.edges import tuner_client
from bot.service.poller import Poller
from bot.service.tiers import full_read_after
from bot.settings import Settings
from bot.store import Store
from bot.tuner.client import default_transport

T = ""  # the workspace of the rows these tests write (single mode: adopted at start)

PROJECT = "7"
KEY = "ei_tiers_key_0123456789"
FULL_READ_S = 1800.0


@dataclass
class Clock:
    at: datetime = datetime(2025, 3, 3, 12, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.at


@dataclass
class Rig:
    poller: Poller
    controller: SimController
    store: Store
    clock: Clock
    metrics: Metrics

    def reads(self, route: str = "state") -> int:
        return self.controller.reads(PROJECT, route)

    async def polls(self, count: int = 1) -> None:
        for _ in range(count):
            await self.poller.poll(PROJECT)

    def counted(self, name: str, **labels: str) -> float:
        value = self.metrics.registry.get_sample_value(name, labels)
        return value or 0.0


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    store = await Store.open(f"sqlite:///{tmp_path / 'bot.db'}")
    await store.subscribe(T, "C1", PROJECT, added_by="U1")
    transport = default_transport()
    metrics = Metrics()
    clock = Clock()
    async with SimulatorServer(api_key=KEY, trials=12, gzip=True) as simulator:
        settings = Settings.given(ei_api_url=simulator.url, ei_api_key=KEY)
        tuner = tuner_client(settings, transport, lambda _: SecretStr(KEY), metrics)
        poller = Poller(
            store=store,
            tuner=tuner,
            scheduler=AsyncIOScheduler(timezone=UTC),
            interval=10,
            outage_notice_after=300,
            now=clock,
            on_events=lambda _project: None,
            metrics=metrics,
            idle_full_read=FULL_READ_S,
        )
        simulation = simulator.controller.simulation(PROJECT)
        simulator.controller.set_time(PROJECT, simulation.runs[0].end + 5)  # between the runs
        poller.watch(PROJECT)
        try:
            yield Rig(poller, simulator.controller, store, clock, metrics)
        finally:
            await poller.stop(grace_s=0.1)
            await transport.aclose()
            await store.close()


async def test_an_idle_project_reads_its_state_once_then_only_its_jobs(rig: Rig) -> None:
    await rig.polls()
    assert (rig.reads("jobs"), rig.reads("state")) == (1, 1)  # the jobs first, to compare with
    await rig.polls(5)
    assert (rig.reads("jobs"), rig.reads("state")) == (6, 1)
    assert rig.counted("eonbot_polls_total", outcome="idle", error="") == 5
    assert rig.poller.tiers() == {"running": 0, "idle": 1, "full_reads": 0}


async def test_a_run_that_starts_is_read_at_once_and_polled_whole_while_it_runs(rig: Rig) -> None:
    await rig.polls(3)
    extension = rig.controller.simulation(PROJECT).runs[1]
    rig.controller.set_time(PROJECT, extension.first_start + 1)
    await rig.polls()
    assert rig.reads("state") == 2, "the new job in the list: the state read in the same poll"
    snapshot = await rig.store.snapshot(PROJECT)
    assert snapshot is not None and snapshot.coordinator_job_id == str(extension.coordinator_job_id)
    assert rig.poller.tiers()["running"] == 1
    jobs = rig.reads("jobs")
    await rig.polls(3)
    assert (rig.reads("jobs"), rig.reads("state")) == (jobs, 5), "running: the state only"
    rig.controller.set_time(PROJECT, extension.end + 1)
    await rig.polls(2)  # the end (running tier), then the jobs list gone empty: read once more
    assert rig.poller.tiers()["idle"] == 1
    state = rig.reads("state")
    await rig.polls(3)
    assert rig.reads("state") == state


async def test_an_unrelated_job_is_read_once_and_remembered(rig: Rig) -> None:
    await rig.polls(2)
    job = rig.controller.side_jobs.start(PROJECT)
    await rig.polls()
    assert rig.reads("state") == 2
    await rig.polls(4)
    assert rig.reads("state") == 2, "no state read while the set of jobs stands"
    rig.controller.side_jobs.finish(PROJECT, job)
    await rig.polls(3)
    assert rig.reads("state") == 3


async def test_the_whole_state_is_read_every_idle_full_read(rig: Rig) -> None:
    await rig.polls(2)
    after = full_read_after(PROJECT, FULL_READ_S)
    assert FULL_READ_S * 0.9 <= after <= FULL_READ_S
    rig.clock.at += timedelta(seconds=after - 1)
    await rig.polls()
    assert rig.reads("state") == 1
    rig.clock.at += timedelta(seconds=1)
    await rig.polls()
    assert rig.reads("state") == 2
    await rig.polls(2)
    assert rig.reads("state") == 2


def test_projects_read_whole_at_spread_moments() -> None:
    """Projects watched at one moment (a start) do not read their whole state together ever
    after: their periods differ by their ids, within 90-100 % of IDLE_FULL_READ."""
    periods = [full_read_after(str(n), FULL_READ_S) for n in range(1, 101)]
    assert all(FULL_READ_S * 0.9 <= p <= FULL_READ_S for p in periods)
    assert max(periods) - min(periods) > FULL_READ_S * 0.08
    assert len({round(p) for p in periods}) > 60


async def test_a_refused_jobs_list_falls_back_to_whole_reads_said_once(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    rig.controller.side_jobs.refuse(PROJECT)
    with caplog.at_level(logging.WARNING, logger="bot.service.poller"):
        await rig.polls(4)
    assert (rig.reads("jobs"), rig.reads("state")) == (1, 4), "asked once, then whole reads"
    said = [r.getMessage() for r in caplog.records if "jobs list" in r.getMessage()]
    assert said == [
        "project 7: Edge Impulse refuses its active jobs list (HTTP 404); its whole tuner state "
        "is read at every poll instead (a poll costs what it did before the idle tier)"
    ]
    assert rig.poller.tiers()["full_reads"] == 1
    assert rig.counted("eonbot_polls_total", outcome="failed", error="not_found") == 0


async def test_a_jobs_list_that_may_pass_fails_the_poll_and_is_asked_again(rig: Rig) -> None:
    await rig.polls()
    rig.controller.inject(PROJECT, *[Fault.error(503)] * 3)  # its three attempts
    await rig.polls()
    assert rig.counted("eonbot_polls_total", outcome="failed", error="unavailable") == 1
    assert rig.counted("eonbot_edge_impulse_requests_total", route="jobs", status="503") == 3, (
        "each attempt a retry hid is counted"
    )
    await rig.polls(2)  # the poll after a failure goes the whole way, then the jobs again
    assert rig.poller.tiers()["idle"] == 1
    assert rig.reads("state") == 2


async def test_a_wrong_key_is_not_taken_for_a_refused_jobs_list(rig: Rig) -> None:
    rig.controller.inject(PROJECT, Fault.error(401), Fault.error(401))  # the jobs, the state
    await rig.polls()
    assert rig.counted("eonbot_polls_total", outcome="failed", error="auth_error") == 1
    await rig.polls(3)
    assert rig.poller.tiers()["idle"] == 1, "the key works again: the idle tier"


async def test_requests_and_bytes_are_counted_by_route_and_status(rig: Rig) -> None:
    await rig.polls(3)
    assert rig.counted("eonbot_edge_impulse_requests_total", route="jobs", status="200") == 3
    assert (
        rig.counted("eonbot_edge_impulse_requests_total", route="optimize/state", status="200") == 1
    )
    wire = rig.counted("eonbot_edge_impulse_wire_bytes_total", route="optimize/state")
    decoded = rig.counted("eonbot_edge_impulse_decoded_bytes_total", route="optimize/state")
    assert 0 < wire < decoded / 3, (wire, decoded)  # gzip, as the simulator sends it
    text = generate_latest(rig.metrics.registry).decode()
    assert KEY not in text and f"/{PROJECT}/" not in text and 'route="7' not in text

"""The poller against a real store and the tuner client over HTTP (the simulator's documents):
an unchanged document costs no read, no write and no wake (but its stall clock still runs); a
restart or a new watch still writes once; a large document is read off the event loop."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from pydantic import SecretStr

from bot.core.events import EventKind
from bot.poller import Poller
from bot.sandbox.simulator.simulation import Simulation
from bot.store.store import Store
from bot.tuner.client import TunerClient

PROJECT = "7"


@dataclass
class Served:
    """Edge Impulse as a list of bodies: `body` is what the next GET gets."""

    body: bytes
    gets: int = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.gets += 1
        return httpx.Response(200, content=self.body)


@dataclass
class Clock:
    at: datetime = datetime(2025, 3, 3, 12, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.at


@dataclass
class Rig:
    store: Store
    served: Served
    poller: Poller
    clock: Clock
    wakes: list[int] = field(default_factory=list)


STALL_AFTER = 600.0


async def make_rig(store: Store, served: Served, clock: Clock | None = None) -> Rig:
    http = httpx.AsyncClient(transport=httpx.MockTransport(served))
    tuner = TunerClient(http, base_url="https://ei.test/v1", api_key_for=lambda _: SecretStr("k"))
    wakes: list[int] = []
    clock = clock or Clock()
    poller = Poller(
        store=store,
        tuner=tuner,
        scheduler=AsyncIOScheduler(timezone=UTC),
        interval=10,
        outage_notice_after=300,
        stall_after=STALL_AFTER,
        now=clock,
        on_events=lambda: wakes.append(1),
    )
    return Rig(store, served, poller, clock, wakes)


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    simulation = Simulation(PROJECT, trials=24)
    store = await Store.open(f"sqlite:///{tmp_path / 'bot.db'}")
    await store.subscribe("C1", PROJECT, added_by="U1")
    try:
        yield await make_rig(store, Served(simulation.document_bytes(simulation.duration / 2)))
    finally:
        await store.close()


async def updated_at(store: Store) -> object:
    """When the project's row was last written (every save_poll writes it)."""
    from sqlalchemy import select

    from bot.store.schema import projects

    async with store._read() as conn:
        return await conn.scalar(select(projects.c.updated_at))


async def test_an_unchanged_document_is_not_written_nor_wakes_delivery(rig: Rig) -> None:
    await rig.poller.poll(PROJECT)
    assert rig.wakes == [1]  # the card is owed
    written = await updated_at(rig.store)
    before = await rig.store.snapshot(PROJECT)
    await rig.poller.poll(PROJECT)
    await rig.poller.poll(PROJECT)
    assert rig.served.gets == 3
    assert rig.wakes == [1]
    assert await updated_at(rig.store) == written
    assert await rig.store.snapshot(PROJECT) == before


async def test_an_unchanged_document_still_tells_a_stall_once(rig: Rig) -> None:
    """The document of a running job does not move: the skip must not stop the stall clock."""
    await rig.poller.poll(PROJECT)
    rig.clock.at += timedelta(seconds=STALL_AFTER - 1)
    await rig.poller.poll(PROJECT)
    assert rig.wakes == [1]  # not due yet: skipped
    rig.clock.at += timedelta(seconds=2)
    await rig.poller.poll(PROJECT)
    rig.clock.at += timedelta(seconds=STALL_AFTER * 3)
    await rig.poller.poll(PROJECT)
    kinds = [row.event.kind for row in await rig.store.outbox("C1")]
    assert kinds.count(EventKind.RUN_STALLED) == 1, kinds


async def test_a_changed_document_is_read_written_and_wakes(rig: Rig) -> None:
    await rig.poller.poll(PROJECT)
    simulation = Simulation(PROJECT, trials=24)
    rig.served.body = simulation.document_bytes(simulation.duration)
    await rig.poller.poll(PROJECT)
    snapshot = await rig.store.snapshot(PROJECT)
    assert snapshot is not None and snapshot.summary is not None and snapshot.summary.finished
    assert rig.wakes == [1, 1]


async def test_after_a_restart_the_same_document_is_not_read_again_but_written_once(
    rig: Rig,
) -> None:
    await rig.poller.poll(PROJECT)
    restarted = await make_rig(rig.store, rig.served)
    await rig.store.subscribe("C2", PROJECT, added_by="U1")  # waits for its run card
    await restarted.poller.poll(PROJECT)
    assert [r.channel_id for r in await rig.store.outbox("C2")] == ["C2"]
    written = await updated_at(rig.store)
    await restarted.poller.poll(PROJECT)
    assert await updated_at(rig.store) == written


async def test_a_new_watch_writes_even_an_unchanged_document(rig: Rig) -> None:
    await rig.poller.poll(PROJECT)
    await rig.store.subscribe("C2", PROJECT, added_by="U1")
    rig.poller.watch(PROJECT)  # what /eon watch does
    await rig.poller.poll(PROJECT)
    assert len(await rig.store.outbox("C2")) == 1


async def test_a_failed_poll_makes_the_next_one_read_again(rig: Rig) -> None:
    await rig.poller.poll(PROJECT)
    body = rig.served.body
    rig.served.body = b"<html>proxy error</html>"
    await rig.poller.poll(PROJECT)
    rig.served.body = body
    await rig.poller.poll(PROJECT)  # read and written again: the outage is over
    _, outage = await rig.store.load_project(PROJECT)
    assert outage.failing_since is None


async def test_a_large_document_is_read_off_the_event_loop(tmp_path: Path) -> None:
    """While a 2,000-trial document (8.7 MB) is read and diffed, the loop keeps turning: no gap
    between its ticks comes near the read's own length (inline, the loop would stall for
    all of it)."""
    simulation = Simulation(PROJECT, trials=2000)
    store = await Store.open(f"sqlite:///{tmp_path / 'bot.db'}")
    try:
        await store.subscribe("C1", PROJECT, added_by="U1")
        rig = await make_rig(store, Served(simulation.document_bytes(simulation.duration)))
        gaps: list[float] = []
        done = asyncio.Event()

        async def ticker() -> None:
            last = time.perf_counter()
            while not done.is_set():
                await asyncio.sleep(0.001)
                tick = time.perf_counter()
                gaps.append(tick - last)
                last = tick

        ticking = asyncio.create_task(ticker())
        started = time.perf_counter()
        await rig.poller.poll(PROJECT)
        took = time.perf_counter() - started
        done.set()
        await ticking
        snapshot = await store.snapshot(PROJECT)
        assert snapshot is not None and snapshot.summary is not None
        assert snapshot.summary.trials_total == 2000
        assert took > 0.3, f"the poll took {took:.2f}s: too short to tell"
        assert max(gaps) < took / 3, f"the loop stalled {max(gaps):.3f}s of {took:.2f}s"
    finally:
        await store.close()

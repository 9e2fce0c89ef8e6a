"""The poller against a real store and the tuner client over HTTP (the simulator's documents):
an unchanged document costs no read, no write and no wake (but its stall clock still runs); a
restart or a new watch still writes once; a large document is read off the event loop."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from pydantic import SecretStr

from bot.core.events import EventKind
from bot.sandbox.simulator.simulation import Simulation
from bot.service.poller import Poller
from bot.store.store import Store
from bot.tuner.client import TunerClient
from tests.sql import statements

T = ""  # the workspace of the rows these tests write (single mode: adopted at start)

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
    wakes: list[str] = field(default_factory=list)  # the projects delivery was woken for


STALL_AFTER = 600.0


async def make_rig(
    store: Store, served: Served, clock: Clock | None = None, *, max_writes: int = 8
) -> Rig:
    tuner = TunerClient(
        httpx.MockTransport(served),
        base_url="https://ei.test/v1",
        api_key_for=lambda _: SecretStr("k"),
    )
    wakes: list[str] = []
    clock = clock or Clock()
    poller = Poller(
        store=store,
        tuner=tuner,
        scheduler=AsyncIOScheduler(timezone=UTC),
        interval=10,
        outage_notice_after=300,
        stall_after=STALL_AFTER,
        now=clock,
        on_events=wakes.append,
        max_writes=max_writes,
    )
    return Rig(store, served, poller, clock, wakes)


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    simulation = Simulation(PROJECT, trials=24)
    store = await Store.open(f"sqlite:///{tmp_path / 'bot.db'}")
    await store.subscribe(T, "C1", PROJECT, added_by="U1")
    try:
        yield await make_rig(store, Served(simulation.document_bytes(simulation.duration / 2)))
    finally:
        await store.close()


async def updated_at(store: Store) -> object:
    """When the project's row was last written (every save_poll writes it)."""
    from sqlalchemy import select

    from bot.store.schema import projects

    async with store.backend.read() as conn:
        return await conn.scalar(select(projects.c.updated_at))


async def test_an_unchanged_document_is_not_written_nor_wakes_delivery(rig: Rig) -> None:
    await rig.poller.poll(PROJECT)
    assert rig.wakes == [PROJECT]  # the card is owed
    written = await updated_at(rig.store)
    before = await rig.store.snapshot(PROJECT)
    await rig.poller.poll(PROJECT)
    await rig.poller.poll(PROJECT)
    assert rig.served.gets == 3
    assert rig.wakes == [PROJECT]
    assert await updated_at(rig.store) == written
    assert await rig.store.snapshot(PROJECT) == before


async def test_an_unchanged_document_still_tells_a_stall_once(rig: Rig) -> None:
    """The document of a running job does not move: the skip must not stop the stall clock."""
    await rig.poller.poll(PROJECT)
    rig.clock.at += timedelta(seconds=STALL_AFTER - 1)
    await rig.poller.poll(PROJECT)
    assert rig.wakes == [PROJECT]  # not due yet: skipped
    rig.clock.at += timedelta(seconds=2)
    await rig.poller.poll(PROJECT)
    rig.clock.at += timedelta(seconds=STALL_AFTER * 3)
    await rig.poller.poll(PROJECT)
    kinds = [row.event.kind for row in await rig.store.outbox(T, "C1")]
    assert kinds.count(EventKind.RUN_STALLED) == 1, kinds


async def test_a_changed_document_is_read_written_and_wakes(rig: Rig) -> None:
    await rig.poller.poll(PROJECT)
    simulation = Simulation(PROJECT, trials=24)
    rig.served.body = simulation.document_bytes(simulation.duration)
    await rig.poller.poll(PROJECT)
    snapshot = await rig.store.snapshot(PROJECT)
    assert snapshot is not None and snapshot.summary is not None and snapshot.summary.finished
    assert rig.wakes == [PROJECT, PROJECT]


async def test_after_a_restart_the_same_document_is_not_read_again_but_written_once(
    rig: Rig,
) -> None:
    await rig.poller.poll(PROJECT)
    restarted = await make_rig(rig.store, rig.served)
    await rig.store.subscribe(T, "C2", PROJECT, added_by="U1")  # waits for its run card
    await restarted.poller.poll(PROJECT)
    assert [r.channel_id for r in await rig.store.outbox(T, "C2")] == ["C2"]
    written = await updated_at(rig.store)
    await restarted.poller.poll(PROJECT)
    assert await updated_at(rig.store) == written


async def test_a_new_watch_writes_even_an_unchanged_document(rig: Rig) -> None:
    await rig.poller.poll(PROJECT)
    await rig.store.subscribe(T, "C2", PROJECT, added_by="U1")
    rig.poller.watch(PROJECT)  # what /eon watch does
    await rig.poller.poll(PROJECT)
    assert len(await rig.store.outbox(T, "C2")) == 1


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
        await store.subscribe(T, "C1", PROJECT, added_by="U1")
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


async def test_a_changed_document_is_diffed_against_the_kept_snapshot_not_a_read_one(
    rig: Rig, tmp_path: Path
) -> None:
    """After the first poll, what was stored is known: a changed document costs writes only,
    and what is stored equals what pollers reading the store each time store."""
    simulation = Simulation(PROJECT, trials=24)
    other = await Store.open(f"sqlite:///{tmp_path / 'other.db'}")
    try:
        await other.subscribe(T, "C1", PROJECT, added_by="U1")
        await rig.poller.poll(PROJECT)
        await (await make_rig(other, rig.served, rig.clock)).poller.poll(PROJECT)
        for moment in (0.6, 0.7, 0.8, 0.9, 1.0):
            rig.served.body = simulation.document_bytes(simulation.duration * moment)
            rig.clock.at += timedelta(seconds=30)
            with statements(rig.store) as seen:
                await rig.poller.poll(PROJECT)
            reads = [sql for sql in seen if sql.startswith("SELECT") and "FROM projects" in sql]
            assert reads == [], reads
            assert any(sql.startswith("INSERT INTO projects") for sql in seen), seen
            await (await make_rig(other, rig.served, rig.clock)).poller.poll(PROJECT)
        assert await rig.store.snapshot(PROJECT) == await other.snapshot(PROJECT)
        kept = await rig.store.outbox(T, "C1", limit=1000)
        read = await other.outbox(T, "C1", limit=1000)
        assert [row.event for row in kept] == [row.event for row in read]
        assert EventKind.JOB_FINISHED in {row.event.kind for row in kept}
    finally:
        await other.close()


async def test_what_the_poller_keeps_is_forgotten_by_a_new_watch(rig: Rig) -> None:
    await rig.poller.poll(PROJECT)
    rig.poller.watch(PROJECT)
    assert PROJECT not in rig.poller._stored
    simulation = Simulation(PROJECT, trials=24)
    rig.served.body = simulation.document_bytes(simulation.duration)
    with statements(rig.store) as seen:
        await rig.poller.poll(PROJECT)
    assert any(sql.startswith("SELECT") and "FROM projects" in sql for sql in seen), seen


@asynccontextmanager
async def poller_over(
    tmp_path: Path,
    handler: Callable[[httpx.Request], Awaitable[httpx.Response]],
    *,
    interval: float = 10,
    **limits: int,
) -> AsyncIterator[Poller]:
    """A poller over a fresh store, Edge Impulse answering through `handler` (one attempt a
    poll); `limits` are the poller's `max_fetches` / `max_writes`."""
    store = await Store.open(f"sqlite:///{tmp_path / 'bot.db'}")
    tuner = TunerClient(
        httpx.MockTransport(handler),
        base_url="https://ei.test/v1",
        api_key_for=lambda _: SecretStr("k"),
        attempts=1,
    )
    try:
        yield Poller(
            store=store,
            tuner=tuner,
            scheduler=AsyncIOScheduler(timezone=UTC),
            interval=interval,
            outage_notice_after=300,
            now=Clock(),
            on_events=lambda _project: None,
            **limits,
        )
    finally:
        await store.close()


async def test_polls_beyond_the_limit_wait_their_turn_in_order(tmp_path: Path) -> None:
    """With more polls due than `max_fetches`, the rest wait (first come, first served)."""
    started: list[str] = []
    release = asyncio.Event()
    at_once = 0
    most = 0

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal at_once, most
        at_once += 1
        most = max(most, at_once)
        started.append(request.url.path.split("/")[3])
        await release.wait()
        at_once -= 1
        return httpx.Response(503)

    async with poller_over(tmp_path, handler, max_fetches=2) as poller:
        projects = [str(n) for n in range(1, 7)]
        polls = [asyncio.create_task(poller.poll(p)) for p in projects]
        for _ in range(20):
            await asyncio.sleep(0)
        assert started == ["1", "2"]
        release.set()
        await asyncio.gather(*polls)
        assert started == projects
        assert most == 2


async def test_changed_documents_are_read_and_stored_a_few_at_a_time(rig: Rig) -> None:
    """`max_writes` bounds the polls reading or storing at once (each may hold a database
    connection); the others wait, and all are stored."""
    simulation = Simulation("8", trials=24)
    await rig.store.subscribe(T, "C1", "8", added_by="U1")
    rig.served.body = simulation.document_bytes(simulation.duration / 2)
    at_once = most = 0
    save_poll = rig.store.save_poll

    async def slow_save(*args: object, **kwargs: object) -> int:
        nonlocal at_once, most
        at_once += 1
        most = max(most, at_once)
        await asyncio.sleep(0.02)
        try:
            return await save_poll(*args, **kwargs)  # type: ignore[arg-type]
        finally:
            at_once -= 1

    rig.store.save_poll = slow_save  # type: ignore[method-assign]
    poller = (await make_rig(rig.store, rig.served, rig.clock, max_writes=1)).poller
    await asyncio.gather(poller.poll(PROJECT), poller.poll("8"))
    assert most == 1
    assert {PROJECT, "8"} <= set(poller._stored)


async def test_falling_behind_is_said_once_a_minute_not_per_poll(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async def slow(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(0.05)
        return httpx.Response(503)

    # Each poll waits longer than half the interval for its turn.
    async with poller_over(tmp_path, slow, interval=0.04, max_fetches=1) as poller:
        with caplog.at_level("WARNING", logger="bot.service.poller"):
            await asyncio.gather(*(poller.poll(str(n)) for n in range(1, 6)))
    behind = [r for r in caplog.records if "falling behind" in r.getMessage()]
    assert len(behind) == 1, [r.getMessage() for r in caplog.records]
    assert "add a replica or raise POLL_INTERVAL" in behind[0].getMessage()


async def test_a_poll_still_running_after_the_stop_grace_ends_quietly(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A fetch that outlasts stop()'s grace (stuck, or in its retry backoff) is cancelled by the
    poller itself, not later by the event loop's teardown under APScheduler, which would log
    the CancelledError as a job that raised."""
    caplog.set_level(logging.INFO)
    entered = asyncio.Event()
    cancelled = False

    async def stuck(request: httpx.Request) -> httpx.Response:
        nonlocal cancelled
        entered.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled = True
            raise
        raise AssertionError("unreachable")

    async with poller_over(tmp_path, stuck) as poller:
        poller._now.at = datetime.now(UTC)  # type: ignore[attr-defined]  # APScheduler's clock
        poller._scheduler.start()
        poller.watch(PROJECT)
        async with asyncio.timeout(5):
            await entered.wait()
        async with asyncio.timeout(5):
            await poller.stop(grace_s=0.05)
        await asyncio.sleep(0)  # APScheduler's job wrapper sees the poll's end

    assert cancelled
    assert not poller._in_flight
    assert [r.getMessage() for r in caplog.records if r.levelname == "ERROR"] == []
    assert f"poll of project {PROJECT} cut short by the stop" in caplog.text

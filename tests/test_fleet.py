"""`bot.service.fleet`: replicas share the watched projects through the database, take over a dead
one's at their next tick, and a second process on one SQLite file refuses to start."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from pathlib import Path

import pytest
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy import update

from bot.clock import utcnow
from bot.errors import ConfigError
from bot.service.fleet import Fleet, SqliteLock, lease_seconds, tick_seconds
from bot.service.poller import Poller
from bot.store import Store
from bot.store.schema import leases

T = ""  # the workspace of the rows these tests write (single mode: adopted at start)

PROJECTS = [str(n) for n in range(1, 7)]


class NoTuner:
    """The scheduler never runs here: only which jobs exist is looked at."""

    def forget(self, project_id: str) -> None:
        pass


def replica(store: Store, name: str, interval: float = 30.0) -> Fleet:
    poller = Poller(
        store=store,
        tuner=NoTuner(),  # type: ignore[arg-type]
        scheduler=AsyncIOScheduler(),
        interval=interval,
        outage_notice_after=300,
        now=utcnow,
        on_events=lambda _project: None,
        owner=name,
    )
    return Fleet(store=store, poller=poller, owner=name, interval=interval)


def jobs(fleet: Fleet) -> set[str]:
    return {job.id.removeprefix("poll:") for job in fleet._poller._scheduler.get_jobs()}


async def _opener(url: str) -> AsyncIterator[Callable[[], Awaitable[Store]]]:
    async with AsyncExitStack() as stack:

        async def one() -> Store:
            store = await Store.open(url)
            stack.push_async_callback(store.close)
            return store

        yield one


@pytest.fixture
async def stores(database_url: str) -> AsyncIterator[Callable[[], Awaitable[Store]]]:
    async for one in _opener(database_url):
        yield one


@pytest.fixture
async def pg_stores(postgres_url: str) -> AsyncIterator[Callable[[], Awaitable[Store]]]:
    """Replicas share one database: PostgreSQL only (SQLite serves one process)."""
    async for one in _opener(postgres_url):
        yield one


def test_takeover_is_within_the_issues_bound() -> None:
    for interval in (0.05, 1, 3, 5, 30, 300):
        assert lease_seconds(interval) + tick_seconds(interval) <= max(3 * interval, 10)
        assert tick_seconds(interval) <= max(interval, 1)


@pytest.mark.postgres
async def test_replicas_share_fairly_and_take_over_a_dead_one(
    pg_stores: Callable[[], Awaitable[Store]],
) -> None:
    a, b, c = [replica(await pg_stores(), name) for name in "abc"]
    for project in PROJECTS:
        await a._store.subscribe(T, "C1", project, added_by="U")
    await a.tick()
    assert a.polling == set(PROJECTS) == jobs(a), "alone, it polls everything"
    await b.tick()
    await c.tick()
    assert b.polling == c.polling == set(), "all taken; the others join the count"
    for fleet in (a, b, c, a, b, c):
        await fleet.tick()  # a lets go of what is beyond its share; b and c take it
    assert sorted(len(f.polling) for f in (a, b, c)) == [2, 2, 2]
    assert set().union(*(f.polling for f in (a, b, c))) == set(PROJECTS)
    assert all(f.polling == jobs(f) for f in (a, b, c))
    # b dies without a word: a and c take its projects at their next ticks.
    orphans = set(b.polling)
    await b._store.leave()
    for fleet in (a, c, a, c):
        await fleet.tick()
    assert orphans <= a.polling | c.polling
    assert sorted(len(f.polling) for f in (a, c)) == [3, 3]
    assert not a.polling & c.polling, "each project polled by exactly one live replica"


async def test_a_watch_on_any_replica_is_polled_and_an_unwatch_stops_it(
    stores: Callable[[], Awaitable[Store]],
) -> None:
    a = replica(await stores(), "a")
    await a.tick()
    await a._store.subscribe(T, "C1", "9", added_by="U")  # made through another replica
    await a.tick()
    assert a.polling == {"9"} == jobs(a), "found in the database at the next tick"
    await a._store.unsubscribe(T, "C1", "9")
    await a.unwatch("9")
    assert a.polling == set() == jobs(a)


async def test_a_project_taken_again_after_its_lease_lapsed_starts_over(
    stores: Callable[[], Awaitable[Store]],
) -> None:
    """Another replica may have polled it meanwhile: what the poller kept of it is stale."""
    a = replica(await stores(), "a")
    await a._store.subscribe(T, "C1", "9", added_by="U")
    await a.tick()
    a._poller._stored["9"] = "kept from an earlier poll"  # type: ignore[assignment]
    await a.tick()
    assert "9" in a._poller._stored, "renewed, not lapsed: kept"
    async with a._store.backend.write() as conn:  # the lease lapsed and went to a replica now gone
        await conn.execute(update(leases).where(leases.c.name == "9").values(owner="gone"))
    await a.tick()
    assert a.polling == {"9"} == jobs(a)
    assert "9" not in a._poller._stored


async def test_a_watch_that_lands_while_a_tick_runs_is_not_dropped_by_it(
    stores: Callable[[], Awaitable[Store]],
) -> None:
    a = replica(await stores(), "a")
    await a.tick()
    store = a._store
    watched = store.watched_projects

    async def watch_lands_meanwhile() -> list[str]:
        found = await watched()  # read before the subscription below commits
        await store.subscribe(T, "C1", "9", added_by="U")
        await a.watch("9")
        return found

    store.watched_projects = watch_lands_meanwhile  # type: ignore[method-assign]
    await a.tick()
    assert a.polling == {"9"} == jobs(a)


def test_a_second_process_on_one_sqlite_file_refuses_in_one_line(tmp_path: Path) -> None:
    database = tmp_path / "bot.db"
    first = SqliteLock(database)
    first.acquire()
    try:
        with pytest.raises(ConfigError) as refused:
            SqliteLock(database).acquire()
        message = str(refused.value)
        assert "\n" not in message
        assert "already runs" in message and str(database) in message and "PostgreSQL" in message
        # Another process, as `eon-bot run` would be: the same answer.
        code = (
            "from pathlib import Path; from bot.service.fleet import SqliteLock; "
            f"SqliteLock(Path({str(database)!r})).acquire()"
        )
        other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        assert other.returncode != 0 and "already runs" in other.stderr
    finally:
        first.release()
    SqliteLock(database).acquire()  # free once the first lets go (or dies: the kernel frees it)

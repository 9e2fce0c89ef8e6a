"""`bot.fleet`: replicas share the watched projects through the database, take over a dead
one's at their next tick, and a second process on one SQLite file refuses to start."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from pathlib import Path

import pytest
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.clock import utcnow
from bot.errors import ConfigError
from bot.fleet import Fleet, SqliteLock, lease_seconds, tick_seconds
from bot.poller import Poller
from bot.store import Store

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
        on_events=lambda: None,
        owner=name,
    )
    return Fleet(store=store, poller=poller, owner=name, interval=interval)


def jobs(fleet: Fleet) -> set[str]:
    return {job.id.removeprefix("poll:") for job in fleet._poller._scheduler.get_jobs()}


@pytest.fixture
async def stores(database_url: str) -> AsyncIterator[Callable[[], AsyncIterator[Store]]]:
    async with AsyncExitStack() as stack:

        async def one() -> Store:
            store = await Store.open(database_url)
            stack.push_async_callback(store.close)
            return store

        yield one  # type: ignore[misc]


def test_takeover_is_within_the_issues_bound() -> None:
    for interval in (0.05, 1, 3, 5, 30, 300):
        assert lease_seconds(interval) + tick_seconds(interval) <= max(3 * interval, 10)
        assert tick_seconds(interval) <= max(interval, 1)


@pytest.mark.postgres
async def test_replicas_share_fairly_and_take_over_a_dead_one(
    database_url: str, stores: Callable[[], object]
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite serves one process")
    a, b, c = [replica(await stores(), name) for name in "abc"]  # type: ignore[misc]
    for project in PROJECTS:
        await a._store.subscribe("C1", project, added_by="U")
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
    database_url: str, stores: Callable[[], object]
) -> None:
    a = replica(await stores(), "a")  # type: ignore[misc]
    await a.tick()
    await a._store.subscribe("C1", "9", added_by="U")  # made through another replica
    await a.tick()
    assert a.polling == {"9"} == jobs(a), "found in the database at the next tick"
    await a._store.unsubscribe("C1", "9")
    await a.unwatch("9")
    assert a.polling == set() == jobs(a)


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
            "from pathlib import Path; from bot.fleet import SqliteLock; "
            f"SqliteLock(Path({str(database)!r})).acquire()"
        )
        other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        assert other.returncode != 0 and "already runs" in other.stderr
    finally:
        first.release()
    SqliteLock(database).acquire()  # free once the first lets go (or dies: the kernel frees it)

"""The SQLite driver that makes one trip to aiosqlite's thread per statement: the same answers
as SQLAlchemy's own aiosqlite driver gives for the same statements (the oracle), errors
included, at one trip each."""

from __future__ import annotations

import sqlite3
import tomllib
from collections.abc import AsyncIterator
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from sqlalchemy import Column, Integer, MetaData, String, Table, insert, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from bot.core.events import Event, EventKind
from bot.store import Outage, Store, sqlite_driver
from bot.store.url import create_engine, parse

T = ""  # the workspace of the rows these tests write (single mode: adopted at start)

META = MetaData()
ITEMS = Table(
    "items",
    META,
    Column("id", Integer, primary_key=True),
    Column("name", String, nullable=False, unique=True),
    Column("size", Integer),
)

STEPS: list[Any] = [
    insert(ITEMS).values(name="a", size=1).returning(ITEMS.c.id),
    insert(ITEMS).values([{"name": "b", "size": 2}, {"name": "c", "size": 3}]),
    update(ITEMS).where(ITEMS.c.size >= 2).values(size=ITEMS.c.size * 10),
    update(ITEMS).where(ITEMS.c.size > 5).values(size=0).returning(ITEMS.c.name),
    select(ITEMS).order_by(ITEMS.c.id),
    select(ITEMS).where(ITEMS.c.name == "none"),
    text("SELECT count(*), sum(size) FROM items"),
]


def answer(result: Any) -> tuple[Any, ...]:
    rows = [tuple(row) for row in result.all()] if result.returns_rows else None
    return rows, result.rowcount, list(result.keys()) if result.returns_rows else None


async def run(engine: AsyncEngine) -> list[tuple[Any, ...]]:
    try:
        async with engine.begin() as conn:
            await conn.run_sync(META.create_all)
            found = [answer(await conn.execute(step)) for step in STEPS]
            await conn.execute(insert(ITEMS), [{"name": "d"}, {"name": "e", "size": 5}])
            names = select(ITEMS.c.name, ITEMS.c.size).order_by("id")
            found.append(answer(await conn.execute(names)))
            added = await conn.execute(insert(ITEMS).values(name="f"))  # its id: `lastrowid`
            found.append(tuple(added.inserted_primary_key or ()))
    finally:
        await engine.dispose()
    return found


async def test_statements_answer_as_sqlalchemys_own_aiosqlite_driver_does(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'bot.db'}"
    found = await run(create_engine(url, parse(url)))
    assert found == await run(create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'oracle.db'}"))
    assert found[3] == ([("b",), ("c",)], 2, ["name"])  # what the UPDATE … RETURNING touched


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    """The store's SQLite engine on a fresh file holding the `items` table."""
    url = f"sqlite:///{tmp_path / 'bot.db'}"
    made = create_engine(url, parse(url))
    async with made.begin() as conn:
        await conn.run_sync(META.create_all)
    try:
        yield made
    finally:
        await made.dispose()


async def test_a_refused_statement_raises_sqlalchemys_error_and_leaves_nothing_behind(
    engine: AsyncEngine,
) -> None:
    async with engine.begin() as conn:
        await conn.execute(insert(ITEMS).values(name="a"))
    with pytest.raises(IntegrityError, match="UNIQUE constraint failed: items.name"):
        async with engine.begin() as conn:
            await conn.execute(insert(ITEMS).values(name="b"))
            await conn.execute(insert(ITEMS).values(name="a"))
    async with engine.connect() as conn:
        assert (await conn.execute(select(ITEMS.c.name))).scalars().all() == ["a"]


async def test_a_streamed_result_gives_every_row_in_order(engine: AsyncEngine) -> None:
    """`stream()` (a server-side cursor) reads the rows on the thread first, like any
    statement, then hands them out one by one and in batches."""
    async with engine.begin() as conn:
        await conn.execute(insert(ITEMS), [{"name": f"n{i}", "size": i} for i in range(7)])
    async with engine.connect() as conn:
        result = await conn.stream(select(ITEMS.c.name).order_by(ITEMS.c.id))
        first = await result.fetchone()
        batch = await result.fetchmany(3)
        rest = await result.fetchall()
    assert [first, *batch, *rest] == [(f"n{i}",) for i in range(7)]


@pytest.fixture
def trips(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Every call made on a connection's thread (statements, commits, rollbacks)."""
    made: list[object] = []
    execute = sqlite_driver.Connection._execute

    async def counted(
        self: sqlite_driver.Connection, function: Any, *args: Any, **kwargs: Any
    ) -> Any:
        made.append(function)
        return await execute(self, function, *args, **kwargs)  # type: ignore[no-untyped-call]

    monkeypatch.setattr(sqlite_driver.Connection, "_execute", counted)
    return made


async def test_a_statement_is_one_trip_to_the_connections_thread(
    engine: AsyncEngine, trips: list[object]
) -> None:
    async with engine.begin() as conn:
        await conn.execute(insert(ITEMS).values(name="a", size=1))
        trips.clear()
        rows = (await conn.execute(select(ITEMS.c.name, ITEMS.c.size))).all()
        assert len(trips) == 1
        trips.clear()
        await conn.execute(update(ITEMS).values(size=2).returning(ITEMS.c.id))
        assert len(trips) == 1
        trips.clear()
    assert len(trips) == 1  # the COMMIT; the pool's ROLLBACK after it has nothing to do
    assert [tuple(row) for row in rows] == [("a", 1)]


async def test_a_transactions_begin_goes_with_its_first_statement(
    engine: AsyncEngine, trips: list[object]
) -> None:
    """BEGIN makes no trip of its own: a one-statement transaction is two trips (the
    statement, the COMMIT), one with no statement none; what they wrote is there."""
    trips.clear()
    async with engine.begin():
        pass
    assert trips == []
    async with engine.begin() as conn:
        await conn.execute(insert(ITEMS).values(name="a", size=1))
        assert await conn.get_raw_connection() is not None
    assert len(trips) == 2
    async with engine.connect() as conn:
        assert (await conn.execute(select(ITEMS.c.name))).all() == [("a",)]


async def test_a_write_transaction_holds_the_write_lock_from_its_first_statement(
    tmp_path: Path,
) -> None:
    """The deferred BEGIN is still BEGIN IMMEDIATE for the store's writes: once its first
    statement (a read) ran, no other connection can write until it ends."""
    store = await Store.open(f"sqlite:///{tmp_path / 'bot.db'}")
    other = sqlite3.connect(tmp_path / "bot.db", timeout=0, isolation_level=None)
    try:
        async with store.backend.write() as conn:
            await conn.execute(select(1))
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("INSERT INTO leases VALUES ('x', 'y', 'z', 0)")
        other.execute("BEGIN IMMEDIATE")  # free again once it ended
        other.rollback()
    finally:
        other.close()
        await store.close()


async def test_a_read_of_the_store_is_one_trip_and_sees_each_commit(
    tmp_path: Path, trips: list[object]
) -> None:
    """No BEGIN before a read's statement nor ROLLBACK after it; each read sees what was
    committed before it, also on a connection the pool hands out again."""
    store = await Store.open(f"sqlite:///{tmp_path / 'bot.db'}")
    try:
        await store.subscribe(T, "C1", "7", added_by="U1")
        trips.clear()
        assert await store.outbox(T, "C1") == []
        assert len(trips) == 1
        for n in (1, 2):
            event = Event(kind=EventKind.API_RECOVERED, key=f"7:outage:{n}", project_id="7")
            await store.save_poll("7", snapshot=None, events=[event], outage=Outage())
            assert len(await store.outbox(T, "C1")) == n
    finally:
        await store.close()


# --- the versions the driver was written against ---


def test_pyproject_holds_aiosqlite_and_sqlalchemy_to_what_the_driver_was_written_for() -> None:
    pyproject = Path(__file__).resolve().parents[2] / "pyproject.toml"
    declared = {
        canonicalize_name(req.name): req
        for req in map(Requirement, tomllib.loads(pyproject.read_text())["project"]["dependencies"])
    }
    for line in sqlite_driver.WRITTEN_FOR:
        written = Requirement(line)
        pinned = declared[canonicalize_name(written.name)]
        assert pinned.specifier == written.specifier, (
            f"pyproject.toml allows {pinned}; bot/store/sqlite_driver.py was written for "
            f"{written}: check its private names against that release, then move both"
        )


def test_the_installed_aiosqlite_and_sqlalchemy_are_versions_the_driver_was_written_for() -> None:
    for line in sqlite_driver.WRITTEN_FOR:
        written = Requirement(line)
        installed = version(written.name)
        assert written.specifier.contains(installed), f"{written.name} {installed}: not {written}"


async def test_the_private_names_the_driver_uses_are_there(tmp_path: Path) -> None:
    connection = await sqlite_driver.connect(tmp_path / "names.db")
    try:
        assert callable(connection._execute)
        assert isinstance(connection._conn, sqlite3.Connection)
        assert connection._connection is connection._conn
        assert connection._thread.daemon
    finally:
        await connection.close()

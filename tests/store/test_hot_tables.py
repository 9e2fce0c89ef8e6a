"""Bounded storage (issue 21): a snapshot the store already holds is not written again, and on
PostgreSQL the tables every poll rewrites are vacuumed by a fixed count of dead rows, with
room in each page for updates (migration v3). `bench/storage.py` shows their sizes level off."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.store import Outage, Store
from bot.store.migrations import HOT_TABLES
from tests.sql import statements
from tests.store.test_store import P, snapshot


@pytest.fixture
async def pg_store(postgres_url: str) -> AsyncIterator[Store]:
    store = await Store.open(postgres_url)
    try:
        yield store
    finally:
        await store.close()


async def test_a_snapshot_already_stored_is_not_written_again(store: Store) -> None:
    held = snapshot(2)
    text = held.model_dump_json()
    await store.save_poll(P, snapshot=held, snapshot_json=text, events=[], outage=Outage())
    with statements(store) as seen:
        await store.save_poll(
            P,
            snapshot=held,
            snapshot_json=text,
            snapshot_stored=True,
            events=[],
            outage=Outage(failing_since=None),
        )
    writes = [s for s in seen if s.startswith(("INSERT INTO projects", "UPDATE projects"))]
    assert writes and all("snapshot" not in s for s in writes), writes
    assert await store.snapshot(P) == held
    with statements(store) as seen:
        await store.save_poll(
            P, snapshot=snapshot(3), events=[], outage=Outage()
        )  # a changed one is
    assert any("snapshot" in s for s in seen if s.startswith("INSERT INTO projects"))
    assert await store.snapshot(P) == snapshot(3)


@pytest.mark.postgres
async def test_the_hot_tables_are_set_to_be_vacuumed_at_their_live_size(pg_store: Store) -> None:
    async with pg_store.backend.read() as conn:
        found = {
            row.relname: set(row.reloptions or [])
            for row in await conn.exec_driver_sql(
                "SELECT relname, reloptions FROM pg_class "
                "WHERE relnamespace = current_schema()::regnamespace AND relkind = 'r'"
            )
        }
        toast = {
            row.relname: set(row.reloptions or [])
            for row in await conn.exec_driver_sql(
                "SELECT c.relname, t.reloptions FROM pg_class c JOIN pg_class t "
                "ON t.oid = c.reltoastrelid WHERE c.relnamespace = current_schema()::regnamespace"
            )
        }
    for table in HOT_TABLES:
        assert {
            "fillfactor=50",
            "autovacuum_vacuum_scale_factor=0",
            "autovacuum_vacuum_threshold=200",
        } <= found[table], (table, found[table])
        assert "autovacuum_vacuum_scale_factor=0" in toast[table], (table, toast[table])
    assert not found["subscriptions"]  # the others keep PostgreSQL's defaults

"""Bounded storage (issue 21): a snapshot the store already holds is not written again, a
changed one is written as its changes since a base (`bot.store.snapshots`), and on PostgreSQL
the tables every poll rewrites are vacuumed by a fixed count of dead rows, with room in each
page for updates. `bench/storage.py` shows their sizes level off."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator

import pytest

from bot.core.events import Snapshot, TrialMark
from bot.core.summary import TrialSummary
from bot.store import Outage, Store
from bot.store.migrations import HOT_TABLES
from bot.store.snapshots import PATCH_MAX_CHARS
from tests.sql import statements
from tests.store.test_store import P, snapshot, sql

T = ""  # the workspace of the rows these tests write (single mode: adopted at start)


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
            stored_json=text,
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


def grown(trials: int, *, running: int = 0, elapsed: float = 0.0) -> Snapshot:
    """A run's snapshot with `trials` ended trials (names of random-looking hex, so PostgreSQL
    cannot compress it inline) and trial `r{running}` running."""
    marks = {
        f"t{i}": TrialMark(
            status="completed",
            completed_reported=True,
            figures=TrialSummary(
                id=f"t{i}",
                name=hashlib.sha256(str(i).encode()).hexdigest(),
                status="completed",
                accuracy=i / 1000,
            ),
        )
        for i in range(trials)
    }
    marks[f"r{running}"] = TrialMark(status="running")
    base = snapshot(trials)
    assert base.summary is not None
    shown = base.summary.model_copy(update={"elapsed_s": elapsed})
    return base.model_copy(update={"trials": marks, "summary": shown})


async def store_poll(
    store: Store, held: Snapshot, stored: str | None, previous: Snapshot | None = None
) -> str:
    """One changed poll as the poller stores it (with the snapshot before it as JSON, and as
    a model if `previous`); the JSON it stored."""
    text = held.model_dump_json()
    await store.save_poll(
        P,
        snapshot=held,
        snapshot_json=text,
        stored_json=stored,
        stored=previous,
        events=[],
        outage=Outage(),
    )
    return text


def snapshot_writes(seen: list[str]) -> list[str]:
    return [s for s in seen if s.startswith(("INSERT INTO projects", "UPDATE projects"))]


async def test_a_changed_snapshot_is_written_as_its_changes(database_url: str) -> None:
    store = await Store.open(database_url)
    try:
        moved = grown(60)
        text = await store_poll(store, moved, None)
        assert len(text) > 10 * PATCH_MAX_CHARS
        for second in range(1, 40):  # a run moving poll after poll, its ended trials as they were
            before, moved = moved, grown(60, running=second % 3, elapsed=float(second))
            with statements(store) as seen:  # found between the models, or the JSON texts
                text = await store_poll(store, moved, text, before if second % 2 else None)
            [write] = snapshot_writes(seen)
            assert write.startswith("UPDATE projects SET") and "snapshot=" not in write, write
            assert await store.snapshot(P) == moved
        [(patch,)] = await sql(store, "SELECT snapshot_patch FROM projects")
        assert 0 < len(patch) <= PATCH_MAX_CHARS  # the changes since, not one set per poll
    finally:
        await store.close()
    store = await Store.open(database_url)  # a restart reads base and changes back
    try:
        stored, _ = await store.stored_project(P)
        assert stored is not None and Snapshot.model_validate_json(stored) == moved
        ended = grown(61, elapsed=99.0)  # a trial ended: its marks, and the summary's lists
        with statements(store) as seen:
            await store_poll(store, ended, stored)
        assert await store.snapshot(P) == ended
        assert await store.summaries([P]) == {P: ended.summary}
    finally:
        await store.close()


async def test_changes_are_written_only_onto_the_row_they_were_made_for(
    database_url: str,
) -> None:
    """Two replicas, one stale: B polled the project meanwhile (its lease lapsed on A); A's
    next write, made against what A last stored, must not land on B's snapshot."""
    a, b = await Store.open(database_url), await Store.open(database_url)
    try:
        kept_by_a = await store_poll(a, grown(20, elapsed=1.0), None)
        await store_poll(b, grown(20, running=1, elapsed=2.0), None)
        latest = grown(20, running=2, elapsed=3.0)
        with statements(a) as seen:
            await store_poll(a, latest, kept_by_a)
        assert [s.split()[0] for s in snapshot_writes(seen)] == ["UPDATE", "INSERT"]
        assert await b.snapshot(P) == latest
        # A new watch forgets the snapshot (a fresh baseline): the changes go with it.
        await a.unsubscribe(T, "C1", P)
        assert await a.subscribe(T, "C1", P, added_by="U")
        await store_poll(a, grown(20, running=3), latest.model_dump_json())
        assert await b.snapshot(P) == grown(20, running=3)
    finally:
        await a.close()
        await b.close()


@pytest.mark.postgres
async def test_a_change_leaves_the_snapshot_in_toast_as_it_was(pg_store: Store) -> None:
    """The point of it all on PostgreSQL: the large base stays in its TOAST chunks (no dead
    chunks for autovacuum), the row's short patch is all that is rewritten."""
    text = await store_poll(pg_store, grown(60), None)

    async def chunks() -> set[int]:
        [(toast,)] = await sql(
            pg_store,
            "SELECT reltoastrelid::regclass::text FROM pg_class WHERE oid = 'projects'::regclass",
        )
        return {row[0] for row in await sql(pg_store, f"SELECT DISTINCT chunk_id FROM {toast}")}

    before = await chunks()
    assert len(before) == 1
    for second in range(1, 10):
        text = await store_poll(pg_store, grown(60, running=second % 3, elapsed=second), text)
    assert await chunks() == before
    await store_poll(pg_store, grown(61), text)
    assert await chunks() != before  # a whole write does replace them

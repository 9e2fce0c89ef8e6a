"""Leases and claims between replicas (`bot.store.leases`), ids of any length, and the v1 → v2
upgrade, against real databases. Replicas are separate `Store`s on one database, each with its
own connections, as separate processes have."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from sqlalchemy import text

from bot.core.events import Event, EventKind, Snapshot
from bot.store import Outage, Store
from bot.store.leases import LeaseLost
from bot.store.migrations import SCHEMA_VERSION
from bot.store.schema import DELIVER, POLL, REPLICA
from tests.store import rewind
from tests.store.test_store import T0, save, sql, summary

T = ""  # the workspace of the rows these tests write (single mode: adopted at start)

A, B = "replica-a", "replica-b"


@pytest.fixture
async def other(database_url: str) -> AsyncIterator[Store]:
    """A second replica's store on the same database."""
    opened = await Store.open(database_url)
    try:
        yield opened
    finally:
        await opened.leave()
        await opened.close()


async def eventually(ask: Callable[[], Awaitable[list[str]]]) -> list[str]:
    """The server ends a closed session a few milliseconds after its socket closes (a
    generous deadline: the machine may be busy)."""
    deadline = asyncio.get_running_loop().time() + 10
    for _ in range(100_000):
        got = await ask()
        if got or asyncio.get_running_loop().time() > deadline:
            return got
        await asyncio.sleep(0.01)
    return []


@pytest.mark.postgres
async def test_a_lease_is_held_by_one_live_replica(postgres_url: str) -> None:
    a, b = await Store.open(postgres_url), await Store.open(postgres_url)
    try:
        await a.join(A)
        await b.join(B)
        assert await a.take(POLL, ["1", "2"], A, 30) == ["1", "2"]
        assert await b.take(POLL, ["1", "2", "3"], B, 30) == ["3"]
        assert await a.take(POLL, ["1"], A, 30) == ["1"], "its own lease, taken again"
        assert (await a.renew(A, 30))[POLL] == ["1", "2"]
        await a.release(A, POLL, ["2"])
        assert await b.take(POLL, ["2"], B, 30) == ["2"], "released: free at once"
        # A dies (its session ends without a word): its leases are free at once, not at expiry.
        await a.leave()
        assert await eventually(lambda: b.take(POLL, ["1"], B, 30)) == ["1"]
        assert (await a.renew(A, 30))[POLL] == [], "a taken lease is not renewed"
    finally:
        await a.close()
        await b.close()


@pytest.mark.postgres
async def test_a_replica_announcing_itself_holds_no_transaction_open(postgres_url: str) -> None:
    """Its presence connection is checked every few seconds; left idle in a transaction it
    would hold back vacuum's horizon, and `idle_in_transaction_session_timeout` would end it
    (the replica would look dead to the others)."""
    store, name = await Store.open(postgres_url), f"replica-{secrets.token_hex(6)}"
    try:
        await store.join(name)
        await store.join(name)  # the check
        [(state,)] = await sql(
            store, "SELECT state FROM pg_stat_activity WHERE application_name = :n", n=name
        )
        assert state == "idle"
    finally:
        await store.close()


@pytest.mark.postgres
async def test_a_replica_that_hangs_loses_its_leases_when_they_expire(postgres_url: str) -> None:
    a, b = await Store.open(postgres_url), await Store.open(postgres_url)
    try:
        await a.join(A)
        await b.join(B)
        assert await a.take(POLL, ["1"], A, 0.5) == ["1"]
        assert await b.take(POLL, ["1"], B, 30) == [], "alive and unexpired"
        await asyncio.sleep(0.6)  # A is still connected but stopped renewing
        assert await b.take(POLL, ["1"], B, 30) == ["1"]
        assert await a.live_replicas() == 1 == await b.live_replicas()  # no heartbeats taken
        await b.take(REPLICA, [B], B, 30)
        await a.take(REPLICA, [A], A, 30)
        assert await b.live_replicas() == 2
    finally:
        await a.close()
        await b.close()


async def test_on_sqlite_every_lease_is_the_callers(tmp_path: Path) -> None:
    store = await Store.open(f"sqlite:///{tmp_path / 'eon-bot.db'}")
    try:
        await store.join(A)
        assert await store.take(POLL, ["1"], A, 30) == ["1"]
        # Only a dead process can have left B's lease behind: `SqliteLock` lets one process run.
        assert await store.take(POLL, ["1"], B, 30) == ["1"]
        assert await store.live_replicas() == 1
    finally:
        await store.close()


async def test_a_poll_is_stored_only_under_its_lease(store: Store) -> None:
    await store.join(A)
    await store.subscribe(T, "C1", "42", added_by="U")
    await store.take(POLL, ["42"], A, 30)
    recovered = Event(kind=EventKind.API_RECOVERED, key="42:x", project_id="42")
    with pytest.raises(LeaseLost):
        await save(store, recovered, owner=B)
    assert await store.outbox(T, "C1") == [], "nothing of the refused poll was stored"
    assert await save(store, recovered, owner=A) == 1


async def test_a_row_is_claimed_by_the_channels_delivery_lease_holder(store: Store) -> None:
    await store.subscribe(T, "C1", "42", added_by="U")
    await save(store, Event(kind=EventKind.API_RECOVERED, key="42:x", project_id="42"))
    [row] = await store.outbox(T, "C1")
    await store.take(DELIVER, [":C1"], A, 30)
    with pytest.raises(LeaseLost):
        await store.mark_attempting(row.id, owner=B, claim_s=30)
    assert await store.mark_attempting(row.id, owner=A, claim_s=30) is True
    [(claimed_by, attempts, state)] = await sql(
        store, "SELECT claimed_by, attempts, state FROM outbox"
    )
    assert (claimed_by, attempts, state) == (A, 1, "attempting")
    await store.mark_sent(row.id, ts="1.000001")
    assert await sql(store, "SELECT claimed_by, claim_expires FROM outbox") == [(None, None)]


@pytest.mark.postgres
async def test_a_live_claim_keeps_others_off_the_row_and_a_dead_ones_lapses(
    postgres_url: str,
) -> None:
    a, b = await Store.open(postgres_url), await Store.open(postgres_url)
    try:
        await a.join(A)
        await b.join(B)
        await a.subscribe(T, "C1", "42", added_by="U")
        await save(a, Event(kind=EventKind.API_RECOVERED, key="42:x", project_id="42"))
        [row] = await a.outbox(T, "C1")
        await a.take(POLL, ["42"], A, 30)  # held until A's session ends (below)
        await a.take(DELIVER, [":C1"], A, 30)
        assert await a.mark_attempting(row.id, owner=A, claim_s=30)
        await a.release(A, DELIVER)  # the channel is free, the row's claim is not
        await b.take(DELIVER, [":C1"], B, 30)
        with pytest.raises(LeaseLost, match="claimed by"):
            await b.mark_attempting(row.id, owner=B, claim_s=30)
        await a.leave()  # A is gone: its claim lapses with its session
        assert await eventually(lambda: b.take(POLL, ["42"], B, 30))  # A's session has ended
        [again] = await b.outbox(T, "C1")
        assert again.state == "attempting", "looked up before it is posted again"
        assert await b.mark_attempting(row.id, owner=B, claim_s=30)
    finally:
        await a.close()
        await b.close()


async def test_ids_and_names_of_any_length(store: Store) -> None:
    """A PostgreSQL btree entry cannot exceed ~2.7 KB: random text (it does not compress) of
    several KB in every id a key is made of."""
    run, trial = secrets.token_urlsafe(6000), secrets.token_urlsafe(6000)
    await store.subscribe(T, "C1", "42", added_by="U")
    start = Event(kind=EventKind.RUN_STARTED, key=f"42:{run}:start", project_id="42", run_id=run)
    done = Event(
        kind=EventKind.TRIAL_COMPLETED,
        key=f"42:{run}:{trial}:done",
        project_id="42",
        run_id=run,
        trial_id=trial,
    )
    snap = Snapshot(
        project_id="42", coordinator_job_id=run, first_seen_at=T0, summary=summary(run=run)
    )
    assert await save(store, start, done, snapshot=snap) == 2
    assert await save(store, start, done, snapshot=snap) == 0, "each key once, also when long"
    first, second = await store.outbox(T, "C1")
    assert await store.mark_attempting(first.id)
    await store.mark_sent(first.id, ts="1.000001", card_version=1)
    card = await store.card(T, "C1", "42", run)
    assert card is not None and card.run_id == run
    changed = Snapshot(
        project_id="42", coordinator_job_id=run, first_seen_at=T0, summary=summary(1, run=run)
    )
    await save(store, snapshot=changed)
    [(dirty, shown, version)] = await store.dirty_cards(T, "C1")
    assert (dirty.run_id, shown.counts.completed, version) == (run, 1, 2)
    found = await store.run_summary("42", run)
    assert found is not None and found[1] == 2
    assert second.event.trial_id == trial


async def test_a_v1_database_is_upgraded_with_its_rows(database_url: str) -> None:
    """Rows written by schema v1 keep working: deduplicated by their digests, cards found."""
    store = await Store.open(database_url)
    await store.close()
    # Back to an empty v1 database with rows in it, as a v1 eon-bot left it.
    store = await Store.open(database_url)
    async with store.backend.write() as conn:
        await rewind(conn, upto=1)
        await conn.execute(
            text("INSERT INTO subscriptions VALUES ('C1', '42', 'U', 'all', NULL, :t, false)"),
            {"t": T0.replace(tzinfo=None)},
        )
        await conn.execute(
            text("INSERT INTO projects VALUES ('42', NULL, NULL, false, false, NULL, :t)"),
            {"t": T0.replace(tzinfo=None)},
        )
        await conn.execute(
            text("INSERT INTO runs VALUES ('42', 'R1', :s, 1, :t)"),
            {"s": summary().model_dump_json(), "t": T0.replace(tzinfo=None)},
        )
        key = "42:R1:eon_api_recovered:1"
        body = Event(kind=EventKind.API_RECOVERED, key=key, project_id="42").model_dump_json()
        await conn.execute(
            text(
                "INSERT INTO outbox (channel_id, project_id, run_id, event_key, kind, event, "
                "state, attempts, created_at) VALUES ('C1', '42', 'R1', :k, 'eon_api_recovered', "
                ":e, 'pending', 0, :t)"
            ),
            {"k": key, "e": body, "t": T0.replace(tzinfo=None)},
        )
        await conn.execute(text("INSERT INTO cards VALUES ('C1', '42', 'R1', '1.5', 1)"))
    await store.close()
    store = await Store.open(database_url)  # the upgrade
    try:
        [(version,)] = await sql(store, "SELECT version FROM schema_version")
        assert version == SCHEMA_VERSION  # and every step after v2
        [row] = await store.outbox(T, "C1")
        assert row.event.key == key
        again = Event(kind=EventKind.API_RECOVERED, key=key, project_id="42")
        assert await store.save_poll("42", snapshot=None, events=[again], outage=Outage()) == 0
        card = await store.card(T, "C1", "42", "R1")
        assert card is not None and card.ts == "1.5"
        assert await store.run_summary("42", "R1") is not None
        await store.mark_sent(row.id, ts="2.5", card_version=3)  # upserts the v1 card row
        card = await store.card(T, "C1", "42", "R1")
        assert card is not None and (card.ts, card.rendered_version) == ("2.5", 3)
    finally:
        await store.close()

"""Retention (`bot.store.retention`): old sent rows, ended runs, unwatched projects and dead
replicas' leases go; what is owed, what the next poll needs and recent rows stay."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import insert

from bot.core.events import Event, EventKind, Snapshot
from bot.store import Store
from bot.store.schema import POLL, leases
from tests.store.test_store import T0, save, sql, summary

T = ""  # the workspace of the rows these tests write (single mode: adopted at start)

OLD = T0 - timedelta(days=40)
CUT = T0 - timedelta(days=30)


def ended(run: str) -> Snapshot:
    done = summary(run=run).model_copy(update={"finished": True, "running": False})
    return Snapshot(project_id="42", coordinator_job_id=run, first_seen_at=OLD, summary=done)


async def test_prune_forgets_what_is_old_and_done_only(database_url: str) -> None:
    clock = [OLD]
    store = await Store.open(database_url, now=lambda: clock[0])
    try:
        await store.subscribe(T, "C1", "42", added_by="U")
        await store.subscribe(T, "C1", "43", added_by="U")
        old_sent = Event(
            kind=EventKind.RUN_STARTED, key="42:R0:start", project_id="42", run_id="R0"
        )
        owed = Event(kind=EventKind.API_RECOVERED, key="42:owed", project_id="42")
        await save(store, old_sent, owed, snapshot=ended("R0"))
        await save(store, project="43")
        sent, _ = await store.outbox(T, "C1")
        assert await store.mark_attempting(sent.id)
        await store.mark_sent(sent.id, ts="1.5", card_version=1)
        async with store.backend.write() as conn:  # a replica that died 40 days ago
            row = {"kind": POLL, "name": "43", "owner": "dead", "expires_at": OLD}
            await conn.execute(insert(leases).values(row))
        await store.unsubscribe(T, "C1", "43")
        assert await store.add_bell(T, "42", "R0", "U1", "C1") == "added"  # its run ended: rung
        assert await store.add_bell(T, "42", "R1", "U1", "C1") == "added"  # a run still going
        await store.ring_due()
        clock[0] = T0  # 40 days on: a new run, still going, and a fresh sent row
        recent = Event(kind=EventKind.RUN_STARTED, key="42:R1:start", project_id="42", run_id="R1")
        await save(
            store,
            recent,
            snapshot=Snapshot(
                project_id="42",
                coordinator_job_id="R1",
                first_seen_at=T0,
                summary=summary(run="R1"),
            ),
        )
        _, fresh = await store.outbox(T, "C1")
        assert await store.mark_attempting(fresh.id)
        await store.mark_sent(fresh.id, ts="2.5", card_version=1)

        gone = await store.prune(CUT)

        assert gone == {
            "outbox": 1,
            "runs": 1,
            "projects": 1,
            "cards": 1,
            "leases": 1,
            "actions": 0,
            "bells": 1,
        }
        assert await store.bells_of(T, "42", "R0") == [] and await store.bells_of(
            T, "42", "R1"
        ) == ["U1"]
        assert [row.event.key for row in await store.outbox(T, "C1")] == ["42:owed"]
        assert await store.run_summary("42", "R0") is None
        assert await store.run_summary("42", "R1") is not None
        assert await store.card(T, "C1", "42", "R0") is None
        assert await store.card(T, "C1", "42", "R1") is not None
        assert await store.snapshot("42") is not None, "the next poll's baseline stays"
        assert await sql(store, "SELECT project_id FROM projects") == [("42",)]
        assert await store.prune(CUT) == dict.fromkeys(gone, 0)
        # Owed is owed: however old, a row not yet posted is never pruned.
        assert await store.prune(T0 + timedelta(days=1)) == {
            "outbox": 1,
            "runs": 0,
            "projects": 0,
            "cards": 0,
            "leases": 0,
            "actions": 0,
            "bells": 0,
        }
        assert [row.event.key for row in await store.outbox(T, "C1")] == ["42:owed"]
    finally:
        await store.close()

""" "🔔 Tell me when it ends" in the store, on SQLite and PostgreSQL: one request per person and
run, the run's end queued to each person once (also across racing replicas), nothing for who
took themselves off, and the person's row owed to delivery until it is sent."""

from __future__ import annotations

import asyncio

from bot.core.events import EventKind, RunRef, Snapshot
from bot.store import Store, person_address
from tests.store.test_store import RUN, P, at, save, snapshot

T = ""  # the workspace of the rows these tests write (single mode: adopted at start)

REF = RunRef(P, RUN, "J1", "EON Tuner run 1", "Keyword spotting")
END = REF.event(EventKind.JOB_FINISHED, outcome="completed", best_trial_id="t1")
FAILED = REF.event(EventKind.TRIAL_FAILED, "t2", trial_id="t2", retries=0)
U1 = person_address("U1")


def ended() -> Snapshot:
    running = snapshot()
    assert running.summary is not None
    summary = running.summary.model_copy(
        update={"finished": True, "running": False, "status": "completed", "outcome": "completed"}
    )
    return running.model_copy(update={"summary": summary})


async def owed(store: Store, address: str) -> list[str]:
    return [row.event.kind.value for row in await store.outbox(T, address)]


async def test_one_request_per_person_and_the_end_queued_once(store: Store) -> None:
    await store.subscribe(T, "C1", P, added_by="U1")
    assert await store.add_bell(T, P, RUN, "U1", "C2") == "not_watched"
    assert await store.add_bell(T, P, RUN, "U1", "C1") == "added"
    assert await store.add_bell(T, P, RUN, "U1", "C1") == "exists"
    assert await store.add_bell(T, P, RUN, "U2", "C1") == "added"
    assert await store.bells_of(T, P, RUN) == ["U1", "U2"]
    assert await store.bell_channel(T, "U1", P, RUN) == "C1"

    await save(store, FAILED)  # the run goes on: nothing for anyone's DM
    assert await store.ring_due() == 0
    assert await owed(store, U1) == [] and at(U1) not in await store.work()

    await save(store, END, snapshot=ended())
    assert await store.ring_due() == 2
    assert await store.ring_due() == 0  # rung once
    assert await owed(store, U1) == [EventKind.JOB_FINISHED.value]
    [row] = await store.outbox(T, U1)
    assert row.event == END and row.run_id == RUN
    assert (await store.work())[at(U1)] is True
    await store.mark_sent(row.id, ts="1.0")
    assert at(U1) not in await store.work()


async def test_taken_off_hears_nothing(store: Store) -> None:
    await store.subscribe(T, "C1", P, added_by="U1")
    assert await store.add_bell(T, P, RUN, "U1", "C1") == "added"
    assert await store.add_bell(T, P, RUN, "U2", "C1") == "added"
    assert await store.remove_bell(T, P, RUN, "U1")
    assert not await store.remove_bell(T, P, RUN, "U1")
    await save(store, END, snapshot=ended())
    assert await store.ring_due() == 1
    assert await owed(store, U1) == [] and at(U1) not in await store.work()
    # Off after the end was queued, before it was posted: not posted either.
    assert await store.remove_bell(T, P, RUN, "U2")
    assert await owed(store, person_address("U2")) == []
    assert at(person_address("U2")) not in await store.work()


async def test_a_request_after_the_end_is_stored_is_rung(store: Store) -> None:
    await store.subscribe(T, "C1", P, added_by="U1")
    await save(store, END, snapshot=ended())
    assert await store.add_bell(T, P, RUN, "U1", "C1") == "added"
    assert await store.ring_due() == 1
    assert await owed(store, U1) == [EventKind.JOB_FINISHED.value]


async def test_once_across_racing_replicas(postgres_url: str) -> None:
    replicas = [await Store.open(postgres_url) for _ in range(2)]
    try:
        await replicas[0].subscribe(T, "C1", P, added_by="U1")
        await replicas[1].add_bell(T, P, RUN, "U1", "C1")
        await save(replicas[0], END, snapshot=ended())
        rung = await asyncio.gather(*(r.ring_due() for r in replicas * 3))
        assert sum(rung) == 1
        assert await owed(replicas[1], U1) == [EventKind.JOB_FINISHED.value]
    finally:
        for replica in replicas:
            await replica.close()

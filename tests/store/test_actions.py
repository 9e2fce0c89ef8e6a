"""The actions table: one row per (project, run, action, trial) however many clicks race, on
SQLite and PostgreSQL; what an action did and its message are written together."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import datetime, timedelta

from bot.core.events import Event, EventKind
from bot.store import Store
from bot.store.actions import ActionRecord
from bot.store.schema import CLAIMED, DONE, STARTED, UNKNOWN
from tests.store.test_store import T0

T = ""  # the workspace of the rows these tests write (single mode: adopted at start)

STOP = ActionRecord(
    project_id="42", run_id="R1", action="stop", target="R1", channel_id="C1", user_id="U1"
)


def use(trial: str, user: str = "U1") -> ActionRecord:
    return ActionRecord(
        project_id="42", run_id="R1", action="use", target=trial, channel_id="C1",
        user_id=user, trial_id=trial, trial_name=f"trial {trial}",
    )  # fmt: skip


def audit(key: str) -> Event:
    return Event(kind=EventKind.ACTION_TAKEN, key=key, project_id="42", run_id="R1")


async def test_many_clicks_at_once_claim_once(database_url: str) -> None:
    """Two stores stand for two replicas (or one process's concurrent clicks)."""
    stores = [await Store.open(database_url) for _ in range(2)]
    try:
        clicks = [s.claim_action(replace(STOP, user_id=f"U{i}")) for i, s in enumerate(stores * 4)]
        results = await asyncio.gather(*clicks)
        firsts = [record for first, record in results if first]
        assert len(firsts) == 1
        assert {record.id for _, record in results} == {firsts[0].id}
        assert {record.user_id for _, record in results} == {firsts[0].user_id}
    finally:
        for store in stores:
            await store.close()


async def test_each_trial_and_action_has_its_own_row(store: Store) -> None:
    assert (await store.claim_action(use("a")))[0]
    assert (await store.claim_action(use("b")))[0]
    assert (await store.claim_action(STOP))[0]
    first, record = await store.claim_action(use("a", user="U9"))
    assert not first and record.user_id == "U1" and record.trial_name == "trial a"
    assert record.created_at is not None and record.state == CLAIMED


async def test_a_refused_call_lets_the_next_click_try_again(store: Store) -> None:
    first, record = await store.claim_action(STOP)
    assert first and record.id is not None
    await store.drop_action(record.id)
    assert (await store.claim_action(STOP))[0]


async def test_the_outcome_and_its_message_are_written_together_and_once(store: Store) -> None:
    await store.subscribe(T, "C1", "42", added_by="U1")
    _, record = await store.claim_action(use("a"))
    assert record.id is not None
    moved = await store.move_action(
        record.id, from_states=[CLAIMED], state=STARTED, job_id="77", events=[audit("k1")]
    )
    assert moved
    again = await store.move_action(
        record.id, from_states=[CLAIMED], state=UNKNOWN, events=[audit("k2")]
    )
    assert not again  # the state had moved on: nothing written, no second message
    assert [row.event.key for row in await store.outbox(T, "C1")] == ["k1"]
    [followed] = await store.followed_actions()
    assert (followed.state, followed.job_id) == (STARTED, "77")
    assert await store.move_action(record.id, from_states=[STARTED], state=DONE, detail="ok")
    assert await store.followed_actions() == []
    [done] = await store.actions_of(T, "42", "R1")
    assert (done.state, done.detail) == (DONE, "ok")


async def test_a_claim_left_by_a_dead_process_is_found_once_it_expires(database_url: str) -> None:
    clock = [T0]

    def now() -> datetime:
        return clock[0]

    store = await Store.open(database_url, now=now)
    try:
        await store.claim_action(STOP, claim_s=60)
        assert await store.stale_actions() == []
        clock[0] = T0 + timedelta(seconds=61)
        [stale] = await store.stale_actions()
        assert stale.action == "stop" and stale.state == CLAIMED
    finally:
        await store.close()


async def test_a_stop_and_an_extend_of_one_run_are_two_rows(store: Store) -> None:
    """The key names the action: an extend after a stop of the same run (no trial in either)
    is its own first click, not the stop's row read back."""
    extend = replace(STOP, action="extend", user_id="U2")
    stopped, stop_row = await store.claim_action(STOP)
    extended, extend_row = await store.claim_action(extend)
    assert stopped and extended and stop_row.id != extend_row.id
    assert (extend_row.action, extend_row.user_id) == ("extend", "U2")
    again, row = await store.claim_action(replace(STOP, user_id="U3"))
    assert not again and row.id == stop_row.id and row.user_id == "U1"
    assert [a.action for a in await store.actions_of(T, "42", "R1")] == ["stop", "extend"]


async def test_a_claim_whose_holder_is_gone_is_found_at_once(database_url: str) -> None:
    """A replica's claims stay its own while it lives; once its process is gone (SQLite: any
    other process; PostgreSQL: its session ended), the next replica or start finds them at
    once, long before they expire. Claims from before v8 (no holder) wait for their expiry."""
    holder, other = [await Store.open(database_url) for _ in range(2)]
    try:
        await holder.join("eon-bot test holder")
        await other.join("eon-bot test other")
        _, mine = await holder.claim_action(STOP, claim_s=600, owner="eon-bot test holder")
        _, legacy = await holder.claim_action(use("a"), claim_s=600)  # no holder named
        assert await holder.stale_actions("eon-bot test holder") == []
        if holder.backend.shared:
            assert await other.stale_actions("eon-bot test other") == []  # alive: its own
        await holder.leave()  # as a SIGKILL ends its session
        [stale] = await other.stale_actions("eon-bot test other")
        assert stale.id == mine.id != legacy.id
        assert await other.stale_actions() == []  # asked without a name: expiry alone
    finally:
        for store in (holder, other):
            await store.close()


async def test_a_claim_is_read_back_whole(store: Store) -> None:
    first, record = await store.claim_action(use("a"))
    assert first
    assert (record.project_id, record.run_id, record.action, record.target) == (
        "42",
        "R1",
        "use",
        "a",
    )
    assert (record.channel_id, record.user_id, record.trial_id) == ("C1", "U1", "a")
    assert (record.trial_name, record.state, record.job_id) == ("trial a", CLAIMED, None)


async def test_a_move_moves_only_its_own_row(store: Store) -> None:
    _, stop = await store.claim_action(STOP)
    _, used = await store.claim_action(use("a"))
    assert stop.id is not None
    assert await store.move_action(stop.id, from_states=[CLAIMED], state=DONE)
    states = {a.action: a.state for a in await store.actions_of(T, "42")}
    assert states == {"stop": DONE, "use": CLAIMED}


async def test_a_claim_is_stale_only_past_its_expiry_and_only_while_claimed(
    database_url: str,
) -> None:
    clock = [T0]
    store = await Store.open(database_url, now=lambda: clock[0])
    try:
        _, stop = await store.claim_action(STOP)  # a claim holds 60 s unless told otherwise
        _, used = await store.claim_action(use("a"), claim_s=60)
        clock[0] = T0 + timedelta(seconds=60)
        assert await store.stale_actions() == []  # at its expiry: not yet past it
        assert used.id is not None
        await store.move_action(used.id, from_states=[CLAIMED], state=UNKNOWN)
        clock[0] = T0 + timedelta(seconds=61)
        assert [a.id for a in await store.stale_actions()] == [stop.id]  # the told one is not
    finally:
        await store.close()


async def test_only_started_jobs_of_extend_and_use_are_followed(store: Store) -> None:
    _, stop = await store.claim_action(STOP)
    _, used = await store.claim_action(use("a"))
    _, unnamed = await store.claim_action(use("b"))
    assert stop.id is not None and used.id is not None and unnamed.id is not None
    await store.move_action(stop.id, from_states=[CLAIMED], state=STARTED, job_id="R1")
    await store.move_action(used.id, from_states=[CLAIMED], state=STARTED, job_id="77")
    await store.move_action(unnamed.id, from_states=[CLAIMED], state=STARTED)  # no job named
    assert [(a.trial_id, a.job_id) for a in await store.followed_actions()] == [("a", "77")]


async def test_reads_of_many_rows_are_oldest_first(store: Store) -> None:
    """Not in the order an index or the table happens to hold them (PostgreSQL writes an
    updated row anew, and reads by an index in its key's order): by id."""
    claimed = [(await store.claim_action(use(trial)))[1].id for trial in ("a", "b", "c")]
    for record_id in reversed(claimed):
        assert record_id is not None
        await store.move_action(record_id, from_states=[CLAIMED], state=STARTED, job_id="7")
    assert [a.id for a in await store.followed_actions()] == claimed
    stops = []
    for project in ("43", "42", "41"):
        _, record = await store.claim_action(replace(STOP, project_id=project))
        assert record.id is not None
        stops.append(record.id)
    await store.claim_action(replace(STOP, action="extend"))  # not a stop
    await store.claim_action(replace(STOP, project_id="44"))  # not asked for
    for record_id in stops[:2]:
        await store.move_action(record_id, from_states=[CLAIMED], state=DONE)
    assert [a.id for a in await store.stops_in(T, ["41", "42", "43"])] == stops


async def test_a_run_was_stopped_from_slack_if_a_stop_of_it_is_recorded(store: Store) -> None:
    assert not await store.stopped_from_slack("42", "R1")
    await store.claim_action(use("a"))  # not a stop
    await store.claim_action(replace(STOP, run_id="R2"))  # another run's
    await store.claim_action(replace(STOP, project_id="43"))  # another project's
    assert not await store.stopped_from_slack("42", "R1")
    _, stop = await store.claim_action(STOP)
    assert stop.id is not None
    await store.move_action(stop.id, from_states=[CLAIMED], state=UNKNOWN)  # any state counts
    assert await store.stopped_from_slack("42", "R1")

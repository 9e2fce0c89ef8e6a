"""Every row belongs to a workspace (issue 33): two workspaces on one store, one Slack Connect
channel id in both, one project watched from both; migration v12 and single mode's adoption."""

from __future__ import annotations

from sqlalchemy import text

from bot.core.events import Event, EventKind
from bot.core.rules import RuleError, parse_rule
from bot.store import Outage, Store, TeamChannel
from bot.store.migrations import SCHEMA_VERSION
from tests.store import rewind
from tests.store.test_installations import row
from tests.store.test_store import RUN, T0, P, completed, save, snapshot, started

A, B = "T0AAAA", "T0BBBB"
SHARED = "C0SHARED"  # a Slack Connect channel: one id, in both workspaces


async def test_two_workspaces_each_see_their_own_rows(store: Store) -> None:
    assert await store.subscribe(A, SHARED, P, added_by="UA")
    assert await store.subscribe(B, SHARED, P, added_by="UB", mode="best")
    assert await store.subscribe(B, "C0B", P, added_by="UB")
    await save(store, started(), completed(1), snapshot=snapshot(1))  # one poll, fanned out
    assert [(r.team_id, r.event.kind) for r in await store.outbox(A, SHARED)] == [
        (A, EventKind.RUN_STARTED),
        (A, EventKind.TRIAL_COMPLETED),
    ]
    assert {r.team_id for r in await store.outbox(B, SHARED)} == {B}
    assert set(await store.work()) == {
        TeamChannel(A, SHARED),
        TeamChannel(B, SHARED),
        TeamChannel(B, "C0B"),
    }
    assert [s.channel_id for s in await store.subscriptions(A)] == [SHARED]
    assert await store.subscriptions("T0OTHER") == []
    assert not await store.unsubscribe("T0OTHER", SHARED, P)  # another's: as if none
    assert await store.unsubscribe(A, SHARED, P)
    assert await store.outbox(A, SHARED) == [] and len(await store.outbox(B, SHARED)) > 0


async def test_alerts_bells_digests_keys_and_actions_are_per_workspace(store: Store) -> None:
    await store.subscribe(A, SHARED, P, added_by="UA")
    await store.subscribe(B, SHARED, P, added_by="UB")
    rule = parse_rule("accuracy>=50%")
    assert not isinstance(rule, RuleError)
    assert await store.add_alert(A, SHARED, P, rule, "UA") == "added"
    assert await store.add_alert("T0OTHER", SHARED, P, rule, "UX") == "not_watched"
    assert [a.rule for a in await store.alerts(A, channel_id=SHARED)] == [rule.text]
    assert await store.alerts(B, channel_id=SHARED) == []
    await store.set_digest(A, SHARED, 9 * 60, "UA")
    assert (await store.digest_at(A, SHARED), await store.digest_at(B, SHARED)) == (540, None)
    await store.put_key(A, P, "sealed-a", role="admin", added_by="UA")
    await store.put_key(B, P, "sealed-b", role="admin", added_by="UB")
    assert {(k.team_id, k.sealed) for k in await store.sealed_keys()} == {
        (A, "sealed-a"),
        (B, "sealed-b"),
    }
    assert await store.remove_key(A, P) and not await store.remove_key(A, P)
    assert [k.team_id for k in await store.sealed_keys()] == [B]
    await save(store, started(), snapshot=snapshot(1))
    assert await store.add_bell(A, P, RUN, "UA", SHARED) == "added"
    assert await store.add_bell("T0OTHER", P, RUN, "UX", SHARED) == "not_watched"
    assert (await store.bells_of(A, P, RUN), await store.bells_of(B, P, RUN)) == (["UA"], [])


async def test_a_workspace_that_may_not_read_the_project_is_told_nothing(store: Store) -> None:
    """DESIGN33 point 3: with no deployment key, only the workspaces with a key of their own
    hear of the project (`readers`); the poll is still one."""
    await store.subscribe(A, "C0A", P, added_by="UA")
    await store.subscribe(B, "C0B", P, added_by="UB")
    event = Event(kind=EventKind.API_RECOVERED, key=f"{P}:outage:x", project_id=P)
    added = await store.save_poll(
        P, snapshot=snapshot(1), events=[event], outage=Outage(), start_event=started(), readers={A}
    )
    assert added == 2  # the start and the recovery, in A alone
    assert len(await store.outbox(A, "C0A")) == 2 and await store.outbox(B, "C0B") == []
    [(_, needs_start)] = await _starts(store, B)
    assert needs_start  # B still waits for its start, told once it may read


async def test_a_workspace_that_left_is_told_nothing_and_polls_nothing_until_it_returns(
    store: Store,
) -> None:
    """Within its grace period, a departed workspace's watches are kept but count for nothing:
    a project only it watches is not polled, a poll of a shared one queues nothing for it, and
    its start waits; a reinstall brings all of it back."""
    await store.put_installation(row(A))
    await store.put_installation(row(B))
    await store.subscribe(A, "C0A", P, added_by="UA")
    await store.subscribe(B, "C0B", P, added_by="UB")
    await store.subscribe(A, "C0A", "99", added_by="UA")  # A's alone
    assert await store.watched_projects() == [P, "99"]
    await store.revoke_installation(A)
    assert await store.away_teams() == {A}
    assert await store.watched_projects() == [P]
    await save(store, started(), completed(1), snapshot=snapshot(1))
    assert await store.outbox(A, "C0A") == [] and len(await store.outbox(B, "C0B")) == 2
    assert [needs for _, needs in await _starts(store, A)] == [True, True]

    await store.put_installation(row(A, sealed="sealed-2"))  # back within the week
    assert await store.away_teams() == frozenset()
    assert await store.watched_projects() == [P, "99"]
    await save(store, completed(2), snapshot=snapshot(2))
    assert [r.event.kind for r in await store.outbox(A, "C0A")] == [EventKind.TRIAL_COMPLETED]


async def _starts(store: Store, team: str) -> list[tuple[str, bool]]:
    async with store.backend.read() as conn:
        rows = await conn.execute(
            text("SELECT channel_id, needs_start FROM subscriptions WHERE team_id = :t"),
            {"t": team},
        )
        return [(str(r[0]), bool(r[1])) for r in rows]


async def test_a_v11_database_gets_workspaces_and_single_mode_adopts_its_rows(
    database_url: str,
) -> None:
    """v11 → v12 with rows in every per-workspace table: they read as workspace '' and
    keep working; `adopt` names them once (a second time changes nothing)."""
    store = await Store.open(database_url)
    await store.close()
    store = await Store.open(database_url)
    async with store.backend.write() as conn:
        await rewind(conn, upto=11)
        t = T0.replace(tzinfo=None)
        await conn.execute(
            text("INSERT INTO subscriptions VALUES ('C1', :p, 'U', 'all', NULL, :t, false)"),
            {"p": P, "t": t},
        )
        await conn.execute(
            text("INSERT INTO ei_keys VALUES (:p, 'sealed', 'admin', 'U', :t)"), {"p": P, "t": t}
        )
        await conn.execute(
            text("INSERT INTO digests (channel_id, at_minute, set_by) VALUES ('C1', 60, 'U')")
        )
        await conn.execute(
            text(
                "INSERT INTO alerts (channel_id, project_id, rule, rule_hash, added_by, "
                "created_at) VALUES ('C1', :p, 'accuracy>=50%', 'h', 'U', :t)"
            ),
            {"p": P, "t": t},
        )
    await store.close()
    store = await Store.open(database_url)  # the upgrade
    try:
        [(version,)] = await _sql(store, "SELECT version FROM schema_version")
        assert version == SCHEMA_VERSION
        assert [s.channel_id for s in await store.subscriptions("")] == ["C1"]
        assert await store.digest_at("", "C1") == 60
        await save(store, started(), snapshot=snapshot(1))
        assert [r.event.kind for r in await store.outbox("", "C1")] == [EventKind.RUN_STARTED]
        adopted = await store.adopt(A)
        assert adopted == 5  # subscription, key, digest, alert, and the row just queued
        assert await store.adopt(A) == 0
        assert await store.subscriptions("") == [] and len(await store.subscriptions(A)) == 1
        assert [k.team_id for k in await store.sealed_keys()] == [A]
        assert len(await store.outbox(A, "C1")) == 1 and await store.digest_at(A, "C1") == 60
        assert await store.subscribe(A, "C2", P, added_by="U")  # ids go on after the old ones
    finally:
        await store.close()


async def _sql(store: Store, query: str) -> list[tuple[object, ...]]:
    async with store.backend.read() as conn:
        return [tuple(row) for row in await conn.execute(text(query))]

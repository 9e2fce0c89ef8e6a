"""The installations and OAuth states as the store keeps them (SQLite and PostgreSQL): a
workspace that leaves is marked at once and forgotten only after its grace period, unless it
installs again meanwhile; a state is good once, until it expires, and kept only as its digest."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from bot.slack.install import GRACE, forget_departed
from bot.store import SealedInstallation, Store
from bot.store.schema import oauth_states, subscriptions

NOW = datetime(2026, 12, 8, 9, 0, tzinfo=UTC)


def row(team: str, sealed: str = "sealed-1") -> SealedInstallation:
    return SealedInstallation(
        team_id=team,
        enterprise_id=None,
        team_name=f"Team {team}",
        is_enterprise_install=False,
        app_id="A1",
        bot_id="B1",
        bot_user_id="U0BOT",
        scopes="commands,chat:write",
        installed_by="U0ADA",
        installed_at=NOW,
        sealed_token=sealed,
    )


async def test_a_workspace_that_leaves_is_not_handed_out_and_a_reinstall_brings_it_back(
    store: Store,
) -> None:
    await store.put_installation(row("T1"))
    await store.put_installation(row("T2"))
    found = await store.installation("T1")
    assert found is not None and found.team_name == "Team T1" and found.revoked_at is None
    assert await store.installed_teams() == {"T1": "sealed-1", "T2": "sealed-1"}

    assert await store.revoke_installation("T1")
    assert not await store.revoke_installation("T1")  # once
    assert await store.installation("T1") is None
    assert await store.installed_teams() == {"T2": "sealed-1"}
    assert await store.workspace_counts() == (1, 1)

    await store.put_installation(row("T1", sealed="sealed-2"))
    again = await store.installation("T1")
    assert again is not None and again.sealed_token == "sealed-2"
    assert await store.workspace_counts() == (2, 0)


async def test_a_departed_workspace_is_forgotten_after_the_grace_period(store: Store) -> None:
    for team in ("T1", "T2", "T3"):
        await store.put_installation(row(team))
        await store.subscribe(team, "C1", "42", added_by="U0ADA")  # one channel id, two teams
    await store.revoke_installation("T1")  # left now, by the store's clock
    await store.revoke_installation("T2")
    await store.put_installation(row("T2"))  # and came back

    assert await forget_departed(store, datetime.now(UTC) + GRACE - timedelta(minutes=1)) == []
    assert await forget_departed(store, datetime.now(UTC) + GRACE + timedelta(minutes=1)) == ["T1"]
    assert await store.workspace_counts() == (2, 0)
    assert await store.installation("T2") is not None
    for team, left in (("T1", 0), ("T2", 1), ("T3", 1)):  # T1's rows are gone, no one else's
        assert len(await store.subscriptions(team, project_id="42")) == left
    async with store.backend.read() as conn:  # the table itself, not SQLite's memory of it
        teams = set((await conn.scalars(select(subscriptions.c.team_id))).all())
    assert teams == {"T2", "T3"}


async def test_a_state_is_good_once_until_it_expires_and_kept_as_its_digest(store: Store) -> None:
    await store.issue_state("state-a", NOW + timedelta(minutes=10))
    await store.issue_state("state-b", NOW + timedelta(minutes=10))
    async with store.backend.read() as conn:
        kept = list((await conn.scalars(select(oauth_states.c.state_hash))).all())
    assert len(kept) == 2 and "state-a" not in kept
    assert not await store.consume_state("state-x", NOW)
    assert await store.consume_state("state-a", NOW + timedelta(minutes=9))
    assert not await store.consume_state("state-a", NOW + timedelta(minutes=9))
    assert not await store.consume_state("state-b", NOW + timedelta(minutes=11))

"""`bot.slack.tokens`: which client speaks for a workspace, and delivery asking it per channel."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from bot.core.events import Event, EventKind
from bot.sandbox.fakeslack import FakeSlack
from bot.slack.delivery import Delivery
from bot.slack.tokens import OneWorkspace, request_workspace, workspace_key
from bot.store import Outage, Store

T = ""  # the workspace of the rows these tests write (single mode: adopted at start)

HANG_S = 30.0  # a deadline only against a hang


@pytest.mark.parametrize(
    ("team", "enterprise", "org_install", "key"),
    [
        ("T1", None, False, "T1"),
        ("T1", "E1", False, "T1"),  # a workspace of a grid, installed in it alone
        ("T1", "E1", True, "E1"),  # an org-wide install: the org is the workspace
        (None, "E1", True, "E1"),
        (None, None, False, ""),
        ("T1", None, True, "T1"),  # an org install with no enterprise id: the team
    ],
)
def test_the_workspace_key(
    team: str | None, enterprise: str | None, org_install: bool, key: str
) -> None:
    assert workspace_key(team, enterprise, enterprise_install=org_install) == key
    context: dict[str, Any] = {
        "team_id": team,
        "enterprise_id": enterprise,
        "is_enterprise_install": org_install,
    }
    assert request_workspace(context) == key


async def test_one_workspace_speaks_for_its_team_alone() -> None:
    client = AsyncWebClient(token="xoxb-test")
    tokens = OneWorkspace(client)
    assert await tokens.client("") is client and tokens.teams() == frozenset()
    tokens.named("T1")
    assert await tokens.client("T1") is client
    assert await tokens.client("") is client  # rows from before it was named
    assert await tokens.client("T2") is None  # another workspace's rows: not with this token
    assert tokens.team_of({"team_id": "T2"}) == "T1"  # every request is the one workspace's
    assert tokens.teams() == frozenset({"T1"}) and tokens.refused("T1")


class Switch:
    """A workspace's token that comes and goes; counts how often delivery asked for it."""

    def __init__(self, client: AsyncWebClient) -> None:
        self.client_now: AsyncWebClient | None = None
        self._client = client
        self.asked = 0

    async def client(self, team_id: str) -> AsyncWebClient | None:
        self.asked += 1
        return self.client_now

    def install(self) -> None:
        self.client_now = self._client

    def teams(self) -> frozenset[str]:
        return frozenset()

    def team_of(self, context: Any) -> str:
        return ""

    def refused(self, team_id: str) -> bool:
        return False


async def test_a_channel_of_a_workspace_without_a_token_keeps_its_rows(tmp_path: Path) -> None:
    """No client for the workspace: nothing is called, its rows wait; once it has one (a
    reinstall), they are posted."""
    store = await Store.open(f"sqlite:///{tmp_path}/bot.db")
    async with FakeSlack() as fake:
        tokens = Switch(AsyncWebClient(token="xoxb-test", base_url=fake.api_url))
        delivery = Delivery(store=store, tokens=tokens, idle_s=0.05)
        await store.subscribe(T, "C1", "7", added_by="U1")
        event = Event(kind=EventKind.API_RECOVERED, key="7:outage:x", project_id="7")
        assert await store.save_poll("7", snapshot=None, events=[event], outage=Outage()) == 1
        runner = asyncio.create_task(delivery.run())
        try:
            delivery.wake()
            async with asyncio.timeout(HANG_S):
                while tokens.asked == 0:  # noqa: ASYNC110 (nothing to wait on but the ask)
                    await asyncio.sleep(0.02)
            [row] = await store.outbox(T, "C1")
            assert fake.calls == [] and (row.state, row.attempts) == ("pending", 0)
            assert delivery.auth_error is None
            tokens.install()
            delivery._scheduler._not_before.clear()  # its hold (a minute) is not the point
            delivery.wake()
            await fake.wait_for(lambda f: f.messages("C1"), timeout=HANG_S)
            async with asyncio.timeout(HANG_S):  # and marked sent
                while await store.outbox(T, "C1"):  # noqa: ASYNC110
                    await asyncio.sleep(0.02)
        finally:
            await delivery.stop()
            runner.cancel()
            await asyncio.gather(runner, return_exceptions=True)
            await store.close()


class TwoWorkspaces:
    """Multi mode's shape: one client per workspace; A's token is refused by Slack."""

    def __init__(self, fake: FakeSlack) -> None:
        url = fake.api_url
        self.clients = {
            "TA": AsyncWebClient(token="xoxb-wrong", base_url=url, retry_handlers=[]),
            "TB": AsyncWebClient(token="xoxb-test", base_url=url, retry_handlers=[]),
        }
        self.refusals: list[str] = []

    async def client(self, team_id: str) -> AsyncWebClient | None:
        return self.clients.get(team_id)

    def teams(self) -> frozenset[str]:
        return frozenset(self.clients)

    def team_of(self, context: Any) -> str:
        return str(context.get("team_id") or "")

    def refused(self, team_id: str) -> bool:
        self.refusals.append(team_id)
        return False  # one workspace among several: set aside alone


async def test_a_workspace_whose_token_is_refused_stops_alone(tmp_path: Path) -> None:
    """One Slack Connect channel in two workspaces: A's token refused holds A's rows and
    stops nothing else; B's are posted, and /healthz has nothing to say (no `auth_error`)."""
    store = await Store.open(f"sqlite:///{tmp_path}/bot.db")
    async with FakeSlack() as fake:
        tokens = TwoWorkspaces(fake)
        delivery = Delivery(store=store, tokens=tokens, idle_s=0.05)
        for team in ("TA", "TB"):
            await store.subscribe(team, "C1", "7", added_by="U1")
        event = Event(kind=EventKind.API_RECOVERED, key="7:outage:x", project_id="7")
        assert await store.save_poll("7", snapshot=None, events=[event], outage=Outage()) == 2
        runner = asyncio.create_task(delivery.run())
        try:
            delivery.wake()
            await fake.wait_for(lambda f: f.messages("C1"), timeout=HANG_S)
            async with asyncio.timeout(HANG_S):
                while await store.outbox("TB", "C1") or not tokens.refusals:  # noqa: ASYNC110
                    await asyncio.sleep(0.02)
            assert tokens.refusals == ["TA"] and delivery.auth_error is None
            assert len(fake.messages("C1")) == 1 and len(await store.outbox("TA", "C1")) == 1
        finally:
            await delivery.stop()
            runner.cancel()
            await asyncio.gather(runner, return_exceptions=True)
            await store.close()

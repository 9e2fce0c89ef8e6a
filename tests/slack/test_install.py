"""'Add to Slack' end to end over real HTTP: a browser (aiohttp's client, with its cookies)
goes from /slack/install through the Slack stand-in's authorize page to /slack/oauth_redirect;
bolt exchanges the code with oauth.v2.access at SLACK_API_URL and stores the installation,
sealed. Two workspaces install; each request is answered with its own workspace's token; a
forged or expired state is refused in one line; an uninstall stops that workspace only.
On SQLite and PostgreSQL (the `store` fixture)."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from pydantic import SecretStr
from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import select
from yarl import URL

from bot.sandbox.fakeslack import FakeSlack
from bot.sandbox.slashcmd import event_body, signed_headers, slash_body
from bot.settings import Settings
from bot.slack.installed import ManyWorkspaces, many_workspaces
from bot.slack.web import make_web_app
from bot.store import Store
from bot.store.schema import installations
from tests.keys.test_keys import Condition

CLIENT_ID = "1111.2222"
CLIENT_SECRET = "client-secret-" + "z" * 20
SIGNING = "signing-secret"
SECRET_KEY = "k" * 40


@dataclass
class Stack:
    fake: FakeSlack
    store: Store
    many: ManyWorkspaces
    url: str
    browser: aiohttp.ClientSession
    clock: list[datetime]

    async def install(self, team: str) -> aiohttp.ClientResponse:
        """A person installs the app in `team`: every redirect followed, cookies kept."""
        async with self.browser.get(f"{self.url}/slack/install?team={team}") as answer:
            await answer.read()
            return answer

    async def command(self, team: str, text: str = "whoami") -> str:
        body = slash_body(
            text,
            channel_id=f"C{team}",
            user_id="U0ADA",
            response_url=self.fake.response_url(),
            team_id=team,
        )
        async with self.browser.post(
            f"{self.url}/slack/events", data=body, headers=signed_headers(SIGNING, body)
        ) as answer:
            return await answer.text()

    async def event(self, payload: dict[str, Any]) -> int:
        body = event_body(payload["event"], team_id=payload["team_id"])
        headers = signed_headers(SIGNING, body, content_type="application/json")
        async with self.browser.post(f"{self.url}/slack/events", data=body, headers=headers) as a:
            return a.status


def settings_for(fake: FakeSlack, **values: Any) -> Settings:
    given = {
        "slack_client_id": CLIENT_ID,
        "slack_client_secret": CLIENT_SECRET,
        "slack_signing_secret": SIGNING,
        "slack_api_url": fake.api_url,
        "secret_key": SECRET_KEY,
    }
    return Settings.given(**given | values)


def bolt_app(fake: FakeSlack, many: ManyWorkspaces) -> AsyncApp:
    bolt = AsyncApp(
        client=AsyncWebClient(base_url=fake.api_url),
        signing_secret=SIGNING,
        process_before_response=True,
        **many.bolt_options(),
    )
    many.register(bolt)

    @bolt.command("/eon")
    async def whoami(ack: Callable[..., Any], client: AsyncWebClient) -> None:
        """Answers with the workspace Slack says the request's token belongs to."""
        await ack(f"token of {(await client.auth_test())['team_id']}")

    return bolt


@pytest.fixture
async def stack(store: Store) -> AsyncIterator[Stack]:
    clock = [datetime.now(UTC)]
    async with FakeSlack() as fake:
        made: list[AsyncWebClient] = []

        def make_client(token: SecretStr) -> AsyncWebClient:
            made.append(AsyncWebClient(token=token.get_secret_value(), base_url=fake.api_url))
            return made[-1]

        many = many_workspaces(settings_for(fake), store, make_client, now=lambda: clock[0])
        app = make_web_app(bolt_app(fake, many), _healthy, signing_secret=SIGNING)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        url = f"http://127.0.0.1:{runner.addresses[0][1]}"
        fake.enable_oauth(CLIENT_ID, CLIENT_SECRET, f"{url}/slack/oauth_redirect")
        jar = aiohttp.CookieJar(unsafe=True, treat_as_secure_origin=[url])
        try:
            async with aiohttp.ClientSession(cookie_jar=jar) as browser:
                yield Stack(fake, store, many, url, browser, clock)
        finally:
            await runner.cleanup()


async def _healthy() -> None:
    return None


def page_line(html: str) -> str:
    found = re.findall(r"<p>(.*?)</p>", html)
    assert len(found) == 1, html
    return found[0]


async def test_two_workspaces_install_and_each_request_uses_its_own_token(
    stack: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # what LOG_LEVEL=DEBUG would show
    for team in ("T0ALPHA", "T0BETA"):
        answer = await stack.install(team)
        assert answer.status == 200 and answer.url.path == "/slack/oauth_redirect"
        assert "eon-bot is installed in the Workspace " + team in page_line(await answer.text())

    tokens = {team: stack.fake.token_of(team) for team in ("T0ALPHA", "T0BETA")}
    assert tokens["T0ALPHA"] != tokens["T0BETA"]
    assert await stack.command("T0ALPHA") == "token of T0ALPHA"
    assert await stack.command("T0BETA") == "token of T0BETA"
    assert await stack.many.tokens.client("T0NEVER") is None

    alpha = await stack.many.tokens.client("T0ALPHA")
    assert alpha is not None and (await alpha.auth_test())["team_id"] == "T0ALPHA"
    assert stack.many.tokens.teams() >= {"T0ALPHA"}

    async with stack.store.backend.read() as conn:
        rows = [dict(r._mapping) for r in (await conn.execute(select(installations))).all()]
    assert {r["team_id"] for r in rows} == {"T0ALPHA", "T0BETA"}
    assert {r["installed_by"] for r in rows} == {stack.fake.installer}
    for token in tokens.values():
        assert all(token not in str(value) for row in rows for value in row.values())
        assert token not in caplog.text
    assert CLIENT_SECRET not in caplog.text
    assert stack.fake.calls_to("oauth.v2.access")[0].error is None


async def test_a_forged_state_is_refused_in_one_line(stack: Stack) -> None:
    async with stack.browser.get(
        f"{stack.url}/slack/install?team=T0ALPHA", allow_redirects=False
    ) as started:
        assert started.status == 302
    forged = f"{stack.url}/slack/oauth_redirect?code=anything&state=forged"
    async with stack.browser.get(forged) as answer:  # the cookie holds the real state
        assert answer.status == 400
        assert "was not started from this browser" in page_line(await answer.text())
    stack.browser.cookie_jar.update_cookies(
        {"slack-app-oauth-state": "forged"}, response_url=URL(stack.url)
    )
    async with stack.browser.get(forged) as answer:  # cookie and query agree, the store not
        assert answer.status == 401
        assert "This install link is not valid" in page_line(await answer.text())
    assert not stack.fake.calls_to("oauth.v2.access")  # the code was never tried
    assert await stack.store.workspace_counts() == (0, 0)


async def test_an_expired_state_is_refused_and_a_state_is_good_once(stack: Stack) -> None:
    async with stack.browser.get(
        f"{stack.url}/slack/install?team=T0ALPHA", allow_redirects=False
    ) as started:
        authorize = started.headers["Location"]
    assert authorize.startswith(stack.fake.authorize_url)
    stack.clock[0] += timedelta(minutes=11)
    async with stack.browser.get(authorize) as answer:
        assert answer.status == 401
        assert "expired after 10 minutes" in page_line(await answer.text())
    assert await stack.store.workspace_counts() == (0, 0)

    stack.clock[0] -= timedelta(minutes=11)
    answer = await stack.install("T0ALPHA")
    assert answer.status == 200
    replay = str(answer.url)  # the same code and state again
    async with stack.browser.get(replay) as again:
        assert again.status in (400, 401)
    assert len(stack.fake.calls_to("oauth.v2.access")) == 1


async def test_a_cancelled_install_says_so(stack: Stack) -> None:
    async with stack.browser.get(f"{stack.url}/slack/oauth_redirect?error=access_denied") as a:
        assert "The install was cancelled in Slack" in page_line(await a.text())


async def test_an_uninstall_stops_that_workspace_only(stack: Stack) -> None:
    await stack.install("T0ALPHA")
    await stack.install("T0BETA")
    assert await stack.many.tokens.client("T0ALPHA") is not None
    assert await stack.event(stack.fake.uninstall("T0ALPHA")) == 200

    assert await stack.many.tokens.client("T0ALPHA") is None
    assert await stack.store.workspace_counts() == (1, 1)
    before = len(stack.fake.calls)
    refused = await stack.command("T0ALPHA")
    assert "token of" not in refused  # bolt found no installation: nothing was called
    assert not [c for c in stack.fake.calls[before:] if c.team == "T0ALPHA"]
    assert await stack.command("T0BETA") == "token of T0BETA"

    answer = await stack.install("T0ALPHA")  # back within the grace period
    assert answer.status == 200
    assert await stack.command("T0ALPHA") == "token of T0ALPHA"
    assert await stack.store.workspace_counts() == (2, 0)


async def test_a_revoked_user_token_changes_nothing_a_revoked_bot_token_leaves(
    stack: Stack,
) -> None:
    await stack.install("T0ALPHA")
    user_only = {"type": "tokens_revoked", "tokens": {"oauth": ["U0ADA"], "bot": []}}
    await stack.event({"team_id": "T0ALPHA", "event": user_only})
    assert await stack.many.tokens.client("T0ALPHA") is not None
    bot = {"type": "tokens_revoked", "tokens": {"oauth": [], "bot": ["U0EONBOT"]}}
    await stack.event({"team_id": "T0ALPHA", "event": bot})
    assert await stack.many.tokens.client("T0ALPHA") is None


def replica(stack: Stack, **values: Any) -> ManyWorkspaces:
    """Another replica's view of the same database (its own clients), with `values` set."""
    return many_workspaces(
        settings_for(stack.fake, **values),
        stack.store,
        lambda token: AsyncWebClient(token=token.get_secret_value(), base_url=stack.fake.api_url),
        now=lambda: datetime.now(UTC),
    )


async def test_a_rotated_secret_key_opens_the_tokens_and_seals_them_again(stack: Stack) -> None:
    await stack.install("T0ALPHA")
    before = (await stack.store.installed_teams())["T0ALPHA"]
    new = "n" * 40
    assert await replica(stack, secret_key=new).tokens.client("T0ALPHA") is None  # unreadable
    rotating = replica(stack, secret_key=new, secret_key_previous=SECRET_KEY)
    assert await rotating.tokens.client("T0ALPHA") is not None
    await rotating.tokens.refresh()
    assert (await stack.store.installed_teams())["T0ALPHA"] != before
    alpha = await replica(stack, secret_key=new).tokens.client("T0ALPHA")
    assert alpha is not None and (await alpha.auth_test())["team_id"] == "T0ALPHA"


async def test_another_replica_drops_a_workspace_that_left_at_its_refresh(stack: Stack) -> None:
    await stack.install("T0ALPHA")
    other = replica(stack)
    assert await other.tokens.client("T0ALPHA") is not None  # kept from now on
    await stack.event(stack.fake.uninstall("T0ALPHA"))
    assert await other.tokens.client("T0ALPHA") is not None  # until its refresh
    await other.tokens.refresh()
    assert await other.tokens.client("T0ALPHA") is None
    assert "T0ALPHA" not in other.tokens.teams()


async def test_a_token_slack_refused_is_not_used_again_until_a_reinstall(stack: Stack) -> None:
    await stack.install("T0ALPHA")
    assert await stack.many.tokens.client("T0ALPHA") is not None
    assert stack.many.tokens.refused("T0ALPHA") is False  # the others go on
    assert await stack.many.tokens.client("T0ALPHA") is None
    await stack.many.tokens.refresh()
    assert await stack.many.tokens.client("T0ALPHA") is None
    await stack.install("T0ALPHA")  # a new token
    assert await stack.many.tokens.client("T0ALPHA") is not None


async def test_an_org_wide_install_is_kept_under_its_enterprise_for_every_workspace(
    store: Store,
) -> None:
    """Enterprise Grid: one token for the org, found from any of its workspaces' requests."""
    from slack_sdk.oauth.installation_store import Installation

    from bot.slack.install import SealedInstallations, token_box

    settings = Settings.given(secret_key=SECRET_KEY)
    sealed = SealedInstallations(store, token_box(settings), now=lambda: datetime.now(UTC))
    await sealed.async_save(
        Installation(
            enterprise_id="E0ORG",
            team_id=None,
            is_enterprise_install=True,
            user_id="U0ADA",
            bot_token="xoxb-org-token",
            bot_id="B1",
            bot_user_id="U0BOT",
            bot_scopes=["commands"],
        )  # fmt: skip
    )
    assert await store.workspace_counts() == (1, 0)
    found = await sealed.async_find_bot(
        enterprise_id="E0ORG", team_id="T0ANY", is_enterprise_install=True
    )
    assert found is not None and found.bot_token == "xoxb-org-token"
    assert await sealed.async_find_bot(enterprise_id="E0ORG", team_id="T0ANY") is None
    assert (await store.installed_teams()).keys() == {"E0ORG"}


class Away:
    """The store, whose first read of the installations fails as a database that is away;
    `again` is set as the third begins (the second has ended by then)."""

    def __init__(self, store: Store) -> None:
        self._store, self.reads, self.again = store, 0, asyncio.Event()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    async def installed_teams(self) -> Any:
        self.reads += 1
        if self.reads == 1:
            raise ConnectionRefusedError("database away")
        if self.reads == 3:
            self.again.set()
        return await self._store.installed_teams()


async def test_a_refresh_during_a_database_outage_is_the_databases_condition_not_a_bug(
    stack: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    await stack.install("T0ALPHA")
    away, database = Away(stack.store), Condition()
    many = many_workspaces(
        settings_for(stack.fake), away,  # type: ignore[arg-type]
        lambda token: AsyncWebClient(token=token.get_secret_value()),
        now=lambda: datetime.now(UTC), database=database,  # type: ignore[arg-type]
    )  # fmt: skip
    runner = asyncio.create_task(many.tokens.run(every=0.0))
    try:
        await asyncio.wait_for(away.again.wait(), 30.0)  # a hang guard
    finally:
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)
    [(doing, error)] = database.told
    assert doing == "reading the installed workspaces"
    assert isinstance(error, ConnectionRefusedError)
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []
    assert many.tokens.teams() == {"T0ALPHA"}  # the next round read them


async def test_an_install_is_told_to_the_listeners_here_at_once_and_elsewhere_at_a_refresh(
    stack: Stack,
) -> None:
    """Delivery listens (`Delivery.look_again`): a workspace back holds its channels no more."""
    here: list[str] = []
    stack.many.tokens.on_change(here.append)
    other = replica(stack)
    there: list[str] = []
    other.tokens.on_change(there.append)
    await other.tokens.refresh()
    await stack.install("T0ALPHA")
    assert (here, there) == (["T0ALPHA"], [])
    await other.tokens.refresh()
    await other.tokens.refresh()  # once per install
    assert there == ["T0ALPHA"]
    await stack.event(stack.fake.uninstall("T0ALPHA"))
    await stack.install("T0ALPHA")  # left and back between two refreshes: a new token
    await other.tokens.refresh()
    assert (here, there) == (["T0ALPHA"] * 3, ["T0ALPHA"] * 2)

"""The stand-in installs the app as Slack does: its authorize page sends the browser back with a
code, `oauth.v2.access` trades it (with the app's credentials) for a workspace's own bot token,
which `auth.test` and every call then answer for; an uninstall revokes it."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse

from bot.sandbox.fakeslack import FakeSlack
from bot.sandbox.fakeslack.oauth import basic_credentials

REDIRECT = "https://eon.example/slack/oauth_redirect"


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    async with FakeSlack() as started:
        started.enable_oauth("1.2", "the-secret", REDIRECT)
        yield started


async def code_for(fake: FakeSlack, team: str, state: str = "s1") -> str:
    query = {"client_id": "1.2", "scope": "commands", "state": state, "team": team}
    async with (
        aiohttp.ClientSession() as browser,
        browser.get(fake.authorize_url, params=query, allow_redirects=False) as answer,
    ):
        assert answer.status == 302
        location = answer.headers["Location"]
    assert location.startswith(REDIRECT)
    back = parse_qs(urlsplit(location).query)
    assert back["state"] == [state]
    return back["code"][0]


async def trade(
    oauth: AsyncWebClient, code: str, client_id: str = "1.2", secret: str = "the-secret"
) -> AsyncSlackResponse:
    """oauth.v2.access with the credentials as arguments (as eon-bot sends them)."""
    data = {"client_id": client_id, "client_secret": secret, "code": code}
    return await oauth.api_call("oauth.v2.access", data=data)


def test_the_credentials_may_come_as_basic_auth_too() -> None:
    header = "Basic " + base64.b64encode(b"1.2:the:secret").decode()
    assert basic_credentials(header) == {"client_id": "1.2", "client_secret": "the:secret"}
    assert basic_credentials("Bearer xoxb-1") == {}
    assert basic_credentials("Basic %%%") == {}


async def test_each_install_is_a_workspace_with_its_own_token(fake: FakeSlack) -> None:
    oauth = AsyncWebClient(base_url=fake.api_url)
    tokens = {}
    for team in ("T0ONE", "T0TWO"):
        code = await code_for(fake, team)
        granted = await trade(oauth, code)
        assert granted["team"]["id"] == team and granted["token_type"] == "bot"
        tokens[team] = granted["access_token"]
    assert tokens["T0ONE"] != tokens["T0TWO"] and fake.token_of("T0TWO") == tokens["T0TWO"]

    one = AsyncWebClient(token=tokens["T0ONE"], base_url=fake.api_url)
    assert (await one.auth_test())["team_id"] == "T0ONE"
    await one.chat_postMessage(channel="C1", text="hello")
    assert fake.calls_to("chat.postMessage")[-1].team == "T0ONE"

    event = fake.uninstall("T0ONE")
    assert event["event"]["type"] == "app_uninstalled" and event["team_id"] == "T0ONE"
    with pytest.raises(SlackApiError) as refused:
        await one.chat_postMessage(channel="C1", text="still there?")
    assert refused.value.response["error"] == "token_revoked"
    two = AsyncWebClient(token=tokens["T0TWO"], base_url=fake.api_url)
    assert (await two.auth_test())["team_id"] == "T0TWO"


@pytest.mark.parametrize(
    ("client_id", "secret", "error"),
    [("9.9", "the-secret", "invalid_client_id"), ("1.2", "guess", "bad_client_secret")],
)
async def test_a_code_is_traded_only_with_the_apps_credentials_and_once(
    fake: FakeSlack, client_id: str, secret: str, error: str
) -> None:
    oauth = AsyncWebClient(base_url=fake.api_url)
    code = await code_for(fake, "T0ONE")
    with pytest.raises(SlackApiError) as refused:
        await trade(oauth, code, client_id, secret)
    assert refused.value.response["error"] == error
    await trade(oauth, code)
    with pytest.raises(SlackApiError) as again:
        await trade(oauth, code)
    assert again.value.response["error"] == "invalid_code"

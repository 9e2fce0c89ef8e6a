"""The assembled app (the real `build()`) in many-workspace mode, over real HTTP against the Slack
stand-in: two workspaces install through /slack/install; each one's requests are authorized
with its own token; /metrics counts them; an uninstall stops that workspace only; no token in
the logs. On SQLite and PostgreSQL."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from pydantic import SecretStr
from yarl import URL

from bot.metrics import Metrics
from bot.sandbox.simulator.keys import PROJECT_KEYS
from bot.sandbox.simulator.server import SimController
from bot.sandbox.slashcmd import event_body, signed_headers, slash_body
from bot.sandbox.stack import Stack, running_stack
from bot.service.front import Front
from tests.e2e.harness import polled

CLIENT_ID, CLIENT_SECRET = "4242.4343", "client-secret-" + "w" * 24
TEAMS = ("T0ALPHA", "T0BETA")
ALPHAS_KEY = SecretStr("ei_" + "a1" * 32)


@pytest.fixture
async def many(tmp_path: Path, database_url: str) -> AsyncIterator[Stack]:
    async with running_stack(
        tmp_path,
        token="",
        slack_bot_token=None,
        slack_client_id=CLIENT_ID,
        slack_client_secret=CLIENT_SECRET,
        secret_key="k" * 40,
        database_url=database_url,
    ) as stack:
        base = f"http://127.0.0.1:{stack.bot.port}"
        stack.slack.enable_oauth(CLIENT_ID, CLIENT_SECRET, f"{base}/slack/oauth_redirect")
        yield stack


async def install(browser: aiohttp.ClientSession, stack: Stack, team: str) -> str:
    async with browser.get(f"http://127.0.0.1:{stack.bot.port}/slack/install?team={team}") as a:
        assert a.status == 200, await a.text()
        return await a.text()


async def eon(stack: Stack, team: str, text: str) -> str:
    body = slash_body(
        text, channel_id=f"C{team}", user_id="U0ADA", response_url=stack.slack.response_url(),
        team_id=team,
    )  # fmt: skip
    answer = await stack.http.post(
        stack.events_url, content=body, headers=signed_headers(stack.secret, body)
    )
    return answer.text


async def workspaces(stack: Stack) -> dict[str, float]:
    text = (await stack.http.get(f"http://127.0.0.1:{stack.bot.port}/metrics")).text
    found = re.findall(r'^eonbot_workspaces\{state="(\w+)"\} ([0-9.]+)$', text, re.MULTILINE)
    return {state: float(value) for state, value in found}


async def polls_of(project: str, *, while_: SimController, polls_of_1: int) -> int:
    """How many polls `project` had while project 1 (watched throughout) had `polls_of_1`:
    counted in polls, not seconds, so a busy machine gets a longer window."""
    start, first = while_.requests(project), while_.requests("1")
    await polled(while_, "1", first + polls_of_1, within=60, why=f"counting {project}'s")
    return while_.requests(project) - start


async def test_two_workspaces_install_use_their_own_tokens_and_one_leaves(
    many: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    base = URL(f"http://127.0.0.1:{many.bot.port}")
    jar = aiohttp.CookieJar(unsafe=True, treat_as_secure_origin=[base])
    async with aiohttp.ClientSession(cookie_jar=jar) as browser:
        for team in TEAMS:
            assert "eon-bot is installed" in await install(browser, many, team)
    assert await workspaces(many) == {"installed": 2, "left": 0}

    for team in TEAMS:
        before = len(many.slack.calls)
        assert "/eon watch" in await eon(many, team, "help")
        used = {c.team for c in many.slack.calls[before:]}
        assert used == {team}  # bolt's authorize asked auth.test with that workspace's token

    for team in TEAMS:  # each watches project 1: polled once, told to each with its token
        assert "1" in await eon(many, team, "watch 1")
    for team in TEAMS:
        await many.slack.wait_for(lambda fake, t=team: fake.top_level(f"C{t}"), timeout=20)
    posts = {c.team for c in many.slack.calls_to("chat.postMessage") if c.error is None}
    assert posts == set(TEAMS)
    for call in many.slack.calls_to("chat.postMessage"):
        assert call.args["channel"] == f"C{call.team}"  # a channel only with its own token

    assert "2" in await eon(many, "T0ALPHA", "watch 2")  # ALPHA's alone
    keys = many.bot.keys
    many.simulator.app[PROJECT_KEYS].add(ALPHAS_KEY.get_secret_value(), 2)
    await keys.add("T0ALPHA", "2", ALPHAS_KEY, role="admin", user="U0ADA")
    assert keys.api_key_for("2") == ALPHAS_KEY
    sim = many.simulator.controller
    assert await polls_of("2", while_=sim, polls_of_1=6) > 0  # the control: it is polled

    uninstalled = many.slack.uninstall("T0ALPHA")
    body = event_body(uninstalled["event"], team_id="T0ALPHA")
    headers = signed_headers(many.secret, body, content_type="application/json")
    assert (await many.http.post(many.events_url, content=body, headers=headers)).status_code == 200
    assert await workspaces(many) == {"installed": 1, "left": 1}
    assert await many.bot.tokens.client("T0ALPHA") is None
    assert keys.api_key_for("2") != ALPHAS_KEY  # its key read with no more, at once
    assert await many.bot.tokens.client("T0BETA") is not None
    before = len(many.slack.calls)
    assert "/eon watch" not in await eon(many, "T0ALPHA", "help")
    assert "/eon watch" in await eon(many, "T0BETA", "help")
    assert not [c for c in many.slack.calls[before:] if c.team == "T0ALPHA"]
    await polls_of("2", while_=sim, polls_of_1=6)  # the fleet's next ticks let go of it
    assert await polls_of("2", while_=sim, polls_of_1=6) == 0  # a project only it watched

    for token in (w.token for w in many.slack.workspaces()):
        assert token not in caplog.text
    assert CLIENT_SECRET not in caplog.text


async def test_the_front_of_eon_bot_run_serves_the_install_pages_once_the_bot_is_ready(
    many: Stack,
) -> None:
    """`eon-bot run` serves through `Front` (its port open before the bot is built)."""
    front = Front(Metrics(), lambda: "starting: opening the database")
    port = await front.open(0)
    install = f"http://127.0.0.1:{port}/slack/install?team=T0ALPHA"
    try:
        waiting = await many.http.get(install)
        assert waiting.status_code == 503 and "opening the database" in waiting.text
        assert many.bot.unhealthy is not None
        front.attach(many.bot.events, many.bot.unhealthy, many.bot.pages)
        started = await many.http.get(install)
        assert started.status_code == 302
        assert started.headers["Location"].startswith(many.slack.authorize_url)
        assert "slack-app-oauth-state=" in started.headers["Set-Cookie"]
        front.attach(many.bot.events, many.bot.unhealthy)  # one workspace: no pages
        assert (await many.http.get(install)).status_code == 404
    finally:
        await front.close()

"""Edge Impulse keys added from Slack, through the real `eon-bot run` process: a project whose
key the environment lacks becomes watchable from Slack alone and keeps working after a restart;
a wrong key is refused in the form; a non-admin cannot open it; the App Home lists every watched
project; and the key's bytes are nowhere but where they must be (not in the SQLite file or the
PostgreSQL rows, the logs, /metrics, or any call the bot made to Slack)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from slack_sdk.models.views import View

from bot.sandbox.fakeslack.views import submission
from bot.sandbox.simulator.keys import PROJECT_KEYS
from bot.sandbox.slashcmd import event_body, payload_body, signed_headers
from bot.slack.render.key_form import KEY_ACTION, KEY_BLOCK

from .harness import (
    ACK_LIMIT_S,
    CHANNEL,
    SIGNING_SECRET,
    USER,
    BotProcess,
    Stack,
    assert_ack,
    e2e_stack,
    explain,
    free_port,
)

pytestmark = pytest.mark.e2e

PROJECT = "2"  # the environment has no key for it (and no default key)
KEY = "ei_" + "6b1f0c9e" * 8  # project 2's key at the simulator
SECRET_KEY = "e2e-secret-key-" + "x" * 40
REVOKED = "ei_revoked_" + "5" * 40
STRANGER = "U0STRANGER"
RUN_STARTED = "eon_run_started"


def without_default_key(stack: Stack, *bots: BotProcess) -> None:
    """No EI_API_KEY: project 1 keeps its own key, project 2 has none but what Slack gives."""
    for bot in bots or (stack.bot,):
        key = bot.env.pop("EI_API_KEY")
        bot.env["EI_API_KEY_1"] = key
        bot.env["EI_API_KEY_3"] = REVOKED  # a key Edge Impulse refuses
        bot.env["SECRET_KEY"] = SECRET_KEY
    stack.simulator.app[PROJECT_KEYS].add(KEY, PROJECT)
    stack.slack.set_user(USER, is_admin=True)


async def signed_post(http: httpx.AsyncClient, bot: BotProcess, body: str, kind: str) -> Any:
    headers = signed_headers(SIGNING_SECRET, body, content_type=kind)
    response = await http.post(bot.events_url, content=body, headers=headers)
    assert response.status_code == 200, response.text
    return response.json() if response.content else None


async def submit(stack: Stack, bot: BotProcess, key: str) -> tuple[Any, float]:
    form = stack.slack.views_opened[-1]
    payload = submission(form, USER, {KEY_BLOCK: {KEY_ACTION: key}})
    loop = asyncio.get_running_loop()
    started = loop.time()
    answer = await signed_post(
        stack.http, bot, payload_body(payload), "application/x-www-form-urlencoded"
    )
    return answer, loop.time() - started


async def key_command(stack: Stack, bot: BotProcess, text: str, user: str = USER) -> Any:
    return await bot.command(
        stack.http,
        text,
        response_url=stack.slack.response_url(),
        user_id=user,
        trigger_id=stack.slack.trigger_id(),
    )


async def add_key_from_slack(stack: Stack, bot: BotProcess) -> None:
    """A stranger is refused; the admin opens the form, a wrong key is refused in it, the
    right one closes it and the channel is told."""
    refused = await key_command(stack, bot, f"key {PROJECT}", user=STRANGER)
    assert_ack(refused, "⛔ Only workspace admins and owners")
    assert stack.slack.views_opened == []

    opened = await key_command(stack, bot, f"key {PROJECT}")
    assert opened.status == 200 and opened.body == {} and opened.seconds < ACK_LIMIT_S
    (form,) = stack.slack.views_opened
    View(**{k: v for k, v in form.items() if k not in ("id", "team_id")}).validate_json()

    answer, took = await submit(stack, bot, "ei_wrong_" + "0" * 40)
    assert took < ACK_LIMIT_S
    assert answer["response_action"] == "errors"
    assert answer["errors"][KEY_BLOCK].startswith("Edge Impulse refused this key (HTTP 401")

    answer, took = await submit(stack, bot, KEY)
    assert answer is None and took < ACK_LIMIT_S  # the modal closes
    told = f"🔑 Project {PROJECT} now has an Edge Impulse key (role admin), added by <@{USER}>."
    await stack.slack.wait_for(lambda f: any(m.text == told for m in f.messages(CHANNEL)))


async def run_card(stack: Stack) -> None:
    def started(fake: Any) -> bool:
        return any(
            (m.metadata or {}).get("event_type") == RUN_STARTED
            and (m.metadata or {}).get("event_payload", {}).get("project_id") == PROJECT
            for m in fake.messages(CHANNEL)
        )

    await stack.slack.wait_for(started, timeout=20.0)


async def open_home(stack: Stack, bot: BotProcess, user: str) -> dict[str, Any]:
    before = stack.slack.home_of(user)
    event = {"type": "app_home_opened", "user": user, "channel": "D0HOME", "tab": "home"}
    await signed_post(stack.http, bot, event_body(event), "application/json")
    home = await stack.slack.wait_for(lambda f: (h := f.home_of(user)) != before and h)
    View(**{k: v for k, v in home.items() if k not in ("id", "team_id")}).validate_json()
    return home


def assert_key_absent_from_slack_and_logs(stack: Stack, *bots: BotProcess) -> None:
    for call in stack.slack.calls:
        assert KEY not in json.dumps(call.args), call.method
    for bot in bots:
        assert KEY not in bot.log_text()
        assert SECRET_KEY not in bot.log_text()


def unreachable(messages: list[Any]) -> list[Any]:
    kind = "eon_api_unreachable"
    return [m for m in messages if (m.metadata or {}).get("event_type") == kind]


def assert_key_absent_from_files(folder: Path) -> None:
    """The SQLite database, its WAL and shared memory: no key bytes (sealed text only)."""
    databases = [path for path in folder.iterdir() if path.name.startswith("bot.db")]
    assert databases
    for path in databases:
        assert KEY.encode() not in path.read_bytes(), path.name


async def test_a_project_is_watched_from_slack_alone_and_survives_a_restart(
    tmp_path: Path,
) -> None:
    async with e2e_stack(tmp_path) as stack:
        without_default_key(stack)
        with explain(stack.bot):
            await stack.bot.start()
            no_key = await stack.command(f"watch {PROJECT}")
            assert_ack(no_key, f"an admin can add one with `/eon key {PROJECT}`")
            refused_url = stack.slack.response_url("Rrefused")
            watching = await stack.bot.command(stack.http, "watch 3", response_url=refused_url)
            assert_ack(watching, "Watching project 3")
            (undone,) = await stack.slack.wait_for(lambda f: f.responses("Rrefused"))
            assert undone.text == (
                "⚠ Stopped watching project 3: Edge Impulse refused the key for project 3 "
                "(HTTP 401); an admin can add one with /eon key 3"
            )

            await add_key_from_slack(stack, stack.bot)
            assert_ack(await stack.command(f"watch {PROJECT}"), f"Watching project {PROJECT}")
            await run_card(stack)
            other = await stack.bot.command(
                stack.http, "watch 1", response_url=stack.slack.response_url(), channel_id="C0ONE"
            )
            assert_ack(other, "Watching project 1")
            home = await open_home(stack, stack.bot, STRANGER)
            text = json.dumps(home, ensure_ascii=False)
            # project 2 is named by the simulator's project info once its first poll asked
            assert f"(project {PROJECT})" in text and "stored with `/eon key`" in text
            assert "*Gesture recognition*" in text  # by the stored key
            named_or_not = ("*Project 1*", "*Keyword spotting* (project 1)")  # just watched
            assert any(title in text for title in named_or_not)
            assert "from the environment (EI_API_KEY_1)" in text
            assert "<#C0ONE> (every trial)" in text and "eon_key_open" not in text
            metrics = await stack.http.get(f"{stack.bot.base_url}/metrics")
            assert metrics.status_code == 200 and KEY not in metrics.text

            await stack.bot.terminate()
            await stack.bot.start()
            polled = stack.controller.requests(PROJECT)
            # Polls after the restart reach the simulator, which only counts requests that
            # passed its key check: the stored key is in use, opened under SECRET_KEY.
            await stack.slack.wait_for(
                lambda _: stack.controller.requests(PROJECT) >= polled + 3, timeout=20.0
            )
            assert unreachable(stack.slack.messages(CHANNEL)) == []
            await stack.bot.terminate()

            # Started under another SECRET_KEY: one clear log line, the channel told at once,
            # and nothing sent to Edge Impulse for project 2 (the simulator counts every
            # request that reaches it with a valid key; any other key would be a 401 there).
            stack.bot.env["SECRET_KEY"] = "another-secret-key-" + "y" * 40
            asked = stack.controller.requests(PROJECT)
            await stack.bot.start()
            told = await stack.slack.wait_for(lambda f: unreachable(f.messages(CHANNEL)), 20.0)
            assert "cannot be decrypted" in told[0].text and "/eon key 2" in told[0].text
            assert "project(s) 2) cannot be decrypted" in stack.bot.log_text()
            assert stack.controller.requests(PROJECT) == asked
            await stack.bot.terminate()
        assert_key_absent_from_slack_and_logs(stack, stack.bot)
        assert_key_absent_from_files(tmp_path)


@pytest.mark.postgres
async def test_on_postgresql_a_key_added_through_one_replica_is_used_by_another(
    tmp_path: Path, postgres_url: str
) -> None:
    async with e2e_stack(tmp_path, database_url=postgres_url) as stack:
        other = BotProcess(tmp_path, {**stack.bot.env, "PORT": str(free_port())}, name="replica")
        without_default_key(stack, stack.bot, other)
        try:
            with explain(stack.bot, other):
                await stack.bot.start()
                await other.start()
                await add_key_from_slack(stack, stack.bot)
                # The other replica reads the stored keys again every half poll interval;
                # until it has, it answers that project 2 has no key.
                deadline = asyncio.get_running_loop().time() + 10.0
                while True:
                    reply = await other.command(
                        stack.http, f"watch {PROJECT}", response_url=stack.slack.response_url()
                    )
                    if "Watching project" in str(reply.body.get("text")):
                        break
                    assert "no Edge Impulse API key" in str(reply.body.get("text")), reply
                    assert asyncio.get_running_loop().time() < deadline, "the key never arrived"
                    await asyncio.sleep(0.05)  # polling a condition, with the deadline above
                await run_card(stack)
                await stack.bot.terminate()
                await other.terminate()
            assert_key_absent_from_slack_and_logs(stack, stack.bot, other)
            connection = await asyncpg.connect(postgres_url.split("?")[0])
            try:
                schema = postgres_url.rsplit("search_path=", 1)[1]
                await connection.execute(f'SET search_path = "{schema}"')
                tables = await connection.fetch(
                    "SELECT table_name FROM information_schema.tables WHERE table_schema = $1",
                    schema,
                )
                for table in tables:
                    rows = await connection.fetch(f'SELECT * FROM "{table["table_name"]}"')
                    assert KEY not in repr([tuple(r) for r in rows]), table["table_name"]
                sealed = await connection.fetchval("SELECT count(*) FROM ei_keys")
                assert sealed == 1
            finally:
                await connection.close()
        finally:
            await other.close()

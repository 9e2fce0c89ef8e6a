"""The assembled app in-process (the real `build()`, HTTP server, store, delivery, slack_sdk)
against the simulator and the Slack stand-in: forged requests, hostile input, secrets."""

from __future__ import annotations

import asyncio
import json
import logging
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.sandbox.fakeslack.records import TEAM_ID
from bot.sandbox.slashcmd import signed_headers, slash_body
from bot.sandbox.stack import CHANNEL, Stack, running_stack

T = TEAM_ID  # the one workspace of the running stack (auth.test names it)

TOKEN = "xoxb-4242-very-secret-bot-token"
SECRET = "signing-secret-that-must-not-leak"
KEY = "ei_0123456789abcdef-secret-key"


@pytest.fixture
async def running(tmp_path: Path) -> AsyncIterator[Stack]:
    async with running_stack(
        tmp_path, token=TOKEN, secret=SECRET, api_key=KEY, speed=600, trials=6, poll_interval=0.2
    ) as stack:
        yield stack


async def test_healthz_says_ok_once_up(running: Stack) -> None:
    response = await running.http.get(f"http://127.0.0.1:{running.bot.port}/healthz")
    assert response.status_code == 200
    assert response.json() == {"ok": True}


@pytest.mark.parametrize(
    "forge",
    ["wrong signature", "timestamp 6 minutes old", "no signature"],
)
async def test_forged_requests_get_401_and_change_nothing(running: Stack, forge: str) -> None:
    body = slash_body(
        "watch 5", channel_id=CHANNEL, user_id="U0EVE", response_url=running.slack.response_url()
    )
    if forge == "wrong signature":
        headers = signed_headers("not-the-secret", body)
    elif forge == "timestamp 6 minutes old":
        headers = signed_headers(SECRET, body, timestamp=int(time.time()) - 360)
    else:
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
    response = await running.http.post(running.events_url, content=body, headers=headers)
    assert response.status_code == 401
    assert await running.bot.store.subscriptions(T) == []


HOSTILE_TEXTS = [
    "",
    "   \t  ",
    "x" * 10_000,
    "watch " + "9" * 10_000,
    "watch 🚀🚀",
    "watch ‏١٢٣‏",  # right-to-left digits
    "status שלום",
    "payload",
    "watch payload",
    "watch 42 payload",
    "watch -1",
    "watch 0",
    "watch 99999999999999999999999",
    "watch abc",
    "unwatch",
    "frobnicate 3",
    "<!channel> <@U123> <http://evil|click>",
]


@pytest.mark.parametrize("text", HOSTILE_TEXTS, ids=range(len(HOSTILE_TEXTS)))
async def test_every_command_text_gets_a_clear_answer_in_time(running: Stack, text: str) -> None:
    started = time.monotonic()
    response = await running.command(text)
    elapsed = time.monotonic() - started
    assert response.status_code == 200, response.text
    assert elapsed < 3.0
    reply = response.json()
    assert reply.get("response_type", "ephemeral") == "ephemeral"
    assert reply["text"].strip()
    assert "<!channel>" not in response.text and "<@U123>" not in response.text
    assert len(response.text) < 10_000  # never echoes a 10,000-character input back


async def test_a_whole_run_leaks_no_secret_into_logs_or_messages(
    running: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    controller = running.simulator.controller
    controller.set_time("3", 0)  # the baseline poll sees the run start ...
    assert (await running.command("watch 3")).status_code == 200
    await running.slack.wait_for(lambda slack: slack.top_level(CHANNEL), timeout=10)
    controller.set_time("3", controller.simulation("3").duration)  # ... the next one its end
    await running.slack.wait_for(
        lambda slack: any(m.event_type == "eon_job_finished" for m in slack.messages(CHANNEL)),
        timeout=15,
    )
    logged = "\n".join(record.getMessage() for record in caplog.records) + caplog.text
    posted = "\n".join(f"{m.text} {m.blocks} {m.metadata}" for m in running.slack.messages(CHANNEL))
    assert caplog.records, "the run logged nothing at all: the check below would prove nothing"
    for secret in (TOKEN, SECRET, KEY):
        assert secret not in logged
        assert secret not in posted


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        ({"type": "member_joined_channel", "user": "BOT", "channel": CHANNEL}, "not_in_channel"),
        ({"type": "channel_unarchive", "user": "U0ADA", "channel": CHANNEL}, "is_archived"),
    ],
    ids=["bot invited back", "channel unarchived"],
)
async def test_a_paused_channel_resumes_when_slack_says_it_works_again(
    running: Stack, event: dict[str, str], reason: str
) -> None:
    from bot.sandbox.fakeslack import BOT_USER_ID

    store = running.bot.store
    await store.subscribe(T, CHANNEL, "3", added_by="U0ADA")
    await store.pause_channel(T, CHANNEL, reason)
    body = json.dumps(
        {
            "type": "event_callback",
            "team_id": "T0EONBOT",
            "api_app_id": "A0EONBOT",
            "event": {k: BOT_USER_ID if v == "BOT" else v for k, v in event.items()},
            "event_id": "Ev01",
            "event_time": int(time.time()),
        }
    )
    headers = signed_headers(SECRET, body) | {"Content-Type": "application/json"}
    response = await running.http.post(running.events_url, content=body, headers=headers)
    assert response.status_code == 200
    [subscription] = await store.subscriptions(T, channel_id=CHANNEL)
    assert subscription.paused_reason is None


async def test_healthz_is_503_with_the_reason_while_delivery_is_stopped(tmp_path: Path) -> None:
    """A platform restarts or alerts on /healthz: a bot whose token Slack refuses delivers
    nothing, so it must not say it is fine."""
    async with running_stack(tmp_path, speed=600, trials=6, poll_interval=0.2) as stack:
        health = f"http://127.0.0.1:{stack.bot.port}/healthz"
        assert (await stack.http.get(health)).status_code == 200
        assert (await stack.command("watch 3")).status_code == 200
        await stack.slack.wait_for(lambda fake: fake.top_level(CHANNEL), timeout=10.0)
        stack.slack.set_token("xoxb-rotated")  # revoked mid-run: the next post is refused
        for _ in range(200):
            response = await stack.http.get(health)
            if response.status_code == 503:
                break
            await asyncio.sleep(0.05)
        assert response.status_code == 503
        body = response.json()
        assert body["ok"] is False and "invalid_auth" in body["reason"]
        assert "SLACK_BOT_TOKEN" in body["reason"] and "xoxb" not in body["reason"]


def test_settle_freezes_what_the_process_holds_and_the_first_chart_freezes_matplotlib() -> None:
    """In a fresh interpreter (freezing this one would keep the tests' garbage): `settle()`
    freezes nearly every tracked object, so a full collection walks a few hundred objects
    instead of the ~170,000 modules hold, without loading matplotlib (half a second of CPU a
    process that never draws does not pay). The first chart loads it and freezes it too."""
    script = """
import gc, sys
import bot.service.app
from bot.slack.plot import load_matplotlib
before = len(gc.get_objects())
bot.service.app.settle()
print(before, len(gc.get_objects()), gc.get_freeze_count(), "matplotlib" in sys.modules)
load_matplotlib()
print(len(gc.get_objects()), gc.get_freeze_count(), "matplotlib.figure" in sys.modules)
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    settled, drawn = (line.split() for line in done.stdout.splitlines())
    before, walked, frozen, loaded = settled
    assert loaded == "False"
    assert int(frozen) > 0.9 * int(before)  # what a collection found garbage is gone
    assert int(walked) < int(frozen) / 100
    walked_after, frozen_after, loaded_after = drawn
    assert loaded_after == "True"
    assert int(frozen_after) > int(frozen) * 1.2  # matplotlib's objects, frozen as they came
    assert int(walked_after) < int(frozen_after) / 100

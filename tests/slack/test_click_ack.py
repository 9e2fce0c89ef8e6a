"""A click's claim is written before Slack is acknowledged: the bolt app as `eon-bot run`
builds it (`process_before_response=True`: the ack goes out when the handler returns), a
signed `block_actions` request dispatched into it, or the same click as a Socket Mode envelope
through the handler `eon-bot run` uses, the real store behind (SQLite, and
PostgreSQL when TEST_POSTGRES_URL is set). The end-to-end test kills the process at random
moments after the ack (`tests/e2e/test_click_kills.py`)."""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import time
from typing import Any
from urllib.parse import urlencode

import pytest
from slack_bolt.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.signature import SignatureVerifier
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.web.async_client import AsyncWebClient

from bot.sandbox.fakeslack import FakeSlack
from bot.slack.listeners import run_buttons
from bot.slack.listeners.eon_answers import INTERNAL_ERROR
from bot.slack.socket_mode import _BoltHandler
from bot.store import CLAIMED, Store
from tests.factories import trial
from tests.slack.test_run_actions import Rig, payload

T = "T0EON"  # the workspace the clicks come from (their payloads name it)

SECRET = "click-ack-signing-secret"


def signed(body: str) -> AsyncBoltRequest:
    stamp = str(int(time.time()))
    signature = SignatureVerifier(SECRET).generate_signature(timestamp=stamp, body=body)
    headers = {
        "content-type": ["application/x-www-form-urlencoded"],
        "x-slack-request-timestamp": [stamp],
        "x-slack-signature": [signature],
    }
    return AsyncBoltRequest(body=body, headers=headers)


class SlowWrites:
    """The store, with a database that takes a moment to write a claim (a busy one): the ack
    must still wait for it, however many turns of the loop bolt takes after the handler."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    async def claim_action(self, *args: Any, **kwargs: Any) -> Any:
        await asyncio.sleep(0.2)  # the write's latency, not a wait for anything
        return await self._store.claim_action(*args, **kwargs)


async def clicked(store: Store) -> tuple[Rig, asyncio.Event]:
    """A watched project whose run runs, a store slow to write a claim, and an event set once
    the call's outcome is stored (delivery would be woken then)."""
    await store.subscribe(T, "C1", "7", added_by="U1")
    rig = Rig(store)
    await rig.poll(trial("a", "running"))
    rig.actions._store = SlowWrites(store)
    told = asyncio.Event()
    rig.actions._wake = told.set
    return rig, told


async def check_claimed(store: Store, rig: Rig, told: asyncio.Event) -> None:
    """The claim is there (a SIGKILL now would leave it to be told); the call follows."""
    [claim] = await store.actions_of(T, "7")
    assert (claim.action, claim.user_id) == ("stop", "U5")
    assert claim.state == CLAIMED or rig.ei.posts()  # the call, after the ack, may have begun
    await asyncio.wait_for(told.wait(), 30)  # a hang guard: the call ends in a task, after
    assert rig.ei.posts() == ["/v1/api/7/jobs/11/cancel"]


async def test_over_http_the_claim_is_in_the_store_when_the_ack_goes_out(store: Store) -> None:
    rig, told = await clicked(store)
    async with FakeSlack() as fake:  # bolt asks it who the bot is
        client = AsyncWebClient(token="xoxb-test", base_url=fake.api_url)
        app = AsyncApp(client=client, signing_secret=SECRET, process_before_response=True)
        run_buttons.register(app, rig.deps)
        body = urlencode({"payload": json.dumps(payload("stop", "U5"))})
        acked = await app.async_dispatch(signed(body))  # returns as Slack gets the ack
        assert acked.status == 200
        await check_claimed(store, rig, told)


class SocketClient:
    """What bolt's Socket Mode handler uses of slack_sdk's client: the ack is sent here."""

    app_token = "xapp-test"
    logger = logging.getLogger("slack_sdk.socket_mode")

    def __init__(self, store: Store) -> None:
        self.socket_mode_request_listeners: list[Any] = []
        self.claims_at_ack: list[Any] | None = None
        self._store = store

    async def send_socket_mode_response(self, response: Any) -> None:
        self.claims_at_ack = await self._store.actions_of(T, "7")


async def test_over_socket_mode_the_claim_is_in_the_store_when_the_ack_goes_out(
    store: Store,
) -> None:
    rig, told = await clicked(store)
    async with FakeSlack() as fake:
        client = AsyncWebClient(token="xoxb-test", base_url=fake.api_url)
        app = AsyncApp(  # as `eon-bot run` makes it in Socket Mode (no signing secret)
            client=client, request_verification_enabled=False, process_before_response=True
        )
        run_buttons.register(app, rig.deps)
        socket = SocketClient(store)
        handler = _BoltHandler(app, socket)  # type: ignore[arg-type]
        envelope = SocketModeRequest("interactive", "e1", payload("stop", "U5"))
        await handler.handle(socket, envelope)  # type: ignore[arg-type]
        assert socket.claims_at_ack is not None and len(socket.claims_at_ack) == 1
        await check_claimed(store, rig, told)


class Failing:
    """The store, failing as asked: before the claim is written, or in the call after it."""

    def __init__(self, store: Store, where: str) -> None:
        self._store, self.where = store, where

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    async def subscriptions(self, *args: Any, **kwargs: Any) -> Any:
        if self.where == "claim":
            raise RuntimeError("the database broke")
        return await self._store.subscriptions(*args, **kwargs)

    async def move_action(self, *args: Any, **kwargs: Any) -> Any:
        if self.where == "call":
            raise RuntimeError("the database broke")
        return await self._store.move_action(*args, **kwargs)


async def click_told(app: AsyncApp, fake: FakeSlack, action: str, user: str = "U5") -> Any:
    """A click dispatched into `app`; the ack, then what the clicker alone is told."""
    rid = f"R{time.monotonic_ns()}"  # a response_url of its own for each click
    body = payload(action, user, "a" if action == "use" else "") | {
        "response_url": fake.response_url(rid)
    }
    acked = await app.async_dispatch(signed(urlencode({"payload": json.dumps(body)})))
    assert acked.status == 200
    [told] = await fake.wait_for(lambda f: f.responses(rid))
    return told


async def test_what_a_click_gets_back_is_told_to_the_clicker_alone(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    """Each acting button reaches the listener, and what the clicker should know (a refusal,
    a stale button, an error the bot did not foresee, before or after the claim) comes back
    ephemeral, without replacing the card; the ack goes out whatever happens."""
    await store.subscribe(T, "C1", "7", added_by="U1")
    rig = Rig(store, admins="UADMIN")
    await rig.poll(trial("a", "running"))
    async with FakeSlack() as fake:
        app = AsyncApp(client=AsyncWebClient(token="xoxb-test", base_url=fake.api_url),
                       signing_secret=SECRET, process_before_response=True)  # fmt: skip
        run_buttons.register(app, rig.deps)
        for action in ("stop", "extend", "use"):
            told = await click_told(app, fake, action)
            assert told.text.startswith("⛔ Only eon-bot admins (ADMIN_USER_IDS) can act on a run")
            assert (told.response_type, told.replace_original) == ("ephemeral", False)
        told = await click_told(app, fake, "use", "UADMIN")
        assert told.text == "Trial a is not a completed trial of project 7 now: nothing was done."
        with caplog.at_level(logging.ERROR, logger="bot.slack.listeners.run_buttons"):
            for where in ("claim", "call"):
                rig.actions._store = Failing(store, where)
                told = await click_told(app, fake, "stop", "UADMIN")
                assert told.text == INTERNAL_ERROR and told.response_type == "ephemeral"
        assert [r.getMessage() for r in caplog.records] == [
            "a click on a run's button could not be recorded",
            "a click on a run's button failed",
        ]


async def test_an_answer_slack_cannot_take_ends_the_clicks_task_quietly(store: Store) -> None:
    """The clicker's answer goes to a response_url that does not answer (the connection is
    refused): slack_sdk logs it, and the task that made the call ends without an error left
    for asyncio to find ("Task exception was never retrieved")."""
    await store.subscribe(T, "C1", "7", added_by="U1")
    rig = Rig(store, admins="UADMIN")
    await rig.poll(trial("a", "running"))
    loop = asyncio.get_running_loop()
    unretrieved: list[dict[str, Any]] = []
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _, context: unretrieved.append(context))
    try:
        async with FakeSlack() as fake:
            app = AsyncApp(client=AsyncWebClient(token="xoxb-test", base_url=fake.api_url),
                           signing_secret=SECRET, process_before_response=True)  # fmt: skip
            run_buttons.register(app, rig.deps)
            body = payload("stop") | {"response_url": "http://127.0.0.1:9/response/R1"}
            acked = await app.async_dispatch(signed(urlencode({"payload": json.dumps(body)})))
            assert acked.status == 200

            def answering() -> list[asyncio.Task[Any]]:
                return [t for t in asyncio.all_tasks() if "handle" in repr(t.get_coro())]

            for _ in range(3000):  # a hang guard: the task ends once the connection is refused
                if not answering():
                    break
                await asyncio.sleep(0.01)
            assert not answering()
            gc.collect()
    finally:
        loop.set_exception_handler(previous)
    assert unretrieved == []

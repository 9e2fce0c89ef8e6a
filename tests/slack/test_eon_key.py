"""`/eon key` and its form, in process: the real bolt app with signed requests, the fake Slack
(views.open, users.info, chat.postMessage), a real SQLite store and the simulator's
api-key-info over HTTP. The end-to-end version, through the process, is tests/e2e/test_keys.py."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from slack_bolt.async_app import AsyncApp
from slack_sdk.models.views import View
from slack_sdk.web.async_client import AsyncWebClient

from bot.keys import KeyRing
from bot.sandbox.fakeslack import FakeSlack
from bot.sandbox.fakeslack.views import submission
from bot.sandbox.simulator.keys import PROJECT_KEYS
from bot.sandbox.simulator.server import SimulatorServer
from bot.sandbox.slashcmd import payload_body, signed_headers, slash_body
from bot.settings import Settings
from bot.slack.listeners import Deps, register_all
from bot.slack.render.key_form import KEY_ACTION, KEY_BLOCK, FormContext, key_form
from bot.slack.web import slack_request
from bot.store import Store
from bot.tuner.client import default_transport
from bot.tuner.keys import KeyChecker, KeyVerdict, verdict

SIGNING = "test-signing-secret"
SECRET = SecretStr("k" * 40)
GOOD = "ei_" + "a1" * 32  # project 42's admin key at the simulator
READONLY = "ei_" + "b2" * 32  # project 42's read-only key
INGEST = "ei_" + "c3" * 32  # project 42's ingestion key
OTHERS = "ei_" + "d4" * 32  # project 9's key
ADMIN, PERSON = "U0ADMIN", "U0PERSON"


class Recording(httpx.AsyncBaseTransport):
    """The transport to Edge Impulse, keeping every request that reaches it."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.requests: list[httpx.Request] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return await self.inner.handle_async_request(request)


class Edge:
    def __init__(self) -> None:
        self.started: list[str] = []

    async def start_watching(self, project_id: str) -> None:
        self.started.append(project_id)

    async def stop_watching(self, project_id: str) -> None:
        pass

    async def check_project(self, project_id: str) -> str | None:
        return None


@dataclass
class World:
    app: AsyncApp
    fake: FakeSlack
    store: Store
    keys: KeyRing
    edge: Edge
    ei: Recording

    async def command(self, text: str, user: str = ADMIN) -> tuple[int, Any, float]:
        body = slash_body(
            text,
            channel_id="C1",
            user_id=user,
            response_url=self.fake.response_url(),
            trigger_id=self.fake.trigger_id(),
        )
        return await self._send(body)

    async def submit(self, key: str, *, user: str = ADMIN, view: dict[str, Any] | None = None):
        view = view if view is not None else self.fake.views_opened[-1]
        payload = submission(view, user, {KEY_BLOCK: {KEY_ACTION: key}})
        return await self._send(payload_body(payload))

    async def _send(self, body: str) -> tuple[int, Any, float]:
        request = slack_request(body, "", signed_headers(SIGNING, body))
        loop = asyncio.get_running_loop()
        started = loop.time()
        response = await asyncio.wait_for(self.app.async_dispatch(request), timeout=5)
        took = loop.time() - started
        try:
            return response.status, json.loads(response.body), took
        except ValueError:
            return response.status, response.body, took


@pytest.fixture
async def simulator() -> AsyncIterator[SimulatorServer]:
    async with SimulatorServer(api_key="ei_universal_0000") as server:
        keys = server.app[PROJECT_KEYS]
        keys.add(GOOD, 42)
        keys.add(READONLY, 42, role="readonly")
        keys.add(INGEST, 42, role="ingestiononly")
        keys.add(OTHERS, 9)
        yield server


@pytest.fixture
async def make_world(tmp_path: Path, simulator: SimulatorServer) -> AsyncIterator[Any]:
    async with FakeSlack() as fake, default_transport() as inner:
        stores: list[Store] = []
        transport = Recording(inner)

        async def make(**values: Any) -> World:
            settings = Settings.given(**({"secret_key": SECRET} | values))
            store = await Store.open(f"sqlite:///{tmp_path / 'bot.db'}")
            stores.append(store)
            keys = KeyRing(settings, store)
            await keys.refresh()
            edge = Edge()
            app = AsyncApp(
                client=AsyncWebClient(token="xoxb-test", base_url=fake.api_url),
                signing_secret=SIGNING,
                process_before_response=True,
            )
            checker = KeyChecker(transport, base_url=simulator.url)
            deps = Deps(
                store=store,
                settings=settings,
                start_watching=edge.start_watching,
                stop_watching=edge.stop_watching,
                check_project=edge.check_project,
                keys=keys,
                check_key=checker.check,
            )
            register_all(app, deps)
            fake.set_user(ADMIN, is_admin=True)
            return World(app, fake, store, keys, edge, transport)

        yield make
        for store in stores:
            await store.close()


def said(body: Any) -> str:
    return str(body["text"]) if isinstance(body, dict) else str(body)


async def test_an_admin_opens_the_form_and_a_good_key_is_stored(make_world: Any) -> None:
    w: World = await make_world()
    status, body, took = await w.command("key 42")
    assert (status, body) == (200, "") and took < 3.0  # the form is what the user sees
    (form,) = w.fake.views_opened
    View(**{k: v for k, v in form.items() if k not in ("id", "team_id")}).validate_json()
    assert "Dashboard → Keys" in json.dumps(form, ensure_ascii=False)
    assert FormContext.load(form["private_metadata"]) == FormContext("42", "C1")

    status, body, took = await w.submit(f"  {GOOD}\n")
    assert (status, body) == (200, "") and took < 3.0  # no errors: the modal closes
    assert w.keys.source("42") == "stored"
    assert w.keys.api_key_for("42") == SecretStr(GOOD)
    posted = await w.fake.wait_for(lambda f: f.messages("C1"))
    assert (
        posted[0].text
        == f"🔑 Project 42 now has an Edge Impulse key (role admin), added by <@{ADMIN}>."
    )
    for call in w.fake.calls:
        assert GOOD not in json.dumps(call.args), call.method


@pytest.mark.parametrize(
    ("key", "error"),
    [
        ("ei_wrong_key_00000000", "Edge Impulse refused this key (HTTP 401: Invalid API key)."),
        (OTHERS, "This key belongs to project 9, not 42"),
        (INGEST, "This key's role is ingestiononly: it cannot read the tuner"),
        (
            "ei_universal_0000",
            "Edge Impulse said: Only available when authenticating with a project API key",
        ),
        ("   ", "Paste the project's API key"),
    ],
)
async def test_a_refused_key_is_answered_in_the_form(make_world: Any, key: str, error: str) -> None:
    w: World = await make_world()
    await w.command("key 42")
    status, body, took = await w.submit(key)
    assert status == 200 and took < 3.0
    assert body["response_action"] == "errors"
    assert body["errors"][KEY_BLOCK].startswith(error), body
    assert key.strip() == "" or key not in json.dumps(body)
    assert w.keys.source("42") == "none" and await w.store.sealed_keys() == []
    assert w.fake.messages("C1") == []


async def test_submitting_again_replaces_the_key_and_remove_forgets_it(make_world: Any) -> None:
    w: World = await make_world()
    await w.command("key 42")
    await w.submit(GOOD)
    _, _, _ = await w.command("key 42")
    assert "a new one replaces it" in json.dumps(w.fake.views_opened[-1])
    await w.submit(READONLY)
    assert w.keys.api_key_for("42") == SecretStr(READONLY)
    assert [row.role for row in await w.store.sealed_keys()] == ["readonly"]
    _, body, _ = await w.command("key 42 remove")
    assert said(body).startswith("🗑 The stored Edge Impulse key of project 42 is forgotten")
    assert await w.store.sealed_keys() == []
    _, body, _ = await w.command("key 42 remove")
    assert said(body) == "Project 42 has no stored key; `/eon key 42` adds one."


@pytest.mark.parametrize("admins", [frozenset({ADMIN}), frozenset()])
async def test_a_non_admin_cannot_open_the_form_nor_remove(make_world: Any, admins: Any) -> None:
    w: World = await make_world(admin_user_ids=admins)
    for text in ("key 42", "key 42 remove"):
        _, body, _ = await w.command(text, user=PERSON)
        assert said(body).startswith("⛔ Only"), body
    assert w.fake.views_opened == []
    # Nor submit a form opened for someone else (forged or stale).
    form = {**key_form(FormContext("42", "C1"), replacing=False), "id": "V1"}
    _, body, _ = await w.submit(GOOD, user=PERSON, view=form)
    assert body["errors"][KEY_BLOCK].startswith("⛔ Only")
    assert await w.store.sealed_keys() == []
    assert w.ei.requests == [], "a non-admin's key was sent to Edge Impulse"


PASTED = [
    (GOOD + "\u200b", None),  # a zero-width space copied with it
    ("\u00a0" + GOOD + "\ufeff\n", None),
    (GOOD[:20] + "\u200b" + GOOD[20:], "The key has an invisible character at character 21 of 68"),
    (GOOD[:20] + "\n" + GOOD[20:], "The key has a line break at character 21 of 68"),
    (GOOD[:20] + "\x00" + GOOD[20:], "The key has a control character at character 21 of 68"),
    ("ei_ñandú" + GOOD[8:], "The key has a character that is not plain ASCII at character 4"),
    ("k" * 100_000, "The key is 100,000 characters long; an Edge Impulse API key is at most 200"),
]


@pytest.mark.parametrize(("pasted", "error"), PASTED, ids=range(len(PASTED)))
async def test_a_pasted_key_is_trimmed_or_refused_in_the_form_before_edge_impulse(
    make_world: Any, pasted: str, error: str | None, caplog: pytest.LogCaptureFixture
) -> None:
    w: World = await make_world()
    await w.command("key 42")
    status, body, took = await w.submit(pasted)
    print(f"\n{pasted[:30]!r}… ({len(pasted):,} chars) -> {body!r}")
    assert status == 200 and took < 3.0
    assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"
    if error is None:  # trimmed: stored as the key it is
        assert body == "" and w.keys.api_key_for("42") == SecretStr(GOOD)
        return
    assert body["response_action"] == "errors" and body["errors"][KEY_BLOCK].startswith(error)
    assert w.ei.requests == [] and await w.store.sealed_keys() == []
    assert pasted[:12] not in caplog.text


async def test_workspace_owners_count_as_admins_when_admin_user_ids_is_empty(
    make_world: Any,
) -> None:
    w: World = await make_world()
    w.fake.set_user(PERSON, is_owner=True)
    _, body, _ = await w.command("key 42", user=PERSON)
    assert body == "" and len(w.fake.views_opened) == 1
    assert [c.args["user"] for c in w.fake.calls_to("users.info")] == [PERSON]


async def test_without_secret_key_the_command_says_how_to_set_it(make_world: Any) -> None:
    w: World = await make_world(secret_key=None)
    _, body, _ = await w.command("key 42")
    text = said(body)
    assert "SECRET_KEY is not set" in text and "secrets.token_urlsafe(48)" in text
    assert w.fake.views_opened == []


async def test_an_edge_impulse_that_does_not_answer_in_time_stores_nothing() -> None:
    async def hang(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(30)
        raise AssertionError("not reached")

    checker = KeyChecker(httpx.MockTransport(hang), base_url="http://127.0.0.1:9/v1", timeout_s=0.2)
    found = await asyncio.wait_for(checker.check("42", SecretStr(GOOD)), timeout=5)
    assert not found.accepted and "did not answer within 0.2 s" in found.said


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (
            200,
            {"success": True, "projectId": 42, "role": "readonly", "apiKeyId": 1},
            KeyVerdict(True, "Edge Impulse accepted the key (role readonly).", "readonly"),
        ),
        (
            403,
            {"success": False, "error": f"no access for {GOOD}"},
            KeyVerdict(False, "Edge Impulse refused this key (HTTP 403: no access for ***)."),
        ),
        (
            500,
            {"success": False},
            KeyVerdict(False, "Edge Impulse said: no reason given (HTTP 500)."),
        ),
        (
            200,
            {"success": False, "error": "line\nbreak"},
            KeyVerdict(False, "Edge Impulse said: line break (HTTP 200)."),
        ),
        (200, "<html>", KeyVerdict(False, "Edge Impulse's answer was not understood (HTTP 200).")),
    ],
)
def test_verdict(status: int, body: Any, expected: KeyVerdict) -> None:
    raw = body.encode() if isinstance(body, str) else json.dumps(body).encode()
    assert verdict("42", status, raw, SecretStr(GOOD)) == expected

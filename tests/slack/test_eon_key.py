"""`/eon key` and its form, in process: the real bolt app with signed requests, the fake Slack
(views.open, users.info, chat.postMessage), a real SQLite store and the simulator's
api-key-info over HTTP. The end-to-end version, through the process, is tests/e2e/test_keys.py."""

from __future__ import annotations

import asyncio
import json
import logging
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
from bot.sandbox.fakeslack.records import TEAM_ID
from bot.sandbox.fakeslack.views import submission
from bot.sandbox.simulator.keys import PROJECT_KEYS
from bot.sandbox.simulator.server import SimulatorServer
from bot.sandbox.slashcmd import payload_body, signed_headers, slash_body
from bot.settings import Settings
from bot.slack.listeners import Deps, register_all
from bot.slack.listeners.eon_key import ANSWER_WITHIN_S, NO_SECRET_KEY
from bot.slack.render.key_form import (
    KEY_ACTION,
    KEY_BLOCK,
    OPEN_KEY_FORM_ACTION,
    FormContext,
    key_form,
)
from bot.slack.tokens import OneWorkspace
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
        self.broken = False  # start_watching raises (a bug, a store gone)

    async def start_watching(self, project_id: str) -> None:
        if self.broken:
            raise RuntimeError("the poller is gone")
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

        async def make(*, check: Any = None, **values: Any) -> World:
            """`check`: what Edge Impulse's check becomes, given the simulator's (the
            simulator's own by default; None: no check at all)."""
            settings = Settings.given(**({"secret_key": SECRET} | values))
            store = await Store.open(f"sqlite:///{tmp_path / 'bot.db'}")
            stores.append(store)
            keys = KeyRing(settings, store)
            await keys.refresh()
            edge = Edge()
            client = AsyncWebClient(token="xoxb-test", base_url=fake.api_url)
            app = AsyncApp(client=client, signing_secret=SIGNING, process_before_response=True)
            checker = KeyChecker(transport, base_url=simulator.url)
            deps = Deps(
                store=store,
                settings=settings,
                start_watching=edge.start_watching,
                stop_watching=edge.stop_watching,
                check_project=edge.check_project,
                keys=keys,
                check_key=checker.check if check is None else check(checker.check),
                team_of=OneWorkspace(client, TEAM_ID).team_of,  # single mode
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
    assert w.keys.source(TEAM_ID, "42") == "stored"
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
    assert w.keys.source(TEAM_ID, "42") == "none" and await w.store.sealed_keys() == []
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


async def test_removing_the_key_another_workspace_also_stored_says_this_one_goes_quiet(
    make_world: Any,
) -> None:
    """Many workspaces, no deployment key: another workspace's key goes on reading the project,
    so its polls do not fail, but this workspace's channels hear nothing of it: said so, with
    the channels that watch it, not "its polls will fail"."""
    w: World = await make_world()
    await w.store.subscribe(TEAM_ID, "C1", "42", added_by=ADMIN)
    await w.keys.add(TEAM_ID, "42", SecretStr(GOOD), role="admin", user=ADMIN)
    await w.keys.add("T0OTHER", "42", SecretStr(READONLY), role="readonly", user="U0B")
    _, body, _ = await w.command("key 42 remove")
    assert said(body) == (
        "🗑 The stored Edge Impulse key of project 42 is forgotten; this workspace has no key "
        "for it now, so <#C1> hears nothing of it until an admin adds one with `/eon key 42`."
    )
    assert w.keys.readers("42") == {"T0OTHER"}
    assert await w.keys.remove("T0OTHER", "42")  # then no key reads it at all: polls fail
    await w.keys.add(TEAM_ID, "42", SecretStr(GOOD), role="admin", user=ADMIN)
    _, body, _ = await w.command("key 42 remove")
    assert said(body).endswith("it has no key now, so its polls will fail until one is added.")


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


async def settled() -> None:
    """Until the key's telling (`eon_key.tell`, run after the modal closed) has ended."""
    me = asyncio.current_task()
    while telling := [
        t for t in asyncio.all_tasks() if t is not me and t.get_coro().__qualname__ == "tell"
    ]:
        await asyncio.wait(telling)


async def click_home_button(w: World, value: str, user: str = ADMIN) -> int:
    """A click on the Home tab's "Add/replace key" button of project `value`."""
    click = {
        "type": "block_actions",
        "user": {"id": user},
        "team": {"id": "T0EONTEST"},
        "api_app_id": "A0EONBOT",
        "trigger_id": w.fake.trigger_id(),
        "container": {"type": "view", "view_id": "V0HOME"},
        "actions": [
            {"action_id": OPEN_KEY_FORM_ACTION, "value": value, "block_id": "b1",
             "action_ts": "1.0", "type": "button"}
        ],
    }  # fmt: skip
    status, _, _ = await w._send(payload_body(click))
    return status


@pytest.mark.parametrize(
    ("values", "then"),
    [
        ({"project_keys": {"42": "ei_env_key_42_000"}}, "its polls now use EI_API_KEY_42."),
        ({"ei_api_key": "ei_default_key_000"}, "its polls now use the default EI_API_KEY."),
        ({}, "it has no key now, so its polls will fail until one is added."),
    ],
    ids=["environment", "default", "none"],
)
async def test_removing_says_which_key_the_projects_polls_use_next(
    make_world: Any, values: dict[str, Any], then: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    w: World = await make_world(**values)
    await w.command("key 42")
    await w.submit(GOOD)
    assert "project 42: Edge Impulse key stored by U0ADMIN (role admin)" in caplog.messages
    _, body, _ = await w.command("key 42 remove")
    assert said(body) == f"🗑 The stored Edge Impulse key of project 42 is forgotten; {then}"
    assert "project 42: stored Edge Impulse key removed by U0ADMIN" in caplog.messages


@pytest.mark.parametrize(
    ("fault", "shown"),
    [
        ({"error": "expired_trigger_id"}, "expired_trigger_id"),
        ({"status": 503}, "internal_error"),
        ({"drop_connection": True, "times": 2}, "no answer"),
    ],
    ids=["refused", "5xx", "no answer"],
)
async def test_a_form_slack_does_not_open_is_said_in_one_line(
    make_world: Any, fault: dict[str, Any], shown: str, caplog: pytest.LogCaptureFixture
) -> None:
    w: World = await make_world()
    w.fake.fail_next("views.open", **fault)
    _, body, _ = await w.command("key 42")
    assert said(body) == f"⚠ Slack did not open the key form ({shown}). Try the command again."
    failed = "ServerDisconnectedError" if shown == "no answer" else shown
    assert f"views.open for project 42 failed: {failed}" in caplog.messages


async def test_a_form_out_of_date_or_without_a_secret_key_stores_nothing(
    make_world: Any,
) -> None:
    w: World = await make_world()
    stale = {**key_form(FormContext("42", "C1"), replacing=False), "id": "V1"}
    _, body, _ = await w.submit(GOOD, view={**stale, "private_metadata": "42"})
    assert body["errors"] == {KEY_BLOCK: "This form is out of date; run /eon key PROJECT_ID again."}
    unsealed: World = await make_world(secret_key=None)
    unchecked: World = await make_world(check=lambda _: None)
    for world in (unsealed, unchecked):
        _, body, _ = await world.submit(GOOD, view=stale)
        assert body["errors"][KEY_BLOCK] == NO_SECRET_KEY.removeprefix("⚠ ")
    assert w.ei.requests == [] and await w.store.sealed_keys() == []


async def test_an_edge_impulse_answering_after_the_window_left_is_answered_in_time(
    make_world: Any,
) -> None:
    """The check gets what is left of the form's 2.5 s after the admin check (users.info,
    slowed here), not 2.5 s of its own: the answer is still inside Slack's 3 s."""

    def hanging(_: Any) -> Any:
        async def check(project_id: str, key: SecretStr) -> KeyVerdict:
            await asyncio.Event().wait()  # Edge Impulse never answers
            raise AssertionError("not reached")

        return check

    w: World = await make_world(check=hanging)
    await w.command("key 42")
    w.fake.fail_next("users.info", delay=0.6)  # a slow answer, under ADMIN_CHECK_TIMEOUT_S
    status, body, took = await w.submit(GOOD)
    assert body["errors"][KEY_BLOCK] == (
        "Edge Impulse did not answer in time, so the key was not stored. Try again."
    )
    assert ANSWER_WITHIN_S - 0.1 <= took < 3.0
    assert await w.store.sealed_keys() == []


async def test_a_slow_edge_impulse_that_answers_in_the_window_is_heard(make_world: Any) -> None:
    def slow(check: Any) -> Any:
        async def slowly(project_id: str, key: SecretStr) -> KeyVerdict:
            await asyncio.sleep(0.3)  # Edge Impulse's latency, not a wait for the test
            return await check(project_id, key)

        return slowly

    w: World = await make_world(check=slow)
    await w.command("key 42")
    _, body, _ = await w.submit(GOOD)
    assert body == "" and w.keys.source(TEAM_ID, "42") == "stored"


async def test_an_internal_error_is_answered_in_the_form_and_stores_nothing(
    make_world: Any, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(_: Any) -> Any:
        async def check(project_id: str, key: SecretStr) -> KeyVerdict:
            raise RuntimeError("a bug")

        return check

    w: World = await make_world(check=broken)
    await w.command("key 42")
    _, body, _ = await w.submit(GOOD)
    assert body["errors"] == {
        KEY_BLOCK: "eon-bot hit an internal error (it is logged); nothing was stored."
    }
    assert "the key form's submission failed" in caplog.messages and "a bug" in caplog.text
    assert await w.store.sealed_keys() == [] and w.fake.messages("C1") == []


async def test_a_refusal_is_logged_by_project_never_with_the_key(
    make_world: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    w: World = await make_world()
    await w.command("key 42")
    await w.submit(OTHERS)
    refused = "project 42: key refused in the form (This key belongs to project 9, not 42"
    assert any(m.startswith(refused) and m.endswith(")") for m in caplog.messages)
    await w.submit(GOOD[:20] + "\n" + GOOD[20:])
    assert "project 42: key refused in the form by its shape" in caplog.messages
    assert OTHERS not in caplog.text and GOOD[:20] not in caplog.text


async def test_a_key_for_a_watched_project_polls_it_at_once(make_world: Any) -> None:
    w: World = await make_world()
    await w.command("key 42")
    await w.submit(GOOD)  # C1 does not watch 42: told, nothing to poll
    await settled()
    assert len(w.fake.messages("C1")) == 1 and w.edge.started == []
    await w.store.subscribe(TEAM_ID, "C1", "42", added_by="U1")
    await w.command("key 42")
    await w.submit(READONLY)
    await settled()
    assert w.edge.started == ["42"]
    assert w.fake.messages("C1")[-1].text.startswith("🔑 Project 42 now has an Edge Impulse key")


async def test_a_key_added_from_home_is_told_to_each_channel_watching_the_project(
    make_world: Any, caplog: pytest.LogCaptureFixture
) -> None:
    w: World = await make_world()
    for channel in ("C2", "C3", "C4"):
        await w.store.subscribe(TEAM_ID, channel, "42", added_by="U1")
    await w.store.subscribe(TEAM_ID, "C5", "9", added_by="U1")
    assert await click_home_button(w, "42") == 200
    (form,) = w.fake.views_opened
    assert FormContext.load(form["private_metadata"]) == FormContext("42", None)
    w.fake.fail_next("chat.postMessage", channel="C3", error="is_archived")
    await w.submit(GOOD)
    await settled()
    told = {c: [m.text for m in w.fake.messages(c)] for c in ("C1", "C2", "C3", "C4", "C5")}
    line = f"🔑 Project 42 now has an Edge Impulse key (role admin), added by <@{ADMIN}>."
    assert told == {"C1": [], "C2": [line], "C3": [], "C4": [line], "C5": []}
    assert "could not tell C3 about project 42's key: SlackApiError" in caplog.messages
    assert w.edge.started == ["42"]


@pytest.mark.parametrize(
    ("value", "user", "values", "said_"),
    [
        ("42", PERSON, {"admin_user_ids": frozenset({ADMIN})}, "⛔ Only eon-bot admins"),
        ("forty-two", ADMIN, {}, "not a project id"),
        ("42", ADMIN, {"secret_key": None}, "⚠ Edge Impulse keys cannot be stored"),
    ],
    ids=["not an admin", "not a project", "no SECRET_KEY"],
)
async def test_a_home_button_opens_no_form_for_whom_it_is_not(
    make_world: Any,
    value: str,
    user: str,
    values: dict[str, Any],
    said_: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    w: World = await make_world(**values)
    assert await click_home_button(w, value, user) == 200  # acknowledged all the same
    assert w.fake.views_opened == []
    shown = "None" if value != "42" else "42"
    line = f"Home key button for project {shown} by {user}: {said_}"
    assert any(m.startswith(line) for m in caplog.messages)


async def test_a_home_button_slack_does_not_open_a_form_for_is_logged(
    make_world: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    w: World = await make_world()
    w.fake.fail_next("views.open", error="expired_trigger_id")
    assert await click_home_button(w, "42") == 200
    line = "Home key button for project 42 by U0ADMIN: ⚠ Slack did not open the key form"
    assert any(m.startswith(line) for m in caplog.messages)
    caplog.clear()
    assert await click_home_button(w, "42") == 200
    assert len(w.fake.views_opened) == 1 and "Home key button" not in caplog.text


@pytest.mark.parametrize(
    "state",
    [None, {}, {"values": {}}, {"values": {KEY_BLOCK: {}}},
     {"values": {KEY_BLOCK: {KEY_ACTION: {}}}},
     {"values": {KEY_BLOCK: {KEY_ACTION: {"type": "plain_text_input", "value": None}}}}],
    ids=["no state", "empty state", "no values", "no block", "no input", "empty input"],
)  # fmt: skip
async def test_a_submission_without_a_key_asks_for_one(
    make_world: Any, state: dict[str, Any] | None
) -> None:
    """What Slack sends for an empty field (`value: null`), and what a forged payload may
    leave out: read as no key, never an internal error."""
    w: World = await make_world()
    await w.command("key 42")
    payload = submission(w.fake.views_opened[-1], ADMIN, {})
    payload["view"]["state"] = state
    if state is None:
        del payload["view"]["state"]
    status, body, _ = await w._send(payload_body(payload))
    assert status == 200 and body["errors"][KEY_BLOCK].startswith("Paste the project's API key")
    assert w.ei.requests == []


async def test_a_key_of_the_wrong_shape_never_reaches_the_check(make_world: Any) -> None:
    """The form refuses by shape before it calls the check (whatever the check would do)."""
    reached: list[str] = []

    def recording(check: Any) -> Any:
        async def record(project_id: str, key: SecretStr) -> KeyVerdict:
            reached.append(key.get_secret_value())
            return await check(project_id, key)

        return record

    w: World = await make_world(check=recording)
    await w.command("key 42")
    _, body, _ = await w.submit(GOOD[:20] + "\u200b" + GOOD[20:])
    assert body["errors"][KEY_BLOCK].startswith("The key has an invisible character")
    await w.submit(GOOD)
    assert reached == [GOOD]


async def test_a_key_edge_impulse_gives_no_role_for_is_told_without_one(make_world: Any) -> None:
    def roleless(_: Any) -> Any:
        async def check(project_id: str, key: SecretStr) -> KeyVerdict:
            return KeyVerdict(True, "Edge Impulse accepted the key.", None)

        return check

    w: World = await make_world(check=roleless)
    await w.command("key 42")
    (form,) = w.fake.views_opened
    assert "a new one replaces it" not in json.dumps(form)  # the project had no key
    await w.submit(GOOD)
    await settled()
    [told] = w.fake.messages("C1")
    assert told.text == f"🔑 Project 42 now has an Edge Impulse key, added by <@{ADMIN}>."
    [row] = await w.store.sealed_keys()
    assert (row.role, row.added_by) == (None, ADMIN)


async def test_a_failure_after_the_key_is_stored_is_logged_not_raised(
    make_world: Any, caplog: pytest.LogCaptureFixture
) -> None:
    w: World = await make_world()
    await w.store.subscribe(TEAM_ID, "C1", "42", added_by="U1")
    w.edge.broken = True
    await w.command("key 42")
    _, body, _ = await w.submit(GOOD)
    await settled()
    assert body == "" and w.keys.source(TEAM_ID, "42") == "stored"  # stored, the modal closed
    assert "telling project 42's new key failed" in caplog.messages
    assert len(w.fake.messages("C1")) == 1  # told before the poll failed to start

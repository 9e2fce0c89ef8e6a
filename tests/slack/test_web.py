"""`bot.slack.web`: `POST /slack/events` at the door, over aiohttp's test server in-process (the
real process is attacked in tests/e2e/test_slack_door.py): what is refused before bolt, with
which status, answer and log line; what bolt gets; what a failure inside bolt is answered;
`/healthz` and `/metrics`."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import pytest
from aiohttp.test_utils import TestClient, TestServer
from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext
from slack_bolt.request.async_request import AsyncBoltRequest as BoltRequest
from slack_sdk.web.async_client import AsyncWebClient

from bot.conditions import Unexpected
from bot.metrics import CONTENT_TYPE
from bot.sandbox.fakeslack import FakeSlack
from bot.sandbox.slashcmd import signed_headers, slash_body
from bot.slack.inbound import MAX_BODY_BYTES
from bot.slack.web import BOLT_VERIFICATION_LOGGER, make_web_app, quiet_bolt_errors, slack_request

SECRET = "web-signing-secret"
REFUSED = "refused a request to /slack/events"


@dataclass
class Door:
    """The web app around a bolt app whose `/eon` says what it got (`boom` raises)."""

    http: TestClient[Any, Any]
    bolt: AsyncApp
    heard: list[str] = field(default_factory=list)

    async def command(
        self, text: str, *, path: str = "/slack/events", bare: bool = False, **headers: str
    ) -> tuple[int, Any]:
        body = slash_body(text, channel_id="C1", user_id="U1", response_url="https://r.test/1")
        sent = signed_headers(SECRET, body) | headers
        if bare:  # no Content-Type: the body alone says what it is
            del sent["Content-Type"]
        skipped = ["Content-Type"] if bare else []
        answer = await self.http.post(
            path, data=body.encode(), headers=sent, skip_auto_headers=skipped
        )
        said = await answer.text()
        return answer.status, json.loads(said) if said.startswith("{") else said


def bolt_app(fake: FakeSlack, heard: list[str]) -> AsyncApp:
    app = AsyncApp(
        client=AsyncWebClient(token="xoxb-test", base_url=fake.api_url),
        signing_secret=SECRET,
        process_before_response=True,
    )

    @app.command("/eon")
    async def eon(
        ack: AsyncAck, command: dict[str, Any], context: AsyncBoltContext, request: BoltRequest
    ) -> None:
        heard.append(command["text"])
        if command["text"] == "boom":
            raise RuntimeError("a listener broke")
        query = f" ({request.query})" if request.query else ""
        await ack(f"{command['text']} in {context.channel_id} by {context.user_id}{query}")

    return app


MakeDoor = Callable[..., Awaitable[Door]]


@pytest.fixture
async def door() -> AsyncIterator[MakeDoor]:
    clients: list[TestClient[Any, Any]] = []
    async with FakeSlack() as fake:

        async def make(*, quiet: bool = True, secret: str | None = SECRET) -> Door:
            heard: list[str] = []
            bolt = bolt_app(fake, heard)
            if quiet:
                quiet_bolt_errors(bolt, Unexpected(logging.getLogger("tests.web")))
            app = make_web_app(bolt, _healthy, signing_secret=secret)
            client: TestClient[Any, Any] = TestClient(TestServer(app))
            await client.start_server()
            clients.append(client)
            return Door(client, bolt, heard)

        yield make
        for client in clients:
            await client.close()


async def _healthy() -> str | None:
    return None


def refusals(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.getMessage().startswith(REFUSED)]


async def test_a_signed_command_reaches_bolt_with_who_sent_it_and_where(door: MakeDoor) -> None:
    """`payload` in a slash command's text is bolt's trap (`slack_request`): the command is
    still read as the form it is, its channel and user in bolt's context."""
    served = await door()
    for text in ("help", "watch payload"):
        assert await served.command(text) == (200, f"{text} in C1 by U1")
    charset = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
    assert await served.command("list", **charset) == (200, "list in C1 by U1")
    assert await served.command("list", bare=True) == (200, "list in C1 by U1")
    assert await served.command("list", path="/slack/events?x=1") == (
        200,
        "list in C1 by U1 ({'x': ['1']})",
    )


async def test_a_json_body_is_read_as_its_content_type_says(
    door: MakeDoor, caplog: pytest.LogCaptureFixture
) -> None:
    """A JSON list is no body bolt can use: what says JSON is the Content-Type (parameters
    after `;` aside), not only a leading `{`."""
    served = await door()
    body = '["event_callback"]'
    headers = signed_headers(SECRET, body, content_type="application/json; charset=utf-8")
    with caplog.at_level(logging.WARNING, logger="bot.slack.web"):
        answer = await served.http.post("/slack/events", data=body.encode(), headers=headers)
    assert (answer.status, await answer.json()) == (400, {"error": "malformed"})
    [line] = refusals(caplog)
    assert "(HTTP 400, malformed): the body is a JSON list, not an object;" in line


async def test_refusals_are_one_line_per_cause_and_door(
    door: MakeDoor, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A flood of one kind is one line (then a summary a minute); another kind is said at once."""
    served = await door()
    broken = urlencode({"payload": json.dumps({"type": "block_actions", "actions": 5})})

    async def raising(request: Any) -> Any:
        raise LookupError("deep inside bolt")

    with caplog.at_level(logging.WARNING, logger="bot.slack.web"):
        for _ in range(2):
            await served.http.post("/slack/events", data=b"x")  # unsigned
        await served.http.post(
            "/slack/events", data=broken, headers=signed_headers(SECRET, broken)
        )  # malformed
        monkeypatch.setattr(served.bolt, "async_dispatch", raising)
        assert await served.command("list") == (400, {"error": "malformed"})  # malformed again
    unsigned, malformed = refusals(caplog)  # bolt's LookupError is the malformed line's repeat
    assert "(HTTP 401, unsigned): no timestamp and no signature header;" in unsigned
    assert "(HTTP 400, malformed): actions is a number, not a list of objects;" in malformed


@pytest.mark.parametrize(
    ("headers", "cause", "detail"),
    [
        ({}, "unsigned", "no timestamp and no signature header"),
        ({"X-Slack-Signature": "v0=00"}, "bad signature", "the signature does not match"),
    ],
)
async def test_an_unsigned_or_forged_request_is_401_and_reaches_no_listener(
    door: MakeDoor,
    caplog: pytest.LogCaptureFixture,
    headers: dict[str, str],
    cause: str,
    detail: str,
) -> None:
    served = await door()
    body = slash_body("watch 5", channel_id="C1", user_id="U1", response_url="https://r.test/1")
    sent = signed_headers(SECRET, body) | headers if headers else {}
    if not headers:
        sent = {"Content-Type": "application/x-www-form-urlencoded"}
    with caplog.at_level(logging.WARNING, logger="bot.slack.web"):
        answer = await served.http.post("/slack/events", data=body, headers=sent)
    assert (answer.status, await answer.json()) == (401, {"error": cause})
    assert served.heard == []
    [line] = refusals(caplog)
    assert f"(HTTP 401, {cause}): {detail}" in line and "watch" not in line


async def test_without_a_signing_secret_nothing_is_taken(door: MakeDoor) -> None:
    served = await door(secret=None)
    assert await served.command("list") == (401, {"error": "no signing secret"})
    assert served.heard == []


async def test_a_body_over_the_limit_is_413_whether_its_length_is_said_or_not(
    door: MakeDoor, caplog: pytest.LogCaptureFixture
) -> None:
    """Refused by its Content-Length before it is read, or while it is read (chunked)."""
    big = b"x" * (MAX_BODY_BYTES + 1)

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: found while reading
        for start in range(0, len(big), 64 * 1024):
            yield big[start : start + 64 * 1024]

    said, chunked = await door(), await door()  # one log line per cause and door
    with caplog.at_level(logging.WARNING, logger="bot.slack.web"):
        by_length = await said.http.post(
            "/slack/events", data=big, headers=signed_headers(SECRET, "")
        )
        by_reading = await chunked.http.post("/slack/events", data=chunks())
    for answer in (by_length, by_reading):
        assert (answer.status, await answer.json()) == (413, {"error": "too large"})
    first, second = refusals(caplog)
    assert "(HTTP 413, too large): 1,048,577 bytes, the limit is 1,048,576;" in first
    assert "(HTTP 413, too large): over 1,048,576 bytes;" in second
    assert said.heard == chunked.heard == []


async def test_a_signed_body_bolt_cannot_use_is_400_and_reaches_no_listener(
    door: MakeDoor, caplog: pytest.LogCaptureFixture
) -> None:
    served = await door()
    body = urlencode({"payload": json.dumps({"type": "block_actions", "actions": 5})})
    with caplog.at_level(logging.WARNING, logger="bot.slack.web"):
        answer = await served.http.post(
            "/slack/events", data=body, headers=signed_headers(SECRET, body)
        )
    assert (answer.status, await answer.json()) == (400, {"error": "malformed"})
    [line] = refusals(caplog)
    assert "(HTTP 400, malformed): actions is a number" in line


async def test_a_listener_that_raises_is_answered_400_and_logged_once(
    door: MakeDoor, caplog: pytest.LogCaptureFixture
) -> None:
    served = await door()
    with caplog.at_level(logging.ERROR, logger="tests.web"):
        answer = await served.command("boom")
    assert answer == (400, {"error": "eon-bot could not handle this request"})
    [record] = [r for r in caplog.records if r.name == "tests.web"]
    assert record.getMessage() == "handling a Slack request failed unexpectedly"


async def test_an_error_answer_from_bolt_is_turned_into_400(door: MakeDoor) -> None:
    """Without `quiet_bolt_errors`, bolt answers a listener's exception with a 500: the door
    still answers no 5xx."""
    served = await door(quiet=False)
    assert await served.command("boom") == (400, {"error": "eon-bot could not handle this"})


async def test_what_bolt_itself_raises_is_a_400_named_by_its_type(
    door: MakeDoor, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    served = await door()

    async def broken(request: Any) -> Any:
        raise LookupError("deep inside bolt")

    monkeypatch.setattr(served.bolt, "async_dispatch", broken)
    with caplog.at_level(logging.WARNING, logger="bot.slack.web"):
        assert await served.command("list") == (400, {"error": "malformed"})
    [line] = refusals(caplog)
    assert "(HTTP 400, malformed): LookupError;" in line and "deep inside" not in line


def test_bolts_payload_trap_is_undone_only_for_a_plain_form() -> None:
    plain = slack_request(urlencode({"command": "/eon", "text": "watch payload"}), "", {})
    assert plain.body == {"command": "/eon", "text": "watch payload"}
    clicked = slack_request(urlencode({"payload": json.dumps({"type": "block_actions"})}), "", {})
    assert clicked.body == {"type": "block_actions"}
    event = json.dumps({"type": "event_callback", "event": {"text": "payload"}})
    assert slack_request(event, "", {}).body == json.loads(event)
    spaced = slack_request(f" {event}", "", {"content-type": "application/json"})
    assert spaced.body == json.loads(event)
    blank = slack_request("command=%2Feon&text=&channel_name=payload-team", "", {})
    assert blank.body == {"command": "/eon", "text": "", "channel_name": "payload-team"}


async def test_bolts_own_verification_log_keeps_no_body(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """bolt logs a request that fails its check whole; that logger's lines are dropped, and
    the filter that drops them is added once however many apps are made."""
    monkeypatch.setattr(logging.getLogger(BOLT_VERIFICATION_LOGGER), "filters", [])
    async with FakeSlack() as fake:
        for _ in range(2):
            quiet_bolt_errors(bolt_app(fake, []), Unexpected(logging.getLogger("tests.web")))
    logger = logging.getLogger(BOLT_VERIFICATION_LOGGER)
    assert len(logger.filters) == 1
    with caplog.at_level(logging.INFO, logger=BOLT_VERIFICATION_LOGGER):
        logger.info("Invalid request signature detected (body: text=my-secret-key)")
    assert caplog.records == []


@pytest.mark.parametrize(
    ("reason", "status", "said"),
    [(None, 200, {"ok": True}), ("Slack does not answer", 503, {"ok": False,
                                                               "reason": "Slack does not answer"})],
)  # fmt: skip
async def test_healthz_says_why_the_bot_cannot_work(
    reason: str | None, status: int, said: dict[str, Any]
) -> None:
    async def unhealthy() -> str | None:
        return reason

    async with FakeSlack() as fake:
        app = make_web_app(bolt_app(fake, []), unhealthy, signing_secret=SECRET)
        async with TestClient(TestServer(app)) as http:
            answer = await http.get("/healthz")
            assert (answer.status, await answer.json()) == (status, said)


async def test_metrics_are_served_in_prometheus_text_only_when_given() -> None:
    async def render() -> bytes:
        return b"eonbot_up 1\n"

    async with FakeSlack() as fake:
        served = make_web_app(bolt_app(fake, []), _healthy, render, signing_secret=SECRET)
        async with TestClient(TestServer(served)) as http:
            answer = await http.get("/metrics")
            assert (answer.status, await answer.read()) == (200, b"eonbot_up 1\n")
            assert answer.headers["Content-Type"] == CONTENT_TYPE
        without = make_web_app(bolt_app(fake, []), _healthy, signing_secret=SECRET)
        async with TestClient(TestServer(without)) as http:
            assert (await http.get("/metrics")).status == 404

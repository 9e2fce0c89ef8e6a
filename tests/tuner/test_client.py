"""The tuner client against `httpx.MockTransport`: each way Edge Impulse can answer, the
retries it deserves (and those it does not), and that the API key never leaks into an error."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sys
import traceback
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from bot.errors import (
    ConfigError,
    EonBotError,
    InvalidProjectId,
    MissingApiKey,
    NotEdgeImpulse,
    TunerApiError,
    TunerAuthError,
    TunerBadResponse,
    TunerNotFound,
    TunerReportedError,
    TunerUnavailable,
)
from bot.tuner.client import (
    TunerClient,
    default_transport,
    parse_state,
    project_id_from,
)
from tests.factories import trial

KEY = "ei_SECRET-default-4f1c9a77e2"
PROJECT_KEY = "ei_SECRET-project-12-b0a3d5c6"
BASE = "https://ei.test/v1"

Handler = Callable[[httpx.Request], httpx.Response]


def doc(**fields: Any) -> dict[str, Any]:
    return {
        "success": True,
        "tunerJobId": 10,
        "tunerCoordinatorJobId": 11,
        "tunerJobIsRunning": True,
        "trials": [trial("1", "completed", accuracy=0.9, latency=12, ram=1000, rom=2000)],
        "workers": [],
    } | fields


def body(**fields: Any) -> bytes:
    return json.dumps(doc(**fields)).encode()


def ok() -> httpx.Response:
    return httpx.Response(200, content=body())


HTML_502 = b"<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>"


class Recorder:
    """A mock Edge Impulse that answers from a list (the last answer repeats)."""

    def __init__(self, *answers: httpx.Response | Exception) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers[min(len(self.requests), len(self.answers)) - 1]
        if isinstance(answer, Exception):
            raise answer
        return answer


class Sleeps:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


def keys(project_id: str) -> SecretStr | None:
    return SecretStr(PROJECT_KEY) if project_id == "12" else SecretStr(KEY)


def make_client(
    handler: Handler,
    sleeps: Sleeps | None = None,
    *,
    api_key_for: Callable[[str], SecretStr | None] = keys,
    **options: Any,
) -> TunerClient:
    return TunerClient(
        httpx.MockTransport(handler),
        base_url=BASE,
        api_key_for=api_key_for,
        sleep=sleeps or Sleeps(),
        **options,
    )


# --- success ---------------------------------------------------------------------------------


async def test_get_state_sends_the_projects_own_key_over_the_default() -> None:
    ei = Recorder(ok())
    state = await make_client(ei).get_state("12")
    assert [t.id for t in state.trials] == ["1"]
    (request,) = ei.requests
    assert request.method == "GET"
    assert str(request.url) == "https://ei.test/v1/api/12/optimize/state"
    assert request.headers["x-api-key"] == PROJECT_KEY
    assert request.headers["accept"] == "application/json"


async def test_get_state_uses_the_default_key_for_other_projects() -> None:
    ei = Recorder(ok())
    await make_client(ei).get_state("7")
    assert ei.requests[0].headers["x-api-key"] == KEY


async def test_fetch_returns_the_body_unread_and_read_validates_it() -> None:
    client = make_client(Recorder(ok()))
    raw = await client.fetch("7")
    assert raw == body()
    state = client.read("7", raw, lambda pieces: pieces.state(pieces.trials([0])))
    assert state == await client.get_state("7")


# --- the size cap (issue 9.6): a clear error, never the whole answer in memory -----------------


async def test_an_answer_over_the_cap_is_refused_with_a_clear_error() -> None:
    big = httpx.Response(200, content=body(error="x" * 5000))
    with pytest.raises(TunerBadResponse) as caught:
        await make_client(Recorder(big), max_bytes=4096).get_state("7")
    message = str(caught.value)
    assert "over the 0.00391 MB limit" in message and "EI_MAX_RESPONSE_MB" in message
    assert "\n" not in message


async def test_an_answer_under_the_cap_is_read() -> None:
    fits = httpx.Response(200, content=body())
    assert (await make_client(Recorder(fits), max_bytes=len(body())).get_state("7")).success


async def test_the_cap_holds_without_a_content_length_and_stops_reading_early() -> None:
    """A streamed answer (no Content-Length) is cut off once over the cap: the client never
    reads, let alone keeps, the rest of an endless body."""
    sent: list[int] = []

    async def endless() -> Any:
        for _ in range(10_000):
            sent.append(1)
            yield b"[" * 1024

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=endless())

    with pytest.raises(TunerBadResponse, match=r"the answer is over the 0\.00977 MB limit"):
        await make_client(handler, max_bytes=10 * 1024).get_state("7")
    assert len(sent) <= 12


async def test_trailing_slash_and_leading_zeros_are_normalised() -> None:
    ei = Recorder(ok())
    client = TunerClient(httpx.MockTransport(ei), base_url=BASE + "/", api_key_for=keys)
    await client.get_state("0012")
    assert str(ei.requests[0].url) == "https://ei.test/v1/api/12/optimize/state"
    assert ei.requests[0].headers["x-api-key"] == PROJECT_KEY


async def test_a_request_carries_timeouts_a_user_agent_and_takes_gzip() -> None:
    ei = Recorder(ok())
    await make_client(ei).fetch("7")
    sent = ei.requests[0]
    timeouts = sent.extensions["timeout"]
    assert timeouts["connect"] == 5.0 and timeouts["read"] == 20.0
    assert sent.headers["user-agent"].startswith("eon-bot/")
    assert "gzip" in sent.headers["accept-encoding"]


# --- refusals: no retry ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (401, TunerAuthError),
        (403, TunerAuthError),
        (404, TunerNotFound),
        (400, TunerBadResponse),
        (405, TunerBadResponse),
        (422, TunerBadResponse),
    ],
)
async def test_4xx_is_raised_at_once(status: int, error: type[TunerApiError]) -> None:
    ei = Recorder(httpx.Response(status, json={"success": False, "error": "nope"}))
    sleeps = Sleeps()
    with pytest.raises(error) as caught:
        await make_client(ei, sleeps).get_state("7")
    assert len(ei.requests) == 1
    assert sleeps.delays == []
    assert caught.value.status == status
    assert caught.value.project_id == "7"


async def test_auth_error_says_which_settings_to_check() -> None:
    with pytest.raises(TunerAuthError, match="EI_API_KEY_7 or EI_API_KEY"):
        await make_client(Recorder(httpx.Response(401))).get_state("7")


async def test_other_4xx_quotes_edge_impulses_error() -> None:
    ei = Recorder(httpx.Response(400, json={"success": False, "error": "Invalid project"}))
    with pytest.raises(TunerBadResponse, match="HTTP 400 Bad Request: Invalid project"):
        await make_client(ei).get_state("7")


# --- transient failures: retried, then TunerUnavailable ---------------------------------------


@pytest.mark.parametrize("status", [500, 502, 503, 504])
async def test_5xx_with_html_is_retried_then_unavailable(status: int) -> None:
    ei = Recorder(httpx.Response(status, content=HTML_502, headers={"content-type": "text/html"}))
    sleeps = Sleeps()
    with pytest.raises(TunerUnavailable) as caught:
        await make_client(ei, sleeps).get_state("7")
    assert len(ei.requests) == 3
    assert len(sleeps.delays) == 2  # none after the last attempt
    assert 0.5 <= sleeps.delays[0] <= 0.55
    assert 1.0 <= sleeps.delays[1] <= 1.1
    assert caught.value.status == status
    message = str(caught.value)
    assert f"HTTP {status}" in message and "3 attempts" in message
    assert "<html>" not in message


async def test_recovers_when_a_later_attempt_succeeds() -> None:
    ei = Recorder(httpx.Response(503, content=HTML_502), httpx.Response(502), ok())
    state = await make_client(ei).get_state("7")
    assert len(ei.requests) == 3
    assert state.trials[0].id == "1"


async def test_attempts_bound_the_requests() -> None:
    ei = Recorder(httpx.Response(500))
    with pytest.raises(TunerUnavailable):
        await make_client(ei, attempts=5).get_state("7")
    assert len(ei.requests) == 5

    single = Recorder(httpx.Response(500))
    sleeps = Sleeps()
    with pytest.raises(TunerUnavailable) as caught:
        await make_client(single, sleeps, attempts=1).get_state("7")
    assert len(single.requests) == 1 and sleeps.delays == []
    assert "attempts" not in str(caught.value)


@pytest.mark.parametrize(
    ("retry_after", "expected"),
    [("7", 7.0), ("0", 0.0), ("2.5", 2.5), ("3600", 60.0)],
)
async def test_429_honours_retry_after_capped(retry_after: str, expected: float) -> None:
    limited = httpx.Response(429, headers={"Retry-After": retry_after})
    ei = Recorder(limited, limited, ok())
    sleeps = Sleeps()
    await make_client(ei, sleeps).get_state("7")
    assert sleeps.delays == [expected, expected]


async def test_429_retry_after_as_an_http_date_is_read_on_the_servers_clock() -> None:
    limited = httpx.Response(
        429,
        headers={
            "Date": "Wed, 21 Oct 2015 07:28:00 GMT",
            "Retry-After": "Wed, 21 Oct 2015 07:28:30 GMT",
        },
    )
    sleeps = Sleeps()
    await make_client(Recorder(limited, ok()), sleeps, max_retry_after=45).get_state("7")
    assert sleeps.delays == [30.0]


async def test_429_without_retry_after_backs_off_and_ends_unavailable() -> None:
    ei = Recorder(httpx.Response(429, json={"success": False, "error": "Too many requests"}))
    sleeps = Sleeps()
    with pytest.raises(TunerUnavailable, match="Too many requests") as caught:
        await make_client(ei, sleeps).get_state("7")
    assert caught.value.status == 429
    assert len(ei.requests) == 3 and len(sleeps.delays) == 2


def _timeout(request: httpx.Request) -> httpx.Response:
    raise httpx.ReadTimeout("The read operation timed out", request=request)


def _refused(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("[Errno 111] Connection refused", request=request)


@pytest.mark.parametrize(
    ("handler", "words"),
    [(_timeout, "timed out: ReadTimeout"), (_refused, "connection failed: ConnectError")],
)
async def test_transport_failures_are_retried_then_unavailable(
    handler: Handler, words: str
) -> None:
    calls: list[httpx.Request] = []

    def counting(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return handler(request)

    sleeps = Sleeps()
    with pytest.raises(TunerUnavailable, match=words) as caught:
        await make_client(counting, sleeps).get_state("7")
    assert len(calls) == 3 and len(sleeps.delays) == 2
    assert caught.value.status is None


async def test_a_timeout_then_success_recovers() -> None:
    ei = Recorder(httpx.ConnectTimeout("timed out"), ok())
    assert (await make_client(ei).get_state("7")).success


# --- bodies that are not a state: no retry ----------------------------------------------------


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"{not json", "not valid JSON"),
        (body()[:40], "not valid JSON"),
        (b"", "empty body"),
        (b"<!DOCTYPE html><html><body>Sign in</body></html>", "HTML page"),
        (b"[1, 2]", "unexpected shape"),
        (b"null", "unexpected shape"),
        (body(trials=None), "trials"),
        (body(trials="many"), "trials"),
        (body(trials=[{"id": "1"}]), "trials.0.status"),
        (body(success="maybe"), "success"),
        (body(status={"numCompletedTrials": "three"}), "status.numCompletedTrials"),
        (json.dumps({"success": True}).encode(), "no `trials` list"),
        (json.dumps({"success": True, "workers": []}).encode(), "no `trials` list"),
        (body(success=False, error="Tuner not started"), "reported an error: Tuner not started"),
        (body(success=False), "success: false"),
        (json.dumps({"success": False, "error": "Boom", "trials": 3}).encode(), "error: Boom"),
    ],
)
async def test_a_body_that_is_not_a_state_is_bad_and_not_retried(
    content: bytes, words: str
) -> None:
    ei = Recorder(httpx.Response(200, content=content))
    with pytest.raises(TunerBadResponse) as caught:
        await make_client(ei).get_state("7")
    assert len(ei.requests) == 1
    assert words in str(caught.value)
    assert len(str(caught.value)) < 400


@pytest.mark.parametrize(
    "content",
    [
        body(success=False, error="Tuner not started"),
        b'{"success": false, "error": "Tuner not started", "trials": 3}',
    ],
)
def test_success_false_is_edge_impulses_own_error(content: bytes) -> None:
    with pytest.raises(TunerReportedError) as caught:
        parse_state("7", 200, content)
    assert str(caught.value) == "project 7: Edge Impulse reported an error: Tuner not started"
    assert caught.value.reason == "Tuner not started"


def test_edge_impulses_error_is_truncated() -> None:
    with pytest.raises(TunerBadResponse) as caught:
        parse_state("7", 200, body(success=False, error="x" * 5000))
    assert "x" * 150 in str(caught.value)
    assert len(str(caught.value)) < 320
    assert str(caught.value).endswith("…")


def test_many_validation_problems_are_counted_not_dumped() -> None:
    bad = [{"id": str(i)} for i in range(500)]
    with pytest.raises(TunerBadResponse, match=r"and 499 more problems") as caught:
        parse_state("7", 200, body(trials=bad))
    assert len(str(caught.value)) < 300


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (200, None),
        (401, TunerAuthError),
        (403, TunerAuthError),
        (404, TunerNotFound),
        (429, TunerUnavailable),
        (500, TunerUnavailable),
        (503, TunerUnavailable),
        (301, TunerBadResponse),
        (204, TunerBadResponse),
        (418, TunerBadResponse),
    ],
)
def test_parse_state_classifies_statuses(status: int, error: type[Exception] | None) -> None:
    if error is None:
        assert parse_state("7", status, body()).trials
    else:
        with pytest.raises(error):
            parse_state("7", status, body())


def test_parse_state_keeps_unknown_enum_values_and_extra_fields() -> None:
    state = parse_state(
        "7",
        200,
        body(status={"status": "paused"}, brandNew=1, trials=[trial("1", "queued")]),
    )
    assert state.status is not None and state.status.status == "paused"
    assert state.trials[0].status == "queued"


def test_an_empty_trials_list_is_a_state() -> None:
    assert parse_state("7", 200, body(trials=[])).trials == []


# --- input checked before any request ---------------------------------------------------------


async def test_missing_key_names_the_settings_and_sends_nothing() -> None:
    ei = Recorder(ok())
    with pytest.raises(MissingApiKey, match="EI_API_KEY_7.*EI_API_KEY") as caught:
        await make_client(ei, api_key_for=lambda _: None).get_state("7")
    assert isinstance(caught.value, ConfigError)
    assert ei.requests == []
    with pytest.raises(MissingApiKey):
        await make_client(ei, api_key_for=lambda _: SecretStr("")).get_state("7")
    assert ei.requests == []


@pytest.mark.parametrize(
    "text",
    ["abc", "0", "-1", "1.5", "1e3", " 12", "12 ", "12/../13", "", "１２", "٣", "+5", "0x10"],
)
async def test_invalid_project_ids_are_refused_before_any_request(text: str) -> None:
    ei = Recorder(ok())
    with pytest.raises(InvalidProjectId, match="not a project id") as caught:
        await make_client(ei).get_state(text)
    assert ei.requests == []
    assert isinstance(caught.value, ValueError)
    assert "\n" not in str(caught.value)


def test_invalid_project_id_message_is_truncated_and_escaped() -> None:
    with pytest.raises(InvalidProjectId) as caught:
        project_id_from("a\x1b[31m" + "z" * 500)
    message = str(caught.value)
    assert "\x1b" not in message
    assert "z" * 20 in message and "z" * 40 not in message


def test_an_api_key_given_as_project_id_is_not_echoed() -> None:
    with pytest.raises(InvalidProjectId) as caught:
        project_id_from(KEY)
    assert KEY not in str(caught.value) and "ei_" not in str(caught.value)


@pytest.mark.parametrize(("text", "canonical"), [("1", "1"), ("0042", "42"), ("123456", "123456")])
def test_project_id_from(text: str, canonical: str) -> None:
    assert project_id_from(text) == canonical


@pytest.mark.parametrize("url", ["", "studio.edgeimpulse.com/v1", "ftp://ei.test/v1", "http://"])
def test_a_base_url_that_is_not_http_is_a_config_error(url: str) -> None:
    with pytest.raises(ConfigError, match="EI_API_URL"):
        TunerClient(httpx.MockTransport(Recorder(ok())), base_url=url, api_key_for=keys)


# --- the key never leaks ----------------------------------------------------------------------


def _echo_in_body(request: httpx.Request) -> httpx.Response:
    return httpx.Response(
        200, json={"success": False, "error": f"bad key {request.headers['x-api-key']}"}
    )


def _echo_in_500(request: httpx.Request) -> httpx.Response:
    return httpx.Response(500, json={"success": False, "error": request.headers["x-api-key"]})


def _echo_in_400(request: httpx.Request) -> httpx.Response:
    return httpx.Response(400, json={"success": False, "error": request.headers["x-api-key"]})


def _echo_in_exception(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError(f"refused for {request.headers['x-api-key']}", request=request)


def _echo_in_shape(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, json={"success": True, "trials": [{"id": "1"}], "k": PROJECT_KEY})


LEAKY: list[Handler] = [
    lambda r: httpx.Response(401),
    lambda r: httpx.Response(403),
    lambda r: httpx.Response(404),
    lambda r: httpx.Response(502, content=HTML_502),
    lambda r: httpx.Response(429, headers={"Retry-After": "1"}),
    lambda r: httpx.Response(200, content=b"{broken"),
    lambda r: httpx.Response(200, json={"success": True}),
    _timeout,
    _refused,
    _echo_in_body,
    _echo_in_500,
    _echo_in_400,
    _echo_in_exception,
    _echo_in_shape,
]


@pytest.mark.parametrize("handler", LEAKY)
async def test_the_key_never_appears_in_an_error(
    handler: Handler, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with pytest.raises(EonBotError) as caught:
        await make_client(handler).get_state("12")
    shown = [
        str(caught.value),
        repr(caught.value),
        "".join(traceback.format_exception(caught.value)),
        caplog.text,
    ]
    for text in shown:
        assert PROJECT_KEY not in text
        assert "SECRET" not in text


async def test_missing_key_and_client_repr_show_no_key() -> None:
    client = make_client(Recorder(ok()))
    assert "SECRET" not in repr(client)
    with pytest.raises(MissingApiKey) as caught:
        await make_client(Recorder(ok()), api_key_for=lambda _: None).get_state("12")
    assert "SECRET" not in repr(caught.value)


# --- an EI_API_URL that is not Edge Impulse's API --------------------------------------------


@pytest.mark.parametrize(
    ("status", "content", "what"),
    [
        (404, b"404: Not Found", "plain text"),  # aiohttp's answer for a path it lacks
        (404, b"<!doctype html><title>Not found</title>", "an HTML page"),
        (404, b"", "an empty body"),
        (200, b"<html><body>Edge Impulse Studio</body></html>", "an HTML page"),
    ],
)
def test_an_answer_no_json_api_gives_names_the_url(status: int, content: bytes, what: str) -> None:
    with pytest.raises(NotEdgeImpulse) as caught:
        parse_state("7", status, content, base_url="https://studio.edgeimpulse.com")
    message = str(caught.value)
    assert "EI_API_URL https://studio.edgeimpulse.com does not answer like" in message
    assert what in message and "/v1" in message


def test_a_json_404_is_still_no_such_project() -> None:
    with pytest.raises(TunerNotFound):
        parse_state("7", 404, b'{"success": false, "error": "Project not found"}', base_url=BASE)


async def test_the_simulator_without_v1_is_said_to_be_no_edge_impulse_api() -> None:
    """Real HTTP: the simulator serves under /v1; its root answers like any web server."""
    from bot.sandbox.simulator.server import SimulatorServer

    async with SimulatorServer(api_key="k") as simulator, default_transport() as transport:
        root = simulator.url.removesuffix("/v1")
        client = TunerClient(transport, base_url=root, api_key_for=lambda _: SecretStr("k"))
        with pytest.raises(NotEdgeImpulse) as caught:
            await client.get_state("1")
        assert root in str(caught.value)


async def test_a_closed_port_names_the_url_tried() -> None:
    async with default_transport() as transport:
        client = TunerClient(
            transport,
            base_url="http://127.0.0.1:9/v1",
            api_key_for=lambda _: SecretStr("k"),
            attempts=1,
        )
        with pytest.raises(TunerUnavailable) as caught:
            await client.get_state("1")
        assert "connection failed" in str(caught.value)
        assert "http://127.0.0.1:9/v1" in str(caught.value)


class _Lookups:
    """A `sys.meta_path` finder that only counts the imports that reach the finders."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def find_spec(self, name: str, path: object = None, target: object = None) -> None:
        self.names.append(name)


async def test_a_get_over_a_kept_connection_imports_nothing() -> None:
    """A GET costs no import: httpx's own transport (httpcore) imported sniffio at every lock
    and event of a request, and without it installed each import searched sys.path again, a
    quarter of the GET's CPU (encode/httpcore#1103). The production client's GET goes over
    aiohttp (`bot.tuner.transport`) and makes no lookup at all."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            while await reader.readuntil(b"\r\n\r\n"):
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")
                await writer.drain()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/"
    lookups = _Lookups()
    try:
        async with default_transport() as transport:
            client = TunerClient(transport, base_url=url, api_key_for=lambda _: SecretStr("k"))
            await client.fetch("1")  # connects; imports whatever a first request needs
            sys.meta_path.insert(0, lookups)  # type: ignore[arg-type]
            try:
                assert await client.fetch("1") == b"{}"
            finally:
                sys.meta_path.remove(lookups)  # type: ignore[arg-type]
    finally:
        server.close()
    assert lookups.names == []


@pytest.mark.parametrize(
    "key", ["ei_a\r\nX-Injected: 1", "ei_\x00", "ei_clé", "ei_\u200bk", "k" * 100_000]
)
async def test_a_key_without_a_keys_shape_is_never_put_in_a_header(key: str) -> None:
    """Whatever the key's source (a stored key opened, an environment variable), the client
    and the jobs check its shape (`bot.key_shape`) before a header is made: nothing is sent."""
    from bot.errors import BadApiKey
    from bot.tuner.jobs import TunerJobs

    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200, json={"success": True})

    transport = httpx.MockTransport(handler)
    client = TunerClient(transport, base_url=BASE, api_key_for=lambda _: SecretStr(key))
    with pytest.raises(BadApiKey) as read:
        await client.get_state("1")
    jobs = TunerJobs(transport, base_url=BASE, api_key_for=lambda _: SecretStr(key))
    with pytest.raises(BadApiKey) as acted:
        await jobs.act("stop", "1", "17")
    assert sent == []
    for caught in (read, acted):
        assert key[:6] not in str(caught.value) and "nothing was sent" in str(caught.value)

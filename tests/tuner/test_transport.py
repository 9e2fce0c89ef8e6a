"""The production transport (`default_transport`, httpx over aiohttp) against real sockets.

Each server here is a few lines of asyncio on loopback that answers the way a real one does
or fails the way real ones fail: kept-alive answers, gzip, a connection refused, an answer that
never comes, a body cut short, a connection closed unanswered, bytes that are not HTTP. The
tuner client must see each as the httpx error that says what happened, worded by
`TunerClient` ("timed out" / "connection failed") and never quoting the API key.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import json
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest
from pydantic import SecretStr

from bot.errors import TunerBadResponse, TunerUnavailable
from bot.tuner.client import TunerClient, default_transport

KEY = "ei_SECRET-transport-0c9d"
Serve = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@contextlib.asynccontextmanager
async def serving(serve: Serve) -> AsyncIterator[tuple[str, list[int]]]:
    """A loopback server; yields its URL and a list that grows by one per connection."""
    connections: list[int] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(1)
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            await serve(reader, writer)
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}", connections
    finally:
        server.close()


def answer(body: bytes, *headers: str) -> bytes:
    head = ["HTTP/1.1 200 OK", f"Content-Length: {len(body)}", *headers]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


def tuner(
    transport: httpx.AsyncBaseTransport, url: str, timeout: httpx.Timeout | None = None
) -> TunerClient:
    return TunerClient(
        transport,
        base_url=url,
        api_key_for=lambda _: SecretStr(KEY),
        attempts=1,
        timeout=timeout or httpx.Timeout(5.0),
    )


async def test_answers_are_read_whole_over_one_kept_connection_with_the_request_as_sent() -> None:
    state = json.dumps({"success": True, "trials": []}).encode()
    asked: list[bytes] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            asked.append(await reader.readuntil(b"\r\n\r\n"))
            writer.write(answer(gzip.compress(state), "Content-Encoding: gzip", "X-Seen: yes"))
            await writer.drain()

    async with serving(serve) as (url, connections), default_transport() as transport:
        for _ in range(3):
            assert await tuner(transport, url).fetch("7") == state  # decoded by httpx
        response = await transport.handle_async_request(httpx.Request("GET", f"{url}/x"))
        await response.aread()
        assert response.headers["x-seen"] == "yes"
        assert response.http_version == "HTTP/1.1" and response.reason_phrase == "OK"
    assert connections == [1]  # kept alive
    first = asked[0].decode().lower()
    assert first.startswith("get /api/7/optimize/state http/1.1\r\n")
    assert f"x-api-key: {KEY.lower()}" in first
    assert "user-agent: eon-bot/" in first and "accept: application/json" in first


async def _failure(serve: Serve | None, *, read_timeout: float = 5.0) -> TunerUnavailable:
    async def refuse() -> str:
        probe = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
        port = probe.sockets[0].getsockname()[1]
        probe.close()
        await probe.wait_closed()
        return f"http://127.0.0.1:{port}"

    async with contextlib.AsyncExitStack() as stack:
        if serve is None:
            url = await refuse()
        else:
            url, _ = await stack.enter_async_context(serving(serve))
        transport = await stack.enter_async_context(default_transport())
        with pytest.raises(TunerUnavailable) as caught:
            await tuner(transport, url, httpx.Timeout(read_timeout, connect=5.0)).fetch("7")
    assert KEY not in str(caught.value) and KEY not in repr(caught.value)
    return caught.value


async def _silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.readuntil(b"\r\n\r\n")
    await asyncio.sleep(3)


async def _cut_short(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.readuntil(b"\r\n\r\n")
    writer.write(answer(b'{"success": true, "trials": []}')[:-10])
    await writer.drain()


async def _hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.readuntil(b"\r\n\r\n")


async def _not_http(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.readuntil(b"\r\n\r\n")
    writer.write(b"SSH-2.0-OpenSSH_9.2\r\n\r\n")
    await writer.drain()


@pytest.mark.parametrize(
    ("serve", "kind", "error"),
    [
        (None, "connection failed", "ConnectError"),  # nothing listens on the port
        (_silent, "timed out", "ReadTimeout"),
        (_cut_short, "connection failed", "RemoteProtocolError"),
        (_hang_up, "connection failed", "RemoteProtocolError"),
        (_not_http, "connection failed", "RemoteProtocolError"),
    ],
)
async def test_each_failure_is_the_httpx_error_that_says_what_happened(
    serve: Serve | None, kind: str, error: str
) -> None:
    failure = await _failure(serve, read_timeout=0.3)
    assert f"{kind}: {error}" in failure.reason
    assert "http://127.0.0.1:" in failure.reason  # the URL tried, for the operator


async def test_an_answer_refused_before_its_end_closes_its_connection() -> None:
    """A body over the cap is left unread, so its connection cannot serve the next request:
    it is closed, not put back in the pool (a body read to its end keeps it: see above)."""
    state = b'{"success": true, "trials": []}'
    closed = asyncio.Event()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        if not closed.is_set():  # the first connection: an answer too large, still coming
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 5000000\r\n\r\n" + b"x" * 10_000)
            await writer.drain()
            if await reader.read() == b"":  # the client hung up
                closed.set()
            return
        writer.write(answer(state))
        await writer.drain()

    async with serving(serve) as (url, connections), default_transport() as transport:
        client = TunerClient(
            transport, base_url=url, api_key_for=lambda _: SecretStr(KEY), max_bytes=1000
        )
        with pytest.raises(TunerBadResponse, match="over the"):
            await client.fetch("7")
        await asyncio.wait_for(closed.wait(), 2.0)
        assert await client.fetch("7") == state
    assert connections == [1, 1]


@pytest.fixture
def no_proxy_set(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    return monkeypatch


async def test_a_proxy_the_environment_names_carries_the_polls(
    no_proxy_set: pytest.MonkeyPatch,
) -> None:
    """As httpx's client read them: HTTP_PROXY (HTTPS_PROXY for https) gets the request in
    absolute form, with the credentials of its URL as Proxy-Authorization."""
    state = b'{"success": true, "trials": []}'
    asked: list[bytes] = []

    async def proxy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        asked.append(await reader.readuntil(b"\r\n\r\n"))
        writer.write(answer(state))
        await writer.drain()

    async with serving(proxy) as (proxy_url, _), default_transport() as transport:
        no_proxy_set.setenv("HTTP_PROXY", proxy_url.replace("://", "://squid:p%40ss@"))
        assert await tuner(transport, "http://ei.invalid/v1").fetch("7") == state
    head = asked[0].decode().lower()
    assert head.startswith("get http://ei.invalid/v1/api/7/optimize/state http/1.1\r\n")
    assert "proxy-authorization: basic " in head
    assert "Basic c3F1aWQ6cEBzcw==" in asked[0].decode()  # squid:p@ss


async def test_no_proxy_sends_a_host_it_names_around_the_proxy(
    no_proxy_set: pytest.MonkeyPatch,
) -> None:
    state = b'{"success": true, "trials": []}'
    proxied: list[bytes] = []

    async def proxy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        proxied.append(await reader.readuntil(b"\r\n\r\n"))

    async def direct(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(answer(state))
        await writer.drain()

    async with (
        serving(proxy) as (proxy_url, _),
        serving(direct) as (url, _),
        default_transport() as transport,
    ):
        no_proxy_set.setenv("HTTP_PROXY", proxy_url)
        no_proxy_set.setenv("NO_PROXY", "localhost,127.0.0.1")
        assert await tuner(transport, url).fetch("7") == state
    assert proxied == []


async def test_an_https_poll_tunnels_through_the_proxy_with_its_credentials(
    no_proxy_set: pytest.MonkeyPatch,
) -> None:
    asked: list[bytes] = []

    async def proxy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        asked.append(await reader.readuntil(b"\r\n\r\n"))  # then hangs up: no tunnel

    async with serving(proxy) as (proxy_url, _), default_transport() as transport:
        no_proxy_set.setenv("HTTPS_PROXY", proxy_url.replace("://", "://squid:p%40ss@"))
        with pytest.raises(TunerUnavailable):
            await tuner(transport, "https://ei.invalid/v1").fetch("7")
    head = asked[0].decode()
    assert head.startswith("CONNECT ei.invalid:443 HTTP/1.1\r\n")
    assert "Proxy-Authorization: Basic c3F1aWQ6cEBzcw==" in head  # squid:p@ss
    assert KEY not in head  # the key travels inside the tunnel only

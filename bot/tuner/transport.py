"""An httpx transport over aiohttp's connections: what the tuner client polls Edge Impulse with.

A poll is one GET, made many times a second by a process watching many projects. httpx's own
transport (httpcore, anyio and the pure-Python h11 parser) spends several times the CPU on a
GET that aiohttp (whose HTTP parser is C) does (`bench/http_get.py` prints them side by side).
So the tuner client keeps httpx's request and response types (tests give it an
`httpx.MockTransport`), and this transport hands each request to one `aiohttp.ClientSession`.

httpx-aiohttp (0.2) does the same, but maps a refused or dropped connection to
`httpx.ConnectTimeout` (the outage notice would say "timed out") and lets aiohttp's
response errors through as exceptions httpx callers do not expect. Here every aiohttp error
becomes the httpx error of its row in `bot.tuner.failures`, the one table that also says what
it means to the tuner client; its text is aiohttp's, which names the host but never a header,
so no API key.

Only what the tuner client uses is supported: HTTP/1.1 requests with a body in memory. A proxy
is taken from the environment (`HTTPS_PROXY`, `HTTP_PROXY`, `NO_PROXY`), as httpx's client did.
The body is handed to httpx still encoded: httpx decodes gzip itself, so the tuner client's
size cap counts the decoded bytes, as before.
"""

from __future__ import annotations

import asyncio
import contextlib
import urllib.request
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import httpx
import yarl

from bot.tuner.failures import CAUSES, as_httpx


@contextlib.contextmanager
def _httpx_errors() -> Iterator[None]:
    try:
        yield
    except CAUSES as exc:
        raise as_httpx(exc) from exc


class _Body(httpx.AsyncByteStream):
    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._response = response

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with _httpx_errors():
            async for chunk in self._response.content.iter_any():  # as they arrive
                yield chunk

    async def aclose(self) -> None:
        self._response.release()  # back to the pool if read to the end, else closed


_Proxy = tuple[yarl.URL, dict[str, str]] | None  # where, and the headers it wants (CONNECT)


def env_proxy(url: httpx.URL) -> _Proxy:
    """The proxy the environment names for `url` (`HTTPS_PROXY` for https, `HTTP_PROXY` for
    http, else `ALL_PROXY`; none for a host `NO_PROXY` lists), as urllib and httpx read them,
    with the credentials of its URL (if any) as its `Proxy-Authorization` header."""
    if url.host and urllib.request.proxy_bypass(url.host):
        return None
    proxies = urllib.request.getproxies()
    named = proxies.get(url.scheme) or proxies.get("all")
    if not named:
        return None
    proxy = yarl.URL(named if "://" in named else f"http://{named}")
    auth = aiohttp.BasicAuth.from_url(proxy)
    return proxy.with_user(None), {"Proxy-Authorization": auth.encode()} if auth else {}


class AiohttpTransport(httpx.AsyncBaseTransport):
    """At most `max_connections` connections, kept alive `keepalive_s` between requests. The
    session is made at the first request, inside the running event loop. The proxy for each
    origin is read from the environment once (`env_proxy`), not per request as aiohttp's
    `trust_env` does it, in a worker thread each time."""

    def __init__(self, *, max_connections: int, keepalive_s: float = 5.0) -> None:
        self._max_connections = max_connections
        self._keepalive_s = keepalive_s
        self._session: aiohttp.ClientSession | None = None
        self._proxies: dict[tuple[str, str, int | None], _Proxy] = {}

    def _proxy(self, url: httpx.URL) -> _Proxy:
        origin = (url.scheme, url.host, url.port)
        if origin not in self._proxies:
            self._proxies[origin] = env_proxy(url)
        return self._proxies[origin]

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None:
            connector = aiohttp.TCPConnector(
                limit=self._max_connections,
                keepalive_timeout=self._keepalive_s,
                ssl=httpx.create_ssl_context(),  # the CA bundle httpx would trust (certifi)
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                auto_decompress=False,
                cookie_jar=aiohttp.DummyCookieJar(),
            )
        return self._session

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        timeout: dict[str, Any] = request.extensions.get("timeout", {})
        proxy, proxy_headers = self._proxy(request.url) or (None, {})
        headers = request.headers.multi_items()
        if proxy is not None and request.url.scheme == "http":
            # Sent to the proxy whole, not through a tunnel: its headers go with the request.
            headers += proxy_headers.items()
            proxy_headers = {}
        with _httpx_errors():
            response = await self._open().request(
                request.method,
                str(request.url),
                headers=headers,
                data=await request.aread() or None,
                allow_redirects=False,
                proxy=proxy,
                proxy_headers=proxy_headers,
                timeout=aiohttp.ClientTimeout(
                    sock_connect=timeout.get("connect"), sock_read=timeout.get("read")
                ),
            )
        extensions: dict[str, Any] = {"http_version": b"HTTP/1.1"}
        if response.reason:
            extensions["reason_phrase"] = response.reason.encode("ascii", "replace")
        return httpx.Response(
            response.status,
            headers=list(response.raw_headers),
            stream=_Body(response),
            extensions=extensions,
        )

    async def aclose(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()
            await asyncio.sleep(0)  # the closed connections' callbacks run (aiohttp's docs)

"""The HTTP side: `POST /slack/events` into bolt, `GET /healthz` and `GET /metrics`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.async_app import AsyncApp
from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.request.async_internals import build_async_context
from slack_bolt.request.async_request import AsyncBoltRequest

from bot.metrics import CONTENT_TYPE

MAX_BODY_BYTES = 1024 * 1024


def slack_request(raw_body: str, query: str, headers: Any) -> AsyncBoltRequest:
    """A bolt request that survives bolt's `payload` trap.

    bolt's `parse_body` takes any form body containing the substring "payload" for an
    interactivity payload; a slash command such as `/eon watch payload` then parses as
    nothing and bolt answers 404. Such a body is re-parsed here as the plain form it is.
    The raw body is untouched, so the signature is still verified against it.
    """
    request = AsyncBoltRequest(body=raw_body, query=query, headers=headers)
    if "payload" in raw_body and not raw_body.lstrip().startswith("{"):
        form = dict(parse_qsl(raw_body, keep_blank_values=True))
        if "payload" not in form:
            request.body = form
            request.context = build_async_context(AsyncBoltContext({}), form)
    return request


def make_web_app(
    bolt: AsyncApp,
    unhealthy: Callable[[], Awaitable[str | None]],
    metrics: Callable[[], Awaitable[bytes]] | None = None,
) -> web.Application:
    """`unhealthy()` says why the bot cannot do its job (503 with the reason), or None (200);
    `metrics()` is the Prometheus text `GET /metrics` serves."""

    async def slack_events(request: web.Request) -> web.Response:
        raw = await request.read()
        bolt_request = slack_request(
            raw.decode("utf-8", errors="replace"), request.query_string, request.headers
        )
        return await to_aiohttp_response(await bolt.async_dispatch(bolt_request))

    async def healthz(_: web.Request) -> web.Response:
        reason = await unhealthy()
        if reason is None:
            return web.json_response({"ok": True})
        return web.json_response({"ok": False, "reason": reason}, status=503)

    app = web.Application(client_max_size=MAX_BODY_BYTES)
    app.router.add_post("/slack/events", slack_events)
    app.router.add_get("/healthz", healthz)
    if metrics is not None:
        render = metrics

        async def metrics_page(_: web.Request) -> web.Response:
            response = web.Response(body=await render())
            response.headers["Content-Type"] = CONTENT_TYPE
            return response

        app.router.add_get("/metrics", metrics_page)
    return app

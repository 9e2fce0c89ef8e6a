"""The HTTP side: `POST /slack/events` into bolt, `GET /healthz` and `GET /metrics`; with many
workspaces, bolt's OAuth flow too (`GET /slack/install`, `GET /slack/oauth_redirect`,
`bot.slack.install`).

`POST /slack/events` verifies, then parses (`bot.slack.inbound`): a request that is too large
(413), not signed by Slack just now (401) or signed but unusable (400) is answered at the door,
one log line per cause at most a minute (`bot.conditions.Refusals`), its body neither parsed
nor logged; only what passes is built into a bolt request. Nothing here answers 5xx: an error
bolt or a listener did not expect is logged as `bot.conditions.Unexpected` says, answered 400.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, cast
from urllib.parse import parse_qsl

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.async_app import AsyncApp
from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.request.async_internals import build_async_context
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse

from bot.conditions import Refusals, Unexpected
from bot.metrics import CONTENT_TYPE
from bot.slack.inbound import MALFORMED, MAX_BODY_BYTES, TOO_LARGE, Refusal, read, too_large, verify

log = logging.getLogger(__name__)
# bolt's own check of the signature logs a failing request whole (body included) at INFO. Only
# verified requests reach it; should one still fail there (its clock a moment later than ours at
# the 5-minute edge), the line is dropped: the refusal is ours to log, without the body.
BOLT_VERIFICATION_LOGGER = "slack_bolt.RequestVerification"


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


class _NoBodies(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return False


def quiet_bolt_errors(bolt: AsyncApp, unexpected: Unexpected) -> None:
    """What bolt or a listener raises is logged once per distinct error (`Unexpected`, not
    bolt's traceback per request) and answered 400, in HTTP and Socket Mode alike; bolt's
    verification never logs a body."""
    verification_log = logging.getLogger(BOLT_VERIFICATION_LOGGER)
    if not any(isinstance(f, _NoBodies) for f in verification_log.filters):
        verification_log.addFilter(_NoBodies())

    async def on_error(error: Exception) -> BoltResponse:
        unexpected("handling a Slack request", error)
        return BoltResponse(status=400, body={"error": "eon-bot could not handle this request"})

    bolt.error(on_error)


async def _body(request: web.Request) -> bytes | Refusal:
    """The raw bytes, unless they are more than `MAX_BODY_BYTES` (refused before or while read)."""
    refusal = too_large(request.content_length)
    if refusal is not None:
        return refusal
    try:
        return await request.read()
    except web.HTTPRequestEntityTooLarge:  # no Content-Length (chunked): found while reading
        return Refusal(413, TOO_LARGE, f"over {MAX_BODY_BYTES:,} bytes")


def events_handler(
    bolt: AsyncApp, secret: str | None, refusals: Refusals
) -> Callable[[web.Request], Awaitable[web.Response]]:
    """`POST /slack/events`: verified, then read, then bolt's; see the module's docstring."""

    async def slack_events(request: web.Request) -> web.Response:
        raw = await _body(request)
        checked = raw if isinstance(raw, Refusal) else verify(raw, request.headers, secret)
        if checked is None and isinstance(raw, bytes):
            body = read(raw, request.headers.get("Content-Type", "").split(";")[0] or None)
            checked = body if isinstance(body, Refusal) else None
        if checked is not None:
            refusals(checked.cause, checked.said)
            return web.json_response({"error": checked.cause}, status=checked.status)
        assert isinstance(raw, bytes)
        try:
            text = raw.decode("utf-8")  # read() above decoded it once already
            answer = await bolt.async_dispatch(
                slack_request(text, request.query_string, request.headers)
            )
        except Exception as error:  # bolt's own error handler missed it
            refusals(MALFORMED, Refusal(400, MALFORMED, type(error).__name__).said)
            return web.json_response({"error": MALFORMED}, status=400)
        if answer.status >= 500:
            answer = BoltResponse(status=400, body={"error": "eon-bot could not handle this"})
        return await to_aiohttp_response(answer)

    return slack_events


def slack_events(
    bolt: AsyncApp, signing_secret: str | None
) -> Callable[[web.Request], Awaitable[web.Response]]:
    """`POST /slack/events` as the app serves it, refusals logged by this module."""
    return events_handler(bolt, signing_secret, Refusals(log))


def health_answer(reason: str | None) -> web.Response:
    """`/healthz`: 200 when nothing is wrong, else 503 with the reason in its JSON body."""
    if reason is None:
        return web.json_response({"ok": True})
    return web.json_response({"ok": False, "reason": reason}, status=503)


async def metrics_answer(render: Callable[[], Awaitable[bytes]]) -> web.Response:
    """`/metrics`: Prometheus' text format."""
    response = web.Response(body=await render())
    response.headers["Content-Type"] = CONTENT_TYPE
    return response


def oauth_handlers(bolt: AsyncApp) -> dict[str, Callable[[web.Request], Awaitable[web.Response]]]:
    """bolt's OAuth flow's two pages by their paths (none without a flow: one workspace)."""
    flow = bolt.oauth_flow
    if flow is None:
        return {}

    async def install(request: web.Request) -> web.Response:
        answer = await flow.handle_installation(_get_request(request))
        return await to_aiohttp_response(answer)

    async def redirect(request: web.Request) -> web.Response:
        answer = await flow.handle_callback(_get_request(request))
        return await to_aiohttp_response(answer)

    return {flow.install_path: install, flow.redirect_uri_path: redirect}


def _get_request(request: web.Request) -> AsyncBoltRequest:
    headers: dict[str, str | Sequence[str]] = {}
    for name, value in request.headers.items():  # a header sent twice keeps both
        headers.setdefault(name.lower(), [])
        cast("list[str]", headers[name.lower()]).append(value)
    return AsyncBoltRequest(body="", query=request.query_string, headers=headers)


def make_web_app(
    bolt: AsyncApp,
    unhealthy: Callable[[], Awaitable[str | None]],
    metrics: Callable[[], Awaitable[bytes]] | None = None,
    *,
    signing_secret: str | None,
) -> web.Application:
    """`unhealthy()` says why the bot cannot do its job (503 with the reason), or None (200);
    `metrics()` is the Prometheus text `GET /metrics` serves; `signing_secret` what
    `POST /slack/events` verifies requests with (None in Socket Mode: it takes none)."""

    async def healthz(_: web.Request) -> web.Response:
        return health_answer(await unhealthy())

    app = web.Application(client_max_size=MAX_BODY_BYTES)
    app.router.add_post("/slack/events", slack_events(bolt, signing_secret))
    app.router.add_get("/healthz", healthz)
    for path, handler in oauth_handlers(bolt).items():
        app.router.add_get(path, handler)
    if metrics is not None:
        render = metrics

        async def metrics_page(_: web.Request) -> web.Response:
            return await metrics_answer(render)

        app.router.add_get("/metrics", metrics_page)
    return app

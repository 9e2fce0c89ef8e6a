"""Socket Mode: Slack's slash commands and events over a WebSocket the bot opens itself, for a
bot with no public URL (`SLACK_APP_TOKEN` set).

The protocol is slack_sdk's aiohttp client (`slack_sdk.socket_mode.aiohttp`, the asyncio one
bolt's `AsyncSocketModeHandler` uses, on the aiohttp the bot already serves HTTP with); bolt's
own handler dispatches each envelope and sends the ack. What a service needs around them is
here, because the client alone retries every failure for ever, with a traceback each time:

- a *refused* app token (`invalid_auth`, `not_authed`, …, see `bot.slack.auth.is_refusal`)
  ends the connection for good and `refused` is set, so `eon-bot run` stops with one line
  naming `SLACK_APP_TOKEN`;
- anything else (Slack unreachable, 5xx, a dropped socket) is retried by the client every
  `ping_interval` seconds, logged as one line;
- `close()` takes at most `close_timeout_s`, whatever state the connection is in, so SIGTERM
  ends the process in time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.socket_mode.aiohttp import SocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse

from bot.conditions import Refusals
from bot.errors import AppTokenRefused
from bot.fmt import one_line
from bot.slack.auth import is_refusal
from bot.slack.inbound import MALFORMED, shape_problem

log = logging.getLogger(__name__)

PING_INTERVAL_S = 5.0  # slack_sdk's default; also the wait between two connection attempts


class _OneLineRetries(logging.Filter):
    """slack_sdk logs each failed connection attempt with `logger.exception`: keep the line,
    drop the traceback (the reason is in the message), so a long outage stays readable."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.levelno >= logging.ERROR:
            record.exc_info = None
            record.exc_text = None
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


class _Client(SocketModeClient):
    """slack_sdk's aiohttp client, told apart a refused token from a passing failure."""

    refused: asyncio.Event
    refusal: AppTokenRefused | None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.refused = asyncio.Event()
        self.refusal = None
        self.message_listeners.append(self._on_message)

    async def issue_new_wss_url(self) -> str:
        """slack_sdk's, with the error told apart: a refused token closes the client for good
        (its retry loop ends when `closed` is set) and sets `refused`; any other failure is
        raised as one line for the client to log and retry after `ping_interval`."""
        try:
            response = await self.web_client.apps_connections_open(app_token=self.app_token)
        except SlackApiError as error:
            code = str(error.response.get("error", "")) if error.response is not None else ""
            if is_refusal(code):
                self.closed = True
                self.refusal = AppTokenRefused(code)
                self.refused.set()
                raise self.refusal from None
            reason = f"apps.connections.open answered {code or 'no error code'}"
            raise ConnectionError(reason) from None
        return str(response["url"])

    async def _on_message(self, _client: Any, message: dict[str, Any], _raw: str | None) -> None:
        if message.get("type") == "hello":
            log.info("Socket Mode connected (Slack said hello)")
        elif message.get("type") == "disconnect":
            log.info("Slack asked to reconnect (%s)", message.get("reason", "no reason given"))


class _BoltHandler(AsyncSocketModeHandler):
    """bolt's handler (its `handle` dispatches an envelope and sends the ack) on our client.
    bolt's `__init__` is not called: it would open a client of its own.

    An envelope whose payload has not the shape bolt assumes (`bot.slack.inbound.SHAPE`, the
    rule `POST /slack/events` follows) is acknowledged and dropped, one line per minute at most
    (`Refusals`), instead of a traceback from deep inside bolt."""

    def __init__(self, bolt: AsyncApp, client: _Client) -> None:
        self.app = bolt
        self.app_token = client.app_token
        self.client = client
        self._refusals = Refusals(log)
        client.socket_mode_request_listeners.append(self.handle)  # type: ignore[arg-type]

    async def handle(self, client: SocketModeClient, req: SocketModeRequest) -> None:  # type: ignore[override]
        problem = shape_problem(req.payload)
        if problem is None:
            await super().handle(client, req)
            return
        kind = one_line(str(req.type), 40)
        self._refusals(MALFORMED, f"dropped a Socket Mode envelope ({kind}): {problem}")
        await client.send_socket_mode_response(SocketModeResponse(envelope_id=req.envelope_id))


class SocketMode:
    """One Socket Mode connection for the bolt app: `start()` returns at once (connecting and
    reconnecting go on in the background), `refused` is set if Slack refuses the app token,
    `close()` is bounded."""

    def __init__(
        self,
        bolt: AsyncApp,
        app_token: str,
        *,
        ping_interval: float = PING_INTERVAL_S,
        close_timeout_s: float = 1.5,
    ) -> None:
        client_log = logging.getLogger("slack_sdk.socket_mode")
        if not any(isinstance(f, _OneLineRetries) for f in client_log.filters):
            client_log.addFilter(_OneLineRetries())
        self._client = _Client(
            app_token=app_token,
            logger=client_log,
            web_client=bolt.client,
            ping_interval=ping_interval,
        )
        _BoltHandler(bolt, self._client)
        self._close_timeout_s = close_timeout_s
        self._connecting: asyncio.Task[None] | None = None

    @property
    def refused(self) -> asyncio.Event:
        return self._client.refused

    @property
    def refusal(self) -> AppTokenRefused | None:
        return self._client.refusal

    def start(self) -> None:
        self._connecting = asyncio.create_task(self._client.connect())  # type: ignore[no-untyped-call]

    async def close(self) -> None:
        """Whatever the state (connecting, connected, waiting to retry): done within
        `close_timeout_s`, since a platform gives a stopping service a few seconds only."""
        self._client.closed = True
        if self._connecting is not None:
            self._connecting.cancel()
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(self._connecting, 0.5)
        await _quietly_close(self._client, self._close_timeout_s)


async def _quietly_close(client: SocketModeClient, within: float) -> None:
    try:
        await asyncio.wait_for(client.close(), within)  # type: ignore[no-untyped-call]
    except (TimeoutError, Exception) as error:
        log.info("Socket Mode connection not closed cleanly (%s)", type(error).__name__)

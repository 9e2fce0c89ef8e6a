"""A local WebSocket server that speaks Slack's Socket Mode, for the tests and the sandbox.

A server rather than a mock, so that slack_sdk's real aiohttp client and bolt's real handler
run unchanged against it. It plays Slack's side as documented
(docs.slack.dev/apis/events-api/using-socket-mode) and as slack_sdk's own tests show:

- `FakeSlack.enable_socket_mode(app_token, server.open_url)` makes `apps.connections.open`
  answer a fresh one-use `ws://` URL of this server (a URL used twice is refused, as Slack's
  tickets are);
- on each connection the first message is `hello` (`num_connections`, `debug_info`,
  `connection_info.app_id`);
- `slash_command(...)` sends a `slash_commands` envelope (`envelope_id`, `payload`,
  `accepts_response_payload: true`) and returns the app's ack `{"envelope_id", "payload"}`;
- `disconnect(reason)` sends `{"type": "disconnect", "reason": ...}` (Slack's
  `refresh_requested` before it rotates a connection); the client is expected to reconnect;
- `drop()` closes every socket without a close frame, as a network failure does;
- `hold_handshakes` makes new connections hang before the WebSocket handshake completes, so a
  test can stop the bot while it is connecting.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import WSMsgType, web

from bot.sandbox.server import LocalServer

JSONDict = dict[str, Any]
APP_ID = "A0EONBOT"


@dataclass(frozen=True, slots=True)
class Ack:
    """The app's answer to one envelope, and how long it took (Slack allows 3 s)."""

    envelope_id: str
    payload: JSONDict | None
    seconds: float

    @property
    def text(self) -> str:
        return str((self.payload or {}).get("text", ""))


class SocketModeServer(LocalServer):
    """Socket Mode on 127.0.0.1; use as `async with SocketModeServer() as server:`."""

    shutdown_timeout = 0.5  # open WebSockets are closed in `before_stop`; nothing to wait for

    def __init__(self, *, app_id: str = APP_ID) -> None:
        super().__init__()
        self.app_id = app_id
        self.hold_handshakes = False
        self.hellos = 0
        """How many connections were greeted: reconnections show here."""
        self.refused_tickets = 0
        self.held = 0
        """Connections waiting in `hold_handshakes`."""
        self._tickets: set[str] = set()
        self._sockets: list[tuple[web.WebSocketResponse, web.Request]] = []
        self._acks: dict[str, asyncio.Future[JSONDict]] = {}
        self._received: list[JSONDict] = []
        self._changed = asyncio.Event()
        self._release = asyncio.Event()
        self._ids = itertools.count(1)

    # -- lifecycle -----------------------------------------------------------------------------

    def make_app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/link/", self._handle)
        return app

    async def before_stop(self) -> None:
        self._release.set()
        for ws in self._open():
            await ws.close()

    def open_url(self) -> str:
        """A new one-use connection URL: what `apps.connections.open` answers."""
        port = self.port  # RuntimeError if not started
        ticket = uuid.uuid4().hex
        self._tickets.add(ticket)
        return f"ws://127.0.0.1:{port}/link/?ticket={ticket}&app_id={self.app_id}"

    @property
    def connected(self) -> int:
        """Sockets open right now."""
        return len(self._open())

    @property
    def received(self) -> list[JSONDict]:
        """Every JSON message the app sent (acks), in order."""
        return list(self._received)

    # -- what Slack does -----------------------------------------------------------------------

    async def wait_for_hellos(self, count: int, *, within: float = 15.0) -> None:
        """Until `count` connections in all were greeted (and one is open)."""
        await self._until(
            lambda: self.hellos >= count and self.connected > 0,
            within,
            lambda: f"{self.hellos} connection(s) greeted (wanted {count}; {self.connected} open)",
        )

    async def wait_for_held(self, *, within: float = 15.0) -> None:
        """Until a connection waits in `hold_handshakes`."""
        await self._until(lambda: self.held > 0, within, lambda: "no connection attempt")

    async def _until(
        self, done: Callable[[], bool], within: float, describe: Callable[[], str]
    ) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while not done():
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(f"Socket Mode server, after {within:g}s: {describe()}")
            changed = self._changed
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), min(remaining, 0.2))

    async def slash_command(
        self,
        text: str,
        *,
        channel_id: str,
        user_id: str,
        response_url: str,
        command: str = "/eon",
        within: float = 10.0,
    ) -> Ack:
        """A `slash_commands` envelope on the newest open socket; the app's ack."""
        envelope_id = f"{uuid.uuid4()}"
        payload = {
            "token": "deprecated-verification-token",
            "team_id": "T0EONTEST",
            "team_domain": "eon-team",
            "channel_id": channel_id,
            "channel_name": "eon-runs",
            "user_id": user_id,
            "user_name": "ada",
            "command": command,
            "text": text,
            "api_app_id": self.app_id,
            "is_enterprise_install": "false",
            "response_url": response_url,
            "trigger_id": f"{next(self._ids)}.{int(time.time())}.socketmode",
        }
        envelope = {
            "envelope_id": envelope_id,
            "payload": payload,
            "type": "slash_commands",
            "accepts_response_payload": True,
        }
        return await self._send_envelope(envelope, within)

    async def interactive(self, payload: JSONDict, *, within: float = 10.0) -> Ack:
        """An `interactive` envelope (a button press:
        `bot.sandbox.buttons.block_actions_payload`) on the newest open socket; the app's ack."""
        envelope = {
            "envelope_id": f"{uuid.uuid4()}",
            "payload": payload,
            "type": "interactive",
            "accepts_response_payload": False,
        }
        return await self._send_envelope(envelope, within)

    async def disconnect(self, reason: str = "refresh_requested") -> None:
        """Slack's `disconnect` message on every open socket (they stay open until the app
        replaces them, as Slack gives a few seconds' notice)."""
        message = {
            "type": "disconnect",
            "reason": reason,
            "debug_info": {"host": "applink-eon-sandbox"},
        }
        for ws in self._open():
            await ws.send_json(message)

    async def drop(self) -> None:
        """Every socket cut without a close frame, as when the network goes away."""
        for ws, request in self._sockets:
            if not ws.closed and request.transport is not None:
                request.transport.abort()

    # -- the server ----------------------------------------------------------------------------

    def _open(self) -> list[web.WebSocketResponse]:
        return [ws for ws, _ in self._sockets if not ws.closed]

    async def _send_envelope(self, envelope: JSONDict, within: float) -> Ack:
        sockets = self._open()
        if not sockets:
            raise RuntimeError("no Socket Mode connection is open")
        envelope_id = str(envelope["envelope_id"])
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[JSONDict] = loop.create_future()
        self._acks[envelope_id] = answer
        started = loop.time()
        try:
            await sockets[-1].send_json(envelope)
            ack = await asyncio.wait_for(answer, within)
        finally:
            self._acks.pop(envelope_id, None)
        payload = ack.get("payload")
        return Ack(
            envelope_id, payload if isinstance(payload, dict) else None, loop.time() - started
        )

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        ticket = request.query.get("ticket", "")
        if ticket not in self._tickets:
            self.refused_tickets += 1
            return web.Response(status=401, text="invalid or used ticket")
        self._tickets.discard(ticket)
        if self.hold_handshakes:
            self.held += 1
            self._notify()
            await self._release.wait()
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        self._sockets.append((ws, request))
        await ws.send_json(
            {
                "type": "hello",
                "num_connections": self.connected,
                "debug_info": {
                    "host": "applink-eon-sandbox",
                    "build_number": 1,
                    "approximate_connection_time": 18060,
                },
                "connection_info": {"app_id": self.app_id},
            }
        )
        self.hellos += 1
        self._notify()
        try:
            async for message in ws:
                if message.type == WSMsgType.TEXT:
                    self._take(message.data)
        finally:
            self._notify()
        return ws

    def _take(self, data: str) -> None:
        try:
            message = json.loads(data)
        except ValueError:
            return
        if not isinstance(message, dict):
            return
        self._received.append(message)
        answer = self._acks.get(str(message.get("envelope_id")))
        if answer is not None and not answer.done():
            answer.set_result(message)

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

"""`SocketMode` in-process with slack_sdk's real client: a refused token is told, not retried;
`close()` is bounded in every state."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import pytest
from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.sandbox.fakeslack import FakeSlack
from bot.sandbox.socketmode import SocketModeServer
from bot.slack.socket_mode import SocketMode

BOT, APP = "xoxb-unit", "xapp-unit"


def _bolt(slack: FakeSlack) -> AsyncApp:
    client = AsyncWebClient(token=BOT, base_url=slack.api_url)
    return AsyncApp(client=client, signing_secret="unused", process_before_response=True)


async def test_a_refused_app_token_is_told_once_and_not_retried() -> None:
    async with FakeSlack(token=BOT) as slack, SocketModeServer() as server:
        slack.enable_socket_mode(APP, server.open_url)
        socket = SocketMode(_bolt(slack), "xapp-wrong", ping_interval=0.1)
        socket.start()
        await asyncio.wait_for(socket.refused.wait(), 5)
        await asyncio.sleep(0.5)  # five retry intervals: none may happen
        await socket.close()
        assert socket.refusal is not None and "SLACK_APP_TOKEN" in str(socket.refusal)
        assert "xapp-wrong" not in str(socket.refusal)
        assert len(slack.calls_to("apps.connections.open")) == 1


async def test_close_is_bounded_while_the_handshake_hangs() -> None:
    async with FakeSlack(token=BOT) as slack, SocketModeServer() as server:
        slack.enable_socket_mode(APP, server.open_url)
        server.hold_handshakes = True
        socket = SocketMode(_bolt(slack), APP, ping_interval=0.1)
        socket.start()
        await server.wait_for_held()
        started = time.monotonic()
        await socket.close()
        assert time.monotonic() - started < 2.5


async def test_a_dropped_socket_is_replaced() -> None:
    async with FakeSlack(token=BOT) as slack, SocketModeServer() as server:
        slack.enable_socket_mode(APP, server.open_url)
        socket = SocketMode(_bolt(slack), APP, ping_interval=0.2)
        socket.start()
        try:
            await server.wait_for_hellos(1, within=5)
            await server.drop()
            await server.wait_for_hellos(2, within=5)
            assert len(slack.calls_to("apps.connections.open")) == 2
        finally:
            await socket.close()


async def test_a_malformed_envelope_is_acknowledged_and_one_line_never_a_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    async with FakeSlack(token=BOT) as slack, SocketModeServer() as server:
        slack.enable_socket_mode(APP, server.open_url)
        socket = SocketMode(_bolt(slack), APP, ping_interval=0.2)
        socket.start()
        try:
            await server.wait_for_hellos(1, within=5)
            broken: list[dict[str, Any]] = [
                {"type": "block_actions", "actions": 5},
                {"type": "block_actions", "actions": []},
                {"type": "view_submission", "view": [1]},
                {"type": "event_callback", "event": "x"},
            ] * 5
            for payload in broken:
                ack = await server.interactive(payload, within=5)
                assert ack.payload is None
        finally:
            await socket.close()
    logged = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"
    assert len([r for r in logged if "dropped a Socket Mode envelope" in r.getMessage()]) == 1

"""The Socket Mode stand-in speaks Slack's protocol as slack_sdk reads it: slack_sdk's own
`SocketModeRequest`/`SocketModeResponse` and `AsyncWebClient` are the oracles here."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse
from slack_sdk.web.async_client import AsyncWebClient

from bot.sandbox.fakeslack import FakeSlack
from bot.sandbox.socketmode import SocketModeServer

BOT, APP = "xoxb-sandbox", "xapp-sandbox"


async def test_connections_open_wants_the_app_token() -> None:
    async with FakeSlack(token=BOT) as slack, SocketModeServer() as server:
        slack.enable_socket_mode(APP, server.open_url)
        answer = await AsyncWebClient(base_url=slack.api_url).apps_connections_open(app_token=APP)
        assert str(answer["url"]).startswith("ws://127.0.0.1:")
        for token, error in ((BOT, "not_allowed_token_type"), ("xapp-other", "invalid_auth")):
            with pytest.raises(SlackApiError) as refused:
                await AsyncWebClient(base_url=slack.api_url).apps_connections_open(app_token=token)
            assert refused.value.response["error"] == error
        with pytest.raises(SlackApiError) as refused:
            await AsyncWebClient(token=APP, base_url=slack.api_url).auth_test()
        assert refused.value.response["error"] == "not_allowed_token_type"


async def test_every_answer_to_the_bot_token_names_its_scopes() -> None:
    async with FakeSlack(token=BOT, scopes=["commands", "chat:write"]) as slack:
        answer = await AsyncWebClient(token=BOT, base_url=slack.api_url).auth_test()
        assert answer.headers["x-oauth-scopes"] == "commands,chat:write"


async def test_hello_first_then_envelopes_acked_with_a_payload() -> None:
    async with SocketModeServer() as server, aiohttp.ClientSession() as http:
        url = server.open_url()
        async with http.ws_connect(url) as ws:
            hello = await ws.receive_json(timeout=5)
            assert hello["type"] == "hello" and hello["num_connections"] == 1
            assert hello["connection_info"]["app_id"] == server.app_id

            async def answer() -> None:
                request = SocketModeRequest.from_dict(await ws.receive_json(timeout=5))
                assert request is not None and request.type == "slash_commands"
                assert request.payload["command"] == "/eon"
                assert request.payload["text"] == "help"
                response = SocketModeResponse(request.envelope_id, payload={"text": "hi"})
                await ws.send_str(json.dumps(response.to_dict()))

            answering = asyncio.create_task(answer())
            ack = await server.slash_command(
                "help", channel_id="C1", user_id="U1", response_url="http://x/r"
            )
            await answering
            assert ack.text == "hi" and ack.seconds < 5

            await server.disconnect("refresh_requested")
            message = await ws.receive_json(timeout=5)
            assert message == {
                "type": "disconnect",
                "reason": "refresh_requested",
                "debug_info": {"host": "applink-eon-sandbox"},
            }
            await server.drop()
            assert (await ws.receive(timeout=5)).type in (
                aiohttp.WSMsgType.CLOSED,
                aiohttp.WSMsgType.CLOSE,
                aiohttp.WSMsgType.ERROR,
            )
        # A connection URL is good once, as Slack's tickets are.
        with pytest.raises(aiohttp.WSServerHandshakeError):
            await http.ws_connect(url)
        assert server.hellos == 1 and server.refused_tickets == 1

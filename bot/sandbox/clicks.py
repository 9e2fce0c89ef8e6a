"""Slack's side of a button click: the `block_actions` payload Slack sends when someone clicks a
button of a message (after its `confirm` dialog), and its signed form POST to `/slack/events`.
The demo, `eon-bot try` and the end-to-end tests press the bot's buttons with it; over Socket
Mode the same payload goes in an `interactive` envelope (`SocketModeServer.interactive`)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any
from urllib.parse import urlencode

import httpx

from bot.sandbox.slashcmd import signed_headers


def buttons(blocks: Sequence[Mapping[str, Any]]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """(block_id, element) of every button in a message's blocks."""
    for index, block in enumerate(blocks):
        if block.get("type") != "actions":
            continue
        for element in block.get("elements", []):
            if element.get("type") == "button":
                yield str(block.get("block_id") or f"b{index}"), element


def find_button(blocks: Sequence[Mapping[str, Any]], action_id: str) -> Mapping[str, Any] | None:
    """The message's button with this `action_id`, if it has one."""
    return next((el for _, el in buttons(blocks) if el.get("action_id") == action_id), None)


def block_actions(
    button: Mapping[str, Any],
    *,
    user_id: str,
    channel_id: str,
    message_ts: str,
    response_url: str,
    ephemeral: bool = False,
    team_id: str = "T0EONBOT",
    api_app_id: str = "A0EONBOT",
) -> dict[str, Any]:
    """The payload of a click on `button` (an element of the message's blocks, as posted)."""
    pressed = {k: v for k, v in button.items() if k in ("action_id", "value", "text", "style")}
    pressed |= {"type": "button", "block_id": "actions", "action_ts": f"{time.time():.6f}"}
    return {
        "type": "block_actions",
        "team": {"id": team_id, "domain": "eon-team"},
        "user": {"id": user_id, "username": "ada", "team_id": team_id},
        "api_app_id": api_app_id,
        "token": "deprecated-verification-token",
        "container": {
            "type": "message",
            "message_ts": message_ts,
            "channel_id": channel_id,
            "is_ephemeral": ephemeral,
        },
        "trigger_id": f"{int(time.time())}.click",
        "channel": {"id": channel_id, "name": "eon-runs"},
        "response_url": response_url,
        "actions": [pressed],
    }


async def send_click(
    http: httpx.AsyncClient, events_url: str, secret: str, payload: Mapping[str, Any]
) -> httpx.Response:
    """POST the payload as Slack does: form-encoded `payload=<json>`, signed."""
    body = urlencode({"payload": json.dumps(payload)})
    return await http.post(events_url, content=body, headers=signed_headers(secret, body))

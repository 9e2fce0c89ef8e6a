"""Slack's side of a button press: the buttons a channel shows, numbered as a person would
point at them (each keeps its number for the session: `ButtonNumbers`), and a signed
`block_actions` payload to `/slack/events`, as Slack sends it.

Generic on purpose: it reads any `button` element in a message's blocks (in `actions` blocks and
as a section's accessory), so whatever buttons the bot's messages carry can be pressed from
`eon-bot try` without the sandbox knowing what they do.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import httpx

from bot.sandbox.fakeslack import APP_ID, TEAM_ID, Message, blocks_to_lines
from bot.sandbox.slashcmd import signed_headers


@dataclass(frozen=True, slots=True)
class Button:
    """One button of one message, with what a press must carry back."""

    message: Message
    block_id: str
    element: dict[str, Any]

    @property
    def label(self) -> str:
        return str(self.element.get("text", {}).get("text", "")) or str(self.action_id)

    @property
    def action_id(self) -> str:
        return str(self.element.get("action_id", ""))

    @property
    def url(self) -> str | None:
        """The link a link button opens (Slack still sends the press)."""
        url = self.element.get("url")
        return None if url is None else str(url)

    @property
    def confirm(self) -> str | None:
        """What Slack's confirm dialog says before it sends the press, if the button has one."""
        dialog = self.element.get("confirm")
        if not isinstance(dialog, dict):
            return None
        parts = [dialog.get("title"), dialog.get("text"), dialog.get("confirm")]
        return " · ".join(str(p.get("text", "")) for p in parts if isinstance(p, dict))


def buttons_in(messages: Iterable[Message]) -> list[Button]:
    """Every button of `messages`, in the order they are shown (the latest version of each)."""
    found: list[Button] = []
    for message in messages:
        for block in message.blocks:
            block_id = str(block.get("block_id", ""))
            elements = list(block.get("elements", [])) if block.get("type") == "actions" else []
            accessory = block.get("accessory")
            if isinstance(accessory, dict):
                elements.append(accessory)
            found += [
                Button(message, block_id, element)
                for element in elements
                if isinstance(element, dict) and element.get("type") == "button"
            ]
    return found


ButtonId = tuple[str, str, str, str, str, int]


def button_ids(buttons: Iterable[Button]) -> list[ButtonId]:
    """Who each button is across its message's edits: the message, what a press sends (action
    id, value) or opens (url), and which of the message's look-alikes it is."""
    seen: dict[tuple[str, str, str, str, str], int] = {}
    ids: list[ButtonId] = []
    for b in buttons:
        channel, ts, value = b.message.channel, b.message.ts, str(b.element.get("value", ""))
        what = (channel, ts, b.action_id, value, b.url or "")
        seen[what] = seen.get(what, -1) + 1
        ids.append((channel, ts, b.action_id, value, b.url or "", seen[what]))
    return ids


@dataclass(slots=True)
class ButtonNumbers:
    """The number a person points at a button with, given as the button is first seen and
    never changed: new messages only add numbers, and a button that goes away leaves its
    number unused, so `press N` always means the button that was listed as N."""

    _numbers: dict[ButtonId, int] = field(default_factory=dict)

    def number(self, buttons: Sequence[Button]) -> dict[int, Button]:
        """The buttons shown now by their numbers (new ones numbered in the order shown)."""
        shown: dict[int, Button] = {}
        for key, button in zip(button_ids(buttons), buttons, strict=True):
            n = self._numbers.setdefault(key, len(self._numbers) + 1)
            shown[n] = button
        return shown

    def given(self, n: int) -> bool:
        """Whether `n` was ever given to a button."""
        return 1 <= n <= len(self._numbers)


def describe(button: Button) -> str:
    """`Stop the run` on `EON Tuner run 1 …` (the message's first line)."""
    first = next(iter(blocks_to_lines(button.message.blocks)), "") or button.message.text
    return f"{button.label}  (on: {first[:60]})"


def block_actions_body(
    button: Button, *, user_id: str, channel_name: str, response_url: str
) -> str:
    """The form body Slack posts when `button` is pressed (interactivity payload)."""
    payload = block_actions_payload(
        button, user_id=user_id, channel_name=channel_name, response_url=response_url
    )
    return urlencode({"payload": json.dumps(payload)})


def block_actions_payload(
    button: Button, *, user_id: str, channel_name: str, response_url: str
) -> dict[str, Any]:
    """The `block_actions` payload of a press on `button`: posted as a form over HTTP, or in
    an `interactive` envelope over Socket Mode (`SocketModeServer.interactive`)."""
    message = button.message
    action: dict[str, Any] = {
        "type": "button",
        "action_id": button.action_id,
        "block_id": button.block_id,
        "text": button.element.get("text", {"type": "plain_text", "text": button.label}),
        "action_ts": f"{time.time():.6f}",
    }
    if "value" in button.element:
        action["value"] = button.element["value"]
    payload = {
        "type": "block_actions",
        "team": {"id": TEAM_ID, "domain": "eon-team"},
        "user": {"id": user_id, "username": "ada", "name": "ada", "team_id": TEAM_ID},
        "api_app_id": APP_ID,
        "token": "deprecated-verification-token",
        "trigger_id": f"{int(time.time())}.738474920.8088930838d88f008e0",
        "container": {
            "type": "message",
            "message_ts": message.ts,
            "channel_id": message.channel,
            "is_ephemeral": message.visible_to is not None,
            **({"thread_ts": message.thread_ts} if message.thread_ts else {}),
        },
        "channel": {"id": message.channel, "name": channel_name},
        "message": {
            "type": "message",
            "ts": message.ts,
            "text": message.text,
            "blocks": message.blocks,
            **({"metadata": message.metadata} if message.metadata else {}),
            **({"thread_ts": message.thread_ts} if message.thread_ts else {}),
        },
        "response_url": response_url,
        "actions": [action],
    }
    return payload


async def press(
    http: httpx.AsyncClient,
    events_url: str,
    secret: str,
    button: Button,
    *,
    user_id: str,
    channel_name: str,
    response_url: str,
) -> httpx.Response:
    """Post the press, signed, to the bot's `/slack/events`."""
    body = block_actions_body(
        button, user_id=user_id, channel_name=channel_name, response_url=response_url
    )
    return await http.post(events_url, content=body, headers=signed_headers(secret, body))

"""Slack's side of a slash command: a signed form POST to `/slack/events`, as Slack sends it;
and of interactivity (`payload_body`: a modal's submission, a click) and Events API callbacks
(`event_body`: e.g. `app_home_opened`). The demo and the end-to-end tests play Slack with it;
the running app verifies it for real."""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import urlencode

import httpx
from slack_sdk.signature import SignatureVerifier


def slash_body(
    text: str,
    *,
    channel_id: str,
    user_id: str,
    response_url: str,
    command: str = "/eon",
    team_id: str = "T0EONBOT",
    channel_name: str = "eon-runs",
    trigger_id: str = "13345224609.738474920.8088930838d88f008e0",
) -> str:
    return urlencode(
        {
            "token": "deprecated-verification-token",
            "team_id": team_id,
            "team_domain": "eon-team",
            "channel_id": channel_id,
            "channel_name": channel_name,
            "user_id": user_id,
            "user_name": "ada",
            "command": command,
            "text": text,
            "api_app_id": "A0EONBOT",
            "response_url": response_url,
            "trigger_id": trigger_id,
        }
    )


def payload_body(payload: dict[str, Any]) -> str:
    """Interactivity as Slack posts it: the JSON payload in a `payload` form field."""
    return urlencode({"payload": json.dumps(payload)})


def event_body(event: dict[str, Any], *, team_id: str = "T0EONBOT") -> str:
    """An Events API `event_callback` around `event` (a JSON body)."""
    return json.dumps(
        {
            "token": "deprecated-verification-token",
            "team_id": team_id,
            "api_app_id": "A0EONBOT",
            "event": event,
            "type": "event_callback",
            "event_id": f"Ev{time.monotonic_ns()}",
            "event_time": int(time.time()),
        }
    )


def signed_headers(
    secret: str,
    body: str,
    *,
    timestamp: int | None = None,
    content_type: str = "application/x-www-form-urlencoded",
) -> dict[str, str]:
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    signature = SignatureVerifier(secret).generate_signature(timestamp=stamp, body=body)
    return {
        "Content-Type": content_type,
        "X-Slack-Request-Timestamp": stamp,
        "X-Slack-Signature": signature or "",
    }


async def send_slash_command(
    http: httpx.AsyncClient,
    events_url: str,
    secret: str,
    text: str,
    *,
    channel_id: str,
    user_id: str,
    response_url: str,
    trigger_id: str | None = None,
    team_id: str | None = None,
) -> httpx.Response:
    given = {} if trigger_id is None else {"trigger_id": trigger_id}
    given |= {} if team_id is None else {"team_id": team_id}
    body = slash_body(
        text, channel_id=channel_id, user_id=user_id, response_url=response_url, **given
    )
    return await http.post(events_url, content=body, headers=signed_headers(secret, body))

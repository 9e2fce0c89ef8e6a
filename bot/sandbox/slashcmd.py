"""Slack's side of a slash command: a signed form POST to `/slack/events`, as Slack sends it.
The demo and the end-to-end tests play Slack with it; the running app verifies it for real."""

from __future__ import annotations

import time
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
            "trigger_id": "13345224609.738474920.8088930838d88f008e0",
        }
    )


def signed_headers(secret: str, body: str, *, timestamp: int | None = None) -> dict[str, str]:
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    signature = SignatureVerifier(secret).generate_signature(timestamp=stamp, body=body)
    return {
        "Content-Type": "application/x-www-form-urlencoded",
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
) -> httpx.Response:
    body = slash_body(text, channel_id=channel_id, user_id=user_id, response_url=response_url)
    return await http.post(events_url, content=body, headers=signed_headers(secret, body))

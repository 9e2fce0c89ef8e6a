"""Asking Edge Impulse about a key before it is stored: `GET /api/projects/api-key-info` (the
official client's `ProjectsApi.get_current_api_key_info`), which answers with the key's
project and role, or refuses the key.

The check has `KEY_CHECK_TIMEOUT_S` in all: it runs while Slack waits for the answer to the
key form's submission (3 s), and the store write and the network need the rest. A check that
runs out of time stores nothing and says so, so a key is never stored unchecked.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Final

import httpx
from pydantic import SecretStr

from bot.errors import BadApiKey
from bot.fmt import one_line, redact
from bot.key_shape import key_header
from bot.tuner.client import USER_AGENT

KEY_INFO_PATH: Final = "/api/projects/api-key-info"
KEY_CHECK_TIMEOUT_S: Final = 2.0
# Roles that can read the tuner state (`ProjectApiKeyRole`); ingestion keys cannot.
READING_ROLES: Final = frozenset({"admin", "readonly"})
_SAID_LIMIT: Final = 160
_BODY_LIMIT: Final = 64 * 1024


@dataclass(frozen=True, slots=True)
class KeyVerdict:
    """Whether the key may be stored; `said` is one line for the person who gave it."""

    accepted: bool
    said: str
    role: str | None = None


class KeyChecker:
    def __init__(
        self,
        transport: httpx.AsyncBaseTransport,
        *,
        base_url: str,
        timeout_s: float = KEY_CHECK_TIMEOUT_S,
    ) -> None:
        self._transport = transport
        self._url = base_url.rstrip("/") + KEY_INFO_PATH
        self._timeout_s = timeout_s

    async def check(self, project_id: str, key: SecretStr) -> KeyVerdict:
        """Edge Impulse's word on `key` for `project_id`; never raises for its answers. A key
        without a key's shape (`bot.key_shape`) is refused here, and nothing is sent."""
        try:
            header = key_header(project_id, key)
        except BadApiKey as error:
            return KeyVerdict(False, error.problem)
        try:
            async with asyncio.timeout(self._timeout_s):
                status, body = await self._get(header)
        except TimeoutError:
            return KeyVerdict(
                False,
                f"Edge Impulse did not answer within {self._timeout_s:g} s, so the key was not "
                "stored. Try again.",
            )
        except httpx.HTTPError as error:
            reason = redact(one_line(f"{type(error).__name__}: {error}", 120), [_text(key)])
            return KeyVerdict(False, f"Edge Impulse could not be reached ({reason}). Try again.")
        return verdict(project_id, status, body, key)

    async def _get(self, header: str) -> tuple[int, bytes]:
        headers = {"x-api-key": header, "Accept": "application/json", "User-Agent": USER_AGENT}
        timeouts = httpx.Timeout(self._timeout_s).as_dict()
        request = httpx.Request("GET", self._url, headers=headers, extensions={"timeout": timeouts})
        response = await self._transport.handle_async_request(request)
        chunks: list[bytes] = []
        try:
            async for chunk in response.aiter_bytes():  # a small answer: the rest is not read
                chunks.append(chunk)
                if sum(map(len, chunks)) > _BODY_LIMIT:
                    break
        finally:
            await response.aclose()
        return response.status_code, b"".join(chunks)


def _text(key: SecretStr) -> str:
    return key.get_secret_value()


def verdict(project_id: str, status: int, body: bytes, key: SecretStr) -> KeyVerdict:
    """The answer to the key check, read (pure). Edge Impulse's own words are quoted, on one
    line, with the key cut out should they echo it."""
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        document = None
    if not isinstance(document, dict):
        return KeyVerdict(False, f"Edge Impulse's answer was not understood (HTTP {status}).")
    error = document.get("error")
    said = redact(one_line(str(error), _SAID_LIMIT), [_text(key)]) if error else ""
    if status in (401, 403):
        return KeyVerdict(
            False, f"Edge Impulse refused this key (HTTP {status}{': ' + said if said else ''})."
        )
    if status != 200 or document.get("success") is not True:
        return KeyVerdict(False, f"Edge Impulse said: {said or 'no reason given'} (HTTP {status}).")
    owner, role = str(document.get("projectId", "")), str(document.get("role", ""))
    if owner != project_id:
        return KeyVerdict(
            False,
            f"This key belongs to project {one_line(owner, 20)}, not {project_id}: copy the key "
            f"from project {project_id}'s Dashboard → Keys.",
        )
    if role not in READING_ROLES:
        return KeyVerdict(
            False,
            f"This key's role is {one_line(role, 30) or 'unknown'}: it cannot read the tuner. "
            "Use a read-only or admin key.",
        )
    return KeyVerdict(True, f"Edge Impulse accepted the key (role {role}).", role)

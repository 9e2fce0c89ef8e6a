"""Slack's Web API on the wire: how arguments arrive (JSON, form or query; the token in a header
or an argument), how an error answer is raised inside a method, and the JSON answer itself."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

JSONDict = dict[str, Any]


class ApiError(Exception):
    """A Slack error answer; raised inside handlers so checks read top to bottom."""

    def __init__(
        self,
        error: str,
        *,
        status: int = 200,
        retry_after: int | None = None,
        extra: JSONDict | None = None,
    ) -> None:
        super().__init__(error)
        self.error = error
        self.status = status
        self.retry_after = retry_after
        self.extra = extra or {}


async def read_args(request: web.Request) -> tuple[JSONDict, str]:
    """Query string and body merged, as Slack reads them: `slack_sdk` sends chat.* as JSON,
    conversations.* as a GET query, auth.test as a POST with only a query string."""
    args: JSONDict = dict(request.query)
    if request.method != "POST" or not request.body_exists:
        return args, "query"
    if request.content_type == "application/json":
        try:
            body = json.loads(await request.text())
        except ValueError:
            raise ApiError("invalid_json") from None
        if not isinstance(body, dict):
            raise ApiError("invalid_json")
        args |= body
        return args, "json"
    if request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        form = await request.post()
        args |= {k: v for k, v in form.items() if isinstance(v, str)}
        return args, "form"
    raise ApiError("invalid_form_data")


def bearer(request: web.Request) -> str | None:
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    return (value.strip() or None) if scheme.lower() == "bearer" else None


def opt_str(args: JSONDict, key: str) -> str | None:
    value = args.get(key)
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    raise ApiError("invalid_arguments")


def flag(args: JSONDict, key: str) -> bool:
    """Booleans arrive as JSON true, form "true" or query "1" (slack_sdk turns bools into 1/0)."""
    value = args.get(key)
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes")
    return bool(value)


def parse_json_arg(value: Any, error: str) -> Any:
    """Form bodies carry `blocks`/`metadata` as JSON strings; JSON bodies may carry either."""
    if isinstance(value, str):
        if not value.strip():
            return None
        try:
            return json.loads(value)
        except ValueError:
            raise ApiError(error) from None
    return value


def default_error(status: int) -> str:
    return "ratelimited" if status == 429 else "internal_error"


def json_response(
    body: JSONDict, *, status: int = 200, retry_after: int | None = None
) -> web.Response:
    # slack_sdk's rate-limit handler does int() on Retry-After: it must be whole seconds.
    headers = {"Retry-After": str(int(retry_after))} if retry_after is not None else None
    return web.json_response(body, status=status, headers=headers)

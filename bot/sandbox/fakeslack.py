"""A local HTTP server that answers like Slack's Web API, for `eon-bot demo` and the tests.

A server rather than a mock, so that the real `slack_sdk` `AsyncWebClient` runs unchanged against
it: its request encoding, its retry handlers and its error parsing are part of what is tested.
Point the client at it with `AsyncWebClient(token=..., base_url=fake.api_url)`.

What it does, and why:

- **Answers** `auth.test`, `chat.postMessage`, `chat.update`, `chat.postEphemeral`,
  `conversations.history`, `conversations.replies` and `conversations.info` under `/api/<method>`,
  with Slack's checks (tokens, channels, Block Kit limits, text limits, metadata shape) and
  Slack's error names, so a bot that passes here does not fail on the first real post.
- **Records** every message (with its earlier versions), every call and every `response_url`
  post, so tests assert on what Slack would show instead of on mocks.
- **Injects faults** (`fail_next`, `set_channel_state`, `set_token`, a per-channel rate limit),
  so retry and outage handling run against real HTTP behaviour: 429 with `Retry-After`, 5xx,
  connections dropped without an answer.
- **Tells** each message to an `on_message` callback: the demo prints them
  (`bot.sandbox.terminal.TerminalPrinter`).

Choices where Slack is unclear or where a test is better served (each also noted where it is made):
a request without a token gets `not_authed` (Slack's answer; a wrong one gets `invalid_auth`);
a `thread_ts` naming no message posts to the channel; a reply's `ts` given as `thread_ts` threads
under its parent; `conversations.replies` pages carry the parent on the first page only;
the optional rate limit is a strict minimum interval (Slack tolerates short bursts).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import itertools
import json
import logging
import math
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation
from types import TracebackType
from typing import Any, Literal, Self, TypeVar

from aiohttp import web

from bot.slack.auth import REQUIRED_SCOPES

__all__ = [
    "APP_ID",
    "BOT_ID",
    "BOT_USER_ID",
    "HUMAN_USER_ID",
    "TEAM_ID",
    "Call",
    "ChannelState",
    "FakeSlack",
    "Message",
    "ResponsePost",
    "blocks_to_lines",
]

JSONDict = dict[str, Any]
ChannelState = Literal["ok", "archived", "not_in_channel", "missing"]
_T = TypeVar("_T")

log = logging.getLogger(__name__)

TEAM_ID = "T0EONTEST"
BOT_USER_ID = "U0EONBOT"
BOT_ID = "B0EONBOT"
APP_ID = "A0EONBOT"
HUMAN_USER_ID = "U0HUMAN"
"""The author of messages seeded with `add_message`: someone whose messages the bot can't edit."""

# Slack's documented limits (https://docs.slack.dev/reference/block-kit/blocks).
MAX_BLOCKS = 50
SECTION_TEXT_MAX = 3000
SECTION_FIELDS_MAX = 10
FIELD_TEXT_MAX = 2000
HEADER_TEXT_MAX = 150
CONTEXT_ELEMENTS_MAX = 10
POST_TEXT_MAX = 40_000
UPDATE_TEXT_MAX = 4_000
RESPONSE_URL_MAX_POSTS = 5
RESPONSE_URL_TTL = 30 * 60.0

_APP_TOKEN_METHODS = frozenset({"apps.connections.open"})
_CHANNEL_METHODS = frozenset(
    {
        "chat.postMessage",
        "chat.update",
        "chat.postEphemeral",
        "conversations.history",
        "conversations.replies",
        "conversations.info",
    }
)


@dataclass(frozen=True, slots=True)
class Message:
    """One message as the fake holds it; earlier versions stay in `edits` so tests see updates.

    `thread_ts` is set on replies only (a parent's own `thread_ts` appears in the API answers once
    it has replies, not here), so `thread_ts is None` means "top level".
    """

    channel: str
    ts: str
    text: str = ""
    blocks: list[JSONDict] = field(default_factory=list)
    thread_ts: str | None = None
    reply_broadcast: bool = False
    metadata: JSONDict | None = None
    user: str = BOT_USER_ID
    edits: tuple[Message, ...] = ()
    edited_ts: str | None = None
    visible_to: str | None = None
    """The one user an ephemeral message is shown to; `None` for ordinary messages."""

    @property
    def edit_count(self) -> int:
        return len(self.edits)

    @property
    def is_reply(self) -> bool:
        return self.thread_ts is not None

    @property
    def event_type(self) -> str | None:
        """The metadata `event_type`, the usual way a test picks out "the trial-failed reply"."""
        return None if self.metadata is None else str(self.metadata.get("event_type"))

    @property
    def plain_text(self) -> str:
        """What a person reads: the blocks rendered to text, else the fallback `text`."""
        return "\n".join(blocks_to_lines(self.blocks) if self.blocks else [_unslack(self.text)])


@dataclass(frozen=True, slots=True)
class Call:
    """One request the fake answered (or refused, or dropped), for assertions on traffic."""

    method: str
    args: JSONDict
    """The arguments after decoding: `blocks`/`metadata` sent as JSON strings are objects here."""
    time: float
    status: int
    """HTTP status sent; 0 when the connection was dropped without an answer."""
    error: str | None
    encoding: str
    """How the arguments arrived: "json", "form" or "query" (`slack_sdk` uses all three), or
    "unreadable" for a body that could not be parsed (answered `invalid_json`)."""

    @property
    def ok(self) -> bool:
        return self.status == 200 and self.error is None


@dataclass(frozen=True, slots=True)
class ResponsePost:
    """One accepted post to a `response_url` (a slash command's delayed answer)."""

    text: str
    blocks: list[JSONDict]
    response_type: str | None
    replace_original: bool
    delete_original: bool
    time: float


@dataclass(slots=True)
class _Fault:
    """A queued failure; mutable because `times` counts down as requests use it."""

    method: str
    error: str | None
    status: int
    retry_after: int | None
    channel: str | None
    times: int
    drop_connection: bool
    delay: float
    take_effect: bool

    @property
    def fails(self) -> bool:
        """False for a pure slow-down: `fail_next(m, delay=2)` only delays a normal answer."""
        return self.drop_connection or self.error is not None or self.status != 200

    def matches(self, method: str, channel: str | None) -> bool:
        if self.method not in ("*", method):
            return False
        return self.channel is None or self.channel == channel


class _ApiError(Exception):
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


_Handler = Callable[[JSONDict], JSONDict]


class FakeSlack:
    """Slack's Web API on 127.0.0.1, with recording and fault injection.

    Use as `async with FakeSlack() as fake:`; all state lives in this object, so tests never
    share a fake by accident. Every channel exists until told otherwise (`set_channel_state`).
    """

    def __init__(
        self,
        *,
        token: str = "xoxb-test",
        port: int = 0,
        on_message: Callable[[Message, str], None] | None = None,
        rate_limit_per_channel: float | None = None,
        clock: Callable[[], float] = time.time,
        scopes: Iterable[str] | None = None,
    ) -> None:
        self._token = token
        self.scopes: tuple[str, ...] = tuple(REQUIRED_SCOPES if scopes is None else scopes)
        """What `x-oauth-scopes` says the bot token was granted (default: all the bot needs)."""
        self._app_token: str | None = None
        self._socket_url: Callable[[], str] | None = None
        self._requested_port = port
        self._on_message = on_message
        self.rate_limit_per_channel = rate_limit_per_channel
        """chat.postMessage calls per second per channel before a 429; `None`: no limit."""
        self._clock = clock
        self._runner: web.AppRunner | None = None
        self._port: int | None = None
        self._last_ts = 0
        self._ids = itertools.count(1)
        self._messages: dict[str, dict[str, Message]] = {}
        self._ephemerals: dict[str, list[Message]] = {}
        self._responses: dict[str, list[ResponsePost]] = {}
        self._response_opened: dict[str, float] = {}
        self._calls: list[Call] = []
        self._faults: list[_Fault] = []
        self._states: dict[str, ChannelState] = {}
        self._last_post: dict[str, float] = {}
        self._changed = asyncio.Event()
        self._handlers: dict[str, _Handler] = {
            "auth.test": self._auth_test,
            "chat.postMessage": self._post_message,
            "chat.update": self._update,
            "chat.postEphemeral": self._post_ephemeral,
            "conversations.history": self._history,
            "conversations.replies": self._replies,
            "conversations.info": self._info,
            "apps.connections.open": self._connections_open,
        }

    # -- lifecycle ---------------------------------------------------------------------------------

    async def start(self) -> Self:
        """Bind 127.0.0.1 (port 0 picks a free one) and serve until `stop()`."""
        if self._runner is not None:
            raise RuntimeError("FakeSlack is already started")
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._handle_api)
        app.router.add_post("/response/{response_id}", self._handle_response_url)
        # A short shutdown_timeout: a request held by `fail_next(delay=...)` must not hold stop().
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", self._requested_port)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self._port = int(runner.addresses[0][1])
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("FakeSlack is not started: use `async with FakeSlack() as fake`")
        return self._port

    @property
    def url(self) -> str:
        """The server's base, `http://127.0.0.1:PORT`."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        """The `SLACK_API_URL` / `base_url` form, with the trailing slash `urljoin` needs."""
        return f"{self.url}/api/"

    # -- recording ---------------------------------------------------------------------------------

    def messages(self, channel: str) -> list[Message]:
        """Every message in `channel`, top level and replies, in the order they were posted."""
        return list(self._messages.get(channel, {}).values())

    def top_level(self, channel: str) -> list[Message]:
        """Messages not in a thread (broadcast replies are replies, so they are not here)."""
        return [m for m in self.messages(channel) if m.thread_ts is None]

    def replies(self, channel: str, thread_ts: str) -> list[Message]:
        """The replies under `thread_ts`, oldest first, without the parent."""
        return [m for m in self.messages(channel) if m.thread_ts == thread_ts]

    def message(self, channel: str, ts: str) -> Message:
        """The current version of one message; `KeyError` if there is none."""
        return self._messages[channel][ts]

    def ephemerals(self, channel: str) -> list[Message]:
        return list(self._ephemerals.get(channel, []))

    @property
    def calls(self) -> list[Call]:
        """Every request received, in order (a copy: safe to keep while the fake runs)."""
        return list(self._calls)

    def calls_to(self, method: str) -> list[Call]:
        return [c for c in self._calls if c.method == method]

    def responses(self, response_id: str) -> list[ResponsePost]:
        return list(self._responses.get(response_id, []))

    def response_url(self, response_id: str | None = None) -> str:
        """A `response_url` on this fake; its 30 minutes start now (or at its first post)."""
        rid = response_id if response_id is not None else f"R{next(self._ids):06d}"
        self._response_opened.setdefault(rid, self._clock())
        return f"{self.url}/response/{rid}"

    def add_message(
        self,
        channel: str,
        text: str,
        *,
        user: str = HUMAN_USER_ID,
        thread_ts: str | None = None,
        blocks: list[JSONDict] | None = None,
        metadata: JSONDict | None = None,
    ) -> Message:
        """Seed a message as if someone else posted it (history tests, `cant_update_message`)."""
        msg = Message(
            channel=channel,
            ts=self._next_ts(),
            text=text,
            blocks=blocks or [],
            thread_ts=thread_ts,
            metadata=metadata,
            user=user,
        )
        self._messages.setdefault(channel, {})[msg.ts] = msg
        self._notify()
        return msg

    # A timeout argument on purpose (ASYNC109): like asyncio.wait_for, the deadline is the point,
    # and its error names the last calls, which an outer asyncio.timeout could not.
    async def wait_for(
        self,
        predicate: Callable[[FakeSlack], _T],
        timeout: float = 5.0,  # noqa: ASYNC109
    ) -> _T:
        """Wait until `predicate(fake)` is truthy and return that value; `TimeoutError` if not.

        For the bot's background delivery: tests await what Slack would show, not sleep.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            result = predicate(self)
            if result:
                return result
            remaining = deadline - loop.time()
            if remaining <= 0:
                recent = ", ".join(f"{c.method}→{c.error or c.status}" for c in self._calls[-5:])
                raise TimeoutError(
                    f"FakeSlack.wait_for: condition not met within {timeout:g}s "
                    f"(last calls: {recent or 'none'})"
                )
            changed = self._changed
            # Re-check now and then too: set_channel_state and the clock change without a call.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), min(remaining, 0.05))

    # -- fault injection ---------------------------------------------------------------------------

    def fail_next(
        self,
        method: str,
        *,
        error: str | None = None,
        status: int = 200,
        retry_after: int | None = None,
        channel: str | None = None,
        times: int = 1,
        drop_connection: bool = False,
        delay: float = 0,
        take_effect: bool = False,
    ) -> None:
        """Make the next `times` calls of `method` (or "*": any) fail as described.

        - `status=429` answers `ratelimited` with `Retry-After` (`retry_after`, default 1 s;
          `slack_sdk` sleeps that many whole seconds plus up to one more of jitter).
        - `status` 5xx answers `internal_error` unless `error` names another.
        - `error` with status 200 is an ordinary Slack error (`not_in_channel`, `is_archived`...).
        - `drop_connection` closes the socket without an answer.
        - `delay` holds the answer that long first; alone, it is a slow but normal answer.
        - `take_effect` does the work first (the message is posted) and then fails: a lost
          answer, the case that makes a client post twice if it retries blindly.
        - `channel` limits the fault to calls naming that channel; `"response_url"` as `method`
          targets response_url posts.
        """
        if times < 1:
            raise ValueError("times must be at least 1")
        self._faults.append(
            _Fault(
                method=method,
                error=error,
                status=status,
                retry_after=retry_after,
                channel=channel,
                times=times,
                drop_connection=drop_connection,
                delay=delay,
                take_effect=take_effect,
            )
        )

    def clear_faults(self) -> None:
        self._faults.clear()

    def set_channel_state(self, channel: str, state: ChannelState) -> None:
        """A lasting condition: "missing" → `channel_not_found`, "archived" → `is_archived` on
        writes, "not_in_channel" → `not_in_channel` on writes and reads, "ok" undoes them."""
        if state == "ok":
            self._states.pop(channel, None)
        else:
            self._states[channel] = state
        self._notify()

    def enable_socket_mode(self, app_token: str, open_url: Callable[[], str]) -> None:
        """Answer `apps.connections.open` for `app_token` with `open_url()` (a Socket Mode
        server's, see `bot.sandbox.socketmode`)."""
        self._app_token = app_token
        self._socket_url = open_url

    def set_token(self, token: str) -> None:
        """Accept only `token` from now on: the old one gets `invalid_auth`, as when revoked."""
        self._token = token

    # -- HTTP --------------------------------------------------------------------------------------

    async def _handle_api(self, request: web.Request) -> web.StreamResponse:
        method = request.match_info["method"]
        try:
            args, encoding = await _read_args(request)
        except _ApiError as exc:
            self._record(method, {}, 200, exc.error, "unreadable")
            return _json({"ok": False, "error": exc.error})
        # Slack takes the token from the Authorization header or, in a form or query, `token`.
        body_token = args.pop("token", None)
        token = _bearer(request) or (body_token if isinstance(body_token, str) else None)
        channel = args.get("channel") if isinstance(args.get("channel"), str) else None
        fault = self._take_fault(method, channel)
        if fault is not None and fault.delay > 0:
            await asyncio.sleep(fault.delay)
        if fault is not None and fault.fails and not fault.take_effect:
            return self._fault_response(request, method, args, encoding, fault)
        try:
            body = self._dispatch(method, args, token)
            status, retry_after = 200, None
        except _ApiError as exc:
            body = {"ok": False, "error": exc.error, **exc.extra}
            status, retry_after = exc.status, exc.retry_after
        if fault is not None and fault.fails:
            return self._fault_response(request, method, args, encoding, fault)
        error = None if body.get("ok") else str(body.get("error"))
        self._record(method, args, status, error, encoding)
        response = _json(body, status=status, retry_after=retry_after)
        if token is not None and token == self._token:
            response.headers["x-oauth-scopes"] = ",".join(self.scopes)
        return response

    def _dispatch(self, method: str, args: JSONDict, token: str | None) -> JSONDict:
        handler = self._handlers.get(method)
        if handler is None:
            raise _ApiError("unknown_method")
        if not token:
            raise _ApiError("not_authed")
        expected = self._app_token if method in _APP_TOKEN_METHODS else self._token
        if token != expected:
            # A good token of the other kind (app for bot, bot for app) is Slack's
            # not_allowed_token_type; anything else is invalid_auth.
            other = token in (self._token, self._app_token)
            raise _ApiError("not_allowed_token_type" if other else "invalid_auth")
        if method in _CHANNEL_METHODS:
            self._check_channel(method, args)
        return handler(args)

    def _take_fault(self, method: str, channel: str | None) -> _Fault | None:
        for fault in self._faults:
            if fault.matches(method, channel):
                fault.times -= 1
                if fault.times == 0:
                    self._faults.remove(fault)
                return fault
        return None

    def _fault_response(
        self, request: web.Request, method: str, args: JSONDict, encoding: str, fault: _Fault
    ) -> web.StreamResponse:
        if fault.drop_connection:
            self._record(method, args, 0, "connection_dropped", encoding)
            if request.transport is not None:
                request.transport.close()
            # Never written: the client sees the socket close (ServerDisconnectedError).
            return web.Response()
        error = fault.error or _default_error(fault.status)
        retry_after = fault.retry_after
        if retry_after is None and fault.status == 429:
            retry_after = 1
        self._record(method, args, fault.status, error, encoding)
        return _json({"ok": False, "error": error}, status=fault.status, retry_after=retry_after)

    def _record(
        self, method: str, args: JSONDict, status: int, error: str | None, encoding: str
    ) -> None:
        self._calls.append(Call(method, args, self._clock(), status, error, encoding))
        self._notify()

    def _notify(self) -> None:
        """Wake `wait_for` callers; a fresh Event each time so late waiters never miss one."""
        self._changed.set()
        self._changed = asyncio.Event()

    # -- checks shared by methods ------------------------------------------------------------------

    def _check_channel(self, method: str, args: JSONDict) -> None:
        channel = _opt_str(args, "channel")
        if not channel:
            raise _ApiError("channel_not_found")
        state = self._states.get(channel, "ok")
        if state == "missing":
            raise _ApiError("channel_not_found")
        writes = method.startswith("chat.")
        if state == "archived" and writes:
            raise _ApiError("is_archived")
        if state == "not_in_channel" and method != "conversations.info":
            raise _ApiError("not_in_channel")

    def _check_rate(self, channel: str) -> None:
        """Strict minimum interval between posts (stricter than Slack, which allows bursts), so
        a client that ignores `Retry-After` is caught in a short test."""
        rate = self.rate_limit_per_channel
        if not rate:
            return
        now = self._clock()
        last = self._last_post.get(channel)
        interval = 1.0 / rate
        if last is not None and now - last < interval:
            wait = max(1, math.ceil(interval - (now - last)))
            raise _ApiError("ratelimited", status=429, retry_after=wait)

    def _next_ts(self) -> str:
        """Wall-clock micros, bumped so every ts is strictly greater than the one before."""
        micros = max(int(self._clock() * 1_000_000), self._last_ts + 1)
        self._last_ts = micros
        return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"

    def _emit(self, message: Message, action: str) -> None:
        self._notify()
        if self._on_message is None:
            return
        try:
            self._on_message(message, action)
        except Exception:
            # A broken printer must not turn into a Slack error the bot would retry.
            log.exception("FakeSlack on_message callback failed for %s %s", action, message.ts)

    # -- methods -----------------------------------------------------------------------------------

    def _auth_test(self, args: JSONDict) -> JSONDict:
        return {
            "ok": True,
            "url": "https://eon-test.slack.com/",
            "team": "EON Test",
            "user": "eon-bot",
            "team_id": TEAM_ID,
            "user_id": BOT_USER_ID,
            "bot_id": BOT_ID,
            "is_enterprise_install": False,
        }

    def _connections_open(self, args: JSONDict) -> JSONDict:
        if self._socket_url is None:
            raise _ApiError("invalid_auth")
        return {"ok": True, "url": self._socket_url()}

    def _post_message(self, args: JSONDict) -> JSONDict:
        channel = str(_opt_str(args, "channel"))
        self._check_rate(channel)
        text, blocks = _content(args, POST_TEXT_MAX)
        metadata = _parse_metadata(args.get("metadata"))
        thread_ts = self._thread_parent(channel, _opt_str(args, "thread_ts"))
        msg = Message(
            channel=channel,
            ts=self._next_ts(),
            text=text,
            blocks=blocks,
            thread_ts=thread_ts,
            reply_broadcast=thread_ts is not None and _flag(args, "reply_broadcast"),
            metadata=metadata,
        )
        self._messages.setdefault(channel, {})[msg.ts] = msg
        self._last_post[channel] = self._clock()
        self._emit(msg, "post")
        return {
            "ok": True,
            "channel": channel,
            "ts": msg.ts,
            "message": self._message_json(msg, include_metadata=True),
        }

    def _thread_parent(self, channel: str, thread_ts: str | None) -> str | None:
        """Slack threads a reply-to-a-reply under the parent and, for a `thread_ts` naming no
        message, posts to the channel; both are mirrored so tests see what Slack would show."""
        if not thread_ts:
            return None
        target = self._messages.get(channel, {}).get(thread_ts)
        if target is None:
            return None
        return target.thread_ts or target.ts

    def _update(self, args: JSONDict) -> JSONDict:
        channel = str(_opt_str(args, "channel"))
        ts = _opt_str(args, "ts")
        old = self._messages.get(channel, {}).get(ts or "")
        if old is None:
            raise _ApiError("message_not_found")
        if old.user != BOT_USER_ID:
            raise _ApiError("cant_update_message")
        text, blocks = _content(args, UPDATE_TEXT_MAX)
        metadata = _parse_metadata(args.get("metadata"))
        new = replace(
            old,
            # Slack keeps what an update leaves out: blocks stay unless `blocks` is sent.
            text=text if "text" in args else old.text,
            blocks=blocks if "blocks" in args else old.blocks,
            metadata=metadata if metadata is not None else old.metadata,
            edits=(*old.edits, replace(old, edits=())),
            edited_ts=self._next_ts(),
        )
        self._messages[channel][new.ts] = new
        self._emit(new, "update")
        return {
            "ok": True,
            "channel": channel,
            "ts": new.ts,
            "text": new.text,
            "message": self._message_json(new, include_metadata=True),
        }

    def _post_ephemeral(self, args: JSONDict) -> JSONDict:
        channel = str(_opt_str(args, "channel"))
        user = _opt_str(args, "user")
        if not user:
            raise _ApiError("user_not_found")
        text, blocks = _content(args, POST_TEXT_MAX)
        msg = Message(
            channel=channel,
            ts=self._next_ts(),
            text=text,
            blocks=blocks,
            thread_ts=_opt_str(args, "thread_ts") or None,
            visible_to=user,
        )
        self._ephemerals.setdefault(channel, []).append(msg)
        self._emit(msg, "ephemeral")
        return {"ok": True, "message_ts": msg.ts}

    def _history(self, args: JSONDict) -> JSONDict:
        channel = str(_opt_str(args, "channel"))
        window = _window(args)
        visible = [
            m
            for m in self.messages(channel)
            if (m.thread_ts is None or m.reply_broadcast) and window(m.ts)
        ]
        visible.reverse()  # newest first, as Slack answers
        page, next_cursor = _page(visible, args, default_limit=100, max_limit=999)
        meta = _flag(args, "include_all_metadata")
        return {
            "ok": True,
            "messages": [self._message_json(m, include_metadata=meta, root=True) for m in page],
            "has_more": bool(next_cursor),
            "pin_count": 0,
            "response_metadata": {"next_cursor": next_cursor},
        }

    def _replies(self, args: JSONDict) -> JSONDict:
        channel = str(_opt_str(args, "channel"))
        ts = _opt_str(args, "ts")
        target = self._messages.get(channel, {}).get(ts or "")
        if target is None:
            raise _ApiError("thread_not_found")
        parent = self._messages[channel][target.thread_ts or target.ts]
        window = _window(args)
        thread = [parent, *(m for m in self.replies(channel, parent.ts) if window(m.ts))]
        page, next_cursor = _page(thread, args, default_limit=1000, max_limit=1000)
        meta = _flag(args, "include_all_metadata")
        return {
            "ok": True,
            "messages": [self._message_json(m, include_metadata=meta) for m in page],
            "has_more": bool(next_cursor),
            "response_metadata": {"next_cursor": next_cursor},
        }

    def _info(self, args: JSONDict) -> JSONDict:
        channel = str(_opt_str(args, "channel"))
        state = self._states.get(channel, "ok")
        return {
            "ok": True,
            "channel": {
                "id": channel,
                "name": channel.lstrip("#").lower(),
                "is_channel": True,
                "is_archived": state == "archived",
                "is_member": state != "not_in_channel",
                "created": 1_700_000_000,
            },
        }

    def _message_json(
        self, msg: Message, *, include_metadata: bool, root: bool = False
    ) -> JSONDict:
        """A message object shaped like Slack's (the fields bots read), for every answer."""
        out: JSONDict = {"type": "message", "user": msg.user, "text": msg.text, "ts": msg.ts}
        out["team"] = TEAM_ID
        if msg.user == BOT_USER_ID:
            out |= {"bot_id": BOT_ID, "app_id": APP_ID}
        if msg.blocks:
            out["blocks"] = msg.blocks
        if msg.thread_ts is not None:
            parent = self._messages.get(msg.channel, {}).get(msg.thread_ts)
            out["thread_ts"] = msg.thread_ts
            out["parent_user_id"] = parent.user if parent else msg.user
            if msg.reply_broadcast:
                out["subtype"] = "thread_broadcast"
                if root and parent is not None:
                    out["root"] = self._message_json(parent, include_metadata=False)
        else:
            replies = self.replies(msg.channel, msg.ts)
            if replies:
                users = sorted({r.user for r in replies})
                out |= {
                    "thread_ts": msg.ts,
                    "reply_count": len(replies),
                    "reply_users": users,
                    "reply_users_count": len(users),
                    "latest_reply": replies[-1].ts,
                }
        if msg.edited_ts is not None:
            out["edited"] = {"user": msg.user, "ts": msg.edited_ts}
        if include_metadata and msg.metadata is not None:
            out["metadata"] = msg.metadata
        return out

    # -- response_url ------------------------------------------------------------------------------

    async def _handle_response_url(self, request: web.Request) -> web.StreamResponse:
        rid = request.match_info["response_id"]
        args: JSONDict = {"response_id": rid}
        fault = self._take_fault("response_url", None)
        if fault is not None and fault.delay > 0:
            await asyncio.sleep(fault.delay)
        if fault is not None and fault.fails:
            return self._fault_response(request, "response_url", args, "json", fault)
        status, error = 200, None
        try:
            try:
                payload = json.loads(await request.text())
            except ValueError:
                raise _ApiError("invalid_payload", status=400) from None
            if not isinstance(payload, dict):
                raise _ApiError("invalid_payload", status=400)
            args |= payload
            self._accept_response(rid, payload)
        except _ApiError as exc:
            status, error = exc.status, exc.error
        self._record("response_url", args, status, error, "json")
        if error is not None:
            return _json({"ok": False, "error": error}, status=status)
        return _json({"ok": True})

    def _accept_response(self, rid: str, payload: JSONDict) -> None:
        now = self._clock()
        opened = self._response_opened.setdefault(rid, now)
        if now - opened > RESPONSE_URL_TTL:
            raise _ApiError("expired_url", status=404)
        posts = self._responses.setdefault(rid, [])
        if len(posts) >= RESPONSE_URL_MAX_POSTS:
            raise _ApiError("used_url", status=404)
        delete = _flag(payload, "delete_original")
        try:
            text, blocks = ("", []) if delete else _content(payload, POST_TEXT_MAX)
        except _ApiError as exc:
            raise _ApiError(exc.error, status=400) from None
        posts.append(
            ResponsePost(
                text=text,
                blocks=blocks,
                response_type=_opt_str(payload, "response_type"),
                replace_original=_flag(payload, "replace_original"),
                delete_original=delete,
                time=now,
            )
        )


# -- request decoding and checks -------------------------------------------------------------------


async def _read_args(request: web.Request) -> tuple[JSONDict, str]:
    """Query string and body merged, as Slack reads them: `slack_sdk` sends chat.* as JSON,
    conversations.* as a GET query, auth.test as a POST with only a query string."""
    args: JSONDict = dict(request.query)
    if request.method != "POST" or not request.body_exists:
        return args, "query"
    if request.content_type == "application/json":
        try:
            body = json.loads(await request.text())
        except ValueError:
            raise _ApiError("invalid_json") from None
        if not isinstance(body, dict):
            raise _ApiError("invalid_json")
        args |= body
        return args, "json"
    if request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        form = await request.post()
        args |= {k: v for k, v in form.items() if isinstance(v, str)}
        return args, "form"
    raise _ApiError("invalid_form_data")


def _bearer(request: web.Request) -> str | None:
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    return (value.strip() or None) if scheme.lower() == "bearer" else None


def _opt_str(args: JSONDict, key: str) -> str | None:
    value = args.get(key)
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    raise _ApiError("invalid_arguments")


def _flag(args: JSONDict, key: str) -> bool:
    """Booleans arrive as JSON true, form "true" or query "1" (slack_sdk turns bools into 1/0)."""
    value = args.get(key)
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes")
    return bool(value)


def _content(args: JSONDict, text_max: int) -> tuple[str, list[JSONDict]]:
    text = _opt_str(args, "text") or ""
    blocks = _parse_blocks(args.get("blocks"))
    has_attachments = bool(args.get("attachments"))
    if not text and not blocks and not has_attachments:
        raise _ApiError("no_text")
    if len(text) > text_max:
        raise _ApiError("msg_too_long")
    return text, blocks


def _parse_json_arg(value: Any, error: str) -> Any:
    """Form bodies carry `blocks`/`metadata` as JSON strings; JSON bodies may carry either."""
    if isinstance(value, str):
        if not value.strip():
            return None
        try:
            return json.loads(value)
        except ValueError:
            raise _ApiError(error) from None
    return value


def _parse_blocks(raw: Any) -> list[JSONDict]:
    value = _parse_json_arg(raw, "invalid_blocks_format")
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(b, dict) for b in value):
        raise _ApiError("invalid_blocks_format")
    problems = list(_block_problems(value))
    if problems:
        raise _ApiError(
            "invalid_blocks",
            extra={
                "errors": problems,
                "response_metadata": {"messages": [f"[ERROR] {p}" for p in problems]},
            },
        )
    return value


def _block_problems(blocks: list[JSONDict]) -> list[str]:
    """Slack's wording and json-pointers, so a failing test says which block broke which limit."""
    problems: list[str] = []
    if len(blocks) > MAX_BLOCKS:
        problems.append(f"no more than {MAX_BLOCKS} items allowed [json-pointer:/blocks]")
    for i, block in enumerate(blocks):
        where = f"/blocks/{i}"
        kind = block.get("type")
        if kind == "section":
            text, fields = block.get("text"), block.get("fields")
            if text is None and not fields:
                problems.append(f"must provide either text or fields [json-pointer:{where}]")
            if text is not None:
                problems += _text_problems(text, f"{where}/text", SECTION_TEXT_MAX)
            if fields is not None:
                if not isinstance(fields, list):
                    problems.append(f"must be an array [json-pointer:{where}/fields]")
                    continue
                if len(fields) > SECTION_FIELDS_MAX:
                    problems.append(
                        f"no more than {SECTION_FIELDS_MAX} items allowed "
                        f"[json-pointer:{where}/fields]"
                    )
                for j, item in enumerate(fields):
                    problems += _text_problems(item, f"{where}/fields/{j}", FIELD_TEXT_MAX)
        elif kind == "header":
            problems += _text_problems(
                block.get("text"), f"{where}/text", HEADER_TEXT_MAX, plain_only=True
            )
        elif kind == "context":
            elements = block.get("elements")
            if not isinstance(elements, list) or not elements:
                problems.append(f"must provide elements [json-pointer:{where}/elements]")
            elif len(elements) > CONTEXT_ELEMENTS_MAX:
                problems.append(
                    f"no more than {CONTEXT_ELEMENTS_MAX} items allowed "
                    f"[json-pointer:{where}/elements]"
                )
        elif not isinstance(kind, str) or not kind:
            problems.append(f"missing required field: type [json-pointer:{where}]")
    return problems


def _text_problems(obj: Any, where: str, limit: int, *, plain_only: bool = False) -> list[str]:
    if not isinstance(obj, dict):
        return [f"must be a text object [json-pointer:{where}]"]
    allowed = ("plain_text",) if plain_only else ("plain_text", "mrkdwn")
    if obj.get("type") not in allowed:
        return [f"must be one of {'/'.join(allowed)} [json-pointer:{where}/type]"]
    text = obj.get("text")
    if not isinstance(text, str) or not text:
        return [f"must be more than 0 characters [json-pointer:{where}/text]"]
    if len(text) > limit:
        return [f"must be less than {limit + 1} characters [json-pointer:{where}/text]"]
    return []


def _parse_metadata(raw: Any) -> JSONDict | None:
    value = _parse_json_arg(raw, "invalid_metadata_format")
    if value is None:
        return None
    if (
        not isinstance(value, dict)
        or not isinstance(value.get("event_type"), str)
        or not value["event_type"]
        or not isinstance(value.get("event_payload"), dict)
    ):
        raise _ApiError("invalid_metadata_format")
    return {"event_type": value["event_type"], "event_payload": value["event_payload"]}


def _micros(ts: str, error: str) -> int:
    """Compare ts values exactly: as floats, "…000100" and "…000101" may not differ."""
    try:
        return int(Decimal(ts) * 1_000_000)
    except InvalidOperation:
        raise _ApiError(error) from None


def _window(args: JSONDict) -> Callable[[str], bool]:
    """The `oldest`/`latest`/`inclusive` filter; bounds are exclusive unless `inclusive`."""
    oldest = _micros(_opt_str(args, "oldest") or "0", "invalid_ts_oldest")
    latest_arg = _opt_str(args, "latest")
    latest = _micros(latest_arg, "invalid_ts_latest") if latest_arg else None
    inclusive = _flag(args, "inclusive")

    def inside(ts: str) -> bool:
        t = _micros(ts, "invalid_ts")
        above = t >= oldest if inclusive else t > oldest
        below = latest is None or (t <= latest if inclusive else t < latest)
        return above and below

    return inside


def _page(
    items: list[Message], args: JSONDict, *, default_limit: int, max_limit: int
) -> tuple[list[Message], str]:
    """Cursor paging as Slack does it: an opaque `next_cursor`, empty on the last page."""
    limit_arg = _opt_str(args, "limit")
    try:
        limit = int(limit_arg) if limit_arg else default_limit
    except ValueError:
        raise _ApiError("invalid_limit") from None
    limit = min(limit, max_limit) if limit > 0 else default_limit
    start = 0
    cursor = _opt_str(args, "cursor")
    if cursor:
        ts = _decode_cursor(cursor)
        start = next((i for i, m in enumerate(items) if m.ts == ts), -1)
        if start < 0:
            raise _ApiError("invalid_cursor")
    page, rest = items[start : start + limit], items[start + limit :]
    return page, _encode_cursor(rest[0].ts) if rest else ""


def _encode_cursor(ts: str) -> str:
    return base64.b64encode(f"next_ts:{ts}".encode()).decode()


def _decode_cursor(cursor: str) -> str:
    try:
        decoded = base64.b64decode(cursor, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise _ApiError("invalid_cursor") from None
    prefix, _, ts = decoded.partition(":")
    if prefix != "next_ts" or not ts:
        raise _ApiError("invalid_cursor")
    return ts


def _default_error(status: int) -> str:
    return "ratelimited" if status == 429 else "internal_error"


def _json(body: JSONDict, *, status: int = 200, retry_after: int | None = None) -> web.Response:
    # slack_sdk's rate-limit handler does int() on Retry-After: it must be whole seconds.
    headers = {"Retry-After": str(int(retry_after))} if retry_after is not None else None
    return web.json_response(body, status=status, headers=headers)


# -- terminal rendering ----------------------------------------------------------------------------


_LINK = re.compile(r"<([^<>|]+)(?:\|([^<>]*))?>")


def _unslack(text: str) -> str:
    """mrkdwn to terminal text: `<url|label>` → "label (url)", mentions readable, entities decoded.

    Links are rewritten before `&lt;` is decoded, so escaped text never turns into a link.
    """

    def link(match: re.Match[str]) -> str:
        target, label = match.group(1), match.group(2)
        if target.startswith("!"):
            return "@" + (label or target[1:].split("^")[0])
        if target[:1] in ("@", "#"):
            return target[0] + label if label else target
        return f"{label} ({target})" if label else target

    text = _LINK.sub(link, text)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _obj_text(obj: Any) -> str:
    if isinstance(obj, dict):
        if isinstance(obj.get("text"), str):
            return _unslack(obj["text"])
        if obj.get("type") == "image":
            return f"[{obj.get('alt_text') or 'image'}]"
    return ""


def blocks_to_lines(blocks: list[JSONDict]) -> list[str]:
    """Block Kit as plain lines, roughly as Slack lays it out; unknown blocks are named."""
    lines: list[str] = []
    for block in blocks:
        kind = block.get("type")
        if kind == "header":
            lines.append(_obj_text(block.get("text")))
        elif kind == "section":
            if block.get("text"):
                lines += _obj_text(block.get("text")).splitlines()
            fields = [_obj_text(f).replace("\n", " ") for f in block.get("fields") or []]
            for left, right in itertools.zip_longest(fields[::2], fields[1::2], fillvalue=""):
                lines.append(f"{left:<30}  {right}".rstrip())
        elif kind == "context":
            parts = [_obj_text(e) for e in block.get("elements") or []]
            lines.append(" · ".join(p for p in parts if p))
        elif kind == "divider":
            lines.append("─" * 24)
        elif kind == "actions":
            buttons = [f"[{_obj_text(e.get('text'))}]" for e in block.get("elements") or []]
            lines.append(" ".join(buttons))
        elif kind == "image":
            lines.append(f"[image: {block.get('alt_text') or ''}]")
        else:
            lines.append(f"[{kind} block]")
    return lines

"""A local HTTP server that answers like Slack's Web API, for `eon-bot demo` and the tests.

A server rather than a mock, so that the real `slack_sdk` `AsyncWebClient` runs unchanged against
it: its request encoding, its retry handlers and its error parsing are part of what is tested.
Point the client at it with `AsyncWebClient(token=..., base_url=fake.api_url)`.

What it does, and why:

- **Answers** `auth.test`, `chat.postMessage`, `chat.update`, `chat.postEphemeral`,
  `chat.getPermalink`, `conversations.history`, `conversations.replies`,
  `conversations.info`, `views.open`, `views.publish` and `users.info` under `/api/<method>`,
  with Slack's checks (tokens, channels, Block Kit limits, text limits, metadata shape) and
  Slack's error names, so a bot that passes here does not fail on the first real post.
- **Records** every message (with its earlier versions), every call and every `response_url`
  post, so tests assert on what Slack would show instead of on mocks.
- **Injects faults** (`fail_next`, `set_channel_state`, `set_token`, a per-channel rate limit),
  so retry and outage handling run against real HTTP behaviour: 429 with `Retry-After`, 5xx,
  connections dropped without an answer.
- **Installs** the app (`oauth`): the authorize page and `oauth.v2.access`, each install a
  workspace with a bot token of its own, every call recorded under its workspace (`Call.team`).
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
import json
import time
from collections.abc import Callable, Iterable

from aiohttp import web

from bot.sandbox.fakeslack.blockkit import POST_TEXT_MAX, content
from bot.sandbox.fakeslack.files import FileMethods, Files
from bot.sandbox.fakeslack.oauth import OAUTH_METHODS, OAuthMethods, basic_credentials
from bot.sandbox.fakeslack.records import Message, ResponsePost
from bot.sandbox.fakeslack.views import ViewMethods
from bot.sandbox.fakeslack.wire import (
    ApiError,
    JSONDict,
    bearer,
    flag,
    json_response,
    opt_str,
    read_args,
)

RESPONSE_URL_MAX_POSTS = 5
RESPONSE_URL_TTL = 30 * 60.0

_APP_TOKEN_METHODS = frozenset({"apps.connections.open"})
_CHANNEL_METHODS = frozenset(
    {
        "chat.postMessage",
        "chat.update",
        "chat.postEphemeral",
        "chat.getPermalink",
        "conversations.history",
        "conversations.replies",
        "conversations.info",
        "files.completeUploadExternal",
    }
)


Handler = Callable[[JSONDict], JSONDict]


class FakeSlack(FileMethods, ViewMethods, OAuthMethods):
    """Slack's Web API on 127.0.0.1, with recording and fault injection.

    Use as `async with FakeSlack() as fake:`. Every channel exists until told otherwise
    (`set_channel_state`).
    """

    shutdown_timeout = 0.5  # a request held by `fail_next(delay=...)` must not hold stop()

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
        super().__init__(
            token=token,
            port=port,
            on_message=on_message,
            rate_limit_per_channel=rate_limit_per_channel,
            clock=clock,
            scopes=scopes,
        )
        self._handlers: dict[str, Handler] = {
            "auth.test": self._auth_test,
            "chat.postMessage": self._post_message,
            "chat.update": self._update,
            "chat.postEphemeral": self._post_ephemeral,
            "chat.getPermalink": self._permalink,
            "conversations.history": self._history,
            "conversations.replies": self._replies,
            "conversations.info": self._info,
            "conversations.open": self._open_im,
            "apps.connections.open": self._connections_open,
            "files.getUploadURLExternal": self._get_upload_url,
            "files.completeUploadExternal": self._complete_upload,
        }
        self._handlers |= self.view_handlers()  # views.open, views.publish, users.info
        self._handlers |= self.oauth_handlers()  # oauth.v2.access
        self._files = Files()

    def make_app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._handle_api)
        app.router.add_post("/response/{response_id}", self._handle_response_url)
        app.router.add_post("/upload/{file_id}", self._handle_upload)
        app.router.add_get("/oauth/v2/authorize", self._handle_authorize)
        return app

    @property
    def api_url(self) -> str:
        """The `SLACK_API_URL` / `base_url` form, with the trailing slash `urljoin` needs."""
        return f"{self.url}/api/"

    def enable_socket_mode(self, app_token: str, open_url: Callable[[], str]) -> None:
        """Answer `apps.connections.open` for `app_token` with `open_url()` (a Socket Mode
        server's, see `bot.sandbox.socketmode`)."""
        self._app_token = app_token
        self._socket_url = open_url

    # -- HTTP --------------------------------------------------------------------------------------

    async def _handle_api(self, request: web.Request) -> web.StreamResponse:
        method = request.match_info["method"]
        try:
            args, encoding = await read_args(request)
        except ApiError as exc:
            self._record(method, {}, 200, exc.error, "unreadable")
            return json_response({"ok": False, "error": exc.error})
        # Slack takes the token from the Authorization header or, in a form or query, `token`.
        body_token = args.pop("token", None)
        token = bearer(request) or (body_token if isinstance(body_token, str) else None)
        if method in OAUTH_METHODS:  # the app's credentials, not a token
            args = basic_credentials(request.headers.get("Authorization", "")) | args
        named = args.get("channel", args.get("channel_id"))
        channel = named if isinstance(named, str) else None
        fault = self._take_fault(method, channel)
        if fault is not None and fault.delay > 0:
            await asyncio.sleep(fault.delay)
        if fault is not None and fault.fails and not fault.take_effect:
            return self._fault_response(request, method, args, encoding, fault)
        try:
            body = self._dispatch(method, args, token)
            status, retry_after = 200, None
        except ApiError as exc:
            body = {"ok": False, "error": exc.error, **exc.extra}
            status, retry_after = exc.status, exc.retry_after
        if fault is not None and fault.fails:
            return self._fault_response(request, method, args, encoding, fault)
        error = None if body.get("ok") else str(body.get("error"))
        team = self.team_of_token(token)
        self._record(method, args, status, error, encoding, team=team)
        response = json_response(body, status=status, retry_after=retry_after)
        if token is not None and (token == self._token or team is not None):
            response.headers["x-oauth-scopes"] = ",".join(self.scopes)
        return response

    def _dispatch(self, method: str, args: JSONDict, token: str | None) -> JSONDict:
        handler = self._handlers.get(method)
        if handler is None:
            raise ApiError("unknown_method")
        if method in OAUTH_METHODS:
            return handler(args)
        if not token:
            raise ApiError("not_authed")
        expected = self._app_token if method in _APP_TOKEN_METHODS else self._token
        installed = method not in _APP_TOKEN_METHODS and self._installed_token(token)
        if installed and method == "auth.test":
            return self._auth_test_of(token) or {}
        if token != expected and not installed:
            # A good token of the other kind (app for bot, bot for app) is Slack's
            # not_allowed_token_type; anything else is invalid_auth.
            other = token in (self._token, self._app_token)
            raise ApiError("not_allowed_token_type" if other else "invalid_auth")
        if method in _CHANNEL_METHODS:
            self._check_channel(method, args)
        return handler(args)

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
                raise ApiError("invalid_payload", status=400) from None
            if not isinstance(payload, dict):
                raise ApiError("invalid_payload", status=400)
            args |= payload
            self._accept_response(rid, payload)
        except ApiError as exc:
            status, error = exc.status, exc.error
        self._record("response_url", args, status, error, "json")
        if error is not None:
            return json_response({"ok": False, "error": error}, status=status)
        return json_response({"ok": True})

    def _accept_response(self, rid: str, payload: JSONDict) -> None:
        now = self._clock()
        opened = self._response_opened.setdefault(rid, now)
        if now - opened > RESPONSE_URL_TTL:
            raise ApiError("expired_url", status=404)
        posts = self._responses.setdefault(rid, [])
        if len(posts) >= RESPONSE_URL_MAX_POSTS:
            raise ApiError("used_url", status=404)
        delete = flag(payload, "delete_original")
        try:
            text, blocks = ("", []) if delete else content(payload, POST_TEXT_MAX)
        except ApiError as exc:
            raise ApiError(exc.error, status=400) from None
        posts.append(
            ResponsePost(
                text=text,
                blocks=blocks,
                response_type=opt_str(payload, "response_type"),
                replace_original=flag(payload, "replace_original"),
                delete_original=delete,
                time=now,
            )
        )

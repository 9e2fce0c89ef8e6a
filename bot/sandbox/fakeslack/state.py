"""The fake's state and how tests read it: messages, calls, `response_url` posts, waiting for
what Slack would show. The methods (`methods`) and the faults (`faults`) build on it."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Self, TypeVar

from bot.sandbox.fakeslack.records import (
    HUMAN_USER_ID,
    Call,
    ChannelState,
    Message,
    ResponsePost,
)
from bot.sandbox.fakeslack.wire import JSONDict
from bot.sandbox.server import LocalServer
from bot.slack.auth import REQUIRED_SCOPES

if TYPE_CHECKING:
    from bot.sandbox.fakeslack.faults import Fault

_T = TypeVar("_T")

log = logging.getLogger(__name__)


class SlackState(LocalServer):
    """Slack's side of the conversation: what was posted, asked and answered. All state lives
    in this object, so tests never share a fake by accident."""

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
        super().__init__(port=port)
        self._token = token
        self.scopes: tuple[str, ...] = tuple(REQUIRED_SCOPES if scopes is None else scopes)
        """What `x-oauth-scopes` says the bot token was granted (default: all the bot needs)."""
        self._app_token: str | None = None
        self._socket_url: Callable[[], str] | None = None
        self._on_message = on_message
        self.rate_limit_per_channel = rate_limit_per_channel
        """chat.postMessage calls per second per channel before a 429; `None`: no limit."""
        self._clock = clock
        self._last_ts = 0
        self._ids = itertools.count(1)
        self._messages: dict[str, dict[str, Message]] = {}
        self._ephemerals: dict[str, list[Message]] = {}
        self._responses: dict[str, list[ResponsePost]] = {}
        self._response_opened: dict[str, float] = {}
        self._calls: list[Call] = []
        self._faults: list[Fault] = []
        self._states: dict[str, ChannelState] = {}
        self._last_post: dict[str, float] = {}
        self._changed = asyncio.Event()

    # -- recording ---------------------------------------------------------------------------------

    def channels(self) -> list[str]:
        """The channels that have messages, in the order their first message came."""
        return list(self._messages)

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
        predicate: Callable[[Self], _T],
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

    def _record(
        self,
        method: str,
        args: JSONDict,
        status: int,
        error: str | None,
        encoding: str,
        *,
        team: str | None = None,
    ) -> None:
        self._calls.append(Call(method, args, self._clock(), status, error, encoding, team))
        self._notify()

    def _notify(self) -> None:
        """Wake `wait_for` callers; a fresh Event each time so late waiters never miss one."""
        self._changed.set()
        self._changed = asyncio.Event()

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

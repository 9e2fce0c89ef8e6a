"""Fault injection: queued failures (`fail_next`), lasting channel conditions
(`set_channel_state`) and a revoked token (`set_token`), so
retry and outage handling run against real HTTP behaviour."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from bot.sandbox.fakeslack.records import ChannelState
from bot.sandbox.fakeslack.state import SlackState
from bot.sandbox.fakeslack.wire import ApiError, JSONDict, default_error, json_response, opt_str


@dataclass(slots=True)
class Fault:
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


class Faults(SlackState):
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
            Fault(
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

    def pending_faults(self) -> int:
        """Queued failures no call has used yet: a test tells a request that reached the fake
        (and is held by its `delay`) from one that never came, without waiting to see."""
        return sum(fault.times for fault in self._faults)

    def set_channel_state(self, channel: str, state: ChannelState) -> None:
        """A lasting condition: "missing" → `channel_not_found`, "archived" → `is_archived` on
        writes, "not_in_channel" → `not_in_channel` on writes and reads, "ok" undoes them."""
        if state == "ok":
            self._states.pop(channel, None)
        else:
            self._states[channel] = state
        self._notify()

    def set_token(self, token: str) -> None:
        """Accept only `token` from now on: the old one gets `invalid_auth`, as when revoked."""
        self._token = token

    def _take_fault(self, method: str, channel: str | None) -> Fault | None:
        for fault in self._faults:
            if fault.matches(method, channel):
                fault.times -= 1
                if fault.times == 0:
                    self._faults.remove(fault)
                return fault
        return None

    def _fault_response(
        self, request: web.Request, method: str, args: JSONDict, encoding: str, fault: Fault
    ) -> web.StreamResponse:
        if fault.drop_connection:
            self._record(method, args, 0, "connection_dropped", encoding)
            if request.transport is not None:
                request.transport.close()
            # Never written: the client sees the socket close (ServerDisconnectedError).
            return web.Response()
        error = fault.error or default_error(fault.status)
        retry_after = fault.retry_after
        if retry_after is None and fault.status == 429:
            retry_after = 1
        self._record(method, args, fault.status, error, encoding)
        return json_response(
            {"ok": False, "error": error}, status=fault.status, retry_after=retry_after
        )

    def _check_channel(self, method: str, args: JSONDict) -> None:
        channel = opt_str(args, "channel") or opt_str(args, "channel_id")
        if not channel and method == "files.completeUploadExternal":
            return  # shared with no channel: a private upload
        if not channel:
            raise ApiError("channel_not_found")
        state = self._states.get(channel, "ok")
        if state == "missing":
            raise ApiError("channel_not_found")
        writes = method.startswith(("chat.", "files."))
        if state == "archived" and writes:
            raise ApiError("is_archived")
        if state == "not_in_channel" and method != "conversations.info":
            raise ApiError("not_in_channel")

"""Fetches one project's EON Tuner state from Edge Impulse (or the simulator) over HTTP.

`parse_state` (`bot.tuner.answers`) is the one place an HTTP answer becomes a state or a typed
error. `TunerClient` adds the request, the API key and bounded retries of transient failures,
and tells an observer (`bot.metrics`) of each request: its route, status and bytes. It sends
its requests straight to an httpx transport, passed in (tests give it an `httpx.MockTransport`;
`default_transport()` is the production one): a poll is one GET with fixed headers and no
redirects, cookies or auth flows, and httpx's client layers around the transport would cost
more CPU than the transport itself (`bench/http_get.py`).

API keys travel only in the `x-api-key` header. Error text is built from ids, statuses and
shortened, redacted reasons, and exceptions are raised `from None`, so no key (not even one that
a server echoes back) reaches a message, a repr or a logged traceback.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from importlib.metadata import PackageNotFoundError, version
from typing import Final, NamedTuple, TypeVar

import httpx
from pydantic import BaseModel, SecretStr, ValidationError

from bot.capacity import CAPACITY
from bot.clock import utcnow
from bot.core.project_ids import canonical_project_id
from bot.errors import (
    ConfigError,
    InvalidProjectId,
    MissingApiKey,
    TunerBadResponse,
    TunerReportedError,
    TunerUnavailable,
)
from bot.fmt import one_line
from bot.key_shape import key_header
from bot.retry import Backoff, retry_after_seconds, server_now
from bot.tuner import failures
from bot.tuner.answers import check_answer as check_answer
from bot.tuner.answers import parse_state as parse_state
from bot.tuner.answers import read_state as read_state
from bot.tuner.answers import reason
from bot.tuner.answers import whole_state as whole_state
from bot.tuner.models import OptimizeStateResponse
from bot.tuner.piecewise import Pieces
from bot.tuner.transport import AiohttpTransport

log = logging.getLogger(__name__)

MAX_RESPONSE_BYTES = 32 * 1024 * 1024  # Edge Impulse's largest documents are ~9 MB
# A dead host should fail fast; a large tuner state needs time to arrive.
TIMEOUT = httpx.Timeout(20.0, connect=5.0)
T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)
_JOB_ID: Final = re.compile(r"(?<=/)\d+(?=/|$)|^\d+(?=/|$)")


class Answer(NamedTuple):
    """One request to Edge Impulse as an operator counts it (`bot.metrics`): the route as a
    template ("optimize/state", "optimize/{id}/state"; never a project id or key), the HTTP
    status ("no_answer" without one), and the body's bytes on the wire and decoded."""

    route: str
    status: str
    wire_bytes: int
    decoded_bytes: int


def route_template(path: str) -> str:
    """`fetch`'s path as a template: ids become `{id}`; "" (the project's info) is "project"."""
    return _JOB_ID.sub("{id}", path) if path else "project"


class _Counted(httpx.AsyncByteStream):
    """A response's body as it comes off the wire (before httpx decodes gzip), counted."""

    def __init__(self, stream: httpx.AsyncByteStream) -> None:
        self._stream = stream
        self.size = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._stream:
            self.size += len(chunk)
            yield chunk

    async def aclose(self) -> None:
        await self._stream.aclose()


def _user_agent() -> str:
    try:
        return f"eon-bot/{version('eon-bot')}"
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "eon-bot/0"


USER_AGENT: Final = _user_agent()


def default_transport() -> AiohttpTransport:
    """The production transport: a connection for each poll that may be under way
    (`bot.capacity`), kept alive between polls, over aiohttp's connections
    (`bot.tuner.transport`: cheaper per GET than httpx's own transport)."""
    return AiohttpTransport(max_connections=CAPACITY.connections)


def project_id_from(text: str) -> str:
    """The canonical project id (`core.project_ids`: `"0042"` → `"42"`), or `InvalidProjectId`,
    so nothing odd is ever put into a URL path."""
    canonical = canonical_project_id(text)
    if canonical is not None:
        return canonical
    if text.startswith("ei_"):
        # Someone pasted their API key where the id goes: say so without echoing it.
        raise InvalidProjectId("(text that looks like an API key, not shown)")
    raise InvalidProjectId(repr(one_line(text, 32)) if text else "(empty)")


class TunerClient:
    """Gets tuner states, retrying what may pass by itself (connection errors, timeouts, 429,
    5xx) a bounded number of times; refusals (401/403/404, other 4xx) and bodies it cannot
    read are raised at once, since asking again would get the same answer."""

    def __init__(
        self,
        transport: httpx.AsyncBaseTransport,
        *,
        base_url: str,
        api_key_for: Callable[[str], SecretStr | None],
        attempts: int = 3,
        backoff: float = 0.5,
        max_retry_after: float = 60.0,
        max_bytes: int = MAX_RESPONSE_BYTES,
        timeout: httpx.Timeout = TIMEOUT,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        observe: Callable[[Answer], None] | None = None,
    ) -> None:
        """`observe` is told of every request (`Answer`), each attempt of a retry too."""
        if attempts < 1:
            raise ValueError("attempts must be at least 1")
        try:
            url = httpx.URL(base_url)
        except httpx.InvalidURL:
            url = None
        if url is None or url.scheme not in ("http", "https") or not url.host:
            raise ConfigError(
                f"EI_API_URL must be an http(s) URL such as https://studio.edgeimpulse.com/v1, "
                f"not {one_line(base_url, 80)!r}"
            )
        self._transport = transport
        self._base_url = base_url.rstrip("/")
        self._api_key_for = api_key_for
        self._attempts = attempts
        self._backoff = Backoff(initial=backoff, cap=max_retry_after)
        self._max_bytes = max_bytes
        self._timeouts = timeout.as_dict()  # as an httpx request carries them to its transport
        self._sleep = sleep
        self._observe = observe

    def __repr__(self) -> str:
        return f"TunerClient(base_url={self._base_url!r}, attempts={self._attempts})"

    def key_digest(self, project_id: str) -> str | None:
        """A digest of the key a read of the project would use now (None: no key), to notice
        that it changed without keeping it (`bot.service.names`)."""
        key = self._api_key_for(project_id)
        return hashlib.sha256(key.get_secret_value().encode()).hexdigest() if key else None

    def _key(self, project_id: str) -> SecretStr:
        key = self._api_key_for(project_id)
        if key is None or not key.get_secret_value():
            raise MissingApiKey(project_id)
        return key

    async def get_state(self, project_id: str) -> OptimizeStateResponse:
        """The project's current tuner state, or a `TunerApiError` / `ConfigError` subclass."""
        project_id = project_id_from(project_id)
        body = await self.fetch(project_id)
        return read_state(project_id, body, whole_state, secret=self._key(project_id))

    def read(
        self,
        project_id: str,
        body: bytes,
        use: Callable[[Pieces], T],
        known: Mapping[str, str] | None = None,
    ) -> T:
        """`read_state` with the project's key as the secret to keep out of error text."""
        return read_state(project_id, body, use, secret=self._key(project_id), known=known)

    async def fetch_answer(self, project_id: str, path: str, model: type[M], what: str) -> M:
        """Another read under the project (`fetch`'s `path`) as `model`, an answer with a
        `success` flag; `what` names it in the error ("the runs list") when it is not one or
        says `success: false` (Edge Impulse's words are not quoted: nothing of the key echoed)."""
        body = await self.fetch(project_id, path)
        try:
            answer = model.model_validate_json(body)
        except ValidationError:
            what_not = f"{what} is not a {what.removeprefix('the ')}"  # "the runs list is not a …"
            raise TunerBadResponse(project_id, what_not, 200) from None
        if not getattr(answer, "success", False):
            raise TunerReportedError(project_id, f"{what} says success: false", 200)
        return answer

    async def fetch(self, project_id: str, path: str = "optimize/state") -> bytes:
        """The body of the project's 200 answer, unread (see `read`), retrying what may pass;
        a body over `max_bytes` (`EI_MAX_RESPONSE_MB`) is refused before it is all in memory.
        `path`: another read under `/api/{projectId}/` (`bot.tuner.runs`); "" the project's
        own info, `/api/{projectId}` (`bot.tuner.project_info`)."""
        project_id = project_id_from(project_id)
        key = self._key(project_id)
        url = f"{self._base_url}/api/{project_id}" + (f"/{path}" if path else "")
        headers = {
            "x-api-key": key_header(project_id, key),
            "Accept": "application/json",
            "Accept-Encoding": "gzip, deflate",
            "User-Agent": USER_AGENT,
        }
        for attempt in range(1, self._attempts + 1):
            asked: float | None = None
            try:
                status, response_headers, body, wire = await self._get(project_id, url, headers)
            except httpx.HTTPError as exc:
                self._told(path, "no_answer", 0, 0)
                failure = self._failure(project_id, exc, key)
            else:
                self._told(path, str(status), wire, len(body))
                try:
                    check_answer(project_id, status, body, secret=key, base_url=self._base_url)
                    return body
                except TunerUnavailable as exc:
                    failure = exc
                    now = server_now(response_headers.get("date"), fallback=utcnow)
                    asked = retry_after_seconds(response_headers.get("retry-after"), now=now)
            if attempt == self._attempts:
                break
            delay = self._backoff.wait(attempt, asked)
            # DEBUG: a failure that lasts is said once by the poller (`bot.conditions`)
            log.debug(
                "project %s: attempt %d of %d failed (%s); again in %.1fs",
                project_id,
                attempt,
                self._attempts,
                failure.reason,
                delay,
            )
            await self._sleep(delay)
        if self._attempts > 1:
            failure = TunerUnavailable(
                project_id, f"{failure.reason}; {self._attempts} attempts", failure.status
            )
        raise failure

    def _told(self, path: str, status: str, wire: int, decoded: int) -> None:
        if self._observe is not None:
            self._observe(Answer(route_template(path), status, wire, decoded))

    async def _get(
        self, project_id: str, url: str, headers: dict[str, str]
    ) -> tuple[int, httpx.Headers, bytes, int]:
        """One GET: its status, headers, body (read in chunks up to the cap, decompressed size,
        so a small compressed bomb is refused too) and the body's size on the wire."""
        request = httpx.Request("GET", url, headers=headers, extensions={"timeout": self._timeouts})
        response = await self._transport.handle_async_request(request)
        read_before = response.is_stream_consumed  # a test's response made with its content
        counted = _Counted(response.stream)  # type: ignore[arg-type]
        response.stream = counted
        try:
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > self._max_bytes:
                raise self._too_large(project_id, int(declared))
            chunks: list[bytes] = []
            size = 0
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > self._max_bytes:
                    raise self._too_large(project_id, None)
                chunks.append(chunk)
            body = b"".join(chunks)
            return (
                response.status_code,
                response.headers,
                body,
                size if read_before else counted.size,
            )
        finally:
            await response.aclose()  # the connection back to the pool, or closed if cut short

    def _failure(self, project_id: str, exc: httpx.HTTPError, key: SecretStr) -> TunerUnavailable:
        """The tuner's error for a request that got no answer (`bot.tuner.failures`): raised
        at once unless it may pass by itself (`TunerUnavailable`, returned to retry)."""
        where = f" at {one_line(self._base_url, 50)}"  # a closed port: which one
        error = failures.tuner_error(
            project_id, exc, hide=lambda text: reason(text, key), where=where
        )
        if not isinstance(error, TunerUnavailable):
            raise error from None
        return error

    def _too_large(self, project_id: str, size: int | None) -> TunerBadResponse:
        limit = f"{self._max_bytes / 1024 / 1024:.3g} MB"
        said = f"{size / 1024 / 1024:.1f} MB, over" if size is not None else "over"
        return TunerBadResponse(
            project_id,
            f"the answer is {said} the {limit} limit; raise EI_MAX_RESPONSE_MB "
            "if the project's tuner state is really that large",
        )

"""Fetches one project's EON Tuner state from Edge Impulse (or the simulator) over HTTP.

`parse_state` is the one place an HTTP answer becomes a state or a typed error (`errors.py`);
it never returns an empty state for an answer it did not understand, because the diff would
take that as "every trial disappeared". `TunerClient` adds the request, the API key and bounded
retries of transient failures. It sends its requests straight to an httpx transport, passed in
(tests give it an `httpx.MockTransport`; `default_transport()` is the production one): a poll
is one GET with fixed headers and no redirects, cookies or auth flows, and httpx's client layers
around the transport would cost more CPU than the transport itself (`bench/http_get.py`).

API keys travel only in the `x-api-key` header. Error text is built from ids, statuses and
shortened, redacted reasons, and exceptions are raised `from None`, so no key (not even one that
a server echoes back) reaches a message, a repr or a logged traceback.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from http import HTTPStatus
from importlib.metadata import PackageNotFoundError, version
from typing import Final, TypeVar

import httpx
from pydantic import BaseModel, SecretStr, ValidationError

from bot import collector
from bot.capacity import CAPACITY
from bot.clock import utcnow
from bot.core.project_ids import canonical_project_id
from bot.errors import (
    ConfigError,
    InvalidProjectId,
    MissingApiKey,
    NotEdgeImpulse,
    TunerAuthError,
    TunerBadResponse,
    TunerNotFound,
    TunerReportedError,
    TunerUnavailable,
)
from bot.fmt import one_line, redact
from bot.key_shape import key_header
from bot.retry import Backoff, retry_after_seconds, server_now
from bot.tuner import failures, piecewise
from bot.tuner.models import OptimizeStateResponse
from bot.tuner.piecewise import Pieces
from bot.tuner.transport import AiohttpTransport

log = logging.getLogger(__name__)

_REASON_LIMIT = 200
MAX_RESPONSE_BYTES = 32 * 1024 * 1024  # Edge Impulse's largest documents are ~9 MB
# A dead host should fail fast; a large tuner state needs time to arrive.
TIMEOUT = httpx.Timeout(20.0, connect=5.0)
T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)


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


def _reason(text: str, secret: SecretStr | None) -> str:
    hidden = redact(text, [secret.get_secret_value()]) if secret is not None else text
    return one_line(hidden, _REASON_LIMIT)


def _ei_error(body: bytes, *, only_if_failed: bool = False) -> str | None:
    """The `error` of an Edge Impulse JSON error body, if it has one (error paths only)."""
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        return None
    if not isinstance(document, dict) or (only_if_failed and document.get("success") is not False):
        return None
    error = document.get("error")
    return error if isinstance(error, str) and error.strip() else None


def _status_text(status_code: int) -> str:
    try:
        return f"HTTP {status_code} {HTTPStatus(status_code).phrase}"
    except ValueError:
        return f"HTTP {status_code}"


def _shape_problem(exc: ValidationError, body: bytes) -> str:
    """What was wrong with the body, in a few words: no dump of the document."""
    first = exc.errors(include_url=False, include_input=False, include_context=False)[0]
    if first["type"] == "json_invalid":
        stripped = body.lstrip()
        if not stripped:
            return "an empty body instead of JSON"
        if stripped[:1] == b"<":
            return "an HTML page instead of JSON (a proxy, login or error page?)"
        return f"not valid JSON ({first['msg'].removeprefix('Invalid JSON: ')})"
    where = ".".join(str(part) for part in first["loc"])
    more = exc.error_count() - 1
    also = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
    return f"unexpected shape: {where + ': ' if where else ''}{first['msg']}{also}"


def check_answer(
    project_id: str,
    status_code: int,
    body: bytes,
    *,
    secret: SecretStr | None = None,
    base_url: str = "(EI_API_URL)",
) -> None:
    """Raise the typed error an answer's status amounts to (nothing for a 200 that may be a
    state). `base_url` is named when the answer is not Edge Impulse's at all
    (`NotEdgeImpulse`)."""
    if status_code in (401, 403):
        raise TunerAuthError(project_id, status_code)
    alien = _not_an_api_answer(body)
    if alien is not None and status_code in (200, 404):
        raise NotEdgeImpulse(project_id, base_url, f"HTTP {status_code} with {alien}", status_code)
    if status_code == 404:
        raise TunerNotFound(project_id)
    if status_code != 200:
        said = _ei_error(body)
        reason = _status_text(status_code) + (f": {said}" if said else "")
        reason = _reason(reason, secret)
        if status_code == 429 or status_code >= 500:
            raise TunerUnavailable(project_id, reason, status_code)
        raise TunerBadResponse(project_id, reason, status_code)


def read_state(
    project_id: str,
    body: bytes,
    use: Callable[[Pieces], T],
    *,
    secret: SecretStr | None = None,
    known: Mapping[str, str] | None = None,
) -> T:
    """`use(pieces)` of a 200 answer's body, once it is known to be a successful state with a
    `trials` list; a body (or, inside `use`, a trial) not understood becomes the typed error.
    `known`: the ids of trials seen before, by fingerprint (`piecewise.read`). Pure CPU: the
    poller runs it in a worker thread."""
    try:
        with collector.paused_for(len(body)):
            pieces = piecewise.read(body, known)
            state = pieces.envelope
            if not state.success:
                told = state.error or "success: false, without an error message"
                raise TunerReportedError(project_id, _reason(told, secret), 200)
            if "trials" not in state.model_fields_set:
                raise TunerBadResponse(project_id, "no `trials` list in the state", 200)
            return use(pieces)
    except ValidationError as exc:
        said = _ei_error(body, only_if_failed=True)
        if said is not None:  # `success: false` with odd other fields: EI's words are the news
            raise TunerReportedError(project_id, _reason(said, secret), 200) from None
        reason = _reason(_shape_problem(exc, body), secret)
        raise TunerBadResponse(project_id, reason, 200) from None


def whole_state(pieces: Pieces) -> OptimizeStateResponse:
    """Every trial validated: the state as `OptimizeStateResponse.model_validate_json` reads it."""
    return pieces.state(pieces.trials(range(len(pieces.raw))))


def parse_state(
    project_id: str,
    status_code: int,
    body: bytes,
    *,
    secret: SecretStr | None = None,
    base_url: str = "(EI_API_URL)",
) -> OptimizeStateResponse:
    """The state in an HTTP answer, or the typed error it amounts to. `secret` is the key the
    request carried: it is cut out of any text quoted from the answer."""
    check_answer(project_id, status_code, body, secret=secret, base_url=base_url)
    return read_state(project_id, body, whole_state, secret=secret)


def _not_an_api_answer(body: bytes) -> str | None:
    """What the body is, if no JSON API would send it: Edge Impulse answers JSON, also its 404s,
    while a web server asked for a path it lacks answers a page or plain text."""
    stripped = body.lstrip()
    if not stripped:
        return "an empty body"
    if stripped[:1] == b"<":
        return "an HTML page"
    if stripped[:1] in (b"{", b"["):
        return None
    try:
        json.loads(stripped)
    except (ValueError, RecursionError):
        return "plain text"
    return None


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
    ) -> None:
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
                status, response_headers, body = await self._get(project_id, url, headers)
            except httpx.HTTPError as exc:
                failure = self._failure(project_id, exc, key)
            else:
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

    async def _get(
        self, project_id: str, url: str, headers: dict[str, str]
    ) -> tuple[int, httpx.Headers, bytes]:
        """One GET, its body read in chunks up to the cap (decompressed size, so a small
        compressed bomb is refused too)."""
        request = httpx.Request("GET", url, headers=headers, extensions={"timeout": self._timeouts})
        response = await self._transport.handle_async_request(request)
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
            return response.status_code, response.headers, b"".join(chunks)
        finally:
            await response.aclose()  # the connection back to the pool, or closed if cut short

    def _failure(self, project_id: str, exc: httpx.HTTPError, key: SecretStr) -> TunerUnavailable:
        """The tuner's error for a request that got no answer (`bot.tuner.failures`): raised
        at once unless it may pass by itself (`TunerUnavailable`, returned to retry)."""
        where = f" at {one_line(self._base_url, 50)}"  # a closed port: which one
        error = failures.tuner_error(
            project_id, exc, hide=lambda text: _reason(text, key), where=where
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

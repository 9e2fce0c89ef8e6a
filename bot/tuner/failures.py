"""A request to Edge Impulse that failed without an answer, as what it means: one table from
each cause straight to the tuner's own error (`bot.errors`) and the words it is told in.

The production transport (`bot.tuner.transport`) meets aiohttp's errors; it raises the httpx
error of the cause's row, so that httpx callers (the key check, the job calls) see what they
expect. The tuner client reads that httpx error back through the same table (`meaning_of`),
which is also what a test's `httpx.MockTransport`, or httpx's own gzip decoder, raises. So what
a refused, hung or cut-short connection amounts to is said once, here. Nothing from a request's
headers is kept in an error's text (aiohttp's text names the host, never a header), so no API
key.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

import aiohttp
import httpx

from bot.errors import ConfigError, TunerApiError, TunerBadResponse, TunerUnavailable
from bot.fmt import one_line

TIMED_OUT: Final = "timed out"
NO_CONNECTION: Final = "connection failed"
UNREADABLE: Final = "unreadable answer"


@dataclass(frozen=True, slots=True)
class Meaning:
    """`httpx`: the error httpx callers see; `words` and `tuner`: what the tuner client
    raises (`tuner` None: not Edge Impulse's fault but EI_API_URL's, a `ConfigError`)."""

    httpx: type[httpx.HTTPError]
    words: str
    tuner: type[TunerApiError] | None = TunerUnavailable


_WRONG_URL = Meaning(httpx.UnsupportedProtocol, "EI_API_URL must be an http(s) URL", None)

# The connection closed early, the body cut short or badly chunked, or no HTTP answer at all.
_BROKEN = (aiohttp.ServerDisconnectedError, aiohttp.ClientPayloadError, aiohttp.ClientResponseError)

FAILURES: Final[tuple[tuple[tuple[type[BaseException], ...], Meaning], ...]] = (
    # cause (aiohttp's error; none: only httpx raises it)   meaning; the first that fits wins
    ((aiohttp.ConnectionTimeoutError,), Meaning(httpx.ConnectTimeout, TIMED_OUT)),
    ((TimeoutError,), Meaning(httpx.ReadTimeout, TIMED_OUT)),  # aiohttp's socket timeouts too
    ((aiohttp.InvalidUrlClientError,), _WRONG_URL),
    ((aiohttp.ClientConnectorError,), Meaning(httpx.ConnectError, NO_CONNECTION)),  # DNS, TLS
    (_BROKEN, Meaning(httpx.RemoteProtocolError, NO_CONNECTION)),
    ((aiohttp.ClientOSError,), Meaning(httpx.ReadError, NO_CONNECTION)),
    ((), Meaning(httpx.TimeoutException, TIMED_OUT)),  # a write or pool timeout
    ((aiohttp.ClientError,), Meaning(httpx.TransportError, NO_CONNECTION)),
    ((), Meaning(httpx.HTTPError, UNREADABLE, TunerBadResponse)),  # e.g. gzip that is not
)

CAUSES: Final = (aiohttp.ClientError, TimeoutError)
"""What the transport catches: every cause in `FAILURES`."""


def as_httpx(cause: BaseException) -> httpx.HTTPError:
    """The httpx error for an aiohttp error (or a timeout), its text aiohttp's."""
    said = str(cause) or type(cause).__name__
    for causes, meaning in FAILURES:
        if isinstance(cause, causes):
            return meaning.httpx(said)
    return httpx.TransportError(said)


def meaning_of(error: httpx.HTTPError) -> Meaning:
    """What an httpx error raised by a transport means for the tuner client."""
    for _, meaning in FAILURES:
        if isinstance(error, meaning.httpx):
            return meaning
    return FAILURES[-1][1]  # unreachable: the last row's httpx.HTTPError is every one's base


def tuner_error(
    project_id: str, error: httpx.HTTPError, *, hide: Callable[[str], str], where: str = ""
) -> TunerApiError | ConfigError:
    """The error a request to Edge Impulse that got no answer amounts to, for every tuner
    call: "timed out: ReadTimeout: …" and the like, through `hide` (which cuts the API key
    out of the text); `where` (the URL tried) is named when it may pass by itself."""
    meaning = meaning_of(error)
    if meaning.tuner is None:
        return ConfigError(meaning.words)
    # aiohttp's own words whole (a closed port's run past 80 characters; cut there they
    # stopped mid-address); the caller keeps `where` short enough that neither is cut.
    said = one_line(str(error), 110)
    reason = f"{meaning.words}: {type(error).__name__}" + (f": {said}" if said else "")
    if meaning.tuner is TunerUnavailable:
        reason += where
    return meaning.tuner(project_id, hide(reason))

"""What an HTTP answer from Edge Impulse is: a tuner state, or the typed error (`bot.errors`) it
amounts to. `parse_state` is the one place an answer becomes a state; it never returns an empty
state for an answer it did not understand, because the diff would take that as "every trial
disappeared". Error text is built from statuses and shortened, redacted reasons: no key (not
even one a server echoes back) reaches a message.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from http import HTTPStatus
from typing import TypeVar

from pydantic import SecretStr, ValidationError

from bot import collector
from bot.errors import (
    NotEdgeImpulse,
    TunerAuthError,
    TunerBadResponse,
    TunerNotFound,
    TunerReportedError,
    TunerUnavailable,
)
from bot.fmt import one_line, redact
from bot.tuner import piecewise
from bot.tuner.models import OptimizeStateResponse
from bot.tuner.piecewise import Pieces

REASON_LIMIT = 200
T = TypeVar("T")


def reason(text: str, secret: SecretStr | None) -> str:
    hidden = redact(text, [secret.get_secret_value()]) if secret is not None else text
    return one_line(hidden, REASON_LIMIT)


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
        why = reason(_status_text(status_code) + (f": {said}" if said else ""), secret)
        if status_code == 429 or status_code >= 500:
            raise TunerUnavailable(project_id, why, status_code)
        raise TunerBadResponse(project_id, why, status_code)


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
                raise TunerReportedError(project_id, reason(told, secret), 200)
            if "trials" not in state.model_fields_set:
                raise TunerBadResponse(project_id, "no `trials` list in the state", 200)
            return use(pieces)
    except ValidationError as exc:
        said = _ei_error(body, only_if_failed=True)
        if said is not None:  # `success: false` with odd other fields: EI's words are the news
            raise TunerReportedError(project_id, reason(said, secret), 200) from None
        raise TunerBadResponse(project_id, reason(_shape_problem(exc, body), secret), 200) from None


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

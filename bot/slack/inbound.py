"""What comes in at `POST /slack/events`, judged before bolt sees it: verified, then read.

Verify, then parse (as Stripe's and GitHub's webhook libraries do): the signature and the
timestamp are checked on the raw bytes with slack_sdk's `SignatureVerifier` before anything
reads the body as a form or JSON, so a forged or replayed request is never parsed, never
reaches bolt (whose own check would log its whole body, an Edge Impulse key in a key form's
submission included) and never meets a parser's traceback. A verified body is then read the
way bolt will read it (`parse_body`, with the `payload` trap of `bot.slack.web`) and checked
for the shape bolt's internals and the listeners take for granted (`SHAPE`), so a signed but
broken request is a 400, not a 500 from deep inside bolt.

Every refusal is a `Refusal`: its HTTP status (401 unverified, 413 too large, 400 unusable),
its cause (one log line per cause, `bot.conditions.Refusals`) and what to do about it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import NoneType
from typing import Any, Final
from urllib.parse import parse_qsl

from slack_bolt.request.internals import parse_body
from slack_sdk.signature import Clock, SignatureVerifier

# Slack's largest request to this app is a modal's `view_submission`: the whole view (up to 100
# blocks of up to 3,000 characters) and its state, JSON inside a form field, so escaped twice;
# well under 1 MiB. Anything larger is not Slack's, and is refused before it is read whole.
MAX_BODY_BYTES: Final = 1024 * 1024
MAX_SKEW_S: Final = 300  # Slack's own rule: a request more than 5 minutes old is refused
_STAMP_DIGITS: Final = 12  # a Unix time in seconds, with room to spare; longer is not one


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a request is refused: `status` for the answer, `cause` the kind (one log line per
    kind), `detail` what was wrong with this one, never any of its body."""

    status: int
    cause: str
    detail: str

    @property
    def said(self) -> str:
        """The log line: what, why and the fix."""
        return (
            f"refused a request to /slack/events (HTTP {self.status}, {self.cause}): "
            f"{self.detail}; {FIXES[self.cause]}"
        )


UNSIGNED: Final = "unsigned"
STALE: Final = "stale timestamp"
BAD_SIGNATURE: Final = "bad signature"
TOO_LARGE: Final = "too large"
MALFORMED: Final = "malformed"
NO_SECRET: Final = "no signing secret"

FIXES: Final[Mapping[str, str]] = {
    UNSIGNED: "Slack signs every request, so this one is not Slack's (a scanner, a probe)",
    STALE: "check this machine's clock (NTP): Slack's requests are refused when it is more "
    "than 5 minutes off; a replayed or long-delayed request looks the same",
    BAD_SIGNATURE: "if Slack's own requests are refused, SLACK_SIGNING_SECRET is not the app's "
    "Signing Secret (api.slack.com/apps → Basic Information); else the request is forged",
    TOO_LARGE: "Slack's requests are far smaller, so this one is not Slack's",
    NO_SECRET: "in Socket Mode Slack sends nothing over HTTP; for HTTP mode set "
    "SLACK_SIGNING_SECRET to the app's Signing Secret",
    MALFORMED: "it was signed with the signing secret, but is not a request Slack sends; "
    "if it keeps happening, something else holds SLACK_SIGNING_SECRET",
}


def too_large(size: int | None) -> Refusal | None:
    """A body over `MAX_BODY_BYTES` (said by Content-Length, or found while reading)."""
    if size is None or size <= MAX_BODY_BYTES:
        return None
    return Refusal(413, TOO_LARGE, f"{size:,} bytes, the limit is {MAX_BODY_BYTES:,}")


def verify(
    raw: bytes, headers: Mapping[str, str], secret: str | None, clock: Clock | None = None
) -> Refusal | None:
    """None if Slack signed `raw` just now with `secret`; else why not. Reads the two headers
    and hashes the bytes; nothing of the body is interpreted. Without a secret (Socket Mode)
    nothing can be verified, so nothing is taken."""
    if not secret:
        return Refusal(401, NO_SECRET, "SLACK_SIGNING_SECRET is not set")
    stamp = headers.get("X-Slack-Request-Timestamp")
    signature = headers.get("X-Slack-Signature")
    if not stamp or not signature:
        missing = [name for name, v in (("timestamp", stamp), ("signature", signature)) if not v]
        return Refusal(401, UNSIGNED, f"no {' and no '.join(missing)} header")
    if not (stamp.isascii() and stamp.isdigit() and len(stamp) <= _STAMP_DIGITS):
        return Refusal(401, STALE, "the timestamp is not a Unix time in seconds")
    verifier = SignatureVerifier(secret, clock or Clock())
    skew = verifier.clock.now() - int(stamp)
    if abs(skew) > MAX_SKEW_S:
        return Refusal(401, STALE, f"its timestamp is {abs(skew):,.0f} s off this machine's clock")
    try:  # Slack signs UTF-8 text: other bytes cannot carry its signature
        valid = verifier.is_valid(raw.decode("utf-8"), stamp, signature)
    except UnicodeDecodeError:
        valid = False
    if not valid:
        return Refusal(401, BAD_SIGNATURE, "the signature does not match the body")
    return None


def read(raw: bytes, content_type: str | None) -> dict[str, Any] | Refusal:
    """A verified body as bolt will see it, or why bolt could not use it."""
    try:
        text = raw.decode("utf-8")
        body = parse_body(text, content_type)
    except (ValueError, RecursionError):  # not UTF-8, not JSON (JSONDecodeError is one)
        return Refusal(400, MALFORMED, "the body is not a form or JSON that can be read")
    if not isinstance(body, dict):
        return Refusal(400, MALFORMED, f"the body is a JSON {type(body).__name__}, not an object")
    if "payload" in text and not text.lstrip().startswith("{"):
        form = dict(parse_qsl(text, keep_blank_values=True))
        if "payload" not in form:  # `/eon watch payload`: a plain form (see bot.slack.web)
            body = form
    problem = shape_problem(body)
    if problem is not None:
        return Refusal(400, MALFORMED, problem)
    return body


# --- the shape bolt and the listeners take for granted ----------------------------------------
#
# A field's spec is a tuple of what it may be: a type, or a nested shape (a dict of fields), or
# a one-item list (a list of such). Fields not named may be anything: nothing reads them
# blindly. bolt reads the same names at several depths (an event's `user`, an authorization's
# `team`), so `_PARTIES` recurs.

Spec = tuple[Any, ...]
_TEXT: Final[Spec] = (str, NoneType)
_ID_OBJECT: Final[Mapping[str, Spec]] = {"id": _TEXT, "team_id": _TEXT, "enterprise_id": _TEXT}
_PARTIES: Final[Mapping[str, Spec]] = {
    "user": (str, _ID_OBJECT, NoneType),
    "team": (str, _ID_OBJECT, NoneType),
    "channel": (str, _ID_OBJECT, NoneType),
    "enterprise": (str, _ID_OBJECT, NoneType),
    "user_id": _TEXT,
    "team_id": _TEXT,
    "channel_id": _TEXT,
    "enterprise_id": _TEXT,
    "user_team": _TEXT,
    "thread_ts": _TEXT,
    "function_execution_id": _TEXT,
    "bot_access_token": _TEXT,
}
_MESSAGE: Final[Mapping[str, Spec]] = {**_PARTIES, "type": _TEXT, "subtype": _TEXT}
_EVENT: Final[Mapping[str, Spec]] = {
    **_MESSAGE,
    "tab": _TEXT,
    "bot_id": _TEXT,
    "callback_id": _TEXT,
    "channel_type": _TEXT,
    "message": (_MESSAGE, NoneType),
    "previous_message": (_MESSAGE, NoneType),
    "item": (_MESSAGE, NoneType),
    "assistant_thread": (_MESSAGE, NoneType),
    "workflow_step": (dict, NoneType),
}
_VIEW: Final[Mapping[str, Spec]] = {
    "type": _TEXT,
    "callback_id": _TEXT,
    "private_metadata": _TEXT,
    "app_installed_team_id": _TEXT,
    "team_id": _TEXT,
    "state": ({"values": ({str: ({str: (dict,)},)},)},),
}
_ACTION: Final[Mapping[str, Spec]] = {
    "type": _TEXT,
    "action_id": _TEXT,
    "block_id": _TEXT,
    "callback_id": _TEXT,
    "name": _TEXT,
    "value": _TEXT,
}
SHAPE: Final[Mapping[str, Spec]] = {
    **_PARTIES,
    # an interactivity payload's actor and place are objects (an event's are ids, `_EVENT`)
    "user": (_ID_OBJECT, NoneType),
    "channel": (_ID_OBJECT, NoneType),
    "type": (str,),
    "command": (str,),
    "text": (str,),
    "callback_id": (str,),
    "trigger_id": (str,),
    "response_url": (str,),
    "api_app_id": (str,),
    "token": (str,),
    "challenge": (str,),
    "ssl_check": (str,),
    "event": (_EVENT,),
    "view": (_VIEW,),
    "actions": ([_ACTION],),
    "authorizations": ([_PARTIES],),
    "response_urls": ([{"response_url": _TEXT}],),
    "container": ({"message_ts": _TEXT, "channel_id": _TEXT, "type": _TEXT},),
    "message": (_MESSAGE,),
    "function_data": ({"execution_id": _TEXT, "inputs": (dict, NoneType)},),
    "workflow_step": (dict,),
}


def shape_problem(body: Mapping[str, Any]) -> str | None:
    """None if `body` has `SHAPE`; else where it differs (field names only, never values)."""
    problem = _problem(body, (SHAPE,), "")
    if problem is None and body.get("type") == "block_actions":
        # bolt reads the first action's id to match a listener (`actions[0]["action_id"]`)
        actions = body.get("actions")
        if not actions or not isinstance(actions[0].get("action_id"), str):
            problem = "a block_actions payload without an action id"
    return problem


def _problem(value: Any, spec: Spec, where: str) -> str | None:
    for kind in spec:
        if isinstance(kind, list):
            if isinstance(value, list):
                items = (_problem(v, (kind[0],), f"{where}[{i}]") for i, v in enumerate(value))
                return next((p for p in items if p), None)
        elif isinstance(kind, Mapping):
            if isinstance(value, dict):
                return _fields(value, kind, where)
        elif isinstance(value, kind) and not (kind is int and isinstance(value, bool)):
            return None
    said = " or ".join(_kind_name(k) for k in spec)
    return f"{where or 'the body'} is {_kind(value)}, not {said}"


def _fields(value: Mapping[Any, Any], shape: Mapping[Any, Spec], where: str) -> str | None:
    if str in shape:  # a mapping of any keys, each value of one spec (a view's state values)
        each = shape[str]
        items = (_problem(v, each, _at(where, _name(k))) for k, v in value.items())
        return next((p for p in items if p), None)
    for name, spec in shape.items():
        if name in value and (problem := _problem(value[name], spec, _at(where, name))):
            return problem
    return None


def _at(where: str, name: str) -> str:
    return f"{where}.{name}" if where else name


def _name(key: Any) -> str:
    text = str(key)
    return text if len(text) <= 40 and text.isprintable() else "…"


_JSON_NAMES: Final[Mapping[type, str]] = {
    dict: "an object",
    list: "a list",
    str: "a string",
    bool: "a boolean",
    int: "a number",
    float: "a number",
    NoneType: "null",
}


def _kind(value: Any) -> str:
    return _JSON_NAMES.get(type(value), "a value")


def _kind_name(kind: Any) -> str:
    if isinstance(kind, list):
        return "a list of objects"
    return "an object" if isinstance(kind, Mapping) else _JSON_NAMES.get(kind, "a value")

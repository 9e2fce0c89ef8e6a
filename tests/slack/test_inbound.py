"""`bot.slack.inbound`: what `POST /slack/events` refuses before bolt, and why. The real app
over real HTTP is attacked in tests/e2e/test_slack_door.py; here, the rules one by one."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any
from urllib.parse import urlencode

import pytest
from hypothesis import given
from hypothesis import strategies as st
from slack_sdk.signature import Clock

from bot.slack.inbound import (
    BAD_SIGNATURE,
    FIXES,
    MALFORMED,
    MAX_BODY_BYTES,
    NO_SECRET,
    STALE,
    TOO_LARGE,
    UNSIGNED,
    Refusal,
    read,
    shape_problem,
    too_large,
    verify,
)

SECRET = "inbound-signing-secret"
NOW = 1_800_000_000


class Fixed(Clock):
    def now(self) -> float:
        return float(NOW)


def signed(body: bytes, *, stamp: int = NOW, secret: str = SECRET) -> dict[str, str]:
    base = b"v0:" + str(stamp).encode() + b":" + body
    digest = hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": str(stamp), "X-Slack-Signature": f"v0={digest}"}


BODY = b"command=%2Feon&text=help"


@pytest.mark.parametrize(
    ("headers", "secret", "cause"),
    [
        (signed(BODY), SECRET, None),
        ({}, SECRET, UNSIGNED),
        ({"X-Slack-Signature": signed(BODY)["X-Slack-Signature"]}, SECRET, UNSIGNED),
        ({"X-Slack-Request-Timestamp": str(NOW)}, SECRET, UNSIGNED),
        (signed(BODY, stamp=NOW - 301), SECRET, STALE),
        (signed(BODY, stamp=NOW + 301), SECRET, STALE),
        (signed(BODY, stamp=NOW - 299), SECRET, None),
        (signed(BODY, stamp=NOW - 300), SECRET, None),  # 5 minutes is not more than 5 minutes
        (signed(BODY, stamp=NOW + 300), SECRET, None),
        (signed(BODY) | {"X-Slack-Request-Timestamp": "1e9"}, SECRET, STALE),
        (signed(BODY) | {"X-Slack-Request-Timestamp": "9" * 400}, SECRET, STALE),
        (signed(BODY) | {"X-Slack-Request-Timestamp": "１８"}, SECRET, STALE),
        (signed(BODY, secret="an-old-secret"), SECRET, BAD_SIGNATURE),
        (signed(BODY + b"&"), SECRET, BAD_SIGNATURE),
        (signed(BODY) | {"X-Slack-Signature": "v0=0"}, SECRET, BAD_SIGNATURE),
        (signed(BODY), None, NO_SECRET),
    ],
)
def test_verify_names_the_cause(headers: dict[str, str], secret: str | None, cause: str) -> None:
    refusal = verify(BODY, headers, secret, Fixed())
    assert (refusal.cause if refusal else None) == cause
    assert refusal is None or refusal.status == 401


def test_bytes_that_are_not_utf8_cannot_carry_slacks_signature() -> None:
    body = b"payload=\xff"
    refusal = verify(body, signed(body), SECRET, Fixed())
    assert refusal is not None and refusal.cause == BAD_SIGNATURE


def test_too_large_is_past_the_limit_only() -> None:
    assert too_large(None) is None and too_large(MAX_BODY_BYTES) is None
    refusal = too_large(MAX_BODY_BYTES + 1)
    assert refusal is not None and (refusal.status, refusal.cause) == (413, TOO_LARGE)


def form(payload: Any) -> bytes:
    return urlencode({"payload": json.dumps(payload)}).encode()


@pytest.mark.parametrize(
    ("raw", "content_type", "problem"),
    [
        (b"payload=x", None, "not a form or JSON"),
        (form([1]), None, "a JSON list, not an object"),
        (b"[]", "application/json", "the body is a JSON list"),
        (b"{", None, "not a form or JSON"),
        (b'{"type": "event_callback", "event": 5}', None, "event is a number"),
        (form({"type": "block_actions", "actions": 5}), None, "actions is a number"),
        (form({"type": "block_actions", "actions": []}), None, "without an action id"),
        (form({"type": "block_actions", "actions": [{}]}), None, "without an action id"),
        (form({"type": "block_actions", "actions": [1]}), None, "actions[0] is a number"),
        (form({"type": "view_submission", "view": 5}), None, "view is a number"),
        (form({"type": "view_submission", "view": {"state": None}}), None, "view.state is null"),
        (form({"type": ["x"]}), None, "type is a list"),
        (form({"user": {"id": {}}}), None, "user.id is an object"),
        (
            form({"type": "block_actions", "user": "U1", "actions": [{"action_id": "a"}]}),
            None,
            "user is a string",
        ),
        (b'{"authorizations": ["x"]}', None, "authorizations[0] is a string"),
    ],
)
def test_a_verified_body_bolt_cannot_use_is_malformed(
    raw: bytes, content_type: str | None, problem: str
) -> None:
    refused = read(raw, content_type)
    assert isinstance(refused, Refusal) and (refused.status, refused.cause) == (400, MALFORMED)
    assert problem in refused.detail


@pytest.mark.parametrize(
    ("raw", "content_type", "wanted"),
    [
        (b"", None, {}),
        (BODY, "application/x-www-form-urlencoded", {"command": "/eon", "text": "help"}),
        (b"command=%2Feon&text=watch+payload", None, {"command": "/eon", "text": "watch payload"}),
        (b'{"type": "url_verification", "challenge": "c"}', None, None),
        (
            form({"type": "block_actions", "actions": [{"action_id": "a", "value": "1"}]}),
            None,
            None,
        ),
        (b'{"type": "event_callback", "event": {"type": "app_home_opened"}}', None, None),
    ],
)
def test_what_slack_sends_is_read_as_bolt_reads_it(
    raw: bytes, content_type: str | None, wanted: dict[str, str] | None
) -> None:
    body = read(raw, content_type)
    assert isinstance(body, dict), body
    if wanted is not None:
        assert body == wanted


NAMES = ["type", "event", "view", "actions", "user", "state", "values", "authorizations", "id"]
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(st.sampled_from(NAMES) | st.text(max_size=4), inner, max_size=4),
    max_leaves=20,
)  # fmt: skip


@given(raw=st.binary(max_size=300) | JSON_VALUES.map(lambda v: form(v)), ctype=st.sampled_from(
    [None, "application/json", "text/plain"]))  # fmt: skip
def test_reading_never_raises(raw: bytes, ctype: str | None) -> None:
    assert isinstance(read(raw, ctype), dict | Refusal)


@given(JSON_VALUES.filter(lambda v: isinstance(v, dict)))
def test_the_shape_rule_never_raises(body: dict[str, Any]) -> None:
    problem = shape_problem(body)
    assert problem is None or " is " in problem or "without an action id" in problem


@pytest.mark.parametrize(
    ("headers", "secret", "detail"),
    [
        (signed(BODY), None, "SLACK_SIGNING_SECRET is not set"),
        ({}, SECRET, "no timestamp and no signature header"),
        ({"X-Slack-Signature": "v0=1"}, SECRET, "no timestamp header"),
        ({"X-Slack-Request-Timestamp": str(NOW)}, SECRET, "no signature header"),
        (signed(BODY) | {"X-Slack-Request-Timestamp": "1e9"}, SECRET,
         "the timestamp is not a Unix time in seconds"),
        (signed(BODY, stamp=NOW - 3_601), SECRET,
         "its timestamp is 3,601 s off this machine's clock"),
        (signed(BODY, stamp=NOW + 400), SECRET, "its timestamp is 400 s off this machine's clock"),
        (signed(BODY) | {"X-Slack-Request-Timestamp": "9" * 12}, SECRET,
         "its timestamp is 998,199,999,999 s off this machine's clock"),
        (signed(BODY) | {"X-Slack-Request-Timestamp": "9" * 13}, SECRET,
         "the timestamp is not a Unix time in seconds"),
        (signed(BODY, secret="an-old-secret"), SECRET, "the signature does not match the body"),
    ],
)  # fmt: skip
def test_a_refusal_says_what_was_wrong_with_the_request(
    headers: dict[str, str], secret: str | None, detail: str
) -> None:
    """The log line names the cause, what was wrong with this request and the fix; never
    anything of its body."""
    refusal = verify(BODY, headers, secret, Fixed())
    assert refusal is not None and refusal.detail == detail
    assert refusal.said == (
        f"refused a request to /slack/events (HTTP 401, {refusal.cause}): {detail}; "
        f"{FIXES[refusal.cause]}"
    )


def test_a_body_too_large_says_its_size_and_the_limit() -> None:
    refusal = too_large(MAX_BODY_BYTES + 1)
    assert refusal is not None
    assert refusal.detail == "1,048,577 bytes, the limit is 1,048,576"
    assert refusal.said.startswith("refused a request to /slack/events (HTTP 413, too large): ")


@pytest.mark.parametrize(
    ("key", "shown"),
    [("block-1", "block-1"), ("b" * 40, "b" * 40), ("b" * 41, "…"), ("bad\nkey", "…")],
)
def test_a_problem_in_a_views_state_names_the_block_unless_its_key_is_unfit_to_show(
    key: str, shown: str
) -> None:
    """A view's state is keyed by block ids the app chose; one too long or with control
    characters is not repeated in the log."""
    body = {"view": {"state": {"values": {key: {"action": 5}}}}}
    assert shape_problem(body) == f"view.state.values.{shown}.action is a number, not an object"


def test_a_body_that_cannot_be_read_says_so() -> None:
    refused = read(b"\xff", None)
    assert isinstance(refused, Refusal)
    assert refused.detail == "the body is not a form or JSON that can be read"


@pytest.mark.parametrize(
    ("raw", "content_type", "wanted"),
    [
        # JSON that mentions payload is JSON (an event's text), with or without leading space
        (b'{"event": {"text": "payload"}}', None, {"event": {"text": "payload"}}),
        (b' {"event": {"text": "payload"}}', "application/json", {"event": {"text": "payload"}}),
        # a form mentioning payload keeps its blank fields, as bolt keeps any form's
        (b"command=%2Feon&text=&channel_name=payload-team", None,
         {"command": "/eon", "text": "", "channel_name": "payload-team"}),
    ],
)  # fmt: skip
def test_a_body_mentioning_payload_is_read_as_what_it_is(
    raw: bytes, content_type: str | None, wanted: dict[str, Any]
) -> None:
    assert read(raw, content_type) == wanted


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ({"event": 5}, "event is a number, not an object"),
        ({"type": ["x"]}, "type is a list, not a string"),
        ({"user": {"id": {}}}, "user.id is an object, not a string or null"),
        ({"actions": [1]}, "actions[0] is a number, not an object"),
        ({"type": "block_actions", "actions": []}, "a block_actions payload without an action id"),
        ({"view": {"state": {"values": {"b": {"a": {"value": "x"}}}}}}, None),
    ],
)
def test_the_shape_rule_says_where_and_what_in_one_line(
    body: dict[str, Any], problem: str | None
) -> None:
    assert shape_problem(body) == problem

"""`piecewise.read` against the standard library's and pydantic's reading of the same bytes.

The reader splits a document with msgspec; `json.loads` and `model_validate_json` are the
oracles: every trial's bytes must be exactly that trial's text in the body, parse to what
`json.loads` finds there, and the validated whole must equal pydantic's reading of the body,
however the document is laid out (compact, indented, non-ASCII, repeated keys).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from bot.tuner import piecewise
from bot.tuner.client import whole_state
from bot.tuner.models import OptimizeStateResponse
from tests.factories import trial

STATUSES = ["pending", "running", "completed", "failed"]
LAYOUTS: list[dict[str, Any]] = [
    {},  # json.dumps' default: ", " and ": "
    {"separators": (",", ":")},  # compact, as Edge Impulse sends it
    {"indent": 2},
    {"indent": "\t", "ensure_ascii": False},
    {"ensure_ascii": False, "separators": (",", ":")},
]


@st.composite
def documents(draw: st.DrawFn) -> dict[str, Any]:
    count = draw(st.integers(0, 6))
    names = st.text(min_size=1, max_size=12)  # any Unicode, quotes and escapes included
    trials = [
        trial(
            f"t{i}",
            draw(st.sampled_from(STATUSES)),
            name=draw(names),
            accuracy=draw(st.none() | st.floats(0, 1)),
            latency=draw(st.none() | st.floats(0, 1e4)),
        )
        for i in range(count)
    ]
    return {
        "success": True,
        "tunerJobId": draw(st.integers(1, 10**6)),
        "tunerJobIsRunning": draw(st.booleans()),
        "config": {"name": draw(names), "maxTotalTrainingTime": 3600},
        "trials": trials,
    }


@settings(max_examples=80, deadline=None)
@given(document=documents(), layout=st.sampled_from(LAYOUTS))
def test_pieces_are_the_documents_own_trials_whatever_its_layout(
    document: dict[str, Any], layout: dict[str, Any]
) -> None:
    body = json.dumps(document, **layout).encode()
    pieces = piecewise.read(body)
    assert whole_state(pieces) == OptimizeStateResponse.model_validate_json(body)
    assert pieces.ids == [t["id"] for t in document["trials"]]
    for raw, fingerprint, expected in zip(
        pieces.raw, pieces.fingerprints, document["trials"], strict=True
    ):
        text = bytes(raw)
        assert text in body  # the exact bytes, layout and escapes as sent
        assert json.loads(text) == expected
        assert fingerprint == hashlib.sha1(text).digest()[:8].hex()


def test_a_trial_changes_its_fingerprint_and_only_its_own() -> None:
    trials = [trial(str(i), "running") for i in range(3)]
    before = piecewise.read(json.dumps({"success": True, "trials": trials}).encode())
    trials[1] = trial("1", "completed", accuracy=0.9)
    after = piecewise.read(json.dumps({"success": True, "trials": trials}).encode())
    same = [a == b for a, b in zip(before.fingerprints, after.fingerprints, strict=True)]
    assert same == [True, False, True]


@settings(max_examples=60, deadline=None)
@given(before=documents(), after=documents(), layout=st.sampled_from(LAYOUTS))
def test_ids_known_by_fingerprint_are_the_ids_a_whole_read_finds(
    before: dict[str, Any], after: dict[str, Any], layout: dict[str, Any]
) -> None:
    """The next poll reads the ids of new bytes only: whatever changed, reordered, came or
    went between two documents, the ids are those of reading every trial's (the oracle)."""
    after = {**after, "trials": [*before["trials"][::-1], *after["trials"]]}  # some seen before
    first = piecewise.read(json.dumps(before, **layout).encode())
    known = dict(zip(first.fingerprints, first.ids, strict=True))
    body = json.dumps(after, **layout).encode()
    assert piecewise.read(body, known).ids == piecewise.read(body).ids


def test_a_trial_whose_bytes_were_seen_keeps_its_id_unread() -> None:
    trials = [trial("a", "running"), trial("b", "running")]
    whole = piecewise.read(json.dumps({"success": True, "trials": trials}).encode())
    known = {whole.fingerprints[0]: "as stored"}  # the same bytes: their id is not read again
    again = piecewise.read(json.dumps({"success": True, "trials": trials}).encode(), known)
    assert again.ids == ["as stored", "b"]


def test_a_repeated_key_counts_once_the_last_time_as_json_loads_reads_it() -> None:
    body = b'{"success": true, "trials": [{"id": "x"}], "trials": []}'
    assert json.loads(body)["trials"] == []
    assert piecewise.read(body).ids == []


@pytest.mark.parametrize(
    "body",
    [
        b'{"success": true, "trials": null}',
        b'{"success": true, "trials": "many"}',
        b'{"success": true, "trials": [1, 2]}',  # trials that are not objects
        b'[{"success": true}]',  # not an object
        b'{"success": true, "trials": [',  # cut short
        b'{"success": true, "name": "\xff", "trials": []}',  # not UTF-8
    ],
)
def test_what_is_not_an_object_with_a_trials_list_fails_as_pydantic_says(body: bytes) -> None:
    """The same ValidationError as reading the body whole (its first problem, its count)."""
    with pytest.raises(ValidationError) as whole:
        OptimizeStateResponse.model_validate_json(body)
    with pytest.raises(ValidationError) as split:
        whole_state(piecewise.read(body))
    assert split.value.errors(include_url=False) == whole.value.errors(include_url=False)

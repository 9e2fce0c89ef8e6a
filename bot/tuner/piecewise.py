"""A state document read trial by trial, with a fingerprint per trial (pure).

`pydantic`'s `model_validate_json` and `json.loads` each read a whole document in one C call
that keeps the GIL: 0.2-0.6 s for a 2,000-trial document (8.7 MB), during which no other
thread runs. Here the top-level object is walked in Python with the standard library's C
scanner taking one value (one trial) per call, so a worker thread reading a large document
yields the GIL between trials and the event loop keeps answering `/eon` commands
(`sys.getswitchinterval()`, 5 ms, bounds each wait).

Each trial's exact text gets a fingerprint, so a poll can validate only the trials that
changed since the last one (`bot.core.increment`); `body_digest` tells an unchanged document
from a changed one without reading it at all.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from bot.tuner.models import OptimizeStateResponse, TunerTrial

_SCAN: Callable[[str, int], tuple[Any, int]] = json.JSONDecoder().scan_once  # type: ignore[attr-defined]
_STRING: Callable[[str, int], tuple[str, int]] = json.decoder.scanstring  # type: ignore[attr-defined]
_SPACE = re.compile(r"[ \t\n\r]*")


def body_digest(body: bytes) -> str:
    """A fingerprint of the exact bytes: 128 bits of SHA-256, which OpenSSL computes with the
    CPU's SHA instructions where it has them (x86 SHA-NI, ARMv8): 32 µs for a 55 KB document
    here, BLAKE2b 81 µs. Every poll pays it, the unchanged ones included; hashlib releases the
    GIL as it hashes."""
    return hashlib.sha256(body).digest()[:16].hex()


def _fingerprint(data: bytes | memoryview) -> str:
    """64 bits of SHA-1: a per-trial change detector, and SHA-1 is the cheapest hashlib has."""
    return hashlib.sha1(data).digest()[:8].hex()


class NotPiecewise(Exception):
    """Not a JSON object this reader walks (invalid JSON, not UTF-8, ...): read it whole."""


def _skip(text: str, at: int) -> int:
    found = _SPACE.match(text, at)
    assert found is not None  # `*` always matches
    return found.end()


def _expect(text: str, at: int, char: str) -> int:
    if text[at : at + 1] != char:
        raise NotPiecewise(f"{char!r} expected at {at}")
    return at + 1


def _value(text: str, at: int) -> tuple[Any, int]:
    try:
        value, end = _SCAN(text, at)
    except (StopIteration, ValueError):  # ValueError: JSONDecodeError inside the value
        raise NotPiecewise(f"no JSON value at {at}") from None
    return value, end


def _items(text: str, at: int) -> tuple[list[tuple[Any, int, int]], int]:
    """(element, start, end) of each element of the array opening at `at`."""
    at = _skip(text, _expect(text, at, "["))
    items: list[tuple[Any, int, int]] = []
    if text.startswith("]", at):
        return items, at + 1
    while True:
        item, end = _value(text, at)
        items.append((item, at, end))
        if text.startswith(",", end) and not text[end + 1 : end + 2].isspace():
            at = end + 1  # compact JSON, as Edge Impulse sends it: no whitespace to skip
            continue
        at = _skip(text, end)
        if text.startswith("]", at):
            return items, at + 1
        at = _skip(text, _expect(text, at, ","))


def _split(text: str) -> tuple[dict[str, Any], list[tuple[Any, int, int]] | None]:
    """(every top-level field but a `trials` list, that list's elements with their spans)."""
    at = _skip(text, _expect(text, _skip(text, 0), "{"))
    envelope: dict[str, Any] = {}
    trials: list[tuple[Any, int, int]] | None = None
    if text[at : at + 1] == "}":
        at += 1
    else:
        while True:
            try:
                key, at = _STRING(text, _expect(text, at, '"'))
            except ValueError:
                raise NotPiecewise("bad key") from None
            at = _skip(text, _expect(text, _skip(text, at), ":"))
            if key == "trials" and text[at : at + 1] == "[":
                trials, at = _items(text, at)
                envelope.pop(key, None)
            else:
                envelope[key], at = _value(text, at)
                trials = None if key == "trials" else trials
            at = _skip(text, at)
            if text[at : at + 1] == "}":
                at += 1
                break
            at = _skip(text, _expect(text, at, ","))
    if _skip(text, at) != len(text):
        raise NotPiecewise("extra data after the object")
    return envelope, trials


@dataclass(frozen=True, slots=True)
class Pieces:
    """A document's envelope (validated, `trials` left empty) and its trials, raw.

    `ids` and `fingerprints` follow the document's order; `trials(indexes)` validates the
    trials asked for. `config` fingerprints the run's configuration, on which every figure
    derived from a trial also depends.
    """

    envelope: OptimizeStateResponse
    ids: list[str]
    fingerprints: list[str]
    config: str
    raw: list[Any]
    body: bytes

    def trials(self, indexes: Iterable[int]) -> list[TunerTrial]:
        """Raises ValidationError worded with its place in the whole document."""
        try:
            return [TunerTrial.model_validate(self.raw[i]) for i in indexes]
        except ValidationError:
            OptimizeStateResponse.model_validate_json(self.body)
            raise

    def state(self, trials: list[TunerTrial]) -> OptimizeStateResponse:
        return self.envelope.model_copy(update={"trials": trials})


def _whole(body: bytes) -> Pieces:
    """The fallback: validated at once, fingerprints from the models (slower, same result)."""
    state = OptimizeStateResponse.model_validate_json(body)
    raw = [trial.model_dump(by_alias=True, exclude_unset=True) for trial in state.trials]
    prints = [_fingerprint(json.dumps(item, sort_keys=True).encode()) for item in raw]
    envelope = state.model_copy(update={"trials": []})
    config = _fingerprint(json.dumps(state.config.model_dump() if state.config else None).encode())
    return Pieces(envelope, [t.id for t in state.trials], prints, config, raw, body)


def read(body: bytes) -> Pieces:
    """The document in pieces; raises ValidationError (as `model_validate_json` would) for
    anything not understood outside the trials."""
    try:
        text = body.decode("utf-8")
        envelope, items = _split(text)
    except (UnicodeDecodeError, NotPiecewise, RecursionError):
        return _whole(body)
    if items is None:
        if "trials" in envelope:  # there but not a list: the whole-document error says so
            OptimizeStateResponse.model_validate_json(body)
        return Pieces(OptimizeStateResponse.model_validate(envelope), [], [], "", [], body)
    state = OptimizeStateResponse.model_validate({**envelope, "trials": []})
    same_offsets = body.isascii()  # then a character offset is a byte offset
    view = memoryview(body)
    ids, prints = [], []
    for item, start, end in items:
        ident = item.get("id") if isinstance(item, dict) else None
        ids.append(str(ident) if isinstance(ident, str | int) else "")
        part = view[start:end] if same_offsets else text[start:end].encode()
        prints.append(_fingerprint(part))
    config = _fingerprint(json.dumps(envelope.get("config"), sort_keys=True).encode())
    raw = [item for item, _, _ in items]
    return Pieces(state, ids, prints, config, raw, body)

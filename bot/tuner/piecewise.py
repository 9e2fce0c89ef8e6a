"""A state document read trial by trial, with a fingerprint per trial (pure).

Between two polls of a long run a handful of its trials change, yet `json.loads` (or
pydantic's `model_validate_json`) of the document builds every trial's objects again, most of
a changed poll's cost. Here msgspec splits the document instead: its decoder walks the JSON in
C and hands each trial back as `msgspec.Raw`, the trial's exact bytes (a view of the body,
nothing copied or built), in a fraction of `json.loads`' time (`bench/parse_diff.py`). Each
trial's bytes get a fingerprint; a trial whose fingerprint the last poll saw keeps the id it had
then, and only the others have their `id` read (a third pass over the whole list, when nothing
is known). So a poll validates
only the trials that changed since the last one (`bot.core.increment`), each straight from its
bytes; `body_digest` tells an unchanged document from a changed one without reading it at all.

The split holds the GIL for its whole length (briefly: it builds nothing); validating the trials
that changed, each in its own short call, lets other threads run between trials. A body that
is not a JSON object with a `trials` list is validated whole (`_whole`), which says exactly
what is wrong with it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec
from pydantic import ValidationError

from bot.tuner.models import OptimizeStateResponse, TunerTrial


class _Trial(msgspec.Struct):
    """A trial as the id pass reads it: every other field is skipped, in C."""

    id: Any = None


_DOCUMENT = msgspec.json.Decoder(dict[str, msgspec.Raw])
_LIST = msgspec.json.Decoder(list[msgspec.Raw])
_IDS = msgspec.json.Decoder(list[_Trial])
_ID = msgspec.json.Decoder(_Trial)
_ANY = msgspec.json.Decoder()


def body_digest(body: bytes) -> str:
    """A fingerprint of the exact bytes: 128 bits of SHA-256, which OpenSSL computes with the
    CPU's SHA instructions where it has them (x86 SHA-NI, ARMv8), so it beats BLAKE2b there.
    Every poll pays it, the unchanged ones included; hashlib releases the GIL as it hashes."""
    return hashlib.sha256(body).digest()[:16].hex()


def _fingerprint(data: bytes | memoryview) -> str:
    """64 bits of SHA-1: a per-trial change detector, and SHA-1 is the cheapest hashlib has."""
    return hashlib.sha1(data).digest()[:8].hex()


@dataclass(frozen=True, slots=True)
class Pieces:
    """A document's envelope (validated, `trials` left empty) and its trials, raw.

    `ids` and `fingerprints` follow the document's order; `trials(indexes)` validates the
    trials asked for, each from its JSON bytes (`raw`). `config` fingerprints the run's
    configuration, on which every figure derived from a trial also depends.
    """

    envelope: OptimizeStateResponse
    ids: list[str]
    fingerprints: list[str]
    config: str
    raw: Sequence[msgspec.Raw | bytes]
    body: bytes

    def trials(self, indexes: Iterable[int]) -> list[TunerTrial]:
        """Raises ValidationError worded with its place in the whole document."""
        try:
            return [TunerTrial.model_validate_json(bytes(self.raw[i])) for i in indexes]
        except ValidationError:
            OptimizeStateResponse.model_validate_json(self.body)
            raise

    def state(self, trials: list[TunerTrial]) -> OptimizeStateResponse:
        return self.envelope.model_copy(update={"trials": trials})


def _whole(body: bytes) -> Pieces:
    """The fallback: validated at once, fingerprints from the models (slower, same result)."""
    state = OptimizeStateResponse.model_validate_json(body)
    dumped = [trial.model_dump(by_alias=True, exclude_unset=True) for trial in state.trials]
    prints = [_fingerprint(json.dumps(item, sort_keys=True).encode()) for item in dumped]
    raw: list[msgspec.Raw | bytes] = [json.dumps(item).encode() for item in dumped]
    envelope = state.model_copy(update={"trials": []})
    config = _fingerprint(json.dumps(state.config.model_dump() if state.config else None).encode())
    return Pieces(envelope, [t.id for t in state.trials], prints, config, raw, body)


def _id(value: Any) -> str:
    return str(value) if isinstance(value, str | int) else ""  # "": no usable id


def read(body: bytes, known: Mapping[str, str] | None = None) -> Pieces:
    """The document in pieces; raises ValidationError (as `model_validate_json` would) for
    anything not understood outside the trials. `known` maps the fingerprints of trials seen
    before to their ids: those ids are not read again."""
    try:
        fields = _DOCUMENT.decode(body)
        listed = fields.pop("trials", None)
        envelope = {key: _ANY.decode(value) for key, value in fields.items()}
        raw: Sequence[msgspec.Raw | bytes] = _LIST.decode(listed) if listed is not None else []
        prints = [_fingerprint(item) for item in raw]
        if not known:
            ids = [_id(trial.id) for trial in _IDS.decode(listed)] if listed is not None else []
        else:
            ids = [
                known.get(fingerprint) or _id(_ID.decode(item).id)
                for item, fingerprint in zip(raw, prints, strict=True)
            ]
    except (msgspec.DecodeError, RecursionError):
        # Not a JSON object, or `trials` not a list of objects: the whole-document error
        # (`_whole` raises it) says exactly what is wrong.
        return _whole(body)
    if listed is None:  # no `trials` at all: `read_state` says so
        return Pieces(OptimizeStateResponse.model_validate(envelope), [], [], "", [], body)
    state = OptimizeStateResponse.model_validate({**envelope, "trials": []})
    config = _fingerprint(json.dumps(envelope.get("config"), sort_keys=True).encode())
    return Pieces(state, ids, prints, config, raw, body)

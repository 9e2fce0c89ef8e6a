"""Faults the simulator serves instead of a document (`SimController.inject`): Edge Impulse
style errors, bodies that are not a state, slow answers and dropped connections."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Final

JSON_HEADERS: Final = (("Content-Type", "application/json; charset=utf-8"),)


def error_body(message: str) -> bytes:
    return json.dumps({"success": False, "error": message}).encode()


@dataclass(frozen=True, slots=True)
class Fault:
    """A response to serve once instead of the document. `status=None` serves the document
    (after `delay`): a slow answer; `drop` closes the connection without answering."""

    status: int | None = 500
    body: bytes = error_body("Internal server error")
    headers: tuple[tuple[str, str], ...] = JSON_HEADERS
    delay: float = 0.0
    drop: bool = False

    @classmethod
    def error(cls, status: int, message: str = "Simulated failure", *,
              retry_after: float | None = None) -> Fault:  # fmt: skip
        """An Edge Impulse style JSON error, e.g. `Fault.error(429, retry_after=2)`."""
        headers = JSON_HEADERS + (
            (("Retry-After", f"{retry_after:g}"),) if retry_after is not None else ()
        )
        return cls(status=status, body=error_body(message), headers=headers)

    @classmethod
    def unsuccessful(cls, message: str = "Simulated failure") -> Fault:
        """HTTP 200 with `success: false`, which Edge Impulse sends for many errors."""
        return cls(status=200, body=error_body(message))

    @classmethod
    def raw(cls, body: bytes, *, status: int = 200, content_type: str = "text/html") -> Fault:
        """Any body, e.g. a proxy's HTML page or truncated JSON."""
        return cls(status=status, body=body, headers=(("Content-Type", content_type),))

    @classmethod
    def slow(cls, delay: float) -> Fault:
        """The normal document, `delay` seconds late (for client timeouts)."""
        return cls(status=None, body=b"", headers=(), delay=delay)

    @classmethod
    def dropped(cls, delay: float = 0.0) -> Fault:
        """The connection closed, after `delay` seconds, with no response at all."""
        return cls(status=None, body=b"", headers=(), delay=delay, drop=True)

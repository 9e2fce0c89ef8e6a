"""What an Edge Impulse project id is (pure): the one rule `/eon` and the tuner client share.

A positive decimal integer below 2**63 (Edge Impulse ids are signed 64-bit integers), written in
ASCII digits (`str.isdigit` also accepts "٤٢" and "²"), in canonical form: "042" is "42",
because the id names the store's rows, a URL path and the `EI_API_KEY_<id>` variable. Each
caller says in its own words why something is not an id.
"""

from __future__ import annotations

import re
from typing import Final

MAX_PROJECT_ID: Final = 2**63  # exclusive
_DIGITS = re.compile(r"[0-9]+")


def canonical_project_id(text: str) -> str | None:
    """The id `text` names, without leading zeros, or None if it names none."""
    if not _DIGITS.fullmatch(text):
        return None
    digits = text.lstrip("0")
    if not digits or len(digits) > 19 or int(digits) >= MAX_PROJECT_ID:
        return None
    return digits

"""How numbers and untrusted text look to a person, shared by the terminal status and Slack.

Pure functions of values. Each takes `None` (and NaN, infinities, negative sizes) as "unknown"
and answers `UNKNOWN` rather than raising, because a half-known tuner state is normal.
Units follow Edge Impulse Studio: accuracy in percent, latency in ms, memory in KB of 1,024 bytes.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable

UNKNOWN = "—"
BAR_WIDTH = 10
_FULL, _EMPTY = "▓", "░"
_KIB = 1024
# Shorter "secrets" are test placeholders; cutting them out would garble ordinary words.
MIN_SECRET_LENGTH = 8
# Bidirectional overrides and isolates can make text read differently from what it is.
_BIDI = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
# What Slack and Edge Impulse tokens look like, masked even when the secret itself is unknown
# here (a token quoted back in a Slack error, another project's key).
_TOKEN = re.compile(r"\b(xox[a-z]-|xapp-|ei_)[\w-]+")


def _known(value: float | None) -> float | None:
    if value is None or isinstance(value, bool) or not math.isfinite(value):
        return None
    return float(value)


def percent(fraction: float | None) -> str:
    """0.913 → "91.3%": accuracy as Studio shows it."""
    value = _known(fraction)
    return UNKNOWN if value is None else f"{value * 100:.1f}%"


def quality(
    accuracy: float | None, score: float | None = None, score_name: str | None = None
) -> str:
    """ "accuracy 91.3%"; without an accuracy, the score a trial has instead, labelled as
    Studio shows it ("mAP 0.51", "mean F1 0.87"); "accuracy —" when neither is known."""
    if _known(accuracy) is None and _known(score) is not None and score_name:
        return f"{one_line(score_name, 20)} {score:.2f}"
    return f"accuracy {percent(accuracy)}"


def latency(ms: float | None) -> str:
    """12 → "12 ms", 0.8 → "0.8 ms": a decimal only where it still matters (under 10 ms)."""
    value = _known(ms)
    if value is None or value < 0:
        return UNKNOWN
    tenths = round(value, 1)
    return f"{tenths:.1f} ms" if tenths < 10 else f"{value:.0f} ms"


def size(n_bytes: float | None) -> str:
    """37.5 KB, 1.2 MB (1 KB = 1,024 B, as embedded toolchains count); "512 B" under 1 KB."""
    value = _known(n_bytes)
    if value is None or value < 0:
        return UNKNOWN
    if value < _KIB:
        return f"{value:.0f} B"
    for unit in ("KB", "MB", "GB"):
        value /= _KIB
        if round(value, 1) < _KIB or unit == "GB":
            return f"{value:.1f} {unit}"
    raise AssertionError("unreachable")  # pragma: no cover


def duration(seconds: float | None) -> str:
    """ "1h 05m", "12m 30s", "45s": two units are enough to read a tuner's pace."""
    value = _known(seconds)
    if value is None or value < 0:
        return UNKNOWN
    whole = int(value)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"


def progress_bar(fraction: float | None, width: int = BAR_WIDTH) -> str:
    """ "▓▓▓▓▓░░░░░ 52%". Rounded down, so it shows full and 100% only when all is done."""
    value = _known(fraction)
    if value is None:
        return f"{_EMPTY * width} {UNKNOWN}"
    value = min(1.0, max(0.0, value))
    # The epsilon keeps 0.29 (stored as 0.28999…) from showing as 28%.
    filled = math.floor(value * width + 1e-9)
    return f"{_FULL * filled}{_EMPTY * (width - filled)} {math.floor(value * 100 + 1e-9)}%"


def plural(count: int, word: str, words: str | None = None) -> str:
    """ "1 trial", "3 trials"."""
    return f"{count} {word if count == 1 else (words or word + 's')}"


def one_line(text: str, limit: int = 200) -> str:
    """Untrusted text made safe for one line of a terminal or a log: whitespace collapsed,
    control characters (terminal escapes) and bidi overrides replaced, clipped to `limit`."""
    cleaned = "".join(
        "?" if (ord(ch) < 32 or 127 <= ord(ch) < 160 or ch in _BIDI) else ch
        for ch in " ".join(text.split())
    )
    if len(cleaned) <= limit:
        return cleaned
    return cleaned[: max(0, limit - 1)].rstrip() + "…"


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """`text` with each secret (of at least `MIN_SECRET_LENGTH` characters) replaced by ***,
    and anything shaped like a Slack or Edge Impulse token cut to its prefix and ***."""
    for secret in secrets:
        if len(secret) >= MIN_SECRET_LENGTH:
            text = text.replace(secret, "***")
    return _TOKEN.sub(r"\1***", text)

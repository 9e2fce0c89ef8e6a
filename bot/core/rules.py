"""The grammar of a threshold alert (`/eon alert PROJECT_ID accuracy>=0.92 latency<=50`), and
whether a trial's figures meet it (pure).

A rule is one to `MAX_CONDITIONS` conditions `FIELD OP VALUE`, all of which must hold:

    accuracy   a fraction (0.92) or a percent (92%, or 92: a number over 1 is a percent)
    latency    milliseconds (50, 50ms)
    ram, rom   bytes (65536, 65536B), or KB / MB / GB (64KB, 1.5MB); KB is 1,024 bytes as the
               card counts (Studio's and the embedded toolchains' convention), so KiB/MiB/GiB
               are the same units under their other names
    OP         >=  <=  >  <   (≥ and ≤ too)

Spaces around an operator and before a unit are allowed (`accuracy >= 92 %`). The figures are
those the card shows (`bot.core.figures`, carried as `TrialSummary.numbers()` and a completion's
metadata): a figure the trial does not have never meets a condition, as an unknown figure
never lets a trial "fit". Anything else is a `RuleError`, one line naming the condition and
what is wrong with it; parsing never raises.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

Field = Literal["accuracy", "latency", "ram", "rom"]
Op = Literal[">=", "<=", ">", "<"]

MAX_CONDITIONS: Final = 8
DECIMALS: Final = 6  # of a value in its field's unit (percent, ms, bytes): what a rule keeps
ECHO_CHARS: Final = 40
FIELDS: Final[tuple[Field, ...]] = ("accuracy", "latency", "ram", "rom")
FIGURE_OF: Final[Mapping[Field, str]] = {
    "accuracy": "accuracy",
    "latency": "latency_ms",
    "ram": "ram_bytes",
    "rom": "rom_bytes",
}
"""Where each field's figure is in `TrialSummary.numbers()` and a completion's metadata."""

_COMPARE: Final[Mapping[Op, Callable[[float, float], bool]]] = {
    ">=": lambda a, b: a >= b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    "<": lambda a, b: a < b,
}
_OPS: Final[Mapping[str, Op]] = {">=": ">=", "<=": "<=", ">": ">", "<": "<", "≥": ">=", "≤": "<="}
_BYTE_UNITS: Final = {
    **{"b": 1, "kb": 1024, "kib": 1024},
    **{"mb": 1024**2, "mib": 1024**2, "gb": 1024**3, "gib": 1024**3},
}
_UNITS: Final[Mapping[Field, Mapping[str, float]]] = {
    "accuracy": {"": 1.0, "%": 1.0},
    "latency": {"": 1.0, "ms": 1.0},
    "ram": {"": 1, **_BYTE_UNITS},
    "rom": {"": 1, **_BYTE_UNITS},
}
_UNIT_WORDS: Final[Mapping[Field, str]] = {
    "accuracy": "accuracy is a fraction (0.92) or a percent (92%)",
    "latency": "latency is in ms (50 or 50ms)",
    "ram": "RAM is in bytes, KB, MB or GB (64KB)",
    "rom": "ROM is in bytes, KB, MB or GB (1.5MB)",
}
_CONDITION = re.compile(r"([^<>=≥≤]*)(>=|<=|=>|=<|==|[<>=≥≤])(.*)")
_VALUE = re.compile(r"([0-9]+(?:\.[0-9]*)?|\.[0-9]+)([a-z%]*)")
_UNIT_AFTER = re.compile(r"(?<=[0-9.])\s+(%|ms|b|kb|kib|mb|mib|gb|gib)(?![a-z0-9])", re.I)
_AROUND_OP = re.compile(r"\s*(>=|<=|=>|=<|==|[<>=≥≤])\s*")


@dataclass(frozen=True, slots=True)
class RuleError:
    """What is wrong with a rule, in one line (for `/eon alert`'s answer)."""

    message: str


@dataclass(frozen=True, slots=True)
class Condition:
    """One `FIELD OP VALUE`; `value` in the field's own unit: accuracy in percent, latency in
    ms, RAM and ROM in bytes."""

    field: Field
    op: Op
    value: float

    @property
    def text(self) -> str:
        """The condition as typed, in one canonical spelling: "accuracy>=92%", "ram<=64KB"."""
        return f"{self.field}{self.op}{_shown(self.field, self.value)}"

    def met_by(self, numbers: Mapping[str, Any]) -> bool:
        figure = numbers.get(FIGURE_OF[self.field])
        if isinstance(figure, bool) or not isinstance(figure, int | float):
            return False
        if not math.isfinite(figure):
            return False
        value = round(figure * 100, 9) if self.field == "accuracy" else float(figure)
        return _COMPARE[self.op](value, self.value)


@dataclass(frozen=True, slots=True)
class Rule:
    """Conditions that must all hold, in the order typed."""

    conditions: tuple[Condition, ...]

    @property
    def text(self) -> str:
        """ "accuracy>=92% latency<=50ms": what `/eon alert … list` shows, the metadata's
        `rule`, and what tells one alert of a channel from another."""
        return " ".join(condition.text for condition in self.conditions)

    def met_by(self, numbers: Mapping[str, Any]) -> bool:
        """Whether figures keyed as `TrialSummary.numbers()` meet every condition."""
        return all(condition.met_by(numbers) for condition in self.conditions)


def _echo(text: str) -> str:
    """A piece of what the user typed, short and on one line (the caller escapes it)."""
    flat = " ".join(text.split())
    return flat if len(flat) <= ECHO_CHARS else f"{flat[: ECHO_CHARS - 1]}…"


def _plain(value: float) -> str:
    """Up to `DECIMALS` decimals, no exponent, no trailing zeros: what `_VALUE` reads back."""
    return f"{value:.{DECIMALS}f}".rstrip("0").rstrip(".")


def _shown(field: Field, value: float) -> str:
    """The value in its field's unit; sizes in the largest unit that writes them exactly."""
    if field == "accuracy":
        return f"{_plain(value)}%"
    if field == "latency":
        return f"{_plain(value)}ms"
    for unit, size in (("GB", 1024**3), ("MB", 1024**2), ("KB", 1024)):
        text = _plain(round(value / size, 3))  # 1.5MB, 64KB; else a plainer unit
        if value >= size and round(float(text) * size, DECIMALS) == value:
            return f"{text}{unit}"
    return f"{_plain(value)}B"


def _condition(word: str) -> Condition | RuleError:
    found = _CONDITION.fullmatch(word)
    if found is None:
        return RuleError(
            f"'{_echo(word)}': no comparison: write it as FIELD>=VALUE, FIELD<=VALUE, "
            "FIELD>VALUE or FIELD<VALUE (e.g. accuracy>=0.92)"
        )
    name, op, rest = found.group(1).lower(), found.group(2), found.group(3).lower()
    field = next((known for known in FIELDS if known == name), None)
    if field is None:
        if not name:
            return RuleError(
                f"'{_echo(word)}': name the figure first: accuracy, latency, ram or rom"
            )
        return RuleError(
            f"'{_echo(word)}': '{_echo(name)}' is not a figure: use accuracy, latency, ram or rom"
        )
    known = _OPS.get(op)
    if known is None:
        return RuleError(f"'{_echo(word)}': compare with >=, <=, > or < (not {op})")
    value = _VALUE.fullmatch(rest)
    if value is None:
        if rest.startswith("-"):
            return RuleError(f"'{_echo(word)}': the value must not be negative")
        return RuleError(f"'{_echo(word)}': the value must be a number")
    number, unit = float(value.group(1)), value.group(2)
    scale = _UNITS[field].get(unit)
    if scale is None:
        return RuleError(f"'{_echo(word)}': {_UNIT_WORDS[field]}")
    number *= scale
    if not math.isfinite(number) or number > 1e15:
        return RuleError(f"'{_echo(word)}': the value is too large")
    if field == "accuracy":
        number = number if unit == "%" or number > 1 else number * 100
        if number > 100:
            return RuleError(f"'{_echo(word)}': accuracy is at most 100%")
    return Condition(field, known, round(number, DECIMALS))


def parse_rule(text: str) -> Rule | RuleError:
    """The rule in `text` (the words after the project id), or what is wrong with it."""
    tidy = _UNIT_AFTER.sub(r"\1", _AROUND_OP.sub(r"\1", text.strip()))
    words = tidy.split()
    if not words:
        return RuleError("An alert needs at least one condition, e.g. accuracy>=0.92 latency<=50")
    if len(words) > MAX_CONDITIONS:
        return RuleError(f"An alert has at most {MAX_CONDITIONS} conditions, not {len(words)}")
    conditions: list[Condition] = []
    for word in words:
        found = _condition(word)
        if isinstance(found, RuleError):
            return found
        conditions.append(found)
    return Rule(tuple(conditions))

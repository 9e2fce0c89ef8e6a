"""`/eon` text → a command (pure): a table of subcommands, each word just a word.

Mistakes become a one-line `UsageError` naming the mistake and the right usage; what the user
typed is quoted through `echo`, escaped, so it can never become a mention or a link.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from dataclasses import dataclass
from typing import Final, Literal

from bot.core.digest import parse_at
from bot.core.project_ids import canonical_project_id
from bot.core.routing import MODES, Mode, as_mode
from bot.core.rules import MAX_CONDITIONS, Rule, RuleError, parse_rule
from bot.fmt import one_line
from bot.slack.render import escape

ECHO_CHARS: Final = 40

USAGE: Final = {
    "status": "/eon status [PROJECT_ID]",
    "watch": f"/eon watch PROJECT_ID [{'|'.join(MODES)}]",
    "unwatch": "/eon unwatch PROJECT_ID",
    "list": "/eon list",
    "chart": "/eon chart [PROJECT_ID]",
    "top": "/eon top [PROJECT_ID] [N]",
    "key": "/eon key PROJECT_ID [remove]",
    "alert": "/eon alert PROJECT_ID FIELD>=VALUE…|list|remove [N|all]",
    "digest": "/eon digest [HH:MM|off|now]",
    "help": "/eon help",
}
_MAX_ARGS: Final = {
    "status": 1,
    "watch": 2,
    "unwatch": 1,
    "list": 0,
    "chart": 1,
    "top": 2,
    "key": 2,
    "alert": 1 + 4 * MAX_CONDITIONS,  # `accuracy >= 92 %` is four words; the rule counts
    "digest": 1,
}
TOP_DEFAULT: Final = 5
TOP_MAX: Final = 25


# --- parsed commands --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Status:
    project_id: str | None = None


@dataclass(frozen=True, slots=True)
class Watch:
    project_id: str
    mode: Mode = "all"
    mode_named: bool = False  # watching again changes the mode only when one is named


@dataclass(frozen=True, slots=True)
class Unwatch:
    project_id: str


@dataclass(frozen=True, slots=True)
class List:
    pass


@dataclass(frozen=True, slots=True)
class Help:
    pass


@dataclass(frozen=True, slots=True)
class Chart:
    project_id: str | None = None


@dataclass(frozen=True, slots=True)
class Top:
    project_id: str | None = None
    count: int = TOP_DEFAULT


@dataclass(frozen=True, slots=True)
class Key:
    """Open the form for the project's Edge Impulse key, or (`remove`) forget the stored one."""

    project_id: str
    remove: bool = False


@dataclass(frozen=True, slots=True)
class AlertAdd:
    """Tell the channel when the first trial of a run meets `rule` (`core.alerts`)."""

    project_id: str
    rule: Rule


@dataclass(frozen=True, slots=True)
class AlertList:
    project_id: str


@dataclass(frozen=True, slots=True)
class AlertRemove:
    """`which`: the numbers `list` shows, "all", or None (the only one, else ask which)."""

    project_id: str
    which: tuple[int, ...] | Literal["all"] | None = None


AlertCommand = AlertAdd | AlertList | AlertRemove


@dataclass(frozen=True, slots=True)
class Digest:
    """`/eon digest`: `at` a minute of the day (`HH:MM`), "off", "now", or None (show it)."""

    at: int | Literal["off", "now"] | None = None


@dataclass(frozen=True, slots=True)
class UsageError:
    """A mistake in the command: `message` is one line, the mistake and the right usage."""

    message: str


Command = Status | Watch | Unwatch | List | Help | Chart | Top
# `/eon key` opens a form (it needs the command's trigger_id): `eon_key` answers it, not
# `eon_answers`.


def _unescape(text: str) -> str:
    """Slack sends command text with `&`, `<`, `>` escaped; undo it so the text is what the
    user typed (and is escaped exactly once on the way out)."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def echo(word: str) -> str:
    """What the user typed, quoted for a reply: one line, at most `ECHO_CHARS` characters,
    escaped; right-to-left text is isolated so it cannot reorder the rest of the line."""
    shown = escape(one_line(word, ECHO_CHARS))
    if any(unicodedata.bidirectional(ch) in {"R", "AL", "AN"} for ch in shown):
        shown = f"\u2068{shown}\u2069"
    return f"“{shown}”"


def _usage_error(mistake: str, subcommand: str) -> UsageError:
    ended = "" if mistake.endswith("?") else "."  # "did you mean `watch`?" ends itself
    return UsageError(f"{mistake}{ended} Usage: `{escape(USAGE[subcommand])}`")


_DIGITS = re.compile(r"[0-9]+")
_SIGNED = re.compile(r"[+-][0-9]+")


def parse_project_id(word: str, subcommand: str) -> str | UsageError:
    """The canonical id (`core.project_ids`), or a usage error that says what is wrong."""
    canonical = canonical_project_id(word)
    if canonical is not None:
        return canonical
    if _DIGITS.fullmatch(word):  # digits, yet no id: zero, or past the largest
        if not word.strip("0"):
            return _usage_error(f"The project id must be positive, not {echo(word)}", subcommand)
        return _usage_error(f"{echo(word)} is too large for an Edge Impulse project id", subcommand)
    if _SIGNED.fullmatch(word):
        return _usage_error(
            f"The project id must be a positive whole number, not {echo(word)}", subcommand
        )
    return _usage_error(
        f"{echo(word)} is not a project id: use the number in the Studio URL "
        "(studio.edgeimpulse.com/studio/12345)",
        subcommand,
    )


def _top(project_id: str, rest: list[str]) -> Top | UsageError:
    """`N` after the project id: how many trials, 1 to `TOP_MAX`."""
    if not rest:
        return Top(project_id)
    word = rest[0]
    if _DIGITS.fullmatch(word) and len(word) <= 3 and 1 <= int(word) <= TOP_MAX:
        return Top(project_id, int(word))
    return _usage_error(f"N must be a whole number from 1 to {TOP_MAX}, not {echo(word)}", "top")


def _key(project_id: str, rest: list[str]) -> Key | UsageError:
    """`remove` after the project id forgets the key; nothing after it opens the form."""
    if not rest:
        return Key(project_id)
    if rest[0].lower() == "remove":
        return Key(project_id, remove=True)
    return _usage_error(f"Unknown word {echo(rest[0])}: only `remove` may follow the id", "key")


def _alert(project_id: str, rest: list[str]) -> AlertCommand | UsageError:
    """`list`, `remove [N…|all]`, or a rule (`core.rules`); nothing after the id lists."""
    first = rest[0].lower() if rest else "list"
    if first == "list":
        if len(rest) > 1:
            return _usage_error(f"Too many words, starting at {echo(rest[1])}", "alert")
        return AlertList(project_id)
    if first != "remove":
        rule = parse_rule(" ".join(rest))
        if isinstance(rule, RuleError):
            return _usage_error(escape(one_line(rule.message, 300)).rstrip("."), "alert")
        return AlertAdd(project_id, rule)
    words = [word.lower() for word in rest[1:]]
    if not words:
        return AlertRemove(project_id)
    if words == ["all"]:
        return AlertRemove(project_id, "all")
    wrong = next((w for w in words if not (_DIGITS.fullmatch(w) and 1 <= int(w[:3]) <= 99)), None)
    if wrong is not None:
        return _usage_error(
            f"Remove by the numbers `/eon alert {project_id} list` shows, or `all`, "
            f"not {echo(wrong)}",
            "alert",
        )
    return AlertRemove(project_id, tuple(dict.fromkeys(int(w) for w in words)))


def _digest(rest: list[str]) -> Digest | UsageError:
    if not rest:
        return Digest()
    word = rest[0].lower()
    if word in ("off", "now"):
        return Digest("off" if word == "off" else "now")
    at = parse_at(word)
    if at is None:
        return _usage_error(
            f"{echo(rest[0])} is not a time of day: use HH:MM (24-hour), `off` or `now`", "digest"
        )
    return Digest(at)


def parse(text: str) -> Command | Key | AlertCommand | Digest | UsageError:
    """`/eon` text → a command, or a one-line `UsageError`. Empty text is a request for help;
    subcommands and modes are case-insensitive; every word is just a word (even `payload`)."""
    words = _unescape(text).split()
    if not words:
        return Help()
    sub, args = words[0].lower(), words[1:]
    if sub == "help":
        return Help()
    if sub not in USAGE:
        meant = difflib.get_close_matches(sub, USAGE, n=1, cutoff=0.6)
        if meant:  # a typo: name the command it is close to, with its usage
            return _usage_error(
                f"Unknown command {echo(words[0])}: did you mean `{meant[0]}`?", meant[0]
            )
        return UsageError(
            f"Unknown command {echo(words[0])}. Try `/eon status`, `/eon watch PROJECT_ID`, "
            "`/eon unwatch PROJECT_ID`, `/eon list`, `/eon chart`, `/eon top`, "
            "`/eon key PROJECT_ID`, `/eon alert PROJECT_ID`, `/eon digest` or `/eon help`"
        )
    max_args = _MAX_ARGS[sub]
    if len(args) > max_args:
        return _usage_error(f"Too many words, starting at {echo(args[max_args])}", sub)
    if sub == "list":
        return List()
    if sub == "digest":
        return _digest(args)
    if sub == "status" and not args:
        return Status()
    if sub in ("chart", "top") and not args:
        return Chart() if sub == "chart" else Top()
    if not args:
        return _usage_error("The project id is missing", sub)
    project_id = parse_project_id(args[0], sub)
    if isinstance(project_id, UsageError):
        return project_id
    if sub == "status":
        return Status(project_id)
    if sub == "chart":
        return Chart(project_id)
    if sub == "top":
        return _top(project_id, args[1:])
    if sub == "unwatch":
        return Unwatch(project_id)
    if sub == "key":
        return _key(project_id, args[1:])
    if sub == "alert":
        return _alert(project_id, args[1:])
    if len(args) == 1:
        return Watch(project_id)
    mode = as_mode(args[1])
    if mode is not None:
        return Watch(project_id, mode, mode_named=True)
    meant = difflib.get_close_matches(args[1].lower(), MODES, n=1, cutoff=0.6)
    if meant:
        return _usage_error(f"Unknown mode {echo(args[1])}: did you mean `{meant[0]}`?", sub)
    *others, last = (f"`{known}`" for known in MODES)
    choices = f"{', '.join(others)} or {last}"
    return _usage_error(f"Unknown mode {echo(args[1])}: use {choices}", sub)

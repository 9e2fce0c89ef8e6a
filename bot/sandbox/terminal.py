"""Slack messages as a person reads them in a terminal: what `eon-bot demo` prints as the
Slack stand-in (`bot.sandbox.fakeslack`) receives them.

It reads like the channel, not like the protocol: the channel by its name, no metadata event
types, Slack's `*bold*` as terminal bold (ANSI escapes only on a terminal; elsewhere the
asterisks are simply dropped) and `code` without its backticks. Thread replies are indented;
an edit shows only the lines that changed since the reader last saw the message, and an edit
that only moves a clock (time used, wall time) is not shown at all: the next real change
carries the clock along.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping
from typing import TextIO

from bot.sandbox.fakeslack import Message

__all__ = ["TerminalPrinter"]

_BOLD = re.compile(r"\*([^*\n]+)\*")
_CODE = re.compile(r"`([^`\n]+)`")
_DURATION = re.compile(r"\b\d+[hms](?: \d+[hms])*\b")  # 2h 13m, 05s: what a clock tick changes
_ANSI_BOLD, _ANSI_RESET = "\033[1m", "\033[0m"


def clockless(line: str) -> str:
    """The line with its durations blanked: two lines equal here differ only by the clock."""
    return " ".join(_DURATION.sub("#", line).split())  # columns pad by the figures' width


class TerminalPrinter:
    """Shows messages as a person reads the channel; pass as `FakeSlack(on_message=…)`.

    `channel_names` maps channel ids to the names shown (`#eon-runs`, not `#C0EONRUNS`);
    `bold` forces terminal bold on or off (default: on when the stream is a terminal).
    """

    def __init__(
        self,
        stream: TextIO | None = None,
        *,
        channel_names: Mapping[str, str] | None = None,
        bold: bool | None = None,
    ) -> None:
        # Resolved at print time when None, so redirections (and pytest's capsys) are honoured.
        self._stream = stream
        self._names = dict(channel_names or {})
        self._bold = bold
        self._shown: dict[tuple[str, str], list[str]] = {}

    def __call__(self, message: Message, action: str) -> None:
        if action == "update":
            lines = self._update_lines(message)
        elif action == "ephemeral":
            lines = self._ephemeral_lines(message)
        elif message.thread_ts is not None:
            lines = self._reply_lines(message)
        else:
            lines = self._card_lines(message)
        if lines:
            self.say("\n".join(lines))

    def say(self, text: str) -> None:
        """A line of the demo's own (a command typed, its answer), styled as messages are."""
        out = self._stream or sys.stdout
        out.write(self._style(text, out) + "\n")
        out.flush()

    def channel_name(self, channel: str) -> str:
        return "#" + self._names.get(channel, channel).lstrip("#")

    def _style(self, text: str, out: TextIO) -> str:
        bold = self._bold if self._bold is not None else _is_terminal(out)
        text = _CODE.sub(r"\1", text)
        return _BOLD.sub(rf"{_ANSI_BOLD}\1{_ANSI_RESET}" if bold else r"\1", text)

    def _body(self, message: Message) -> list[str]:
        lines = message.plain_text.splitlines() or [""]
        self._shown[(message.channel, message.ts)] = lines
        return lines

    def _card_lines(self, message: Message) -> list[str]:
        head = f"┌─ {self.channel_name(message.channel)} "
        return [head.ljust(48, "─"), *(f"│ {line}" for line in self._body(message)), "└─"]

    def _reply_lines(self, message: Message) -> list[str]:
        first, *rest = self._body(message)
        broadcast = "(also sent to the channel) " if message.reply_broadcast else ""
        return [f"    ↳ {broadcast}{first}", *(f"      {line}" for line in rest)]

    def _update_lines(self, message: Message) -> list[str]:
        key = (message.channel, message.ts)
        before = self._shown.get(key)
        if before is None:
            before = message.edits[-1].plain_text.splitlines() if message.edits else []
        now = message.plain_text.splitlines()
        seen = set(before)
        changed = [line for line in now if line not in seen and line.strip()]
        if not changed:
            return []
        seen_clockless = {clockless(line) for line in before}
        if all(clockless(line) in seen_clockless for line in changed):
            return []  # only the clock moved; `before` stays what the reader saw
        self._shown[key] = now
        indent, label = ("    ", "(edited) ") if message.thread_ts else ("", "(card updated) ")
        label = indent + label
        return [label + changed[0], *(" " * len(label) + line for line in changed[1:])]

    def _ephemeral_lines(self, message: Message) -> list[str]:
        first, *rest = self._body(message)
        label = f"  (only {message.visible_to} sees) "
        return [label + first, *(" " * len(label) + line for line in rest)]


def _is_terminal(out: TextIO) -> bool:
    try:
        return out.isatty()
    except (AttributeError, ValueError):  # a closed or unusual stream
        return False

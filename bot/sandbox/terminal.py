"""Slack messages as a person reads them in a terminal: what `eon-bot demo` prints as the
Slack stand-in (`bot.sandbox.fakeslack`) receives them. Thread replies are indented, and card edits
show only what changed."""

from __future__ import annotations

import sys
from typing import TextIO

from bot.sandbox.fakeslack import Message

__all__ = ["TerminalPrinter"]


class TerminalPrinter:
    """Shows messages as a person reads the channel, for `eon-bot demo`.

    Pass as `FakeSlack(on_message=TerminalPrinter())`. A top-level message (the run card) gets a
    boxed header line with its channel and metadata event type, a thread reply is indented with
    "↳", and a card update prints only the lines that changed, so a run with many progress
    updates stays readable.
    """

    def __init__(self, stream: TextIO | None = None) -> None:
        # Resolved at print time when None, so redirections (and pytest's capsys) are honoured.
        self._stream = stream

    def __call__(self, message: Message, action: str) -> None:
        if action == "update":
            lines = self._update_lines(message)
        elif action == "ephemeral":
            lines = self._ephemeral_lines(message)
        elif message.thread_ts is not None:
            lines = self._reply_lines(message)
        else:
            lines = self._card_lines(message)
        out = self._stream or sys.stdout
        out.write("\n".join(lines) + "\n")
        out.flush()

    @staticmethod
    def _body(message: Message) -> list[str]:
        return message.plain_text.splitlines() or [""]

    def _card_lines(self, message: Message) -> list[str]:
        tag = f" [{message.event_type}]" if message.event_type else ""
        head = f"┌─ #{message.channel.lstrip('#')}{tag} "
        return [head.ljust(48, "─"), *(f"│ {line}" for line in self._body(message)), "└─"]

    def _reply_lines(self, message: Message) -> list[str]:
        first, *rest = self._body(message)
        broadcast = "(also sent to the channel) " if message.reply_broadcast else ""
        return [f"    ↳ {broadcast}{first}", *(f"      {line}" for line in rest)]

    def _update_lines(self, message: Message) -> list[str]:
        before = set(self._body(message.edits[-1])) if message.edits else set()
        changed = [line for line in self._body(message) if line not in before and line.strip()]
        indent = "    " if message.thread_ts is not None else ""
        label = f"{indent}(card updated) "
        if not changed:
            return [f"{label}no visible change"]
        return [label + changed[0], *(" " * len(label) + line for line in changed[1:])]

    def _ephemeral_lines(self, message: Message) -> list[str]:
        first, *rest = self._body(message)
        label = f"  (only {message.visible_to} sees) "
        return [label + first, *(" " * len(label) + line for line in rest)]

"""`eon-bot try` as a person meets it: the real process, driven through its standard input.
A typed `/eon watch 1` shows the run card, `/eon top` its answer, `stall` a stall notice and
then the resume; Ctrl-C ends it with exit 130 (the exit codes' table) and no folder left
behind but its charts'."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import pytest

from tests.e2e.harness import START_TIMEOUT_S, STOP_LIMIT_S, as_in_a_terminal

pytestmark = pytest.mark.e2e

WAIT_S = START_TIMEOUT_S * 3  # each step on a busy machine: imports, polls, a run's minutes


class Terminal:
    """The process's output read as it comes, and lines typed into it."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        assert process.stdin is not None and process.stdout is not None
        self.process, self.stdin, self.stdout = process, process.stdin, process.stdout
        self.lines: list[str] = []

    async def type(self, text: str) -> None:
        self.stdin.write(text.encode() + b"\n")
        await self.stdin.drain()

    async def until(self, wanted: str, *, after: int = 0) -> int:
        """Reads until a line (from line `after` on) holds `wanted`; returns its index."""
        try:
            async with asyncio.timeout(WAIT_S):
                while True:
                    for index in range(after, len(self.lines)):
                        if wanted in self.lines[index]:
                            return index
                    after = len(self.lines)
                    line = await self.stdout.readline()
                    assert line, f"it ended before {wanted!r}: {self.tail()}"
                    self.lines.append(line.decode())
        except TimeoutError:
            raise AssertionError(f"no {wanted!r} within {WAIT_S:g}s: {self.tail()}") from None

    def tail(self) -> str:
        return "".join(self.lines[-40:])


def _found(folder: Path, pattern: str) -> list[Path]:
    return list(folder.glob(pattern))


async def test_try_answers_typed_commands_shows_a_stall_and_leaves_nothing(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "EI_"))}
    env |= {"PYTHONUNBUFFERED": "1", "TMPDIR": str(tmp_path)}
    process = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "bot", "try", "--minutes", "2", "--stall-after", "2"),
        cwd=tmp_path,
        env=env,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        preexec_fn=as_in_a_terminal,
    )
    terminal = Terminal(process)
    try:
        await terminal.until("Type /eon watch 1 to start")
        assert _found(tmp_path, "eon-bot-try-*"), "its work folder"
        await terminal.type("/eon watch 1")
        await terminal.until("Watching project 1")
        card = await terminal.until("┌─ #eon-runs")
        first = await terminal.until("↳ ✅", after=card)
        await terminal.type("/eon top")
        asked = await terminal.until("> /eon top", after=first)
        await terminal.until("  1. ", after=asked)  # the table's first row
        await terminal.type("stall 6")
        held = await terminal.until("held still for 6 s")
        await terminal.until("has shown no progress", after=held)
        await terminal.until("moves again", after=held)
        process.send_signal(signal.SIGINT)
        _, err = await asyncio.wait_for(process.communicate(), STOP_LIMIT_S * 3)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 130, err.decode()
    assert "Traceback" not in err.decode(), err.decode()
    left = [p for p in _found(tmp_path, "eon-bot-try-*") if "charts" not in p.name]
    assert not left, "the work folder is removed"
    assert not _found(tmp_path, "*.db"), "nothing written where it was started"

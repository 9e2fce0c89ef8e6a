"""The demo's terminal reads like the Slack channel: names not ids, no internal event names,
bold as bold, no clock-only edits. Also the demo itself, end to end, in a short run."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest

from bot.sandbox.demo import demo
from bot.sandbox.fakeslack import Message
from bot.sandbox.stack import CHANNEL_NAME
from bot.sandbox.terminal import TerminalPrinter, clockless

CARD = "EON Tuner run 4 · project 1\n*Running* 3\n*Training time* 1m 00s of 2h 13m\n*Wall time* 0s"


def _card(text: str, *edits: str) -> Message:
    earlier = tuple(Message("C0", "1.0", text=t) for t in edits)
    return Message("C0", "1.0", text=text, edits=earlier)


@pytest.mark.parametrize(
    ("bold", "shown"),
    [(True, "\033[1mRunning\033[0m 3"), (False, "Running 3"), (None, "Running 3")],
)
def test_bold_is_terminal_bold_only_on_a_terminal(bold: bool | None, shown: str) -> None:
    out = io.StringIO()  # not a terminal: the default is no escapes
    TerminalPrinter(out, bold=bold)(_card(CARD), "post")
    assert f"│ {shown}" in out.getvalue().splitlines()
    assert "*" not in out.getvalue()


def test_channels_by_name() -> None:
    out = io.StringIO()
    TerminalPrinter(out, channel_names={"C0": "eon-runs"})(_card(CARD), "post")
    assert out.getvalue().startswith("┌─ #eon-runs ─")


def test_clock_only_edits_are_collapsed_into_the_next_real_change() -> None:
    out = io.StringIO()
    printer = TerminalPrinter(out)
    printer(_card(CARD), "post")
    ticked = (
        CARD.replace("1m 00s", "5m 00s")
        .replace("0s\n", "0s\n")
        .replace("Wall time* 0s", "Wall time* 2m 30s")
    )
    printer(_card(ticked, CARD), "update")
    assert "card updated" not in out.getvalue()
    moved = ticked.replace("*Running* 3", "*Running* 2").replace("5m 00s", "9m 00s")
    printer(_card(moved, CARD, ticked), "update")
    updates = out.getvalue().split("(card updated) ", 1)[1].splitlines()
    assert updates[0] == "Running 2"
    assert any("9m 00s" in line for line in updates)  # the clock comes along with it


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ("Wall time 0s      Target x", "Wall time 1h 02m  Target x", True),
        ("Used 1m 00s of 2h 13m", "Used 19m 00s of 2h 13m", True),
        ("Running 3", "Running 2", False),
        ("latency 9.0 ms", "latency 8.0 ms", False),
    ],
)
def test_clockless(a: str, b: str, same: bool) -> None:
    assert (clockless(a) == clockless(b)) is same


@pytest.mark.slow
async def test_the_demo_reads_like_slack(tmp_path: Path) -> None:
    out = io.StringIO()
    assert await demo(out=out, run_seconds=6.0, keep=tmp_path) == 0  # its charts stay there
    text = out.getvalue()
    lines = text.splitlines()
    assert f"channel #{CHANNEL_NAME}" in lines[0]
    cards = [line for line in lines if line.startswith("┌─ ")]
    assert cards and all(line.startswith(f"┌─ #{CHANNEL_NAME} ") for line in cards)
    assert not re.search(r"\beon_[a-z_]+", text), "an internal event name is shown"
    assert "*" not in text and "`" not in text and "\033[" not in text
    assert "EON Tuner · EON Tuner" not in text and 'EON Tuner run "EON Tuner' not in text
    assert re.search(r"Workers .*\d+ starting", text) and not re.search(
        r"\d+ pending\b.*ready", text
    )
    assert "Workers: 0 busy, 0 ready, 0 starting" in text  # /eon status says the same word
    # No clock-only edit: each shown card update changes more than a duration.
    seen: set[str] = {clockless(line[2:]) for line in lines if line.startswith("│ ")}
    for block in re.findall(r"\(card updated\) (.*(?:\n {15}.*)*)", text):
        shown = [clockless(line.strip()) for line in block.splitlines()]
        assert any(line not in seen for line in shown), block
        seen.update(shown)

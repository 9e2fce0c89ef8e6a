"""`eon-bot demo`: a whole simulated EON Tuner run through the real pipeline, shown in the terminal.

The simulator plays Edge Impulse and a local Slack-compatible server plays Slack, printing each
message as it arrives; everything in between is what `eon-bot run` runs: the scheduler, the
SQLite store (in a temporary folder), delivery through slack_sdk, and a signed `/eon watch`
sent to the app's own `/slack/events`. No credentials, nothing written elsewhere; it ends by
itself once the run is over, "Use this trial" was pressed on its end message
(`demo_action`: one button, pressed as a user would) and every message is delivered.

The charts the runs end with (uploaded to the stand-in like any file) are the first thing a
person opens afterwards, so they outlive the demo: without `keep` they are written into a new
folder of their own under the system's temporary folder, which the demo does not remove (its
database goes with its temporary work folder), and their paths are printed. `keep` works in that
folder instead and leaves everything there. Each demo starts afresh: a previous demo's
database in `keep` is replaced (not its charts), so a second demo shows the whole run again
rather than a channel that "already watches project 1" and cards a new stand-in never had.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from pathlib import Path
from typing import TextIO

from bot.errors import EonBotError
from bot.sandbox.demo_action import use_best_trial
from bot.sandbox.fakeslack import FakeSlack
from bot.sandbox.fresh import fresh_database, sandbox_folder
from bot.sandbox.simulator.server import SimulatorServer
from bot.sandbox.stack import CHANNEL, CHANNEL_NAME, Stack, running_stack
from bot.sandbox.terminal import TerminalPrinter

PROJECT_ID = "1"
RUN_SECONDS = 30.0  # wall-clock time the simulated run is squeezed into
DEADLINE_SECONDS = 55.0


async def demo(
    *, out: TextIO = sys.stdout, run_seconds: float = RUN_SECONDS, keep: Path | None = None
) -> int:
    started = time.monotonic()
    speed = SimulatorServer().controller.simulation(PROJECT_ID).duration / run_seconds
    with sandbox_folder(keep, "eon-bot-demo-") as folder:
        printer = TerminalPrinter(stream=out, channel_names={CHANNEL: CHANNEL_NAME})
        if fresh_database(Path(folder)):
            printer.say(f"eon-bot demo: the previous demo's database in {folder} starts afresh")
        async with running_stack(Path(folder), speed=speed, on_message=printer) as stack:
            printer.say(
                f"eon-bot demo: Edge Impulse simulator at {stack.simulator.url} "
                f"({speed:.0f}x speed), Slack stand-in at {stack.slack.api_url}, "
                f"channel {printer.channel_name(CHANNEL)}\n"
            )
            for text in ("watch 1", "status"):
                printer.say(f"> /eon {text}")
                reply = await stack.command(text)
                answer = str(reply.json().get("text", "")).splitlines() or [""]
                printer.say("\n".join(f"  {line}" for line in answer) + "\n")
                if text == "watch 1" and not await _wait_until_over(
                    stack, started + DEADLINE_SECONDS - 5
                ):
                    raise DemoUnfinished(DEADLINE_SECONDS)
                if text == "watch 1":
                    await use_best_trial(stack, printer)  # one button, pressed
            charts = Path(folder) if keep is not None else _charts_folder()
            for path in save_charts(stack.slack, charts):
                printer.say(f"chart: {path}")
    print(f"\ndemo over in {time.monotonic() - started:.0f} s", file=out)
    return 0


class DemoUnfinished(EonBotError):
    """The simulated run, or its delivery, did not end in time: a busy machine, or a bug."""

    def __init__(self, seconds: float) -> None:
        super().__init__(
            f"the demo's run was not over and delivered within {seconds:g} s; "
            "the machine may be too busy: try again"
        )


def _charts_folder() -> Path:
    """A folder of the charts' own, outside the work folder the demo removes."""
    return Path(tempfile.mkdtemp(prefix="eon-bot-demo-charts-"))


def save_charts(slack: FakeSlack, folder: Path) -> list[Path]:
    """Each file the stand-in received, written into `folder` under its name."""
    saved: list[Path] = []
    for channel in slack.channels():
        for message in slack.messages(channel):
            for shared in message.files:
                data = slack.file(str(shared["id"])).data
                if data is None:
                    continue
                path = folder / Path(str(shared["name"])).name
                path.write_bytes(data)
                saved.append(path.resolve())
    return saved


async def _wait_until_over(stack: Stack, deadline: float) -> bool:
    """Until the simulated run is over, polled once more, and every message delivered;
    False if `deadline` (monotonic) comes first."""
    controller = stack.simulator.controller
    simulation = controller.simulation(PROJECT_ID)
    while time.monotonic() < deadline:
        await asyncio.sleep(0.5)
        if controller.now(PROJECT_ID) < simulation.duration:
            continue
        snapshot = await stack.bot.store.snapshot(PROJECT_ID)
        if snapshot is not None and snapshot.finished_reported and await stack.bot.delivery.idle():
            return True
    return False

"""`eon-bot try`: the service to play with, Slack's and Edge Impulse's sides simulated.

It starts the tuner simulator, the Slack stand-in and the bot as `eon-bot run` builds it, shows
the channel in the terminal as the demo does, and reads what the person types (`HELP`).

Nothing is watched until `/eon watch 1` (the simulated projects are any number). Its database
lives in a temporary folder removed at the end; `keep` works in a folder of the person's
instead, left in place, and a previous sandbox's database there starts afresh. The runs' charts
are written into a folder of their own (`keep`'s `charts`), shown by their paths. A button's
confirm dialog is shown, then the press is sent: typing `press N` is the confirmation. The bot
has a `SECRET_KEY` of the session's, and the person is a workspace admin, so `/eon key N`
opens its form and stores the key the simulator holds for project N.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import sys
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from bot.sandbox.buttons import Button, ButtonNumbers, buttons_in, describe, press
from bot.sandbox.chartfiles import SavingFiles
from bot.sandbox.fakeslack import FakeSlack, Message, ResponsePost, blocks_to_lines
from bot.sandbox.fresh import fresh_database, sandbox_folder
from bot.sandbox.simulator.simulation import Simulation
from bot.sandbox.stack import CHANNEL, CHANNEL_NAME, USER, Stack, running_stack
from bot.sandbox.terminal import TerminalPrinter
from bot.sandbox.views import Views, issue_key
from bot.stopping import Stopping

HELP = """\
  /eon TEXT      a slash command, signed as Slack sends it (/eon help lists its own)
  buttons        the buttons shown so far, each with its number for the whole session
  press N        presses button N: its confirm dialog is shown and taken as yes
  submit TEXT    types TEXT into the open form (/eon key N opens one) and sends it
  home           the App Home tab, as the bot publishes it
  stall [S]      holds every simulated run still for S seconds (default: STALL_AFTER + 10)
  help           this list
  quit           ends it (so do Ctrl-D and Ctrl-C)"""
ANSWER_WAIT_S = 60.0  # how long a command's delayed answers (its response_url) are shown


@dataclass(slots=True)
class Playground:
    """What the person typed, carried out on the running stack."""

    stack: Stack
    printer: TerminalPrinter
    stall_after: float
    views: Views
    answers: list[Message] = field(default_factory=list)
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    numbers: ButtonNumbers = field(default_factory=ButtonNumbers)

    async def line(self, text: str) -> bool:
        """Carry out one typed line; False once the person asked to end."""
        words = text.split()
        if not words:
            return True
        verb = words[0].lower()
        if verb in ("/eon", "eon"):
            await self.command(text.split(None, 1)[1] if len(words) > 1 else "")
        elif verb in ("quit", "exit"):
            return False
        elif verb in _VERBS:
            await _VERBS[verb](self, words[1:])
        else:
            self.printer.say(f"  not a sandbox command: {words[0]!r} (type help)")
        return True

    async def command(self, text: str) -> None:
        self.printer.say(f"> /eon {text}")
        slack = self.stack.slack
        response_url = slack.response_url()
        self.views.hint = issue_key(self.stack.simulator, text)
        forms = len(slack.views_opened)
        reply = await self.stack.command(
            text, response_url=response_url, trigger_id=slack.trigger_id()
        )
        body: dict[str, Any] = reply.json() if reply.content else {}
        self._answer(str(body.get("text", "")), list(body.get("blocks") or []))
        self._follow(response_url.rsplit("/", 1)[1])
        if self.views.hint is not None:  # /eon key N: its form opens within Slack's 3 s
            with contextlib.suppress(TimeoutError):
                await slack.wait_for(lambda fake: len(fake.views_opened) > forms, timeout=3.0)
            self.views.show_new_forms()

    def _answer(self, text: str, blocks: list[dict[str, Any]]) -> None:
        lines = blocks_to_lines(blocks) if blocks else text.splitlines()
        self.printer.say("\n".join(f"  {line}" for line in lines or [""]) + "\n")
        if blocks:  # its buttons can be pressed, like the channel's
            ts = f"answer.{len(self.answers) + 1}"
            self.answers.append(Message(CHANNEL, ts, text, blocks, visible_to=USER))

    def _follow(self, response_id: str) -> None:
        """Show the command's delayed answers (posts to its response_url) as they come."""

        async def follow() -> None:
            shown = 0

            def new_posts(fake: FakeSlack) -> list[ResponsePost]:
                return fake.responses(response_id)[shown:]

            with contextlib.suppress(TimeoutError):
                while True:
                    posts = await self.stack.slack.wait_for(new_posts, timeout=ANSWER_WAIT_S)
                    shown += len(posts)
                    for post in posts:
                        self._answer(post.text, post.blocks)

        task = asyncio.create_task(follow())
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def buttons(self) -> dict[int, Button]:
        """The buttons shown now, by the number each got when first seen."""
        shown = buttons_in([*self.stack.slack.messages(CHANNEL), *self.answers])
        return self.numbers.number(shown)

    async def show_buttons(self, _: list[str]) -> None:
        found = self.buttons()
        lines = [f"  [{n}] {describe(b)}" for n, b in sorted(found.items())]
        self.printer.say("\n".join(lines) if lines else "  no buttons shown yet")

    async def press(self, args: list[str]) -> None:
        found = self.buttons()
        n = int(args[0]) if len(args) == 1 and args[0].isdigit() else None
        if n is None or n not in found:
            why = "press N, a number that buttons lists"
            if n is not None and self.numbers.given(n):
                why = f"button {n} is no longer shown (its message changed); type buttons"
            self.printer.say(f"  {why}")
            return
        button = found[n]
        if button.confirm:
            self.printer.say(f"  Slack asks first: {button.confirm} (confirmed)")
        self.printer.say(f"> pressed {button.label}")
        if button.url:  # Slack opens the link and tells the app of the press all the same
            self.printer.say(f"  (a browser opens {button.url})")
        response_url = self.stack.slack.response_url()
        reply = await press(
            self.stack.http,
            self.stack.events_url,
            self.stack.secret,
            button,
            user_id=USER,
            channel_name=CHANNEL_NAME,
            response_url=response_url,
        )
        if reply.status_code != 200:
            self.printer.say(f"  the bot answered {reply.status_code}: {reply.text[:200]}")
        self._follow(response_url.rsplit("/", 1)[1])

    async def stall(self, args: list[str]) -> None:
        seconds = self.stall_after + 10
        if args:
            try:
                seconds = float(args[0])
            except ValueError:
                self.printer.say(f"  stall [SECONDS], not {args[0]!r}")
                return
        controller = self.stack.simulator.controller
        held = {pid: controller.now(pid) for pid in controller.started()}
        for pid, t in held.items():
            controller.set_time(pid, t, frozen=True)
        self.printer.say(
            f"  every simulated run held still for {seconds:g} s "
            f"(a stall notice comes after {self.stall_after:g} s)"
        )

        async def release() -> None:
            await asyncio.sleep(seconds)  # the hold itself: the person asked for this long
            for pid, t in held.items():
                controller.set_time(pid, t, frozen=False)
            self.printer.say("  the simulated runs move again")

        task = asyncio.create_task(release())
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def help(self, _: list[str]) -> None:
        self.printer.say(HELP)


_VERBS: dict[str, Callable[[Playground, list[str]], Any]] = {
    "buttons": Playground.show_buttons,
    "press": Playground.press,
    "stall": Playground.stall,
    "help": Playground.help,
    "home": lambda playground, args: playground.views.home(args),
    "submit": lambda playground, args: playground.views.submit(args),
}


async def playground(
    *,
    lines: asyncio.Queue[str | None] | None = None,
    out: TextIO = sys.stdout,
    keep: Path | None = None,
    minutes: float = 5.0,
    stall_after: float = 20.0,
) -> int:
    """Run the sandbox until `quit`, the end of the input (a None line) or SIGINT/SIGTERM;
    Ctrl-C (SIGINT) ends it as KeyboardInterrupt once all is cleaned up, for its exit status.
    `lines` defaults to the terminal's input."""
    speed = Simulation("1").duration / (minutes * 60)
    printer = TerminalPrinter(stream=out, channel_names={CHANNEL: CHANNEL_NAME})
    with sandbox_folder(keep, "eon-bot-try-") as folder:  # `keep` checked first
        lines = lines if lines is not None else _stdin_lines()  # once `keep` is good
        charts = _charts_folder(keep)
        files = SavingFiles(printer, charts)
        if fresh_database(Path(folder)):
            printer.say(f"eon-bot try: the previous sandbox's database in {folder} starts afresh")
        async with running_stack(
            Path(folder),
            speed=speed,
            on_message=files,
            poll_interval=1.0,
            stall_after=stall_after,
            secret_key=secrets.token_urlsafe(48),
        ) as stack:
            files.slack = stack.slack
            stack.slack.set_user(USER, is_admin=True)  # may add keys with /eon key
            printer.say(
                f"eon-bot try: Edge Impulse simulator at {stack.simulator.url} (a run takes "
                f"{minutes:g} min), Slack stand-in at {stack.slack.api_url}, the bot at "
                f"{stack.events_url}, channel {printer.channel_name(CHANNEL)}, charts "
                f"written to {charts}.\n"
                f"Type /eon watch 1 to start, help for the rest, Ctrl-C to end.\n"
            )
            views = Views(stack, printer)
            stopping = await _serve(Playground(stack, printer, stall_after, views), lines)
    with contextlib.suppress(OSError):
        charts.rmdir()  # only when no chart was written
    printer.say(f"eon-bot try: stopped{'' if keep else '; its temporary folder removed'}")
    stopping.end()  # Ctrl-C: exit 130
    return 0


def _charts_folder(keep: Path | None) -> Path:
    """`keep`'s `charts`, else a folder of their own that outlives the sandbox's."""
    if keep is None:
        return Path(tempfile.mkdtemp(prefix="eon-bot-try-charts-"))
    (keep / "charts").mkdir(parents=True, exist_ok=True)
    return (keep / "charts").resolve()


async def _serve(playground: Playground, lines: asyncio.Queue[str | None]) -> Stopping:
    """Lines until the end, a signal stopping it as cleanly as `quit`; how it was stopped."""
    with Stopping() as stopping:
        stopped = asyncio.ensure_future(stopping.event.wait())
        try:
            while True:
                line = asyncio.ensure_future(lines.get())
                await asyncio.wait({line, stopped}, return_when=asyncio.FIRST_COMPLETED)
                if stopping.event.is_set() or line.result() is None:
                    line.cancel()
                    return stopping
                if not await playground.line(str(line.result())):
                    return stopping
        finally:
            stopped.cancel()
            for task in list(playground.tasks):
                task.cancel()
            await asyncio.gather(*playground.tasks, return_exceptions=True)


def _stdin_lines() -> asyncio.Queue[str | None]:
    """The terminal's lines, read by a daemon thread (a blocked read never holds the exit);
    None at the end of the input."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[str | None] = asyncio.Queue()

    def read() -> None:
        with contextlib.suppress(RuntimeError):  # the loop closed: the sandbox has ended
            for text in sys.stdin:
                loop.call_soon_threadsafe(queue.put_nowait, text.rstrip("\n"))
            loop.call_soon_threadsafe(queue.put_nowait, None)

    threading.Thread(target=read, name="eon-bot-try-stdin", daemon=True).start()
    return queue

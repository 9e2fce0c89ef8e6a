"""`eon-bot try` does what it lists: a button keeps the number it was listed with while new
messages arrive, `help` names every command, and `/eon key`'s form and the Home tab can be
tried, the key stored under the sandbox's own SECRET_KEY."""

from __future__ import annotations

import asyncio
import io
import re
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from slack_sdk.models.blocks import ActionsBlock, ButtonElement, SectionBlock
from slack_sdk.web.async_client import AsyncWebClient

from bot.sandbox.buttons import ButtonNumbers, buttons_in
from bot.sandbox.fakeslack import Message
from bot.sandbox.playground import _VERBS, HELP, Playground
from bot.sandbox.stack import CHANNEL, CHANNEL_NAME, TOKEN, USER, running_stack
from bot.sandbox.terminal import TerminalPrinter
from bot.sandbox.views import Views, project_key

HANG_GUARD_S = 20.0


def _blocks(title: str, *buttons: tuple[str, str]) -> list[dict[str, Any]]:
    elements = [
        ButtonElement(text=label, action_id=action, value=label) for label, action in buttons
    ]
    actions = [ActionsBlock(elements=elements).to_dict()] if elements else []
    return [SectionBlock(text=title).to_dict(), *actions]


@asynccontextmanager
async def _playground(
    tmp_path: Path, **settings: Any
) -> AsyncIterator[tuple[Playground, io.StringIO]]:
    out = io.StringIO()
    printer = TerminalPrinter(stream=out, channel_names={CHANNEL: CHANNEL_NAME})
    async with running_stack(tmp_path, **settings) as stack:
        yield Playground(stack, printer, 20.0, Views(stack, printer)), out


def _listed(out: str) -> dict[int, str]:
    return {int(n): label for n, label in re.findall(r"^  \[(\d+)\] (.+?)  \(on:", out, re.M)}


async def test_press_n_presses_the_button_listed_as_n_after_new_messages_arrive(
    tmp_path: Path,
) -> None:
    async with _playground(tmp_path) as (playground, out):
        stack = playground.stack
        pressed: asyncio.Queue[str] = asyncio.Queue()

        @stack.bot.bolt.action(re.compile("^try_"))
        async def on_press(ack: Any, action: dict[str, Any]) -> None:
            await ack()
            await pressed.put(str(action["value"]))

        stack.slack.add_message(
            CHANNEL, "card", blocks=_blocks("card", ("Open", "try_open"), ("Stop", "try_stop"))
        )
        # An answer only the person sees (as /eon top's), listed after the channel's messages.
        answer = _blocks("top", ("Use #1", "try_use"))
        playground.answers.append(Message(CHANNEL, "answer.1", "top", answer, visible_to=USER))
        await playground.line("buttons")
        assert _listed(out.getvalue()) == {1: "Open", 2: "Stop", 3: "Use #1"}

        # New channel messages arrive; the listed numbers stay what they were.
        for n in range(3):
            stack.slack.add_message(
                CHANNEL, f"trial {n}", blocks=_blocks(f"trial {n}", (f"Trial {n}", "try_trial"))
            )
        await playground.line("press 3")
        assert await asyncio.wait_for(pressed.get(), HANG_GUARD_S) == "Use #1"

        out.seek(0)
        out.truncate()
        await playground.line("buttons")
        assert _listed(out.getvalue()) == {
            1: "Open",
            2: "Stop",
            3: "Use #1",
            4: "Trial 0",
            5: "Trial 1",
            6: "Trial 2",
        }
        await playground.line("press 5")
        assert await asyncio.wait_for(pressed.get(), HANG_GUARD_S) == "Trial 1"


def test_a_button_that_goes_away_leaves_its_number_unused() -> None:
    card = Message(CHANNEL, "1.0", blocks=_blocks("card", ("Open", "a"), ("Stop", "b")))
    numbers = ButtonNumbers()
    assert {n: b.label for n, b in numbers.number(buttons_in([card])).items()} == {
        1: "Open",
        2: "Stop",
    }
    ended = Message(CHANNEL, "1.0", blocks=_blocks("card", ("Open", "a")))  # Stop is gone
    later = Message(CHANNEL, "2.0", blocks=_blocks("end", ("Use", "c")))
    shown = numbers.number(buttons_in([ended, later]))
    assert {n: b.label for n, b in shown.items()} == {1: "Open", 3: "Use"}
    assert numbers.given(2) and not numbers.given(4)


async def test_pressing_a_gone_button_says_so_and_presses_nothing(tmp_path: Path) -> None:
    async with _playground(tmp_path) as (playground, out):
        slack = playground.stack.slack
        client = AsyncWebClient(token=TOKEN, base_url=slack.api_url)
        card = await client.chat_postMessage(
            channel=CHANNEL, text="card", blocks=_blocks("card", ("Stop", "try_stop"))
        )
        await playground.line("buttons")
        await client.chat_update(
            channel=CHANNEL, ts=card["ts"], text="card", blocks=_blocks("card")
        )
        await playground.line("press 1")
        assert "button 1 is no longer shown" in out.getvalue()
        assert "> pressed" not in out.getvalue()


def test_help_lists_every_command() -> None:
    listed = set(re.findall(r"^  (\S+)", HELP, re.M))
    assert listed == {"/eon", "quit", *_VERBS}


async def test_the_key_form_and_the_home_tab_can_be_tried(tmp_path: Path) -> None:
    secret = secrets.token_urlsafe(48)
    async with _playground(tmp_path, secret_key=secret) as (playground, out):
        playground.stack.slack.set_user(USER, is_admin=True)
        await playground.line("/eon key 1")
        assert "form: Edge Impulse key" in out.getvalue()
        assert f"submit {project_key('1')}" in out.getvalue()

        await playground.line("submit ei_not_a_key_" + "0" * 30)
        assert "the form stays open: Edge Impulse refused" in out.getvalue()
        await playground.line(f"submit {project_key('1')}")
        assert "the form closed" in out.getvalue()
        await playground.stack.slack.wait_for(
            lambda fake: any(
                "now has an Edge Impulse key" in m.text for m in fake.messages(CHANNEL)
            ),
            timeout=HANG_GUARD_S,
        )

        await playground.line("/eon watch 1")
        await playground.line("home")
        home = out.getvalue().split("Home tab", 1)[1]
        assert "stored with /eon key" in home and "Channels: #eon-runs" in home

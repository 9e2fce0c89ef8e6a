"""The buttons that act on a run, pressed on the real `eon-bot run` process: clicks sent as
Slack sends them (a signed `block_actions` POST, or an `interactive` envelope over Socket
Mode), against the simulator's job routes (which count what reached "Edge Impulse") and
FakeSlack (which shows the thread and the ephemeral answers).

ADMIN_USER_IDS names the harness's user; `OTHER` may not act."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import pytest
from slack_sdk.models.blocks import Block

from bot.sandbox.buttons import Button, block_actions_payload, buttons_in, press
from bot.sandbox.fakeslack import FakeSlack, Message
from bot.sandbox.simulator.jobs import JOBS_KEY, JobBook
from bot.sandbox.socketmode import SocketModeServer
from bot.slack.actions import CLAIM_S
from bot.slack.render.actions import ACTION_IDS
from tests.e2e.harness import (
    ACK_LIMIT_S,
    CHANNEL,
    SIGNING_SECRET,
    USER,
    BotProcess,
    Stack,
    bot_environment,
    e2e_stack,
    explain,
    free_port,
)

pytestmark = pytest.mark.e2e

OTHER: Final = "U0NOTADMIN"
STOP, EXTEND, USE = "eon_stop_run", "eon_extend_search", "eon_use_trial"
WAIT_S: Final = 30.0  # a loaded machine: generous, and only ever waited on a condition


def book(stack: Stack) -> JobBook:
    return stack.simulator.app[JOBS_KEY]


def button_of(message: Message, action_id: str) -> Button | None:
    return next((b for b in buttons_in([message]) if b.action_id == action_id), None)


def message_with(fake: FakeSlack, action_id: str) -> Message | None:
    """The newest message of the channel showing this button (replies included)."""
    shown = [m for m in fake.messages(CHANNEL) if button_of(m, action_id)]
    return shown[-1] if shown else None


def audit_lines(fake: FakeSlack, kind: str = "eon_action_taken") -> list[Message]:
    return [m for m in fake.messages(CHANNEL) if m.event_type == kind]


def assert_valid_with_confirms(message: Message) -> None:
    """slack_sdk's models accept the blocks, and each button that acts has a confirm."""
    for raw in message.blocks:
        block = Block.parse(raw)
        assert block is not None
        block.validate_json()
    for button in buttons_in([message]):
        if button.action_id in ACTION_IDS:
            confirm = button.element.get("confirm") or {}
            assert {"title", "text", "confirm", "deny"} <= confirm.keys(), button.element
            assert "project 1" in confirm["text"]["text"]


@dataclass
class Clicker:
    """Presses buttons over HTTP on one or more bot processes."""

    stack: Stack

    async def press(
        self, message: Message, action_id: str, user: str, *, bot: BotProcess | None = None
    ) -> str:
        """Click; returns the response_url's id, where the ephemeral answer (if any) lands."""
        button = button_of(message, action_id)
        assert button is not None, f"no {action_id} button"
        url = self.stack.slack.response_url()
        target = bot or self.stack.bot
        loop = asyncio.get_running_loop()
        started = loop.time()
        response = await press(
            self.stack.http, target.events_url, SIGNING_SECRET, button,
            user_id=user, channel_name="eon-runs", response_url=url,
        )  # fmt: skip
        took = loop.time() - started
        assert response.status_code == 200, response.text
        assert took < ACK_LIMIT_S, f"click acknowledged in {took:.2f}s"
        return url.rsplit("/", 1)[1]

    async def answer(self, response_id: str) -> str:
        fake = self.stack.slack
        [post] = await fake.wait_for(lambda f: f.responses(response_id), timeout=WAIT_S)
        assert post.response_type == "ephemeral" and not post.replace_original
        return post.text


@contextlib.asynccontextmanager
async def started(tmp_path: Path, **options: Any) -> AsyncIterator[tuple[Stack, Clicker]]:
    extra = {"ADMIN_USER_IDS": USER} | options.pop("extra_env", {})
    async with e2e_stack(tmp_path, trials=8, extra_env=extra, **options) as stack:
        book(stack).use_job_s = 0.5
        yield stack, Clicker(stack)


async def test_stop_who_may_twice_at_once_audit_and_the_button_gone(tmp_path: Path) -> None:
    async with started(tmp_path) as (stack, clicker):
        run = stack.simulation.runs[0]
        with explain(stack.bot):
            await stack.bot.start()
            await stack.watch()
            await stack.advance(run.first_start + 30)
            card = await stack.slack.wait_for(lambda f: message_with(f, STOP), timeout=WAIT_S)
            assert_valid_with_confirms(card)

            refused = await clicker.answer(await clicker.press(card, STOP, OTHER))
            assert refused.startswith("⛔ Only eon-bot admins") and f"<@{USER}>" in refused
            assert book(stack).requests_to("cancel") == []

            a, b = await asyncio.gather(
                clicker.press(card, STOP, USER), clicker.press(card, STOP, USER)
            )
            [audit] = await stack.slack.wait_for(audit_lines, timeout=WAIT_S)
            assert len(book(stack).requests_to("cancel")) == 1
            assert (
                book(stack)
                .requests_to("cancel")[0]
                .path.endswith(f"/jobs/{run.coordinator_job_id}/cancel")
            )
            [loser] = await stack.slack.wait_for(
                lambda f: [r for r in (a, b) if f.responses(r)], timeout=WAIT_S
            )
            second = await clicker.answer(loser)
            assert "nothing was done again" in second.lower() or "awaited" in second
            assert audit.thread_ts == card.ts and "stopped the run" in audit.text
            assert audit.metadata is not None
            meta = audit.metadata["event_payload"]
            assert (meta["action"], meta["user_id"]) == ("stop", USER)
            assert meta["job_id"] == str(run.coordinator_job_id)
            assert_valid_with_confirms(audit)

            # The run ended: at the card's next edit the button is gone.
            await stack.slack.wait_for(
                lambda f: not button_of(f.message(CHANNEL, card.ts), STOP),
                timeout=WAIT_S,
            )
            again = await clicker.answer(await clicker.press(card, STOP, USER))
            assert again.startswith("✅ Already done by") and len(book(stack).requests) == 1
            # The run's end and its card say it was stopped, and by whom (not "finished"):
            # "stopped by", or "ended after … asked" if the poll saw the end before the answer.
            [end] = await stack.slack.wait_for(
                lambda f: [m for m in f.messages(CHANNEL) if m.event_type == "eon_job_finished"],
                timeout=WAIT_S,
            )
            assert end.text.startswith("⏹") and f"<@{USER}>" in end.text, end.text
            shown = stack.slack.message(CHANNEL, card.ts).text
            assert f"⏹ *Stopped* by <@{USER}>" in shown or f"after <@{USER}> asked" in shown


async def test_use_and_extend_from_the_end_message_and_top(tmp_path: Path) -> None:
    async with started(tmp_path) as (stack, clicker):
        simulation = stack.controller.configure(stack.project_id, extend=False)
        first = simulation.runs[0]
        assert first.time_limit_at is not None
        with explain(stack.bot):
            await stack.bot.start()
            await stack.watch()
            await stack.advance(first.end + 1)
            end = await stack.slack.wait_for(
                lambda f: [m for m in f.messages(CHANNEL) if m.event_type == "eon_job_finished"],
                timeout=WAIT_S,
            )
            end_message = end[-1]
            assert_valid_with_confirms(end_message)
            for action_id in (USE, EXTEND):
                said = await clicker.answer(await clicker.press(end_message, action_id, OTHER))
                assert said.startswith("⛔")
            assert book(stack).requests == []

            await asyncio.gather(*(clicker.press(end_message, USE, USER) for _ in range(2)))
            await stack.slack.wait_for(
                lambda f: audit_lines(f, "eon_action_outcome"), timeout=WAIT_S
            )
            assert len(book(stack).requests_to("set-tuner-primary-job")) == 1
            [used] = audit_lines(stack.slack)
            assert "as the impulse" in used.text and used.thread_ts is not None
            [outcome] = audit_lines(stack.slack, "eon_action_outcome")
            assert outcome.thread_ts == used.thread_ts
            assert "https://studio.edgeimpulse.com/studio/1/impulse/" in outcome.text
            assert_valid_with_confirms(outcome)

            top = await stack.command("top")  # ephemeral: only the asker sees it
            shown = Message(CHANNEL, "9.9", blocks=top.body["blocks"], visible_to=USER)
            assert_valid_with_confirms(shown)
            rows = [b.element for b in buttons_in([shown]) if b.action_id == USE]
            used_id = (used.metadata or {})["event_payload"]["trial_id"]
            other = next(el for el in rows if json.loads(el["value"])["t"] != used_id)
            row = Message(CHANNEL, "9.9", blocks=[{"type": "actions", "elements": [other]}],
                          visible_to=USER)  # fmt: skip
            rid = await clicker.press(row, USE, USER)
            await stack.slack.wait_for(
                lambda f: len(audit_lines(f)) == 2 or f.responses(rid), timeout=WAIT_S
            )
            assert not stack.slack.responses(rid), stack.slack.responses(rid)
            again = await clicker.answer(await clicker.press(row, USE, USER))
            assert again.startswith("✅ Already done by")

            await asyncio.gather(*(clicker.press(end_message, EXTEND, USER) for _ in range(2)))
            await stack.slack.wait_for(lambda f: len(audit_lines(f)) == 3, timeout=WAIT_S)
            [extend] = book(stack).requests_to("optimize")
            assert extend.query == (("extendedFromJobId", str(first.coordinator_job_id)),)
            extended = audit_lines(stack.slack)[-1]
            assert "extended the search (job " in extended.text
            # The extended search is a new run: the usual flow gives it its own card.
            await stack.slack.wait_for(
                lambda f: any("(extended search)" in m.text for m in f.top_level(CHANNEL)),
                timeout=WAIT_S,
            )


async def test_buttons_over_socket_mode(tmp_path: Path) -> None:
    extra = {"SLACK_APP_TOKEN": "xapp-1-e2e-app-level-token"}
    async with started(tmp_path, extra_env=extra) as (stack, _), SocketModeServer() as server:
        stack.slack.enable_socket_mode(extra["SLACK_APP_TOKEN"], server.open_url)
        del stack.bot.env["SLACK_SIGNING_SECRET"]
        run = stack.simulation.runs[0]
        with explain(stack.bot):
            await stack.bot.start()
            await server.wait_for_hellos(1)
            ack = await server.slash_command(
                "watch 1", channel_id=CHANNEL, user_id=USER, response_url=stack.slack.response_url()
            )
            assert "Watching project 1" in str((ack.payload or {}).get("text"))
            await stack.advance(run.first_start + 30)
            card = await stack.slack.wait_for(lambda f: message_with(f, STOP), timeout=WAIT_S)
            button = button_of(card, STOP)
            assert button is not None

            async def press_over_socket(user: str) -> str:
                url = stack.slack.response_url()
                payload = block_actions_payload(
                    button, user_id=user, channel_name="eon-runs", response_url=url
                )
                acked = await server.interactive(payload)
                assert acked.seconds < ACK_LIMIT_S
                return url.rsplit("/", 1)[1]

            refused = await Clicker(stack).answer(await press_over_socket(OTHER))
            assert refused.startswith("⛔") and book(stack).requests == []
            await asyncio.gather(press_over_socket(USER), press_over_socket(USER))
            [audit] = await stack.slack.wait_for(audit_lines, timeout=WAIT_S)
            assert audit.thread_ts == card.ts
            assert len(book(stack).requests_to("cancel")) == 1


@pytest.mark.postgres
async def test_two_replicas_receiving_the_same_click_start_one_job(
    tmp_path: Path, postgres_url: str
) -> None:
    async with started(tmp_path, database_url=postgres_url) as (stack, clicker):
        simulation = stack.controller.configure(stack.project_id, extend=False)
        first = simulation.runs[0]
        env = bot_environment(
            slack_api_url=stack.slack.api_url, ei_api_url=stack.simulator.url,
            database_url=postgres_url, extra={"ADMIN_USER_IDS": USER},
        )  # fmt: skip
        other = BotProcess(tmp_path, {**env, "PORT": str(free_port())}, name="replica")
        try:
            with explain(stack.bot, other):
                await stack.bot.start()
                await other.start()
                await stack.watch()
                await stack.advance(first.end + 1)
                end = await stack.slack.wait_for(lambda f: message_with(f, EXTEND), timeout=WAIT_S)
                presses = [
                    clicker.press(end, EXTEND, USER, bot=bot)
                    for bot in (stack.bot, other, stack.bot, other)
                ]
                ids = await asyncio.gather(*presses)
                await stack.slack.wait_for(audit_lines, timeout=WAIT_S)
                # Every click has been handled once three of them were told it was done.
                await stack.slack.wait_for(
                    lambda f: sum(bool(f.responses(i)) for i in ids) >= 3, timeout=WAIT_S
                )
                assert len(book(stack).requests_to("optimize")) == 1
                assert len(audit_lines(stack.slack)) == 1
        finally:
            await other.close()


async def test_a_crash_between_the_record_and_the_answer_is_told_as_unknown(
    tmp_path: Path,
) -> None:
    """The bot dies (SIGKILL) while Edge Impulse is still answering the stop; the next start
    finds the claim it left (its holder is gone: at once, not when it expires) and says in the
    thread that nobody knows whether it was done, naming the clicker."""
    async with started(tmp_path) as (stack, clicker):
        run = stack.simulation.runs[0]
        with explain(stack.bot):
            await stack.bot.start()
            await stack.watch()
            await stack.advance(run.first_start + 30)
            card = await stack.slack.wait_for(lambda f: message_with(f, STOP), timeout=WAIT_S)
            # The request arrives; its answer never reaches the bot (the simulator's shutdown
            # waits for the held answer: a few seconds, not a minute).
            book(stack).delay_s = 5.0
            await clicker.press(card, STOP, USER)
            clicked = asyncio.get_running_loop().time()
            await stack.slack.wait_for(lambda _: book(stack).requests_to("cancel"), timeout=WAIT_S)
            await stack.bot.kill()
            await stack.bot.start()
            [notice] = await stack.slack.wait_for(audit_lines, timeout=WAIT_S)
            took = asyncio.get_running_loop().time() - clicked
            assert took < CLAIM_S, f"told {took:.1f}s after the click: only when it expired"
            assert notice.thread_ts == card.ts and notice.metadata is not None
            assert f"<@{USER}> asked to stop the run" in notice.text  # the clicker hears
            meta = notice.metadata["event_payload"]
            assert (meta["action"], meta["outcome"]) == ("stop", "unknown")
            assert "does not know whether Edge Impulse did it" in notice.text
            assert "stopped before Edge Impulse answered" in notice.text
            again = await clicker.answer(await clicker.press(card, STOP, USER))
            assert "not known" in again and len(book(stack).requests_to("cancel")) == 1

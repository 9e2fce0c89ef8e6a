"""End to end on the real `eon-bot run` processes: the daily digest, with two replicas on one
PostgreSQL database. `/eon digest now` through one replica posts one digest at once; a digest
set through the other for the current minute (UTC) is posted that minute, once, though both
replicas look for due digests every few seconds; `/eon list` names its time; a malformed time
answers in one line."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.sandbox.fakeslack import FakeSlack, Message
from tests.ports import free_port

from .harness import CHANNEL, BotProcess, CommandReply, Stack, assert_ack, e2e_stack, explain

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

WAIT_S = 30.0


def digests(fake: FakeSlack) -> list[Message]:
    return [m for m in fake.messages(CHANNEL) if m.event_type == "eon_digest"]


async def via(stack: Stack, bot: BotProcess, text: str) -> CommandReply:
    return await bot.command(stack.http, text, response_url=stack.slack.response_url())


async def test_digest_now_and_at_its_minute_once_with_two_replicas(
    tmp_path: Path, postgres_url: str
) -> None:
    async with e2e_stack(tmp_path, trials=8, database_url=postgres_url) as stack:
        other = BotProcess(tmp_path, {**stack.bot.env, "PORT": str(free_port())}, name="b")
        fake = stack.slack
        try:
            with explain(stack.bot, other):
                await asyncio.gather(stack.bot.start(), other.start())
                await stack.watch()
                assert_ack(await via(stack, other, "digest 25:00"), "is not a time of day")

                assert_ack(await via(stack, other, "digest now"), "on its way")
                [now] = await fake.wait_for(digests, timeout=WAIT_S)
                assert now.metadata is not None and now.thread_ts is None
                payload = now.metadata["event_payload"]
                assert payload["channel_id"] == CHANNEL
                assert [p["project_id"] for p in payload["projects"]] == [stack.project_id]
                assert payload["projects"][0]["runs_started"] == 1

                clock = datetime.now(UTC)
                if clock.second >= 50:  # the minute must last past the command: the next one
                    await asyncio.sleep(60.2 - clock.second - clock.microsecond / 1e6)
                minute = datetime.now(UTC).strftime("%H:%M")
                reply = await via(stack, stack.bot, f"digest {minute}")
                assert_ack(reply, f"Daily digest here at {minute} (UTC), the first today")
                await fake.wait_for(lambda f: len(digests(f)) == 2, timeout=WAIT_S)
                day = datetime.now(UTC).date().isoformat()
                scheduled = digests(fake)[1].metadata or {}
                assert scheduled["event_payload"]["event_key"] == f"digest:{CHANNEL}:{day}"
                assert_ack(await via(stack, other, "list"), f"🗞 daily digest at {minute} (UTC)")
                # Both replicas look every 2 s: a second one that day would be there by now.
                with pytest.raises(TimeoutError):
                    await fake.wait_for(lambda f: len(digests(f)) > 2, timeout=6.0)
        finally:
            await other.close()

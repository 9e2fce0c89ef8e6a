"""Delivery against the real store and the Slack stand-in, for races a whole run rarely hits."""

from __future__ import annotations

import asyncio
from pathlib import Path

from slack_sdk.web.async_client import AsyncWebClient

from bot.core.events import Event, EventKind
from bot.sandbox.fakeslack import FakeSlack
from bot.slack.delivery import Delivery
from bot.store import Outage, OutboxRow, Store

CHANNEL = "C0RACE"


class UnwatchedWhileRead(Store):
    """The channel unsubscribes right after delivery has read its outbox."""

    raced = False

    async def outbox(self, channel_id: str, *, limit: int = 100) -> list[OutboxRow]:
        rows = await super().outbox(channel_id, limit=limit)
        if rows:
            self.raced = await self.unsubscribe(channel_id, "7")
        return rows


async def test_a_row_unsubscribed_after_it_was_read_is_not_posted(tmp_path: Path) -> None:
    store = await UnwatchedWhileRead.open(f"sqlite:///{tmp_path}/bot.db")
    async with FakeSlack() as fake:
        slack = AsyncWebClient(token="xoxb-test", base_url=fake.api_url)
        delivery = Delivery(store=store, slack=slack, idle_s=0.05)
        await store.subscribe(CHANNEL, "7", added_by="U1")
        event = Event(kind=EventKind.API_RECOVERED, key="7:outage:x", project_id="7")
        assert await store.save_poll("7", snapshot=None, events=[event], outage=Outage()) == 1
        runner = asyncio.create_task(delivery.run())
        delivery.wake()
        for _ in range(40):  # until delivery has read the row
            await asyncio.sleep(0.05)
            if store.raced:
                break
        await asyncio.sleep(0.3)  # time for a wrong post to be made
        await delivery.stop()
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)
    await store.close()
    assert store.raced, "the race was never set up: the test would prove nothing"
    assert fake.calls_to("chat.postMessage") == []

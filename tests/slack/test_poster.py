"""Delivery's exactly-once post (`bot.slack.delivery.poster`) below the process: a row left
`attempting` (its answer lost, or a crash before the post) is looked for in the channel by its
event key before anything is posted, and recorded as sent with the message found; a run's card
found that way becomes the card that is edited. The real store and the Slack stand-in; the
end-to-end crash tests do the same through a killed process."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import select

from bot.core.diff import diff
from bot.core.events import EventKind
from bot.sandbox.fakeslack import FakeSlack
from bot.store import Outage, Store
from bot.store.schema import outbox
from tests.factories import state, trial
from tests.slack.test_delivery import CHANNEL, HANG_S, delivering, owe

T = ""  # the workspace of the rows these tests write (single mode: adopted at start)


async def rows(store: Store) -> list[tuple[str, str | None, str]]:
    """Each outbox row's (state, ts, kind), oldest first."""
    query = select(outbox.c.state, outbox.c.ts, outbox.c.kind).order_by(outbox.c.id)
    async with store.backend.read() as conn:
        return [(r.state, r.ts, r.kind) for r in await conn.execute(query)]


async def sent(store: Store) -> list[tuple[str, str | None, str]]:
    """The rows once all are sent (waited for under a hang guard)."""
    async with asyncio.timeout(HANG_S):
        while True:
            found = await rows(store)
            if found and all(state == "sent" for state, _, _ in found):
                return found
            await asyncio.sleep(0.02)


async def test_a_post_whose_answer_was_lost_is_found_not_posted_again(tmp_path: Path) -> None:
    async with (
        FakeSlack() as fake,
        delivering(tmp_path, fake, max_backoff_s=0.02) as (
            store,
            delivery,
        ),
    ):
        fake.fail_next("chat.postMessage", drop_connection=True, take_effect=True)
        await owe(store)
        delivery.wake()
        [(_, ts, _)] = await sent(store)
        [message] = fake.messages(CHANNEL)
        assert ts == message.ts  # recorded as the message found, so later edits reach it
        assert len(fake.calls_to("chat.postMessage")) == 1
        assert fake.calls_to("conversations.history")  # it looked before deciding


async def test_a_row_left_attempting_with_nothing_posted_is_posted_once(tmp_path: Path) -> None:
    async with (
        FakeSlack() as fake,
        delivering(tmp_path, fake, max_backoff_s=0.02) as (
            store,
            delivery,
        ),
    ):
        await owe(store)
        [row] = await store.outbox(T, CHANNEL)
        assert await store.mark_attempting(row.id)  # a crash right after this: nothing posted
        delivery.wake()
        [(_, ts, _)] = await sent(store)
        [message] = fake.messages(CHANNEL)
        assert ts == message.ts and len(fake.calls_to("chat.postMessage")) == 1


async def test_a_card_whose_answer_was_lost_is_found_and_becomes_the_card(
    tmp_path: Path,
) -> None:
    async with (
        FakeSlack() as fake,
        delivering(tmp_path, fake, max_backoff_s=0.02) as (
            store,
            delivery,
        ),
    ):
        events, snap = diff(None, state(trial("a", "running")), project_id="7")
        assert [e.kind for e in events] == [EventKind.RUN_STARTED]
        fake.fail_next("chat.postMessage", drop_connection=True, take_effect=True)
        await store.save_poll("7", snapshot=snap, events=events, outage=Outage())
        delivery.wake()
        [(_, ts, _)] = await sent(store)
        [message] = fake.top_level(CHANNEL)
        card = await store.card(T, CHANNEL, "7", "11")
        assert card is not None and card.ts == ts == message.ts
        assert len(fake.calls_to("chat.postMessage")) == 1

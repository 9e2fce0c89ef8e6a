"""Delivery against the real store and the Slack stand-in, for races a whole run rarely hits."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from bot.core.events import Event, EventKind
from bot.sandbox.fakeslack import FakeSlack
from bot.slack.delivery import (
    CARD_EDIT_GAP_MAX_S,
    CARD_EDITS_PER_MINUTE,
    CARD_SHOWN_FOR_S,
    MAX_ATTEMPTS,
    Delivery,
    card_edit_gap,
)
from bot.slack.delivery import drain as drain_module
from bot.slack.listeners.eon_answers import subscription_line
from bot.slack.tokens import OneWorkspace
from bot.store import Outage, OutboxRow, Store, TeamChannel

T = ""  # the workspace of the rows these tests write (single mode: adopted at start)

CHANNEL = "C0RACE"
HANG_S = 60.0  # a deadline only against a hang: what it waits for comes in well under 1 s


class UnwatchedWhileRead(Store):
    """The channel unsubscribes right after delivery has read its outbox."""

    raced = False

    async def outbox(self, team: str, channel_id: str, *, limit: int = 100) -> list[OutboxRow]:
        rows = await super().outbox(team, channel_id, limit=limit)
        if rows:
            self.raced = await self.unsubscribe(team, channel_id, "7")
        return rows


async def test_a_row_unsubscribed_after_it_was_read_is_not_posted(tmp_path: Path) -> None:
    store = await UnwatchedWhileRead.open(f"sqlite:///{tmp_path}/bot.db")
    async with FakeSlack() as fake:
        slack = AsyncWebClient(token="xoxb-test", base_url=fake.api_url)
        delivery = Delivery(store=store, tokens=OneWorkspace(slack), idle_s=0.05)
        await store.subscribe(T, CHANNEL, "7", added_by="U1")
        event = Event(kind=EventKind.API_RECOVERED, key="7:outage:x", project_id="7")
        assert await store.save_poll("7", snapshot=None, events=[event], outage=Outage()) == 1
        runner = asyncio.create_task(delivery.run())
        delivery.wake()
        async with asyncio.timeout(HANG_S):  # until delivery has read the row
            while not store.raced:  # noqa: ASYNC110 (the store offers no event to wait on)
                await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)  # time for a wrong post to be made
        await delivery.stop()
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)
    await store.close()
    assert store.raced, "the race was never set up: the test would prove nothing"
    assert fake.calls_to("chat.postMessage") == []


@contextlib.asynccontextmanager
async def delivering(
    tmp_path: Path, fake: FakeSlack, **options: float
) -> AsyncIterator[tuple[Store, Delivery]]:
    """A store with C0RACE watching project 7, and delivery running against `fake` through a
    client without slack_sdk's retry handlers, so delivery's own handling is what answers."""
    store = await Store.open(f"sqlite:///{tmp_path}/bot.db")
    slack = AsyncWebClient(token="xoxb-test", base_url=fake.api_url, retry_handlers=[])
    delivery = Delivery(store=store, tokens=OneWorkspace(slack), idle_s=0.05, **options)
    await store.subscribe(T, CHANNEL, "7", added_by="U1")
    runner = asyncio.create_task(delivery.run())
    try:
        yield store, delivery
    finally:
        await delivery.stop()
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)
        await store.close()


async def owe(store: Store, key: str = "7:outage:x") -> None:
    event = Event(kind=EventKind.API_RECOVERED, key=key, project_id="7")
    assert await store.save_poll("7", snapshot=None, events=[event], outage=Outage()) == 1


async def paused(store: Store, within: float = 10.0) -> str | None:
    for _ in range(int(within / 0.02)):
        [sub] = await store.subscriptions(T, channel_id=CHANNEL)
        if sub.paused_reason is not None:
            return sub.paused_reason
        await asyncio.sleep(0.02)
    return None


async def test_an_unknown_persistent_error_pauses_the_channel_after_bounded_attempts(
    tmp_path: Path,
) -> None:
    async with (
        FakeSlack() as fake,
        delivering(tmp_path, fake, max_backoff_s=0.02) as (
            store,
            delivery,
        ),
    ):
        fake.fail_next("chat.postMessage", error="restricted_action", times=1000)
        await owe(store)
        delivery.wake()
        assert await paused(store) == "restricted_action"
        await asyncio.sleep(0.2)  # no attempt after the pause
        assert len(fake.calls_to("chat.postMessage")) == MAX_ATTEMPTS
        [sub] = await store.subscriptions(T, channel_id=CHANNEL)
        line = subscription_line(sub)
        assert "paused: restricted_action" in line and "/eon watch 7" in line
        # Resumed like any pause: what waited is posted, once.
        fake.clear_faults()
        await store.resume_channel(T, CHANNEL)
        delivery.wake()
        await fake.wait_for(lambda f: f.messages(CHANNEL), timeout=5.0)
        assert len(fake.messages(CHANNEL)) == 1


async def test_a_look_up_that_keeps_failing_pauses_the_channel_too(tmp_path: Path) -> None:
    """`missing_scope` on conversations.history: the row, left `attempting` by a lost answer,
    can never be checked, so it must not be posted; it must not block the channel silently."""
    async with (
        FakeSlack() as fake,
        delivering(tmp_path, fake, max_backoff_s=0.02) as (
            store,
            delivery,
        ),
    ):
        await owe(store)
        [row] = await store.outbox(T, CHANNEL)
        assert await store.mark_attempting(row.id)  # a crash after this: outcome unknown
        fake.fail_next("conversations.history", error="missing_scope", times=1000)
        delivery.wake()
        assert await paused(store) == "missing_scope"
        assert fake.calls_to("chat.postMessage") == []
        assert len(fake.calls_to("conversations.history")) == MAX_ATTEMPTS - 1  # + the crash's


async def test_delivery_itself_waits_out_retry_after(tmp_path: Path) -> None:
    """slack_sdk's retry handler normally hides a 429; without it, delivery's own handling
    must keep the channel quiet for Retry-After seconds (longer than its own backoff)."""
    async with FakeSlack() as fake, delivering(tmp_path, fake) as (store, delivery):
        fake.fail_next("chat.postMessage", status=429, retry_after=3)
        await owe(store)
        delivery.wake()
        await fake.wait_for(lambda f: f.messages(CHANNEL), timeout=10.0)
        refused, posted = fake.calls_to("chat.postMessage")
        assert refused.status == 429 and posted.status == 200
        assert 3.0 <= posted.time - refused.time < 5.0
        [sub] = await store.subscriptions(T, channel_id=CHANNEL)
        assert sub.paused_reason is None, "a rate limit is no reason to pause"


class CountsLookups(Store):
    looked_for: list[str]

    async def sent_failures(
        self, team: str, channel_id: str, project_id: str, trial_id: str
    ) -> Any:
        self.looked_for.append(trial_id)
        return await super().sent_failures(team, channel_id, project_id, trial_id)


async def test_only_a_completion_after_a_reported_failure_looks_for_messages_to_edit(
    tmp_path: Path,
) -> None:
    """Most completions follow no failure: their post is not preceded by a search of the
    channel's failure messages. A row queued before the poll said so (None) still looks."""
    store = await CountsLookups.open(f"sqlite:///{tmp_path}/bot.db")
    store.looked_for = []
    await store.subscribe(T, CHANNEL, "7", added_by="U1")
    completions = [
        Event(
            kind=EventKind.TRIAL_COMPLETED,
            key=f"7:r:{trial_id}",
            project_id="7",
            trial_id=trial_id,
            after_failure=after_failure,
        )
        for trial_id, after_failure in (("clean", False), ("retried", True), ("older", None))
    ]
    await store.save_poll("7", snapshot=None, events=completions, outage=Outage())
    async with FakeSlack() as fake:
        slack = AsyncWebClient(token="xoxb-test", base_url=fake.api_url)
        delivery = Delivery(store=store, tokens=OneWorkspace(slack), idle_s=0.05)
        runner = asyncio.create_task(delivery.run())
        delivery.wake()
        await fake.wait_for(lambda f: len(f.messages(CHANNEL)) == 3, timeout=5.0)
        await delivery.stop()
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)
    await store.close()
    assert store.looked_for == ["retried", "older"]


class NewsWhileDraining(Store):
    """A poll writes news for the channel just after its drain has read its outbox."""

    delivery: Delivery
    news = 0

    async def outbox(self, team: str, channel_id: str, *, limit: int = 100) -> list[OutboxRow]:
        rows = await super().outbox(team, channel_id, limit=limit)
        if not self.news:
            self.news += 1
            await owe(self, key="7:outage:late")
            self.delivery.wake("7")  # as the poller does after its save
            await asyncio.sleep(0.05)  # the look it woke runs while the drain is still on
        return rows


async def test_news_written_as_its_channel_finishes_draining_is_posted_at_once(
    tmp_path: Path,
) -> None:
    """The look a poll wakes sees the channel still draining and starts no second drain; the
    channel is looked at again as its drain ends, not left for the every-`idle_s` look."""
    store = await NewsWhileDraining.open(f"sqlite:///{tmp_path}/bot.db")
    await store.subscribe(T, CHANNEL, "7", added_by="U1")
    async with FakeSlack() as fake:
        slack = AsyncWebClient(token="xoxb-test", base_url=fake.api_url)
        store.delivery = delivery = Delivery(store=store, tokens=OneWorkspace(slack), idle_s=60.0)
        runner = asyncio.create_task(delivery.run())
        await owe(store)
        delivery.wake("7")
        try:
            await fake.wait_for(lambda f: len(f.messages(CHANNEL)) == 2, timeout=5.0)
        finally:
            await delivery.stop()
            runner.cancel()
            await asyncio.gather(runner, return_exceptions=True)
            await store.close()
    assert store.news == 1, "the race was never set up: the test would prove nothing"


class CountsOutboxReads(Store):
    reads = 0

    async def outbox(self, team: str, channel_id: str, *, limit: int = 100) -> list[OutboxRow]:
        self.reads += 1
        return await super().outbox(team, channel_id, limit=limit)


async def test_a_drain_reads_on_while_batches_come_full_and_stops_at_a_short_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Five rows owed, read two at a time: three reads post all five, in order, with no other
    look needed; the short third batch ends the drain without a fourth, empty, read."""
    monkeypatch.setattr(drain_module, "OUTBOX_BATCH", 2)
    store = await CountsOutboxReads.open(f"sqlite:///{tmp_path}/bot.db")
    await store.subscribe(T, CHANNEL, "7", added_by="U1")
    for n in range(5):
        await owe(store, key=f"7:outage:{n}")
    async with FakeSlack() as fake:
        slack = AsyncWebClient(token="xoxb-test", base_url=fake.api_url)
        delivery = Delivery(store=store, tokens=OneWorkspace(slack), idle_s=60.0)
        runner = asyncio.create_task(delivery.run())
        delivery.wake("7")
        try:
            await fake.wait_for(lambda f: len(f.messages(CHANNEL)) == 5, timeout=5.0)
            await asyncio.sleep(0.2)  # time for a needless read
        finally:
            await delivery.stop()
            runner.cancel()
            await asyncio.gather(runner, return_exceptions=True)
            await store.close()
    keys = [(m.metadata or {})["event_payload"]["event_key"] for m in fake.messages(CHANNEL)]
    assert keys == [f"7:outage:{n}" for n in range(5)]
    assert store.reads == 3


async def test_rows_nobody_woke_for_are_found_every_idle_s_however_busy_the_polls(
    tmp_path: Path,
) -> None:
    """A row another replica wrote wakes nothing here: the look at every subscription comes
    every `idle_s` even while polls of other projects wake delivery many times a second."""
    store = await Store.open(f"sqlite:///{tmp_path}/bot.db")
    await store.subscribe(T, CHANNEL, "7", added_by="U1")
    async with FakeSlack() as fake:
        slack = AsyncWebClient(token="xoxb-test", base_url=fake.api_url)
        delivery = Delivery(store=store, tokens=OneWorkspace(slack), idle_s=0.3)
        runner = asyncio.create_task(delivery.run())

        async def busy_polls() -> None:
            while True:
                delivery.wake("another project")
                await asyncio.sleep(0.01)

        polls = asyncio.create_task(busy_polls())
        try:
            await asyncio.sleep(0.1)
            await owe(store)  # no wake
            # Found at all: with the wakes pushing back the look everywhere, it never would be.
            await fake.wait_for(lambda f: f.messages(CHANNEL), timeout=HANG_S)
        finally:
            polls.cancel()
            await delivery.stop()
            runner.cancel()
            await asyncio.gather(runner, polls, return_exceptions=True)
            await store.close()


class CountsWorkReads(Store):
    reads = 0

    async def work(self, **where: Any) -> dict[TeamChannel, bool]:
        self.reads += 1
        return await super().work(**where)


async def test_a_held_card_edit_past_due_does_not_spin_the_loop(tmp_path: Path) -> None:
    """A held edit past due waits for its channel's next drain like any work; if the channel
    cannot be drained then (in backoff, paused, another replica's), delivery keeps waiting its
    `idle_s` between looks, not in a loop."""
    store = await CountsWorkReads.open(f"sqlite:///{tmp_path}/bot.db")
    async with FakeSlack() as fake:
        slack = AsyncWebClient(token="xoxb-test", base_url=fake.api_url)
        delivery = Delivery(store=store, tokens=OneWorkspace(slack), idle_s=0.5, poll_interval=0.05)
        runner = asyncio.create_task(delivery.run())
        await asyncio.sleep(0.05)
        delivery._cards._due[TeamChannel(T, CHANNEL)] = (
            asyncio.get_running_loop().time() + 0.1
        )  # held, then due
        await asyncio.sleep(0.3)
        before = store.reads
        await asyncio.sleep(1.0)
        reads = store.reads - before
        await delivery.stop()
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)
    await store.close()
    assert reads <= 3  # every idle_s (0.5 s), not thousands


@pytest.mark.parametrize("interval", [0.2, 10.0, 30.0, 300.0])
@pytest.mark.parametrize("cards", [1, 10, 100, 1000])
def test_cards_together_stay_within_slacks_update_rate(interval: float, cards: int) -> None:
    """`chat.update` is Tier 3 (about 50 a minute per workspace): however many runs go at
    once, their cards' edits together stay under that, and one card gathers at least three
    polls (a minute at most, unless many cards share the budget)."""
    gap = card_edit_gap(interval, cards=cards)
    assert cards * 60.0 / gap <= CARD_EDITS_PER_MINUTE < 50
    assert gap >= min(3 * interval, CARD_EDIT_GAP_MAX_S)
    if cards * 60.0 / CARD_EDITS_PER_MINUTE <= CARD_EDIT_GAP_MAX_S:
        assert gap <= CARD_EDIT_GAP_MAX_S


def test_a_card_waiting_its_turn_is_never_forgotten_into_an_early_edit() -> None:
    """Cards shown within `CARD_SHOWN_FOR_S` count towards the gap and hold their edits; were
    the gap ever longer, a waiting card would be forgotten and edited at once."""
    cards = int(CARD_SHOWN_FOR_S * CARD_EDITS_PER_MINUTE / 60)
    assert card_edit_gap(300.0, cards=cards) <= CARD_SHOWN_FOR_S
    assert cards >= 2000  # far beyond a process's share of running runs

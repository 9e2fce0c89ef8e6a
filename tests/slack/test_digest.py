"""Daily digests with a test clock, on SQLite and PostgreSQL: nothing before the minute, one at
it, none again that day (also with two replicas racing), `now` at once; what the digest says
(runs started and ended with each run's best, failures, stalls, actions), its Block Kit checked
with slack_sdk's models and its metadata `eon_digest` (`channel_id`, `projects`)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st
from slack_sdk.models.blocks import Block

from bot.core.digest import ProjectDay, RunLine, digest_event
from bot.core.events import EventKind, RunRef
from bot.slack.delivery import Digester
from bot.slack.listeners.eon_parse import Digest, UsageError, parse
from bot.slack.render import Message
from bot.slack.render.events import render_event
from bot.store import Store
from tests.store.test_store import RUN, P, save, snapshot

T = ""  # the workspace of the rows these tests write (single mode: adopted at start)

T0 = datetime(2026, 12, 7, 8, 59, 30, tzinfo=UTC)
REF = RunRef(P, RUN, "J1", "EON Tuner run 1", "Keyword spotting")


class Clock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


def valid(message: Message) -> None:
    for raw in message.blocks:
        block = Block.parse(raw)
        assert block is not None
        block.validate_json()


async def digests_in(store: Store, channel: str) -> list[str]:
    return [r.event.key for r in await store.outbox(T, channel) if r.event.kind is EventKind.DIGEST]


async def test_one_digest_a_day_from_its_minute(store: Store) -> None:
    clock = Clock(T0)
    digester = Digester(store=store, tz=ZoneInfo("UTC"), now=clock)
    await store.subscribe(T, "C1", P, added_by="U1")
    await save(
        store,
        REF.event(EventKind.RUN_STARTED),
        REF.event(EventKind.TRIAL_FAILED, "t2", trial_id="t2", retries=0),
        snapshot=snapshot(3),
    )
    await store.set_digest(T, "C1", 9 * 60, "U1")
    assert await digester.tick() == 0  # 08:59:30
    clock.at = T0 + timedelta(seconds=30)  # 09:00:00
    assert await digester.tick() == 1
    assert await digester.tick() == 0
    clock.at = T0 + timedelta(hours=5)
    assert await digester.tick() == 0  # later that day
    assert await digests_in(store, "C1") == ["digest:C1:2026-12-07"]
    [row] = [r for r in await store.outbox(T, "C1") if r.event.kind is EventKind.DIGEST]
    [day] = row.event.payload["projects"]
    assert (day["project_id"], day["runs_started"], day["failures"]) == (P, 1, 1)
    assert day["runs"][0]["state"] == "running"
    message = render_event(row.event)
    valid(message)
    assert message.metadata is not None
    assert message.metadata["event_type"] == "eon_digest"
    assert set(message.metadata["event_payload"]) == {"channel_id", "projects", "event_key"}
    assert message.metadata["event_payload"]["channel_id"] == "C1"
    assert "1 run started" in message.text and "1 failed trial" in message.text

    clock.at = T0 + timedelta(days=1, seconds=30)  # the next day, its minute
    assert await digester.tick() == 1
    assert await digests_in(store, "C1") == ["digest:C1:2026-12-07", "digest:C1:2026-12-08"]
    # `now` at once, once a minute; a channel watching nothing gets none.
    assert await digester.now(T, "C1") is True
    assert await digester.now(T, "C1") is False
    assert await digester.now(T, "C2") is None


async def test_set_at_a_passed_time_starts_tomorrow_and_off_stops(store: Store) -> None:
    clock = Clock(T0)
    digester = Digester(store=store, tz=ZoneInfo("Europe/Amsterdam"), now=clock)  # 09:59:30
    await store.subscribe(T, "C1", P, added_by="U1")
    await store.set_digest(T, "C1", 9 * 60, "U1", "2026-12-07")  # 09:00 had passed there
    assert await store.digest_at(T, "C1") == 540
    assert await digester.tick() == 0
    clock.at = T0 + timedelta(days=1)
    assert await digester.tick() == 1
    await store.set_digest(T, "C1", None, "U1")
    assert await store.digest_at(T, "C1") is None
    clock.at = T0 + timedelta(days=2)
    assert await digester.tick() == 0


async def test_two_replicas_racing_queue_one(postgres_url: str) -> None:
    replicas = [await Store.open(postgres_url) for _ in range(2)]
    try:
        clock = Clock(T0 + timedelta(seconds=30))
        digesters = [Digester(store=r, tz=ZoneInfo("UTC"), now=clock) for r in replicas]
        await replicas[0].subscribe(T, "C1", P, added_by="U1")
        await replicas[1].set_digest(T, "C1", 9 * 60, "U1")
        queued = await asyncio.gather(*(d.tick() for d in digesters * 4))
        assert sum(queued) == 1
        assert await digests_in(replicas[0], "C1") == ["digest:C1:2026-12-07"]
    finally:
        for replica in replicas:
            await replica.close()


@given(label=st.text(max_size=200), n=st.integers(0, 30))
def test_any_digest_renders_within_slacks_limits(label: str, n: int) -> None:
    best = {"id": "t1", "name": label, "status": "completed", "accuracy": 0.9, "latency_ms": 3}
    days = [
        ProjectDay(str(i), label, 1, 1, 2, 0, 1, (RunLine(label, "finished", best),))
        for i in range(max(n, 1))
    ]
    message = render_event(digest_event("C1", "k", days, T0))
    valid(message)
    assert len(message.blocks) <= 50 and "<!" not in message.text


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("digest", Digest()),
        ("digest off", Digest("off")),
        ("DIGEST Now", Digest("now")),
        ("digest 9:30", Digest(570)),
    ],
)
def test_digest_words(text: str, parsed: Digest) -> None:
    assert parse(text) == parsed


@pytest.mark.parametrize("text", ["digest 25:00", "digest noon", "digest <!here>", "digest 1 2"])
def test_a_malformed_digest_answers_in_one_line(text: str) -> None:
    found = parse(text)
    assert isinstance(found, UsageError)
    assert "\n" not in found.message and "/eon digest [HH:MM|off|now]" in found.message
    assert "<!" not in found.message

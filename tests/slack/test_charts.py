"""The run's chart through delivery, the real store and the Slack stand-in: into the card's
thread, exactly once (also after an answer lost mid-upload), and never in the way of the
channel's other notifications."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from PIL import Image
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import select

from bot.core.chart import ChartData, chart_event
from bot.core.events import Event, EventKind, RunRef
from bot.core.summary import TrialSummary
from bot.sandbox.fakeslack import FakeSlack
from bot.slack import charts
from bot.slack.delivery import Delivery
from bot.slack.tokens import OneWorkspace
from bot.store import Outage, Store
from bot.store.schema import outbox

T = ""  # the workspace of the rows these tests write (single mode: adopted at start)

CHANNEL = "C0CHART"
RUN = RunRef("7", "11", "10")
DATA = ChartData(
    project_id="7",
    run_id="11",
    target_latency_ms=100,
    trials=[
        TrialSummary(id="a", name="a", status="completed", accuracy=0.8, latency_ms=20),
        TrialSummary(id="b", name="b", status="failed"),
    ],
)


@dataclass
class Rig:
    store: Store
    fake: FakeSlack
    delivery: Delivery

    async def owe(self, *events: Event) -> None:
        await self.store.save_poll("7", snapshot=None, events=list(events), outage=Outage())
        self.delivery.wake()

    async def until(self, kind: str, state: str) -> None:
        for _ in range(300):
            if (await self.states()).get(kind) == state:
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"{kind} never {state}: {await self.states()}")

    async def states(self) -> dict[str, str]:
        async with self.store.backend.read() as conn:
            rows = (await conn.execute(select(outbox.c.kind, outbox.c.state))).all()
        return {row.kind: row.state for row in rows}


@pytest.fixture
async def rig(store: Store) -> AsyncIterator[Rig]:
    """On SQLite, and on PostgreSQL when TEST_POSTGRES_URL is set (conftest's `store`)."""
    await store.subscribe(T, CHANNEL, "7", added_by="U1")
    async with FakeSlack() as fake:
        slack = AsyncWebClient(token="xoxb-test", base_url=fake.api_url, retry_handlers=[])
        delivery = Delivery(store=store, tokens=OneWorkspace(slack), idle_s=0.05)
        runner = asyncio.create_task(delivery.run())
        try:
            yield Rig(store, fake, delivery)
        finally:
            await delivery.stop()
            runner.cancel()
            await asyncio.gather(runner, return_exceptions=True)


def started() -> Event:
    return RUN.event(EventKind.RUN_STARTED, completed_trials=1)


def finished() -> Event:
    return RUN.event(EventKind.JOB_FINISHED, outcome="completed")


def chart_files(fake: FakeSlack) -> list[dict[str, object]]:
    return [f for m in fake.messages(CHANNEL) for f in m.files]


async def test_the_chart_goes_into_the_cards_thread_as_a_png(rig: Rig) -> None:
    await rig.owe(started(), finished(), chart_event(RUN, DATA))
    await rig.fake.wait_for(lambda f: any(m.files for m in f.messages(CHANNEL)), timeout=20)
    card = rig.fake.top_level(CHANNEL)[0]
    reply = next(m for m in rig.fake.messages(CHANNEL) if m.files)
    assert reply.thread_ts == card.ts
    assert "project 7" in reply.text
    (shared,) = reply.files
    assert shared["title"] == "EON Tuner run · project 7"  # no name in DATA: none made up
    png = rig.fake.file(str(shared["id"])).data
    assert png is not None
    assert Image.open(io.BytesIO(png)).size == (1000, 600)
    await rig.until("eon_run_chart", "sent")


async def test_an_answer_lost_mid_upload_is_found_not_uploaded_again(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(charts, "RETRY_AFTER_S", (0.05, 0.05))
    rig.fake.fail_next("files.completeUploadExternal", status=500, take_effect=True)
    await rig.owe(started(), chart_event(RUN, DATA))
    await rig.fake.wait_for(lambda f: chart_files(f), timeout=20)
    await rig.until("eon_run_chart", "sent")  # left `attempting`, set aside, then looked up
    assert rig.fake.calls_to("conversations.replies"), "found by looking, not by chance"
    assert len(chart_files(rig.fake)) == 1
    assert len(rig.fake.calls_to("files.getUploadURLExternal")) == 1


async def test_a_failing_upload_holds_back_nothing(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(charts, "RETRY_AFTER_S", (30.0, 30.0))
    rig.fake.fail_next("files.getUploadURLExternal", error="internal_error")
    stalled = RUN.event(EventKind.RUN_STALLED, 1, idle_s=60.0)
    await rig.owe(started(), chart_event(RUN, DATA), stalled)
    await rig.fake.wait_for(
        lambda f: any(m.event_type == "eon_run_stalled" for m in f.messages(CHANNEL)), timeout=20
    )
    await asyncio.sleep(0.5)  # a drain or two later: set aside for its retry, not hammered
    assert (await rig.states())["eon_run_chart"] == "pending"
    assert len(rig.fake.calls_to("files.getUploadURLExternal")) == 1


async def test_a_chart_that_keeps_failing_is_given_up(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(charts, "RETRY_AFTER_S", (0.05, 0.05))
    rig.fake.fail_next("files.getUploadURLExternal", error="internal_error", times=10)
    await rig.owe(started(), chart_event(RUN, DATA))
    await rig.until("eon_run_chart", "abandoned")
    assert len(rig.fake.calls_to("files.getUploadURLExternal")) == charts.MAX_ATTEMPTS
    assert chart_files(rig.fake) == []


@pytest.mark.parametrize(
    ("title", "named"),
    [
        ("EON Tuner run 4", "EON Tuner run 4 · project 7"),
        ("EON Tuner run 4 (extended search)", "EON Tuner run 4 (extended search) · project 7"),
        ("mine", "EON Tuner · mine · project 7"),
        (None, "EON Tuner run · project 7"),
    ],
)
def test_the_files_title_names_the_run_as_the_chart_does(title: str | None, named: str) -> None:
    assert charts.chart_title(chart_event(RUN, DATA.model_copy(update={"title": title}))) == named

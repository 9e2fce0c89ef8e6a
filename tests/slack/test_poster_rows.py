"""`Poster.deliver` on one outbox row at a time, without the drain around it: where each kind
of row goes (the card, its thread, broadcast or not), what a lost answer and a refusal leave in
the store, what is edited before a post (failures retried, notices extended), what the end says
of a stop, and the end by DM. The real store on SQLite and the Slack stand-in; every call is
awaited, so nothing here waits on time."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import select

from bot.clock import utcnow
from bot.core.events import Event, EventKind, RunRef
from bot.errors import SlackOutcomeUnknown
from bot.metrics import Metrics
from bot.sandbox.fakeslack import FakeSlack
from bot.slack.delivery.cards import CardEditor
from bot.slack.delivery.poster import Poster
from bot.slack.delivery.verdicts import MAX_ATTEMPTS, Failed
from bot.store import (
    CLAIMED,
    DONE,
    ActionRecord,
    Outage,
    OutboxRow,
    Store,
    TeamChannel,
    person_address,
)
from bot.store.schema import outbox
from tests.slack.test_delivery import HANG_S
from tests.store.test_store import snapshot

T = ""  # the workspace of the rows these tests write (single mode: adopted at start)

CHANNEL = "C0ROWS"
P, RUN = "7", "R1"
REF = RunRef(P, RUN, "J1", "EON Tuner run 1", "Keyword spotting")
OWNER = "replica-1"


class Claims(Store):
    """The store, keeping how each row was claimed for its post (owner, seconds)."""

    claims: list[tuple[str | None, float]]

    async def mark_attempting(
        self, row_id: int, *, owner: str | None = None, claim_s: float = 60.0
    ) -> bool:
        self.claims.append((owner, claim_s))
        # The lease that `owner` needs is the drain's business (bot.slack.delivery.scheduler).
        return await super().mark_attempting(row_id)


@dataclasses.dataclass
class Rig:
    store: Claims
    fake: FakeSlack
    cards: CardEditor
    poster: Poster
    metrics: Metrics
    slack: AsyncWebClient
    clock: Clock

    async def owe(self, *events: Event, channel: str = CHANNEL) -> list[OutboxRow]:
        """The events saved by a poll of project 7 (the run's snapshot with them) and the
        channel's rows then owed."""
        await self.store.save_poll(
            P, snapshot=snapshot(project=P, run=RUN), events=list(events), outage=Outage()
        )
        return await self.store.outbox(T, channel)

    async def deliver(self, channel: str = CHANNEL) -> None:
        for row in await self.store.outbox(T, channel):
            await self.poster.deliver(row, self.slack)

    async def rows(self) -> dict[str, tuple[str, str | None, int, str | None]]:
        """By event key: (state, ts, attempts, last error)."""
        query = select(
            outbox.c.event_key, outbox.c.state, outbox.c.ts, outbox.c.attempts, outbox.c.last_error
        )
        async with self.store.backend.read() as conn:
            return {r[0]: (r[1], r[2], r[3], r[4]) for r in await conn.execute(query)}

    def posts(self) -> list[dict[str, Any]]:
        return [c.args for c in self.fake.calls_to("chat.postMessage") if c.ok]


class Clock:
    """The fake Slack's wall clock, moved by `shift` (messages seeded in the past)."""

    def __init__(self) -> None:
        self.shift = 0.0

    def __call__(self) -> float:
        return time.time() + self.shift


@pytest.fixture
async def rig(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> AsyncIterator[Rig]:
    caplog.set_level(logging.DEBUG, logger="bot.slack.delivery")
    store = await Claims.open(f"sqlite:///{tmp_path / 'bot.db'}")
    store.claims = []
    await store.subscribe(T, CHANNEL, P, added_by="U1")
    clock = Clock()
    async with FakeSlack(clock=clock) as fake:
        slack = AsyncWebClient(token="xoxb-test", base_url=fake.api_url, retry_handlers=[])
        cards = CardEditor(store=store, poll_interval=None)
        metrics = Metrics()
        poster = Poster(store=store, cards=cards, owner=OWNER, claim_s=45.0, metrics=metrics)
        try:
            yield Rig(store, fake, cards, poster, metrics, slack, clock)
        finally:
            await store.close()


def started() -> Event:
    return REF.event(EventKind.RUN_STARTED)


def completed(trial_id: str = "t1", **fields: Any) -> Event:
    event = REF.event(EventKind.TRIAL_COMPLETED, trial_id, trial_id=trial_id, accuracy=0.9)
    return event.model_copy(update={"trial_id": trial_id, **fields})


def failed(trial_id: str = "t1") -> Event:
    event = REF.event(EventKind.TRIAL_FAILED, trial_id, 1, trial_id=trial_id, error="OOM")
    return event.model_copy(update={"trial_id": trial_id})


def ended(**payload: Any) -> Event:
    return REF.event(EventKind.JOB_FINISHED, outcome="completed", best_trial_id="t1", **payload)


def time_limit(**payload: Any) -> Event:
    return REF.event(EventKind.TIME_LIMIT_EXCEEDED, **payload)


def recovered() -> Event:
    return Event(kind=EventKind.API_RECOVERED, key="7:outage:x", project_id=P)


async def test_the_card_is_top_level_its_news_in_its_thread_and_the_end_broadcast(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    await rig.owe(started())
    await rig.deliver()
    [card_post] = rig.posts()
    card = await rig.store.card(T, CHANNEL, P, RUN)
    assert card is not None and "thread_ts" not in card_post
    await rig.owe(completed(), ended(), recovered())
    await rig.deliver()
    by_kind = {post["metadata"]["event_type"]: post for post in rig.posts()[1:]}
    trial, end = by_kind["eon_trial_completed"], by_kind["eon_job_finished"]
    assert (trial["thread_ts"], trial["reply_broadcast"]) == (card.ts, False)
    assert (end["thread_ts"], end["reply_broadcast"]) == (card.ts, True)  # seen in the channel
    assert "thread_ts" not in by_kind["eon_api_recovered"]  # about no run: top level
    assert f"posted eon_trial_completed of project 7 to {CHANNEL}" in caplog.messages
    for post in rig.posts():
        assert (post["channel"], post["unfurl_links"], post["unfurl_media"]) == (
            CHANNEL,
            False,
            False,
        )
        assert post["blocks"] and post["text"]
    rows = await rig.rows()
    assert all(state == "sent" and ts for state, ts, _, _ in rows.values())
    [reply] = [m for m in rig.fake.messages(CHANNEL) if m.event_type == "eon_trial_completed"]
    assert rows[reply.metadata["event_payload"]["event_key"]][1] == reply.ts  # type: ignore[index]
    # Each post claimed its row as this replica, for the claim's length.
    assert rig.store.claims == [(OWNER, 45.0)] * 4


async def test_a_run_that_has_its_card_here_gets_no_second_one(rig: Rig) -> None:
    await rig.owe(started())
    await rig.deliver()
    card = await rig.store.card(T, CHANNEL, P, RUN)
    assert card is not None
    again = started().model_copy(update={"key": started().key + ":again"})  # watched anew
    await rig.owe(again)
    await rig.deliver()
    assert len(rig.posts()) == 1
    assert (await rig.rows())[again.key][:2] == ("sent", card.ts)  # the card it has


async def test_a_pending_row_is_posted_without_looking_a_row_attempting_is_looked_for(
    rig: Rig,
) -> None:
    await rig.owe(recovered())
    await rig.deliver()
    assert rig.fake.calls_to("conversations.history") == []  # nothing could be there yet
    other = recovered().model_copy(update={"key": "7:outage:y"})
    [row] = await rig.owe(other)
    assert await rig.store.mark_attempting(row.id)
    await rig.deliver()
    [look] = rig.fake.calls_to("conversations.history")
    assert look.args["channel"] == CHANNEL and look.args["include_all_metadata"] in (True, "1")
    assert len(rig.posts()) == 2


async def test_a_lost_answer_leaves_the_row_attempting_a_refusal_counts_an_attempt(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    [row] = await rig.owe(recovered())
    rig.fake.fail_next("chat.postMessage", drop_connection=True)
    with pytest.raises(Failed) as lost:
        await rig.poster.deliver(row, rig.slack)
    assert isinstance(lost.value.error, SlackOutcomeUnknown) and lost.value.attempts is None
    unknown = f"posting to {CHANNEL}: outcome unknown ({lost.value.error.code})"
    assert unknown in caplog.messages and "ServerDisconnected" in unknown
    assert (await rig.rows())[row.event.key][:3] == ("attempting", None, 1)
    [row] = await rig.store.outbox(T, CHANNEL)
    rig.fake.fail_next("chat.postMessage", error="restricted_action")
    with pytest.raises(Failed) as refused:
        await rig.poster.deliver(row, rig.slack)  # looked for first (not there), then refused
    assert (refused.value.error.code, refused.value.attempts) == ("restricted_action", 2)
    assert (await rig.rows())[row.event.key] == ("pending", None, 2, "restricted_action")


async def test_a_message_slack_cannot_render_is_posted_as_text_only(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    [row] = await rig.owe(recovered())
    rig.fake.fail_next("chat.postMessage", error="invalid_blocks")
    await rig.poster.deliver(row, rig.slack)
    refused, taken = rig.fake.calls_to("chat.postMessage")
    assert refused.error == "invalid_blocks" and refused.args["blocks"]
    assert set(taken.args) == set(refused.args) - {"blocks"}  # the same call, blocks left out
    assert taken.args["text"] == refused.args["text"]
    said = "Slack refused 7:outage:x as rendered (invalid_blocks); posting text only"
    assert said in caplog.messages
    assert taken.args["metadata"] == refused.args["metadata"]  # still found by its key
    [message] = rig.fake.messages(CHANNEL)
    assert message.blocks == [] and (await rig.rows())[row.event.key][:2] == ("sent", message.ts)


async def test_a_found_card_becomes_the_card_to_edit_a_found_reply_no_card(rig: Rig) -> None:
    [card_row] = await rig.owe(started())
    rig.fake.fail_next("chat.postMessage", drop_connection=True, take_effect=True)
    with pytest.raises(Failed):
        await rig.poster.deliver(card_row, rig.slack)
    await rig.deliver()  # looked up in the channel, found
    card = await rig.store.card(T, CHANNEL, P, RUN)
    [message] = rig.fake.messages(CHANNEL)
    assert card is not None and card.ts == message.ts
    assert card.rendered_version == 0  # what it shows is unknown: edited to the latest
    [reply_row] = await rig.owe(completed())
    rig.fake.fail_next("chat.postMessage", drop_connection=True, take_effect=True)
    with pytest.raises(Failed):
        await rig.poster.deliver(reply_row, rig.slack)
    await rig.deliver()
    [look] = rig.fake.calls_to("conversations.replies")  # a reply is looked for in its thread
    assert look.args["ts"] == card.ts and look.args["include_all_metadata"] in (True, "1")
    assert len(rig.fake.messages(CHANNEL)) == 2 and len(rig.posts()) == 0
    assert await rig.store.card(T, CHANNEL, P, RUN) == card  # the reply did not become the card


async def test_a_look_up_reads_every_page(rig: Rig, caplog: pytest.LogCaptureFixture) -> None:
    [row] = await rig.owe(recovered())
    rig.fake.fail_next("chat.postMessage", drop_connection=True, take_effect=True)
    with pytest.raises(Failed):
        await rig.poster.deliver(row, rig.slack)
    for n in range(450):  # newer than the lost post: it is on the third page of 200
        rig.fake.add_message(CHANNEL, f"chatter {n}")
    [row] = await rig.store.outbox(T, CHANNEL)
    await rig.poster.deliver(row, rig.slack)
    assert len(rig.posts()) == 0 and (await rig.rows())[row.event.key][0] == "sent"
    looks = rig.fake.calls_to("conversations.history")
    assert len(looks) == 3 and looks[1].args["cursor"]
    assert "found 7:outage:x already in C0ROWS; not posting it again" in caplog.messages


async def test_a_look_up_reads_back_ten_minutes_before_the_row_not_the_whole_channel(
    rig: Rig,
) -> None:
    rig.clock.shift = -3600.0  # an hour of chatter before the row was made
    for n in range(450):
        rig.fake.add_message(CHANNEL, f"old chatter {n}")
    rig.clock.shift = 0.0
    [row] = await rig.owe(recovered())
    rig.fake.fail_next("chat.postMessage", drop_connection=True, take_effect=True)
    with pytest.raises(Failed):
        await rig.poster.deliver(row, rig.slack)
    [row] = await rig.store.outbox(T, CHANNEL)
    await rig.poster.deliver(row, rig.slack)
    assert len(rig.posts()) == 0 and (await rig.rows())[row.event.key][0] == "sent"
    [look] = rig.fake.calls_to("conversations.history")  # one page: the last ten minutes
    assert float(look.args["oldest"]) == pytest.approx(row.created_at.timestamp() - 600.0)


async def test_a_reply_is_looked_for_in_every_page_of_its_thread(rig: Rig) -> None:
    await rig.owe(started())
    await rig.deliver()
    card = await rig.store.card(T, CHANNEL, P, RUN)
    assert card is not None
    for n in range(250):  # the thread's first page is full before the lost reply
        rig.fake.add_message(CHANNEL, f"reply {n}", thread_ts=card.ts)
    [row] = await rig.owe(completed())
    rig.fake.fail_next("chat.postMessage", drop_connection=True, take_effect=True)
    with pytest.raises(Failed):
        await rig.poster.deliver(row, rig.slack)
    [row] = await rig.store.outbox(T, CHANNEL)
    async with asyncio.timeout(HANG_S):  # a look-up that never turns the page never ends
        await rig.poster.deliver(row, rig.slack)
    assert (await rig.rows())[row.event.key][0] == "sent" and len(rig.posts()) == 1
    first, second = rig.fake.calls_to("conversations.replies")
    assert not first.args.get("cursor") and second.args["cursor"]


async def test_a_look_up_slack_refuses_counts_an_attempt_one_it_does_not_answer_does_not(
    rig: Rig,
) -> None:
    [row] = await rig.owe(recovered())
    assert await rig.store.mark_attempting(row.id)  # attempts 1
    [row] = await rig.store.outbox(T, CHANNEL)
    rig.fake.fail_next("conversations.history", status=503)  # (a dropped read is read again)
    with pytest.raises(Failed) as lost:
        await rig.poster.deliver(row, rig.slack)
    assert isinstance(lost.value.error, SlackOutcomeUnknown) and lost.value.attempts is None
    assert (await rig.rows())[row.event.key][2] == 1
    rig.fake.fail_next("conversations.history", error="missing_scope")
    with pytest.raises(Failed) as refused:
        await rig.poster.deliver(row, rig.slack)
    assert (refused.value.error.code, refused.value.attempts) == ("missing_scope", 2)
    assert (await rig.rows())[row.event.key] == ("attempting", None, 2, "missing_scope")
    assert rig.posts() == []  # never posted while it cannot be checked


async def act(
    rig: Rig, action: str, user: str, *, done: bool = True, run: str = RUN
) -> ActionRecord:
    """A click on the run's `action` button, Edge Impulse's yes recorded when `done`."""
    wanted = ActionRecord(P, run, action, target="J1", channel_id=CHANNEL, user_id=user)
    first, record = await rig.store.claim_action(wanted)
    assert first and record.id is not None
    if done:
        assert await rig.store.move_action(record.id, from_states={CLAIMED}, state=DONE)
    return record


def extend_taken(outcome: str | None = None, action: str = "extend") -> Event:
    payload = {"action": action, "user_id": "U0EXT"} | ({"outcome": outcome} if outcome else {})
    return REF.event(EventKind.ACTION_TAKEN, action, outcome or "taken", **payload)


async def test_a_completion_after_a_failure_edits_that_failure_first(rig: Rig) -> None:
    await rig.owe(started(), failed("t1"), failed("t2"))
    await rig.deliver()
    await rig.owe(completed("t1", after_failure=True))
    await rig.deliver()
    edits = rig.fake.calls_to("chat.update")
    [t1] = [m for m in rig.fake.messages(CHANNEL) if m.metadata and "t1" in str(m.metadata)
            and m.event_type == "eon_trial_failed"]  # fmt: skip
    assert [c.args["ts"] for c in edits] == [t1.ts]  # t1's failure only, not t2's
    assert "retried → ✅ completed" in t1.text and t1.edit_count == 1
    assert rig.posts()[-1]["metadata"]["event_type"] == "eon_trial_completed"


async def test_a_completion_found_posted_is_not_edited_for_again(rig: Rig) -> None:
    await rig.owe(started(), failed("t1"))
    await rig.deliver()
    [row] = await rig.owe(completed("t1", after_failure=True))
    rig.fake.fail_next("chat.postMessage", drop_connection=True, take_effect=True)
    with pytest.raises(Failed):
        await rig.poster.deliver(row, rig.slack)
    await rig.deliver()  # found: sent, with nothing done again
    assert len(rig.fake.calls_to("chat.update")) == 1 and len(rig.store.claims) == 3


async def test_a_failure_message_deleted_meanwhile_is_left_alone(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    await rig.owe(started(), failed("t1"))
    await rig.deliver()
    gone = (await rig.rows())[failed("t1").key][1]
    rig.fake.fail_next("chat.update", error="message_not_found")
    await rig.owe(completed("t1", after_failure=True))
    await rig.deliver()
    assert f"failure message {gone} in {CHANNEL} is gone; not editing it" in caplog.messages
    assert rig.posts()[-1]["metadata"]["event_type"] == "eon_trial_completed"


async def test_a_quiet_completion_edits_the_failure_and_posts_nothing(rig: Rig) -> None:
    await rig.owe(started(), failed("t1"))
    await rig.deliver()
    quiet = completed("t1", after_failure=True, quiet=True)
    await rig.owe(quiet)
    await rig.deliver()
    assert len(rig.posts()) == 2 and len(rig.fake.calls_to("chat.update")) == 1
    assert (await rig.rows())[quiet.key][:2] == ("sent", "")  # nothing of its own in Slack
    assert rig.store.claims[-1] == (OWNER, 1.0)  # a claim only as long as the mark takes


async def test_an_extend_done_takes_the_button_off_the_notices_that_offer_it(rig: Rig) -> None:
    offers, offers_not = time_limit(can_extend_search=True), ended(can_extend_search=False)
    await rig.owe(started(), offers, offers_not)
    await rig.deliver()
    for taken in (extend_taken("unknown"), extend_taken(action="stop")):
        await rig.owe(taken)  # not known to be extended, or no extend: left as they are
        await rig.deliver()
    assert rig.fake.calls_to("chat.update") == []
    await rig.owe(extend_taken())
    await rig.deliver()
    [edit] = rig.fake.calls_to("chat.update")
    notice = (await rig.rows())[offers.key][1]
    assert edit.args["ts"] == notice
    assert rig.fake.message(CHANNEL, str(notice)).text.endswith("The search was extended.")
    assert rig.posts()[-1]["metadata"]["event_type"] == "eon_action_taken"


async def test_a_notice_deleted_before_the_extend_is_left_alone(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    offers = time_limit(can_extend_search=True)
    await rig.owe(started(), offers)
    await rig.deliver()
    rig.fake.fail_next("chat.update", error="message_not_found")
    await rig.owe(extend_taken())
    await rig.deliver()
    gone = (await rig.rows())[offers.key][1]
    assert f"notice {gone} in {CHANNEL} is gone; not editing it" in caplog.messages
    assert rig.posts()[-1]["metadata"]["event_type"] == "eon_action_taken"


async def test_a_notice_posted_after_its_run_was_extended_offers_no_extend(rig: Rig) -> None:
    await act(rig, "extend", "U0EXT")
    await act(rig, "stop", "U0STOP", done=False)  # asked, Edge Impulse's answer not known
    await rig.owe(started(), time_limit(can_extend_search=True), ended(can_extend_search=True))
    await rig.deliver()
    by_kind = {m.event_type: m for m in rig.fake.messages(CHANNEL)}
    assert by_kind["eon_time_limit_exceeded"].text.endswith("The search was extended.")
    end = by_kind["eon_job_finished"]
    assert "ended after <@U0STOP> asked to stop it" in end.text
    assert end.metadata["event_payload"]["extended"] is True  # type: ignore[index]


async def test_an_earlier_runs_stop_and_extend_are_not_this_runs(rig: Rig) -> None:
    await act(rig, "extend", "U0EXT", run="R0")
    await act(rig, "stop", "U0STOP", run="R0")
    await rig.owe(started(), time_limit(can_extend_search=True), ended(can_extend_search=True))
    await rig.deliver()
    by_kind = {m.event_type: m for m in rig.fake.messages(CHANNEL)}
    assert by_kind["eon_time_limit_exceeded"].text.endswith(
        "can be extended with the button below."
    )
    end = by_kind["eon_job_finished"]
    assert "stopped" not in end.text and "extended" not in end.metadata["event_payload"]  # type: ignore[index]


async def test_a_notice_that_never_offered_an_extend_does_not_say_it_was_extended(
    rig: Rig,
) -> None:
    await act(rig, "extend", "U0EXT")
    await rig.owe(started(), time_limit(can_extend_search=False))
    await rig.deliver()
    [notice] = [m for m in rig.fake.messages(CHANNEL) if m.event_type == "eon_time_limit_exceeded"]
    assert notice.text.endswith("The search cannot be extended.")


async def test_the_end_says_who_stopped_the_run(rig: Rig) -> None:
    await act(rig, "stop", "U0STOP")
    await rig.owe(ended())
    await rig.deliver()
    [end] = rig.fake.messages(CHANNEL)
    assert "was stopped by <@U0STOP>" in end.text
    assert end.metadata["event_payload"]["stopped_by"] == "U0STOP"  # type: ignore[index]


async def test_the_card_names_who_asked_for_the_end_and_is_recorded_as_shown(rig: Rig) -> None:
    assert await rig.store.add_bell(T, P, RUN, "U0BELL", CHANNEL) == "added"
    await rig.owe(started())
    await rig.deliver()
    [card] = rig.fake.messages(CHANNEL)
    assert "<@U0BELL>" in str(card.blocks)
    assert card.metadata["event_payload"]["event_key"] == started().key  # type: ignore[index]
    assert await rig.store.dirty_cards(T, CHANNEL) == []  # it shows the run's latest version


async def test_a_finished_runs_card_says_who_stopped_it(rig: Rig) -> None:
    await act(rig, "stop", "U0STOP")
    running = snapshot(project=P, run=RUN)
    assert running.summary is not None
    done = running.summary.model_copy(update={"finished": True, "running": False})
    events = [started()]
    await rig.store.save_poll(
        P, snapshot=running.model_copy(update={"summary": done}), events=events, outage=Outage()
    )
    await rig.deliver()
    [card] = rig.fake.messages(CHANNEL)
    assert "Stopped* by <@U0STOP>" in str(card.blocks)


async def test_a_card_of_a_run_that_continues_another_links_the_earlier_card(rig: Rig) -> None:
    await rig.owe(started())
    await rig.deliver()
    earlier = await rig.store.card(T, CHANNEL, P, RUN)
    assert earlier is not None
    later = snapshot(project=P, run="R2")
    assert later.summary is not None
    summary = later.summary.model_copy(update={"continuation_job_id": RUN})
    ref = RunRef(P, "R2", "J2", "EON Tuner run 2", "Keyword spotting")
    await rig.store.save_poll(
        P,
        snapshot=later.model_copy(update={"summary": summary}),
        events=[ref.event(EventKind.RUN_STARTED)],
        outage=Outage(),
    )
    await rig.deliver()
    [ask] = rig.fake.calls_to("chat.getPermalink")
    assert ask.ok and ask.args["message_ts"] == earlier.ts
    assert "|earlier card>" in str(rig.fake.messages(CHANNEL)[-1].blocks)


async def test_the_delay_from_poll_to_post_is_measured_never_below_zero(rig: Rig) -> None:
    def measured(what: str) -> float | None:
        return rig.metrics.registry.get_sample_value(f"eonbot_delivery_delay_seconds_{what}")

    [row] = await rig.owe(recovered())
    late = dataclasses.replace(row, created_at=utcnow() - timedelta(seconds=30))
    await rig.poster.deliver(late, rig.slack)
    assert (measured("count"), 30.0 <= (measured("sum") or 0) < 60.0) == (1, True)
    [row] = await rig.owe(recovered().model_copy(update={"key": "7:outage:y"}))
    ahead = dataclasses.replace(row, created_at=utcnow() + timedelta(seconds=30))  # a skewed clock
    before = measured("sum")
    await rig.poster.deliver(ahead, rig.slack)
    assert (measured("count"), measured("sum")) == (2, before)  # counted as 0 s


async def test_a_running_runs_new_card_waits_its_gap_before_an_edit(tmp_path: Path) -> None:
    """With a poll interval (edits budgeted), a card just posted is not edited at the next
    change: its edit is held for the gap (`CardEditor.shown`)."""
    store = await Store.open(f"sqlite:///{tmp_path / 'bot.db'}")
    await store.subscribe(T, CHANNEL, P, added_by="U1")
    async with FakeSlack() as fake:
        slack = AsyncWebClient(token="xoxb-test", base_url=fake.api_url, retry_handlers=[])
        cards = CardEditor(store=store, poll_interval=30.0)
        poster = Poster(store=store, cards=cards, owner=None, claim_s=45.0)
        await store.save_poll(P, snapshot=snapshot(1, P, RUN), events=[started()], outage=Outage())
        for row in await store.outbox(T, CHANNEL):
            await poster.deliver(row, slack)
        await store.save_poll(P, snapshot=snapshot(2, P, RUN), events=[], outage=Outage())
        assert len(await store.dirty_cards(T, CHANNEL)) == 1
        await cards.update(TeamChannel("", CHANNEL), slack)
        assert fake.calls_to("chat.update") == [] and cards.due(TeamChannel("", CHANNEL)) > 0
    await store.close()


BELL = "U0BELL"
DM = "D0BELL"  # the fake's DM with U0BELL
ME = person_address(BELL)


async def dm_row(rig: Rig) -> tuple[str, str | None, str | None]:
    """The DM row's (state, ts, last error)."""
    query = select(outbox.c.state, outbox.c.ts, outbox.c.last_error)
    async with rig.store.backend.read() as conn:
        return tuple((await conn.execute(query.where(outbox.c.channel_id == ME))).one())


async def ring(rig: Rig, *, card: bool = True) -> OutboxRow:
    """BELL asked (on the card, when `card`) for the run's end, which came: its DM row."""
    assert await rig.store.add_bell(T, P, RUN, BELL, CHANNEL) == "added"
    await rig.owe(*([started()] if card else []), ended())
    await rig.deliver()
    running = snapshot(project=P, run=RUN)
    assert running.summary is not None
    done = running.summary.model_copy(update={"finished": True, "running": False})
    await rig.store.save_poll(
        P, snapshot=running.model_copy(update={"summary": done}), events=[], outage=Outage()
    )
    assert await rig.store.ring_due() == 1
    [row] = await rig.store.outbox(T, ME)
    return row


async def test_the_end_by_dm_says_who_stopped_it_and_links_the_cards_thread(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    await act(rig, "stop", "U0STOP")
    row = await ring(rig)
    await rig.poster.deliver(row, rig.slack)
    [dm] = rig.fake.messages(DM)
    assert await dm_row(rig) == ("sent", dm.ts, None)
    assert "posted the end of a run of project 7 to a DM" in caplog.messages
    card = await rig.store.card(T, CHANNEL, P, RUN)
    assert card is not None
    assert "was stopped by <@U0STOP>" in dm.text
    assert f"archives/{CHANNEL}/p{card.ts.replace('.', '')}|the run's thread>" in dm.text
    assert dm.metadata["event_payload"]["event_key"] == ended().key  # type: ignore[index]
    assert (await rig.store.outbox(T, ME)) == [] and rig.store.claims[-1] == (OWNER, 45.0)
    assert [c.args["users"] for c in rig.fake.calls_to("conversations.open")] == [BELL]


async def test_the_end_by_dm_without_a_card_has_no_link_and_the_dm_is_opened_once(
    rig: Rig,
) -> None:
    await act(rig, "stop", "U0STOP", run="R0")  # an earlier run's stop: not this run's
    row = await ring(rig, card=False)
    rig.fake.fail_next("chat.postMessage", channel=DM, drop_connection=True, take_effect=True)
    with pytest.raises(Failed):
        await rig.poster.deliver(row, rig.slack)
    [row] = await rig.store.outbox(T, ME)
    assert row.state == "attempting"
    await rig.poster.deliver(row, rig.slack)  # found in the DM: not posted again
    [dm] = rig.fake.messages(DM)
    assert dm.text.endswith("🔔 You asked to hear when it ends.") and "<@U0STOP>" not in dm.text
    assert [c.args["channel"] for c in rig.fake.calls_to("conversations.history")] == [DM]
    assert len(rig.fake.calls_to("conversations.open")) == 1  # asked once per process
    assert await dm_row(rig) == ("sent", dm.ts, None)


async def test_a_dm_slack_will_not_open_is_given_up_one_not_answered_is_tried_again(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    row = await ring(rig)
    rig.fake.fail_next("conversations.open", status=503)
    with pytest.raises(Failed) as lost:
        await rig.poster.deliver(row, rig.slack)
    assert lost.value.attempts is None
    for attempt in range(1, MAX_ATTEMPTS):  # an error with no rule: counted, tried again
        rig.fake.fail_next("conversations.open", error="restricted_action")
        with pytest.raises(Failed) as refused:
            await rig.poster.deliver(row, rig.slack)
        assert (refused.value.error.code, refused.value.attempts) == ("restricted_action", attempt)
        [row] = await rig.store.outbox(T, ME)
    rig.fake.fail_next("conversations.open", error="restricted_action")
    await rig.poster.deliver(row, rig.slack)  # what would pause a channel: this DM is given up
    assert await dm_row(rig) == ("abandoned", None, "restricted_action")
    assert rig.fake.messages(DM) == []
    assert f"giving up the DM to {BELL}: Slack says restricted_action" in caplog.messages
    assert [m.event_type for m in rig.fake.messages(CHANNEL)][-1] == "eon_job_finished"


async def test_a_dm_is_opened_per_workspace(rig: Rig) -> None:
    """The same user id in two workspaces is two people, each with a DM of their own."""
    row = await ring(rig)
    rig.fake.fail_next("chat.postMessage", channel=DM, error="restricted_action")
    with pytest.raises(Failed):
        await rig.poster.deliver(row, rig.slack)  # the DM opened, the post refused
    [row] = await rig.store.outbox(T, ME)
    other = dataclasses.replace(row, team_id="T0OTHER")
    await rig.poster.deliver(other, rig.slack)
    assert len(rig.fake.calls_to("conversations.open")) == 2


class Unpaged:
    """A Slack whose history says `has_more` with no cursor to go on (a malformed answer)."""

    def __init__(self) -> None:
        self.reads = 0

    async def conversations_history(self, **_: Any) -> dict[str, Any]:
        self.reads += 1
        await asyncio.sleep(0)  # an answer over the network: the loop turns
        return {"ok": True, "messages": [], "has_more": True, "response_metadata": {}}

    async def chat_postMessage(self, **_: Any) -> dict[str, Any]:  # noqa: N802 (slack_sdk's)
        return {"ok": True, "ts": "1.000100"}


async def test_a_page_saying_more_with_no_cursor_ends_the_look_up(rig: Rig) -> None:
    [row] = await rig.owe(recovered())
    assert await rig.store.mark_attempting(row.id)
    [row] = await rig.store.outbox(T, CHANNEL)
    slack = Unpaged()
    # Reading the first page again and again never ends; the stub answers at once, so a
    # look-up that ends does within milliseconds, under any load.
    async with asyncio.timeout(5.0):
        await rig.poster.deliver(row, slack)  # type: ignore[arg-type]
    assert slack.reads == 1 and (await rig.rows())[row.event.key][:2] == ("sent", "1.000100")


async def test_a_card_posted_before_its_run_has_a_summary_is_drawn_once_it_has_one(
    rig: Rig,
) -> None:
    await rig.store.save_poll(P, snapshot=None, events=[started()], outage=Outage())
    await rig.deliver()  # no summary yet: the plain message, recorded as showing none
    card = await rig.store.card(T, CHANNEL, P, RUN)
    assert card is not None and card.rendered_version == 0
    await rig.store.save_poll(P, snapshot=snapshot(1, P, RUN), events=[], outage=Outage())
    [(dirty, _, _)] = await rig.store.dirty_cards(T, CHANNEL)
    assert dirty.ts == card.ts  # to be edited to the summary

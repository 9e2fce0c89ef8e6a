"""A run's end by DM ("🔔 Tell me when it ends") through delivery, below the process: posted
once into the person's DM even when Slack's answer to the post is lost (looked up there by its
event key first), and given up, never pausing the channel, when Slack will not open the DM.
The real store and the Slack stand-in."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bot.core.events import EventKind, RunRef
from bot.sandbox.fakeslack import FakeSlack
from bot.store import Outage, Store, person_address
from tests.slack.test_delivery import CHANNEL, delivering
from tests.slack.test_poster import rows, sent
from tests.store.test_store import snapshot

T = ""  # the workspace of the rows these tests write (single mode: adopted at start)

P, RUN = "7", "R1"
END = RunRef(P, RUN, "J1", "EON Tuner run 1", "Keyword spotting").event(
    EventKind.JOB_FINISHED, outcome="completed", best_trial_id="t1"
)
DM = "DADA"  # FakeSlack's DM with UADA


async def end_the_run(store: Store) -> None:
    running = snapshot(project=P, run=RUN)
    assert running.summary is not None
    done = running.summary.model_copy(update={"finished": True, "running": False})
    ended = running.model_copy(update={"summary": done})
    assert await store.save_poll(P, snapshot=ended, events=[END], outage=Outage()) == 1


async def test_a_dm_whose_answer_was_lost_is_found_not_posted_again(tmp_path: Path) -> None:
    async with FakeSlack() as fake, delivering(tmp_path, fake, max_backoff_s=0.02) as (store, _):
        assert await store.add_bell(T, P, RUN, "UADA", CHANNEL) == "added"
        fake.fail_next("chat.postMessage", channel=DM, drop_connection=True, take_effect=True)
        await end_the_run(store)
        await sent(store)
        [message] = fake.messages(DM)
        assert message.event_type == "eon_job_finished"
        assert len([c for c in fake.calls_to("chat.postMessage") if c.args["channel"] == DM]) == 1
        assert [c.args["channel"] for c in fake.calls_to("conversations.history")] == [DM]
        assert await store.outbox(T, person_address("UADA")) == []  # sent: nothing owed there


async def test_a_dm_slack_refuses_is_given_up_and_the_channel_goes_on(tmp_path: Path) -> None:
    async with FakeSlack() as fake, delivering(tmp_path, fake, max_backoff_s=0.02) as (store, _):
        assert await store.add_bell(T, P, RUN, "UADA", CHANNEL) == "added"
        fake.fail_next("conversations.open", error="user_disabled", times=10)
        await end_the_run(store)
        found = await sent_or_given_up(store)
        assert sorted(found) == ["abandoned", "sent"]
        assert fake.messages(DM) == [] and len(fake.messages(CHANNEL)) == 1
        [sub] = await store.subscriptions(T, channel_id=CHANNEL)
        assert sub.paused_reason is None


async def sent_or_given_up(store: Store) -> list[str]:
    """The two rows' states once neither is owed (waited for under a hang guard)."""
    async with asyncio.timeout(10.0):
        while True:
            found = [state for state, _, _ in await rows(store)]
            if len(found) == 2 and set(found) <= {"sent", "abandoned"}:
                return found
            await asyncio.sleep(0.02)

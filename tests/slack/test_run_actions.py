"""Acting on a run from Slack, below the process: the buttons (valid Block Kit, each with a
confirm), who may act, stale buttons, exactly once, refusals and unknown outcomes, and the
audit line and outcome written to the channel's outbox. The real store (SQLite, and
PostgreSQL when TEST_POSTGRES_URL is set); Edge Impulse is an `httpx.MockTransport` that
counts requests. The end-to-end tests run the same through the real process."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from slack_sdk.models.blocks import Block
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import select

from bot.core.diff import diff, started_event
from bot.core.events import Event, EventKind, RunRef
from bot.core.outage import Outage
from bot.sandbox.fakeslack import FakeSlack
from bot.settings import Settings
from bot.slack.actions import Click, RunActions, read_click
from bot.slack.delivery import Delivery
from bot.slack.delivery.stops import stop_of, stops_of
from bot.slack.listeners.app_home import home_projects
from bot.slack.listeners.deps import Deps
from bot.slack.listeners.eon_runs import render_top
from bot.slack.listeners.home_view import home_view
from bot.slack.listeners.run_buttons import NOT_HERE, answer, finish
from bot.slack.render import render_card, render_event, render_status
from bot.slack.render.actions import ACTION_SPECS, Stop, action_button
from bot.slack.tokens import OneWorkspace
from bot.store import DONE, UNKNOWN, Store
from bot.store.schema import outbox
from bot.tuner.client import TunerClient
from bot.tuner.jobs import TunerJobs
from tests.factories import state, trial

T = ""  # the workspace of the rows these tests write (single mode: adopted at start)

KEY = "ei_SECRET-acting-key-0123456789"
P = "7"
RUN = "11"  # the coordinator job of `state()`: the run's id


def validated(blocks: list[dict[str, Any]]) -> list[Block]:
    parsed = []
    for raw in blocks:
        block = Block.parse(raw)
        assert block is not None
        block.validate_json()  # slack_sdk's own checks, confirm objects included
        parsed.append(block)
    return parsed


def acting_buttons(blocks: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The buttons that act on a run, by action, each checked to carry a full confirm."""
    found = {}
    for block in blocks:
        for element in block.get("elements", []) if block["type"] == "actions" else []:
            action = next(
                (a for a, s in ACTION_SPECS.items() if s.action_id == element.get("action_id")),
                None,
            )  # noqa: E501
            if action is None:
                continue
            confirm = element["confirm"]
            assert {"title", "text", "confirm", "deny"} <= confirm.keys()
            assert "project" in confirm["text"]["text"]
            found[action] = element
    return found


def test_the_card_offers_stop_while_the_job_runs_and_drops_it_after() -> None:
    events, snap = diff(None, state(trial("a", "running")), project_id=P)
    assert snap.summary is not None
    running = render_card(snap.summary)
    validated(running.blocks)
    stop = acting_buttons(running.blocks)["stop"]
    assert stop["confirm"]["text"]["text"].startswith("Stop the EON Tuner run in project 7?")
    assert "Trials still running are lost" in stop["confirm"]["text"]["text"]
    _, ended = diff(snap, state(trial("a", "completed", accuracy=0.9), running=False), project_id=P)
    assert ended.summary is not None and ended.summary.finished
    assert acting_buttons(render_card(ended.summary).blocks) == {}


def test_the_time_limit_and_the_end_offer_extend_and_the_best_trial() -> None:
    run = RunRef(P, RUN, "10")
    limit = render_event(run.event(EventKind.TIME_LIMIT_EXCEEDED, can_extend_search=True))
    assert set(acting_buttons(validated_dict(limit.blocks))) == {"extend"}
    assert "can be extended with the button below." in limit.text  # not "in Studio"
    no_more = render_event(run.event(EventKind.TIME_LIMIT_EXCEEDED, can_extend_search=False))
    assert acting_buttons(no_more.blocks) == {}
    assert no_more.text.endswith("The search cannot be extended.")
    # No run to name in a button's value: no button, so the words point to Studio.
    runless = Event(kind=EventKind.TIME_LIMIT_EXCEEDED, key="k", project_id=P,
                    payload={"can_extend_search": True})  # fmt: skip
    assert acting_buttons(render_event(runless).blocks) == {}
    assert render_event(runless).text.endswith("The search can be extended in Studio.")
    end = render_event(
        run.event(
            EventKind.JOB_FINISHED,
            outcome="completed",
            can_extend_search=True,
            best_trial_id="a",
            best_trial_name="kws <v2>",
        )  # fmt: skip
    )
    buttons = acting_buttons(validated_dict(end.blocks))
    assert set(buttons) == {"extend", "use"}
    assert json.loads(buttons["use"]["value"]) == {"p": P, "r": RUN, "t": "a"}
    assert "kws <v2>" in buttons["use"]["confirm"]["text"]["text"]  # plain text: shown as is
    # Once the search was extended from Slack, neither offers it again.
    done = render_event(
        run.event(EventKind.TIME_LIMIT_EXCEEDED, can_extend_search=True, extended=True)
    )
    assert acting_buttons(validated_dict(done.blocks)) == {}
    assert done.text.endswith("The search was extended.")
    ended = run.event(EventKind.JOB_FINISHED, outcome="completed", can_extend_search=True,
                      extended=True, best_trial_id="a")  # fmt: skip
    assert set(acting_buttons(render_event(ended).blocks)) == {"use"}


def validated_dict(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    validated(blocks)
    return blocks


def test_a_button_whose_value_would_not_fit_is_left_out() -> None:
    assert action_button("use", P, RUN, "x" * 3000) is None


# --- clicks -------------------------------------------------------------------------------


class EdgeImpulse:
    """A MockTransport answering like Edge Impulse's job routes; counts every request."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.answer: Callable[[httpx.Request], httpx.Response] = self.started
        self.finished = False

    def started(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/status"):
            job = {"id": 99, "finished": "2025-01-01T00:00:00Z" if self.finished else None,
                   "finishedSuccessful": True if self.finished else None}  # fmt: skip
            return httpx.Response(200, json={"success": True, "job": job})
        if request.url.path.endswith("/optimize/state"):
            doc = state(trial("a", "completed", accuracy=0.9)).model_dump(by_alias=True)
            doc["trials"][0]["impulseAddedToProject"] = {
                "impulseId": 3,
                "link": "https://studio.edgeimpulse.com/studio/7/impulse/3",
            }  # noqa: E501
            return httpx.Response(200, json=doc)
        return httpx.Response(200, json={"success": True, "id": 99})

    async def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        await asyncio.sleep(0.05)  # a call that takes a moment: clicks overlap it
        return self.answer(request)

    def posts(self) -> list[str]:
        return [r.url.path for r in self.requests if r.method == "POST"]


class Rig:
    def __init__(self, store: Store, admins: str = "") -> None:
        self.store = store
        self.ei = EdgeImpulse()
        transport = httpx.MockTransport(self.ei.handle)
        key: Callable[[str], SecretStr | None] = lambda _: SecretStr(KEY)  # noqa: E731
        self.actions = RunActions(
            store=store,
            jobs=TunerJobs(transport, base_url="https://ei.test/v1", api_key_for=key),
            tuner=TunerClient(transport, base_url="https://ei.test/v1", api_key_for=key),
            wake_delivery=lambda: None,
            interval=1.0,
            owner="eon-bot test-rig",
        )
        self.deps = Deps(
            store=store, settings=Settings.given(admin_user_ids=admins),
            start_watching=self._nothing, stop_watching=self._nothing,
            check_project=self._no_problem, act=self.actions,
        )  # fmt: skip

    async def _nothing(self, project_id: str) -> None:
        return None

    async def _no_problem(self, project_id: str) -> str | None:
        return None

    async def poll(self, *trials: dict[str, Any], **options: Any) -> None:
        before = await self.store.snapshot(P)
        events, snap = diff(before, state(*trials, **options), project_id=P)
        await self.store.save_poll(P, snapshot=snap, events=[], outage=Outage())

    async def click(self, action: str, user: str = "U1", trial_id: str = "") -> str | None:
        body = payload(action, user, trial_id)
        return await answer(self.deps, body)

    async def thread(self) -> list[Event]:
        async with self.store.backend.read() as conn:
            rows = (await conn.execute(select(outbox.c.event).order_by(outbox.c.id))).scalars()
            return [Event.model_validate_json(row) for row in rows]


def payload(action: str, user: str = "U1", trial_id: str = "") -> dict[str, Any]:
    """A `block_actions` payload as Slack sends it for a click on one of the bot's buttons."""
    button = action_button(action, P, RUN, trial_id)
    assert button is not None
    return {
        "type": "block_actions",
        "team": {"id": "T0EON", "domain": "eon"},
        "user": {"id": user, "team_id": "T0EON"},
        "channel": {"id": "C1"},
        "container": {"type": "message", "channel_id": "C1", "message_ts": "1.1"},
        "actions": [button.to_dict() | {"type": "button", "action_ts": "2.2"}],
        "response_url": "https://hooks.slack.test/actions/1",
    }


@pytest.fixture
async def rig(store: Store) -> AsyncIterator[Rig]:
    await store.subscribe(T, "C1", P, added_by="U1")
    made = Rig(store)
    await made.poll(trial("a", "running"))
    yield made


def test_a_click_is_read_from_the_payload() -> None:
    assert read_click(payload("use", trial_id="a")) == Click("use", P, RUN, "a", "U1", "C1")
    assert read_click({"actions": [{"action_id": "eon_stop_run", "value": "{"}]}) is None


async def test_who_may_not_act_is_told_who_may_and_nothing_reaches_edge_impulse(
    store: Store,
) -> None:
    await store.subscribe(T, "C1", P, added_by="U1")
    rig = Rig(store, admins="UADMIN")
    await rig.poll(trial("a", "running"))
    for action in ("stop", "extend", "use"):
        said = await rig.click(action, user="U2", trial_id="a" if action == "use" else "")
        assert said == (
            "⛔ Only eon-bot admins (ADMIN_USER_IDS) can act on a run (stop it, extend its "
            "search, use a trial); ask <@UADMIN>."
        )
    assert rig.ei.requests == []
    assert await rig.click("stop", user="UADMIN") is None
    assert rig.ei.posts() == [f"/v1/api/{P}/jobs/{RUN}/cancel"]


class Barrier:
    """The store, but every click's first look waits until all of them looked: they all find
    the action not taken yet, as clicks racing on two replicas do."""

    def __init__(self, store: Store, clicks: int) -> None:
        self._store, self._left, self._all = store, clicks, asyncio.Event()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    async def actions_of(self, team: str, project_id: str, run_id: str | None = None) -> Any:
        found = await self._store.actions_of(team, project_id, run_id)
        self._left -= 1
        if self._left <= 0:
            self._all.set()
        await self._all.wait()
        return found


async def test_clicks_at_once_reach_edge_impulse_once_and_the_thread_says_who(rig: Rig) -> None:
    rig.actions._store = Barrier(rig.store, 5)
    said = await asyncio.gather(*(rig.click("stop", user=f"U{i}") for i in range(5)))
    rig.actions._store = rig.store
    assert rig.ei.posts() == [f"/v1/api/{P}/jobs/{RUN}/cancel"]
    assert said.count(None) == 1
    assert all("nothing was done again" in s.lower() or "awaited" in s for s in said if s)
    [audit] = await rig.thread()
    assert audit.kind is EventKind.ACTION_TAKEN and audit.run_id == RUN
    meta = audit.metadata()
    assert meta["event_type"] == "eon_action_taken"
    assert {"action": "stop", "job_id": RUN}.items() <= meta["event_payload"].items()
    again = await rig.click("stop", user="U9")
    assert again is not None and again.startswith("✅ Already done by <@") and "<!date^" in again
    validated(render_event(audit).blocks)
    assert "⏹" in render_event(audit).text and "stopped the run" in render_event(audit).text


async def test_a_stale_button_answers_why_and_does_nothing(rig: Rig) -> None:
    await rig.poll(trial("a", "completed", accuracy=0.9), running=False)
    assert await rig.click("stop") == "This run has already ended: nothing was done."
    said = await rig.click("extend")
    assert said is not None and "no longer offers to extend" in said
    said = await rig.click("use", trial_id="zz")
    assert said is not None and "not a completed trial" in said
    assert rig.ei.requests == []


async def test_a_read_only_key_gets_its_fix_and_the_next_click_may_try_again(rig: Rig) -> None:
    rig.ei.answer = lambda _: httpx.Response(403, json={"success": False, "error": KEY})
    said = await rig.click("stop")
    assert said is not None and "/eon key 7" in said and "read-only" in said and KEY not in said
    assert await rig.thread() == []  # nothing happened, so nothing is told in the thread
    rig.ei.answer = rig.ei.started
    assert await rig.click("stop") is None
    assert len(rig.ei.posts()) == 2


async def test_a_busy_edge_impulse_is_a_refusal_that_says_to_try_again(rig: Rig) -> None:
    rig.ei.answer = lambda _: httpx.Response(429, json={"success": False, "error": "slow down"})
    said = await rig.click("stop")
    assert said is not None and said.startswith("⚠ Nothing was done:")
    assert said.endswith("try again in a minute.") and await rig.thread() == []
    rig.ei.answer = rig.ei.started
    assert await rig.click("stop") is None and len(rig.ei.posts()) == 2


async def test_no_clear_answer_is_told_as_unknown_in_the_thread(rig: Rig) -> None:
    def broken(_: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("no answer")

    rig.ei.answer = broken
    said = await rig.click("stop")
    assert said is not None and "thread says what is known" in said
    [notice] = await rig.thread()
    assert notice.payload["outcome"] == "unknown"
    told = render_event(notice).text
    assert "does not know whether Edge Impulse did it" in told
    # No "try again": a later click does not (below), so the thread sends the user to Studio.
    assert "act there if it was not done: the button will not try again" in told
    again = await rig.click("stop")
    assert again is not None and "not known" in again and len(rig.ei.posts()) == 1


def test_a_click_while_the_first_awaits_edge_impulse_is_told_it_was_asked_not_done() -> None:
    from datetime import UTC, datetime

    from bot.slack.actions import already
    from bot.store import CLAIMED, ActionRecord

    at = datetime(2025, 1, 1, tzinfo=UTC)
    record = ActionRecord(project_id=P, run_id=RUN, action="stop", target=RUN, channel_id="C1",
                          user_id="U1", state=CLAIMED, created_at=at)  # fmt: skip
    said = already(record)
    assert said.startswith("⏳ <@U1> asked for this at <!date^1735689600^") and "awaited" in said


async def test_a_used_trial_is_followed_to_its_outcome_with_the_studio_link(rig: Rig) -> None:
    await rig.poll(trial("a", "completed", accuracy=0.9, name="kws v2"), running=False)
    assert await rig.click("use", trial_id="a") is None
    assert rig.ei.posts() == [f"/v1/api/{P}/jobs/set-tuner-primary-job"]
    await rig.actions.sweep()  # the job still runs: nothing to say yet
    assert len(await rig.thread()) == 1
    rig.ei.finished = True
    await rig.actions.sweep()
    await rig.actions.sweep()  # once only
    taken, outcome = await rig.thread()
    assert taken.payload["job_id"] == "99" and "kws v2" in render_event(taken).text
    assert outcome.kind is EventKind.ACTION_OUTCOME and outcome.payload["outcome"] == "completed"
    assert "extension" not in outcome.payload  # only an extend starts a run to name
    shown = render_event(outcome)
    validated(shown.blocks)
    assert "<https://studio.edgeimpulse.com/studio/7/impulse/3|Open in Studio>" in shown.text


async def test_a_claim_left_by_a_crash_is_told_as_unknown(rig: Rig) -> None:
    rig.actions._claim_s = -1.0  # every claim has already expired: as after a crash
    from bot.store import ActionRecord

    await rig.store.claim_action(
        ActionRecord(project_id=P, run_id=RUN, action="stop", target=RUN, channel_id="C1",
                     user_id="U1"), claim_s=-1.0,
    )  # fmt: skip
    await rig.actions.sweep()
    [notice] = await rig.thread()
    assert notice.payload == notice.payload | {"outcome": "unknown", "action": "stop"}
    assert "stopped before Edge Impulse answered" in render_event(notice).text
    assert rig.ei.requests == []


def test_top_offers_use_on_each_row() -> None:
    from bot.core.chart import ChartData
    from bot.core.summary import TrialSummary

    trials = [
        TrialSummary(id=f"t{i}", name=f"trial {i}", status="completed", accuracy=0.5 + i / 10)
        for i in range(3)
    ]
    message = render_top(P, "run", ChartData(project_id=P, trials=trials), 5, run_id=RUN)
    validated(message.blocks)
    row = message.blocks[-1]["elements"]
    assert [e["text"]["text"] for e in row] == [
        "Use #1 trial 2",
        "Use #2 trial 1",
        "Use #3 trial 0",
    ]
    assert all(e["confirm"]["title"]["text"] == "Use this trial?" for e in row)


async def test_a_call_unanswered_within_its_limit_is_told_as_unknown(rig: Rig) -> None:
    async def never(request: httpx.Request) -> httpx.Response:
        rig.ei.requests.append(request)
        await asyncio.Event().wait()  # Edge Impulse never answers
        raise AssertionError("unreachable")

    transport, key = httpx.MockTransport(never), {"api_key_for": lambda _: SecretStr(KEY)}
    rig.actions = RunActions(  # the limit as eon-bot gives it: through the constructor
        store=rig.store,
        jobs=TunerJobs(transport, base_url="https://ei.test/v1", **key),
        tuner=TunerClient(transport, base_url="https://ei.test/v1", **key),
        wake_delivery=lambda: None, interval=1.0, owner="eon-bot test-rig", call_limit_s=0.2,
    )  # fmt: skip
    rig.deps = dataclasses.replace(rig.deps, act=rig.actions)
    said = await asyncio.wait_for(rig.click("stop"), 10.0)  # fails, not hangs, without a limit
    assert said is not None and "thread says what is known" in said
    [notice] = await rig.thread()
    assert notice.payload["outcome"] == "unknown" and len(rig.ei.posts()) == 1
    assert "no answer within 0.2 s" in [a.detail for a in await rig.store.actions_of(T, P)]


# --- a run stopped from Slack ends "stopped by" -------------------------------------------


def test_an_end_stopped_from_slack_says_by_whom_and_keeps_the_outcome_contract() -> None:
    run = RunRef(P, RUN, "10")
    end = run.event(EventKind.JOB_FINISHED, outcome="completed", completed_trials=3,
                    best_trial_id="a", best_trial_name="kws")  # fmt: skip
    stopped = render_event(Stop("U1", confirmed=True).told(end))
    validated(stopped.blocks)
    assert stopped.text.startswith(f"⏹ The EON Tuner run in project {P} was stopped by <@U1> —")
    assert "finished" not in stopped.text and "\nBest: *kws*" in stopped.text
    assert stopped.metadata is not None
    meta = stopped.metadata["event_payload"]
    assert (meta["outcome"], meta["stopped_by"]) == ("completed", "U1")
    asked = render_event(Stop("U1", confirmed=False).told(end))
    assert f"project {P} ended after <@U1> asked to stop it —" in asked.text
    assert asked.metadata is not None and asked.metadata["event_payload"]["stop_asked_by"] == "U1"
    # Edge Impulse may tell a cancelled job as failed: the stop is what happened, its words after
    failed = run.event(EventKind.JOB_FINISHED, outcome="failed", job_error="Job was cancelled")
    shown = render_event(Stop("U1", confirmed=True).told(failed)).text
    assert shown.startswith("⏹") and "(Edge Impulse says: Job was cancelled)" in shown


def test_a_finished_card_says_who_stopped_the_run() -> None:
    _, snap = diff(None, state(trial("a", "completed", accuracy=0.9), running=False), project_id=P)
    assert snap.summary is not None and snap.summary.finished
    card = render_card(snap.summary, stop=Stop("U1", confirmed=True))
    validated(card.blocks)
    assert "⏹ *Stopped* by <@U1>" in card.text and "Finished" not in card.text
    assert "⏹ *Ended* after <@U1> asked" in render_card(snap.summary, stop=Stop("U1", False)).text
    _, running = diff(None, state(trial("a", "running")), project_id=P)
    assert running.summary is not None  # a stop still under way is not said on a running card
    assert "Stopped" not in render_card(running.summary, stop=Stop("U1", True)).text


async def test_the_stop_of_a_run_is_read_from_the_actions_table(rig: Rig) -> None:
    assert await stop_of(rig.store, T, P, RUN) is None
    rig.ei.answer = lambda _: httpx.Response(504)  # no clear answer: the outcome is unknown
    await rig.click("stop", "U2")
    assert await stop_of(rig.store, T, P, RUN) == Stop("U2", confirmed=False)
    assert await stop_of(rig.store, T, P, "another run") is None
    [record] = await rig.store.actions_of(T, P, RUN)
    assert record.id is not None
    await rig.store.move_action(record.id, from_states=[UNKNOWN], state=DONE)
    assert await stop_of(rig.store, T, P, RUN) == Stop("U2", confirmed=True)


async def test_delivery_tells_the_end_and_the_card_of_a_stopped_run_by_whom(rig: Rig) -> None:
    before = await rig.store.snapshot(P)
    assert before is not None
    started = started_event(before)
    assert started is not None
    async with FakeSlack() as fake:
        slack = AsyncWebClient(token="xoxb-test", base_url=fake.api_url)
        delivery = Delivery(store=rig.store, tokens=OneWorkspace(slack), idle_s=0.05)
        runner = asyncio.create_task(delivery.run())
        try:
            await rig.store.save_poll(P, snapshot=before, events=[started], outage=Outage())
            delivery.wake()
            [card] = await fake.wait_for(lambda f: f.top_level("C1"), timeout=30.0)
            assert "Running" in card.text  # posted before the stop: an edit must tell it
            assert await rig.click("stop", "U1") is None
            events, snap = diff(before, state(trial("a", "failed"), running=False), project_id=P)
            assert [e.kind for e in events if e.kind is EventKind.JOB_FINISHED]
            await rig.store.save_poll(P, snapshot=snap, events=events, outage=Outage())
            delivery.wake()
            [end] = await fake.wait_for(ended_messages, timeout=30.0)
            await fake.wait_for(
                lambda f: "Running" not in f.message("C1", card.ts).text, timeout=30.0
            )
        finally:
            await delivery.stop()
            runner.cancel()
            await asyncio.gather(runner, return_exceptions=True)
    assert "⏹ *Stopped* by <@U1>" in fake.message("C1", card.ts).text
    assert end.text.startswith(f"⏹ The EON Tuner run in project {P} was stopped by <@U1>")
    assert end.metadata is not None and end.metadata["event_payload"]["stopped_by"] == "U1"
    assert end.thread_ts == card.ts


def ended_messages(fake: FakeSlack) -> list[Any]:
    return [m for m in fake.messages("C1") if m.event_type == EventKind.JOB_FINISHED.value]


async def test_the_thread_lines_name_the_run_as_its_other_messages_do(rig: Rig) -> None:
    named = {"name": "EON Tuner run 4"}
    await rig.poll(trial("a", "completed", accuracy=0.9), running=False, config=named)
    assert await rig.click("use", trial_id="a") is None
    rig.ei.finished = True
    await rig.actions.sweep()
    taken, outcome = await rig.thread()
    for told in (taken, outcome):
        context = json.dumps(render_event(told).blocks[1], ensure_ascii=False)
        assert f"project {P} · EON Tuner run 4 · trial a" in context, context  # not "run 11"


async def test_status_and_the_home_tab_say_who_stopped_the_run_as_its_card_does(rig: Rig) -> None:
    assert await rig.click("stop", "U1") is None
    before = await rig.store.snapshot(P)
    events, snap = diff(before, state(trial("a", "failed"), running=False), project_id=P)
    await rig.store.save_poll(P, snapshot=snap, events=events, outage=Outage())
    summaries = list((await rig.store.summaries([P])).values())
    assert summaries and summaries[0].finished and summaries[0].run_id == RUN
    assert "State: finished" in render_status(summaries).text  # the control: no stop given
    stops = await stops_of(rig.store, T, summaries)
    assert stops == {P: Stop("U1", confirmed=True)}
    another_run = summaries[0].model_copy(update={"run_id": "another run"})
    assert await stops_of(rig.store, T, [another_run]) == {}  # a stop of the project's earlier run
    status = render_status(summaries, stops=stops)
    assert "State: stopped by <@U1>" in status.text and "State: finished" not in status.text
    [home] = await home_projects(rig.deps)
    view = json.dumps(home_view([home], admin=False, keys_enabled=False), ensure_ascii=False)
    assert "⏹ *Stopped* by <@U1>" in view and "Finished" not in view


# --- buttons that outlived their run or their channel's watch ------------------------------


async def test_stop_on_an_earlier_runs_card_leaves_the_new_run_alone(rig: Rig) -> None:
    """The card of run 11 still shows "Stop" when the project's run is 21: a click must not
    cancel run 21 (the job a stop would name is read from the latest snapshot)."""
    await rig.poll(trial("b", "running"), job=20, coordinator=21)
    said = await rig.click("stop")
    assert said == f"This run is no longer project {P}'s current run: nothing was done."
    assert rig.ei.requests == [] and await rig.store.actions_of(T, P) == []
    await rig.poll(trial("b", "completed", accuracy=0.9), job=20, coordinator=21,
                   running=False, can_extend=True)  # fmt: skip
    said = await rig.click("extend")  # run 11's "Extend" would extend run 21's search
    assert said == f"This run is no longer project {P}'s current run: nothing was done."
    assert rig.ei.requests == []


async def test_a_button_after_unwatch_in_its_channel_does_nothing(rig: Rig) -> None:
    await rig.store.subscribe(T, "C2", P, added_by="U1")  # another channel still watches it
    assert await rig.store.unsubscribe(T, "C1", P)
    said = await rig.click("stop")  # the payload's channel is C1
    assert said == f"This channel no longer watches project {P}: nothing was done."
    assert rig.ei.requests == [] and await rig.store.actions_of(T, P) == []


async def test_already_done_is_not_told_to_a_channel_that_does_not_watch(rig: Rig) -> None:
    """Issue 28, point 9: who stopped a run is the watching channels' to know."""
    await rig.store.subscribe(T, "C2", P, added_by="U1")
    assert await rig.click("stop") is None  # done from C1
    assert await rig.store.unsubscribe(T, "C1", P)
    said = await rig.click("stop", user="U9")  # the old card's button, in C1
    assert said == f"This channel no longer watches project {P}: nothing was done."
    assert rig.ei.posts() == [f"/v1/api/{P}/jobs/{RUN}/cancel"]


async def test_a_stop_then_an_extend_of_the_same_run_are_both_done(rig: Rig) -> None:
    """Two actions on one run are two rows (the actions table's key names the action)."""
    await rig.poll(trial("a", "running"), can_extend=True)
    assert await rig.click("stop", "U1") is None
    await rig.poll(trial("a", "completed", accuracy=0.9), running=False, can_extend=True)
    assert await rig.click("extend", "U2") is None
    assert rig.ei.posts() == [f"/v1/api/{P}/jobs/{RUN}/cancel", f"/v1/api/{P}/jobs/optimize"]
    done = {(a.action, a.user_id) for a in await rig.store.actions_of(T, P, RUN)}
    assert done == {("stop", "U1"), ("extend", "U2")}


async def test_an_eon_bot_started_without_acting_says_so_and_calls_nothing(rig: Rig) -> None:
    """`act` is None when the bot was built without that part: a click, or a claim taken
    before, gets that answer, and Edge Impulse hears nothing."""
    click = read_click(payload("stop"))
    assert click is not None
    claimed = await rig.actions.claim(click)
    assert not isinstance(claimed, str)
    off = dataclasses.replace(rig.deps, act=None)
    assert await answer(off, payload("stop")) == NOT_HERE
    assert await finish(off, claimed) == NOT_HERE
    assert rig.ei.requests == []


async def test_a_stop_already_done_says_who_did_it_after_the_run_ended_too(rig: Rig) -> None:
    """Who stopped the run is the answer to the next click on its Stop, not "it has ended"."""
    assert await rig.click("stop") is None
    await rig.poll(trial("a", "failed"), running=False)  # the stop ended the run
    said = await rig.click("stop", user="U2")
    assert said is not None and said.startswith("✅ Already done by <@U1> at <!date^")
    assert rig.ei.posts() == [f"/v1/api/{P}/jobs/{RUN}/cancel"]

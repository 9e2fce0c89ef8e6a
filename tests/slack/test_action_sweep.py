"""Acting on a run, after the click: what `RunActions.sweep` follows (a started job to its
outcome, a claim a crash left), when it wakes delivery, how its loop takes a failed sweep,
and which failures of Edge Impulse's call are refusals (the rule, as a table). The rig of
`test_run_actions` (the real store; Edge Impulse as a `MockTransport`)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from bot.core.diff import diff
from bot.core.events import Snapshot
from bot.core.outage import Outage
from bot.core.run_name import LABEL_CHARS, project_label
from bot.errors import (
    ConfigError,
    TunerApiError,
    TunerBadResponse,
    TunerReportedError,
    TunerUnavailable,
)
from bot.service.names import stamped
from bot.slack.actions import (
    INTERRUPTED,
    Click,
    RunActions,
    _refused,
    already,
    read_click,
    why_stale,
)
from bot.slack.listeners.run_buttons import answer
from bot.slack.render.actions import action_button
from bot.store import CLAIMED, DONE, STARTED, UNKNOWN, ActionRecord, Store
from tests.factories import state, trial
from tests.slack.test_run_actions import KEY, RUN, P, Rig, payload

T = ""  # the workspace of the rows these tests write (single mode: adopted at start)

GUARD_S = 30.0  # a hang guard: each wait below is for a condition


@pytest.fixture
async def rig(store: Store) -> AsyncIterator[Rig]:
    await store.subscribe(T, "C1", P, added_by="U1")
    made = Rig(store)
    made.wakes = 0  # type: ignore[attr-defined]

    def wake() -> None:
        made.wakes += 1  # type: ignore[attr-defined]

    made.actions._wake = wake
    await made.poll(trial("a", "running"))
    yield made


def job_answer(finished: bool, ok: bool | None) -> Any:
    """Edge Impulse's job routes: an act starts job 99, whose status is as given."""

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/status"):
            job = {"id": 99, "finished": "2025-01-01T00:00:00Z" if finished else None,
                   "finishedSuccessful": ok}  # fmt: skip
            return httpx.Response(200, json={"success": True, "job": job})
        return httpx.Response(200, json={"success": True, "id": 99})

    return answer


async def test_a_job_that_failed_is_told_failed_and_an_extend_asks_for_no_link(rig: Rig) -> None:
    await rig.poll(trial("a", "completed", accuracy=0.9), running=False, can_extend=True)
    assert await rig.click("extend") is None
    rig.ei.answer = job_answer(finished=True, ok=False)
    await rig.actions.sweep()
    taken, outcome = await rig.thread()
    assert outcome.payload["outcome"] == "failed" and outcome.payload["job_id"] == "99"
    assert "link" not in outcome.payload
    assert taken.key.endswith(":taken") and outcome.key.endswith(":outcome")
    [record] = await rig.store.actions_of(T, P, RUN)
    assert (record.state, record.detail) == (DONE, "failed")
    assert not [r for r in rig.ei.requests if r.url.path.endswith("/optimize/state")]


async def test_an_extend_that_completed_reads_no_impulse_link(rig: Rig) -> None:
    await rig.poll(trial("a", "completed", accuracy=0.9), running=False, can_extend=True)
    assert await rig.click("extend") is None
    rig.ei.answer = job_answer(finished=True, ok=True)
    await rig.actions.sweep()
    [record] = await rig.store.actions_of(T, P, RUN)
    assert (record.state, record.detail) == (DONE, "completed")
    assert not [r for r in rig.ei.requests if r.url.path.endswith("/optimize/state")]


async def test_a_status_not_read_moves_nothing_and_wakes_nobody(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    await rig.poll(trial("a", "completed", accuracy=0.9), running=False)
    assert await rig.click("use", trial_id="a") is None
    wakes = rig.wakes  # type: ignore[attr-defined]
    rig.ei.answer = lambda _: httpx.Response(404, json={"success": False, "error": "no job"})
    caplog.set_level(logging.INFO, "bot.slack.actions")
    await rig.actions.sweep()
    assert rig.wakes == wakes  # type: ignore[attr-defined]
    [record] = await rig.store.actions_of(T, P, RUN)
    assert record.state == STARTED
    [line] = [r.getMessage() for r in caplog.records if "status not read" in r.getMessage()]
    assert line.startswith(f"job 99 of project {P}: status not read (") and "HTTP 404" in line
    rig.ei.answer = job_answer(finished=False, ok=None)  # read, and still running
    await rig.actions.sweep()
    assert rig.wakes == wakes  # type: ignore[attr-defined]


async def test_a_sweep_with_nothing_to_tell_wakes_nobody(rig: Rig) -> None:
    await rig.actions.sweep()
    assert rig.wakes == 0  # type: ignore[attr-defined]


async def test_a_sweep_wakes_delivery_when_anything_it_looked_at_moved(rig: Rig) -> None:
    """A lost claim told (moved) and a job still running (not moved): delivery is woken."""
    await rig.poll(trial("a", "completed", accuracy=0.9), running=False)
    assert await rig.click("use", trial_id="a") is None
    rig.ei.answer = job_answer(finished=False, ok=None)
    lost = ActionRecord(project_id=P, run_id=RUN, action="stop", target=RUN, channel_id="C1",
                        user_id="U2")  # fmt: skip
    await rig.store.claim_action(lost, claim_s=-1.0)  # expired: its process died
    wakes = rig.wakes  # type: ignore[attr-defined]
    await rig.actions.sweep()
    assert rig.wakes == wakes + 1  # type: ignore[attr-defined]
    told = [e for e in await rig.thread() if e.payload.get("action") == "stop"]
    assert [e.key.rsplit(":", 1)[1] for e in told] == ["unknown"]
    stop = next(a for a in await rig.store.actions_of(T, P, RUN) if a.action == "stop")
    assert (stop.state, stop.detail) == (UNKNOWN, INTERRUPTED)


class Racing:
    """The store, but the first lost claim's move is already made by another replica."""

    def __init__(self, store: Store) -> None:
        self._store, self._first = store, True

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    async def move_action(self, action_id: int, **changes: Any) -> bool:
        moved = await self._store.move_action(action_id, **changes)
        if self._first:
            self._first = False
            return moved
        return False  # the second: another replica got there first


async def test_one_lost_claim_told_is_enough_to_wake_delivery(rig: Rig) -> None:
    for user, action in (("U2", "stop"), ("U3", "extend")):
        lost = ActionRecord(project_id=P, run_id=RUN, action=action, target=RUN,
                            channel_id="C1", user_id=user)  # fmt: skip
        await rig.store.claim_action(lost, claim_s=-1.0)
    rig.actions._store = Racing(rig.store)
    await rig.actions.sweep()
    assert rig.wakes == 1  # type: ignore[attr-defined]


async def test_no_impulse_link_when_the_trial_or_its_impulse_is_not_shown(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    record = ActionRecord(project_id=P, run_id=RUN, action="use", target="zz", channel_id="C1",
                          user_id="U1", trial_id="zz")  # fmt: skip
    assert await rig.actions._impulse_link(record) is None  # no such trial in the state
    plain = ActionRecord(project_id=P, run_id=RUN, action="use", target="b", channel_id="C1",
                         user_id="U1", trial_id="b")  # fmt: skip

    def state_without_link(request: httpx.Request) -> httpx.Response:
        doc = state(trial("b", "completed", accuracy=0.9)).model_dump(by_alias=True)
        return httpx.Response(200, json=doc)

    rig.ei.answer = state_without_link
    assert await rig.actions._impulse_link(plain) is None  # the trial, not yet its impulse
    rig.ei.answer = lambda _: httpx.Response(404, json={"success": False, "error": "gone"})
    caplog.set_level(logging.INFO, "bot.slack.actions")
    assert await rig.actions._impulse_link(plain) is None
    [line] = [r.getMessage() for r in caplog.records if "no impulse link" in r.getMessage()]
    assert line.startswith(f"project {P}: no impulse link (") and "HTTP 404" in line


class Condition:
    """Records what the database's condition is told."""

    def __init__(self) -> None:
        self.told: list[tuple[str, BaseException | str]] = []

    def failed(self, doing: str, error: BaseException | str, key: str = "") -> None:
        self.told.append((doing, error))


class Failing:
    """The store, but its first two sweeps fail: the database away, then a bug."""

    def __init__(self, store: Store) -> None:
        self._store, self.sweeps, self.third = store, 0, asyncio.Event()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    async def stale_actions(self, *_: Any) -> list[ActionRecord]:
        self.sweeps += 1
        if self.sweeps == 1:
            raise ConnectionRefusedError("database away")
        if self.sweeps == 2:
            raise KeyError("a bug")
        self.third.set()
        return []


async def test_a_failed_sweep_is_told_by_kind_and_the_loop_goes_on(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    failing, database = Failing(rig.store), Condition()
    actions = RunActions(
        store=failing, jobs=rig.actions._jobs, tuner=rig.actions._tuner,  # type: ignore[arg-type]
        wake_delivery=lambda: None, interval=0.0, owner="r", database=database,  # type: ignore[arg-type]
    )  # fmt: skip
    runner = asyncio.create_task(actions.run())
    try:
        await asyncio.wait_for(failing.third.wait(), GUARD_S)
    finally:
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)
    [(doing, error)] = database.told
    assert doing == "following the actions taken from Slack"
    assert isinstance(error, ConnectionRefusedError)
    [bug] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert bug.getMessage() == "following the actions taken from Slack failed unexpectedly"
    assert bug.exc_info is not None and bug.exc_info[0] is KeyError


@pytest.mark.parametrize(
    ("error", "refused"),
    [
        (TunerUnavailable(P, "busy", 429), True),
        (TunerUnavailable(P, "no answer", 503), False),
        (TunerUnavailable(P, "no answer"), False),
        (TunerBadResponse(P, "bad", 400), True),
        (TunerBadResponse(P, "bad", 499), True),
        (TunerBadResponse(P, "bad", 399), False),
        (TunerBadResponse(P, "bad", 500), False),
        (TunerBadResponse(P, "bad", None), False),
        (TunerReportedError(P, "no such job"), True),  # said so itself: nothing was done
        (TunerReportedError(P, "no such job", 500), True),
        (TunerApiError(P, "not found", 404), True),
        (ConfigError("no key"), True),
        (ValueError("not a job id"), True),
        (RuntimeError("a bug"), False),
    ],
)
def test_which_failures_are_refusals(error: Exception, refused: bool) -> None:
    """A refusal: Edge Impulse (or the settings) certainly did not act; anything else may
    have acted, so its outcome is unknown."""
    assert _refused(error) is refused


async def test_a_refusal_names_what_edge_impulse_said(rig: Rig) -> None:
    said = "no such job " + "x" * 1000
    rig.ei.answer = lambda _: httpx.Response(400, json={"success": False, "error": said})
    answer = await rig.click("stop")
    assert answer is not None and answer.startswith("⚠ Nothing was done: ")
    told = answer.removeprefix("⚠ Nothing was done: ")
    assert told.startswith("Edge Impulse's answer was not understood: HTTP 400 Bad Request: no")
    assert len(told) > 200  # the client's clip, not a second one
    assert "try again" not in answer  # only a busy Edge Impulse is worth another click


class Refusing:
    """Edge Impulse's jobs, refusing every act with a long `ValueError`."""

    async def act(self, *_: Any, **__: Any) -> str | None:
        raise ValueError("not a job id: " + "9" * 1000 + "\nsecond line")


async def test_a_refusal_is_one_line_of_at_most_400_characters(rig: Rig) -> None:
    rig.actions._jobs = Refusing()  # type: ignore[assignment]
    answer = await rig.click("stop")
    assert answer is not None and answer.startswith("⚠ Nothing was done: not a job id: 999")
    told = answer.removeprefix("⚠ Nothing was done: ")
    assert len(told) == 400 and told.endswith("…") and "\n" not in told


async def test_a_refusal_by_the_settings_says_what_they_lack(rig: Rig) -> None:
    rig.actions._jobs._api_key_for = lambda _: None  # no key for the project
    answer = await rig.click("stop")
    assert answer is not None and answer.startswith("⚠ Nothing was done: ")
    assert f"project {P}" in answer and KEY not in answer


async def test_a_busy_edge_impulse_says_so(rig: Rig) -> None:
    rig.ei.answer = lambda _: httpx.Response(429, json={"success": False, "error": "slow"})
    answer = await rig.click("stop")
    assert answer is not None
    assert answer.endswith(". Edge Impulse is busy: try again in a minute.")


async def test_an_unclear_answer_keeps_the_reason_edge_impulse_gave(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    rig.ei.answer = lambda _: httpx.Response(503)
    with caplog.at_level(logging.WARNING, logger="bot.slack.actions"):
        assert "thread says what is known" in (await rig.click("stop") or "")
    [record] = await rig.store.actions_of(T, P, RUN)
    assert record.state == UNKNOWN and record.detail is not None and "503" in record.detail
    [line] = [r.getMessage() for r in caplog.records if r.name == "bot.slack.actions"]
    assert line == f"stop of project {P}: outcome unknown ({record.detail})"


AT = datetime(2025, 1, 1, 9, 5, tzinfo=UTC)


@pytest.mark.parametrize(
    ("state", "created_at", "said"),
    [
        (CLAIMED, AT, "⏳ <@U1> asked for this at <!date^1735722300^{date_short_pretty} at "
         "{time}|2025-01-01 09:05 UTC>; Edge Impulse's answer is awaited. Nothing more done."),
        (UNKNOWN, AT, "⚠ <@U1> asked for this at <!date^1735722300^{date_short_pretty} at "
         "{time}|2025-01-01 09:05 UTC>, and whether Edge Impulse did it is not known (see "
         "the run's thread). Check in Studio; nothing was done again."),
        (DONE, None, "✅ Already done by <@U1> at earlier: nothing was done again."),
    ],
)  # fmt: skip
def test_a_click_on_an_action_taken_is_told_who_when_and_where_it_stands(
    state: str, created_at: datetime | None, said: str
) -> None:
    record = ActionRecord(project_id=P, run_id=RUN, action="stop", target=RUN, channel_id="C1",
                          user_id="U1", state=state, created_at=created_at)  # fmt: skip
    assert already(record) == said


# --- the messages' names, and a button's staleness said with the project's name ------------


async def poll_named(
    rig: Rig, *trials: dict[str, Any], project: str = "Keyword spotting", **options: Any
) -> None:
    """`Rig.poll`, the project named as `bot.service.names` names it."""
    before = await rig.store.snapshot(P)
    _, snap = diff(before, state(*trials, **options), project_id=P)
    snap, _ = stamped(snap, [], project)
    await rig.store.save_poll(P, snapshot=snap, events=[], outage=Outage())


async def test_the_thread_lines_carry_the_action_who_and_the_run(rig: Rig) -> None:
    await poll_named(rig, trial("a", "completed", accuracy=0.9), running=False,
                     config={"name": "EON Tuner run 4"})  # fmt: skip
    assert await rig.click("use", "U7", trial_id="a") is None
    [used] = await rig.thread()
    assert used.payload["user_id"] == "U7" and used.payload["trial_id"] == "a"
    assert (used.trial_id, used.coordinator_job_id, used.run_id) == ("a", RUN, RUN)
    assert (used.run_name, used.project_name) == ("EON Tuner run 4", "Keyword spotting")
    # the project moves on to run 21 before the used trial's job ends: the outcome's line
    # names run 11 by its last summary, never run 21 as if it were run 11
    await poll_named(rig, trial("b", "running"), job=20, coordinator=21,
                     config={"name": "EON Tuner run 5"})  # fmt: skip
    rig.ei.finished = True
    await rig.actions.sweep()
    _, outcome = await rig.thread()
    assert (outcome.run_name, outcome.project_name) == ("EON Tuner run 4", "Keyword spotting")
    assert outcome.payload["user_id"] == "U7" and outcome.payload["trial_id"] == "a"


async def test_a_stops_thread_line_names_no_trial(rig: Rig) -> None:
    assert await rig.click("stop") is None
    [stopped] = await rig.thread()
    assert "trial_id" not in stopped.payload and stopped.trial_id is None


def test_a_stale_button_says_the_projects_name() -> None:
    stop = Click("stop", P, RUN, "", "U1", "C1")
    assert why_stale(stop, None) == f"eon-bot knows no EON Tuner run of project {P} now: " \
        "nothing was done."  # fmt: skip
    _, snap = diff(None, state(trial("a", "running"), job=20, coordinator=21), project_id=P)
    named, _ = stamped(snap, [], "Keyword spotting")
    assert why_stale(stop, named) == (
        f"This run is no longer Keyword spotting (project {P})'s current run: nothing was done."
    )


# --- reading a click, and why a button no longer applies (pure) ------------------------------

BUTTON = {"action_id": "eon_stop_run", "value": '{"p": "7", "r": "11"}'}


@pytest.mark.parametrize(
    ("body", "click"),
    [
        ({"actions": [BUTTON], "user": {"id": "U1"}, "channel": {"id": "C1"}},
         Click("stop", P, RUN, "", "U1", "C1")),
        ({"actions": [BUTTON], "user": {"id": "U1"}, "container": {"channel_id": "C2"}},
         Click("stop", P, RUN, "", "U1", "C2")),  # a message's container names the channel
        ({"actions": [BUTTON], "user": {"id": "U1"}, "channel": {"id": "C1"},
          "container": {"channel_id": "C2"}}, Click("stop", P, RUN, "", "U1", "C1")),
        ({"actions": [BUTTON], "user": {"id": "U1"}}, None),  # no channel
        ({"actions": [BUTTON], "channel": {"id": "C1"}}, None),  # no user
        ({"actions": ["eon_stop_run"], "user": {"id": "U1"}, "channel": {"id": "C1"}}, None),
        ({"actions": [BUTTON | {"action_id": "x"}], "user": {"id": "U1"},
          "channel": {"id": "C1"}}, None),  # not one of these buttons
        ({"actions": [BUTTON | {"value": "{"}], "user": {"id": "U1"},
          "channel": {"id": "C1"}}, None),  # a value this bot did not make
    ],
)  # fmt: skip
def test_a_click_is_read_only_whole(body: dict[str, Any], click: Click | None) -> None:
    assert read_click(body) == click


def snapshot_of(**summary: Any) -> Snapshot:
    _, snap = diff(None, state(trial("a", "running")), project_id=P)
    assert snap.summary is not None
    return snap.model_copy(update={"summary": snap.summary.model_copy(update=summary)})


LONG = "Keyword spotting " + "k" * 200
ODD = "1" * 40  # a project id as long as a button's value may carry
assert 80 < len(project_label(ODD, LONG)) <= LABEL_CHARS  # clipped by its own rule, whole here


@pytest.mark.parametrize(
    ("click", "snapshot", "said"),
    [
        (Click("extend", P, "9", "", "U1", "C1"), snapshot_of(continuation_job_id="9"),
         "This search was already extended: the new run has its own card. Nothing was done."),
        (Click("stop", P, "9", "", "U1", "C1"), snapshot_of(continuation_job_id="9"),
         f"This run is no longer project {P}'s current run: nothing was done."),
        (Click("stop", P, RUN, "", "U1", "C1"), snapshot_of(running=False, finished=False),
         "This run has already ended: nothing was done."),
        (Click("stop", P, RUN, "", "U1", "C1"), snapshot_of(running=True, finished=True),
         "This run has already ended: nothing was done."),
        (Click("stop", P, RUN, "", "U1", "C1"), snapshot_of(running=True), None),
        (Click("extend", P, RUN, "", "U1", "C1"), snapshot_of(can_extend_search=None),
         "Edge Impulse no longer offers to extend this search: nothing was done."),
        (Click("extend", P, RUN, "", "U1", "C1"), snapshot_of(can_extend_search=True), None),
        (Click("use", P, RUN, "a", "U1", "C1"), snapshot_of(),
         f"Trial a is not a completed trial of project {P} now: nothing was done."),
        (Click("use", P, RUN, "<zz>", "U1", "C1"), snapshot_of(),
         f"Trial &lt;zz&gt; is not a completed trial of project {P} now: nothing was done."),
        (Click("stop", ODD, "9", "", "U1", "C1"), snapshot_of(project_name=LONG),
         f"This run is no longer {project_label(ODD, LONG)}'s current run: nothing was done."),
        (Click("stop", P, RUN, "", "U1", "C1"), snapshot_of(project_name="KWS")
         .model_copy(update={"summary": None}),
         f"eon-bot knows no EON Tuner run of project {P} now: nothing was done."),
    ],
)  # fmt: skip
def test_why_a_button_no_longer_applies(click: Click, snapshot: Snapshot, said: str | None) -> None:
    assert why_stale(click, snapshot) == said


async def test_a_stop_of_the_new_run_is_not_the_earlier_runs_stop(rig: Rig) -> None:
    assert await rig.click("stop") is None  # run 11 stopped
    await rig.poll(trial("b", "running"), job=20, coordinator=21)
    button = action_button("stop", P, "21", "")
    assert button is not None
    body = {"user": {"id": "U2"}, "channel": {"id": "C1"},
            "actions": [button.to_dict() | {"type": "button"}]}  # fmt: skip
    assert await answer(rig.deps, body) is None  # run 21's own stop: done, not "already"
    assert rig.ei.posts()[-1] == f"/v1/api/{P}/jobs/21/cancel"


async def test_a_channel_watching_other_projects_cannot_act_on_this_one(rig: Rig) -> None:
    await rig.store.subscribe(T, "C1", "8", added_by="U1")
    assert await rig.store.unsubscribe(T, "C1", P)
    said = await rig.click("stop")
    assert said == f"This channel no longer watches project {P}: nothing was done."
    odd = Click("stop", "1" * 30, RUN, "", "U1", "C1")  # the value is Slack's to send back
    said = await rig.actions.claim(odd)
    assert said == f"This channel no longer watches project {'1' * 19}…: nothing was done."
    assert rig.ei.requests == []


async def test_a_claim_whose_replica_is_gone_is_told_before_it_expires(rig: Rig) -> None:
    """On SQLite only this process writes: a claim another name holds was left by a process
    that ended (a restart), and is told at once, not after its claim time."""
    left = ActionRecord(project_id=P, run_id=RUN, action="stop", target=RUN, channel_id="C1",
                        user_id="U2")  # fmt: skip
    await rig.store.claim_action(left, claim_s=3600, owner="an-ended-replica")
    await rig.actions.sweep()
    [told] = await rig.thread()
    assert told.payload["outcome"] == "unknown" and told.payload["user_id"] == "U2"
    [record] = await rig.store.actions_of(T, P, RUN)
    assert (record.state, record.detail) == (UNKNOWN, INTERRUPTED)


async def test_an_unclear_answer_is_told_once_as_unknown_with_what_is_known(rig: Rig) -> None:
    rig.ei.answer = lambda _: httpx.Response(503)
    assert await rig.click("stop") == (
        "⚠ Edge Impulse gave no clear answer; the run's thread says what is known."
    )
    [notice] = await rig.thread()
    assert notice.key.endswith(":unknown")
    assert notice.payload["detail"] == "Edge Impulse gave no clear answer"


class Broken:
    """Edge Impulse's jobs, failing in a way nobody foresaw (not a refusal)."""

    async def act(self, *_: Any, **__: Any) -> str | None:
        raise RuntimeError("a bug")


async def test_a_call_that_failed_unforeseen_keeps_the_errors_kind(rig: Rig) -> None:
    rig.actions._jobs = Broken()  # type: ignore[assignment]
    assert "thread says what is known" in (await rig.click("stop") or "")
    [record] = await rig.store.actions_of(T, P, RUN)
    assert (record.state, record.detail) == (UNKNOWN, "RuntimeError")


async def test_a_stop_is_done_at_once_and_a_use_names_its_trial(rig: Rig) -> None:
    assert await rig.click("stop") is None
    [stop] = await rig.store.actions_of(T, P, RUN)
    assert stop.state == DONE  # nothing to follow
    await rig.poll(trial("a", "completed", accuracy=0.9), running=False)
    assert await rig.click("use", trial_id="a") is None
    [use] = [r for r in rig.ei.requests if r.url.path.endswith("/set-tuner-primary-job")]
    assert use.url.params["trialId"] == "a"
    [used] = [a for a in await rig.store.actions_of(T, P, RUN) if a.action == "use"]
    assert (used.state, used.target) == (STARTED, "a")


async def test_an_extend_whose_new_run_was_stopped_from_slack_ends_stopped_and_names_it(
    rig: Rig,
) -> None:
    """The extend started run 99; a stop from Slack cancelled it (Edge Impulse then says the
    job failed): the extend's outcome is the stop, and names the run it started."""
    await rig.poll(trial("a", "completed", accuracy=0.9), running=False, can_extend=True)
    assert await rig.click("extend") is None  # Edge Impulse starts job 99
    await rig.poll(trial("a", "completed", accuracy=0.9), trial("b", "running"), job=98,
                   coordinator=99)  # fmt: skip
    found = await rig.store.run_summary(P, "99")
    assert found is not None and found[0].display_name
    button = action_button("stop", P, "99", "")
    assert button is not None
    body = {"user": {"id": "U2"}, "channel": {"id": "C1"},
            "actions": [button.to_dict() | {"type": "button"}]}  # fmt: skip
    assert await answer(rig.deps, body) is None
    rig.ei.answer = job_answer(finished=True, ok=False)
    await rig.actions.sweep()
    [outcome] = [e for e in await rig.thread() if e.key.endswith(":outcome")]
    assert outcome.payload["outcome"] == "stopped"
    assert outcome.payload["extension"] == found[0].display_name


async def test_a_claim_is_held_by_its_replica_for_its_claim_time_only(rig: Rig) -> None:
    """A click claimed whose call was never made (its process died): while its claim time
    runs, its own replica's sweep leaves it (the call may be under way); a restarted eon-bot,
    under another name, tells it at once; past its claim time even its own replica does."""
    click = read_click(payload("stop"))
    assert click is not None and not isinstance(await rig.actions.claim(click), str)
    await rig.actions.sweep()
    assert await rig.thread() == []
    restarted = Rig(rig.store)
    restarted.actions._owner = "eon-bot restarted"
    await restarted.actions.sweep()
    [told] = await rig.thread()
    assert (told.payload["outcome"], told.payload["action"]) == ("unknown", "stop")
    rig.actions._claim_s = -1.0  # every claim it makes has expired by the next sweep
    extend = read_click(payload("extend"))
    await rig.poll(trial("a", "completed", accuracy=0.9), running=False, can_extend=True)
    assert extend is not None and not isinstance(await rig.actions.claim(extend), str)
    await rig.actions.sweep()
    assert [e.payload["action"] for e in await rig.thread()] == ["stop", "extend"]


@pytest.mark.parametrize(
    ("renamed", "named"),
    [("Wake word", "Wake word"), (None, "Keyword spotting")],
)
async def test_an_earlier_runs_line_names_the_project_as_it_is_now_or_as_it_was_known(
    rig: Rig, renamed: str | None, named: str
) -> None:
    """The project moved on to run 21 before the used trial's job ended: the outcome names
    run 11 by its last summary, and the project by its current name (renamed meanwhile), or,
    when the newest poll could not name it, by the name run 11 knew."""
    await poll_named(rig, trial("a", "completed", accuracy=0.9), running=False,
                     config={"name": "EON Tuner run 4"})  # fmt: skip
    assert await rig.click("use", trial_id="a") is None
    later = (trial("b", "running"),)
    if renamed is None:
        await rig.poll(*later, job=20, coordinator=21)
    else:
        await poll_named(rig, *later, project=renamed, job=20, coordinator=21)
    rig.ei.finished = True
    await rig.actions.sweep()
    _, outcome = await rig.thread()
    assert (outcome.run_name, outcome.project_name) == ("EON Tuner run 4", named)


async def test_a_lost_claim_of_a_project_never_read_is_told_without_names(rig: Rig) -> None:
    """No snapshot and no stored run (the project was never read, or is gone): the claim is
    still told as unknown in its channel, naming no run and no project."""
    await rig.store.subscribe(T, "C1", "8", added_by="U1")
    lost = ActionRecord(project_id="8", run_id="5", action="stop", target="5", channel_id="C1",
                        user_id="U2")  # fmt: skip
    await rig.store.claim_action(lost, claim_s=-1.0)
    await rig.actions.sweep()
    [told] = [e for e in await rig.thread() if e.project_id == "8"]
    assert (told.payload["outcome"], told.run_name, told.project_name) == ("unknown", None, None)


async def test_an_extend_of_a_stopped_run_that_fails_by_itself_ends_failed(rig: Rig) -> None:
    """Run 11 was stopped from Slack, then extended; the run the extend started (99) fails
    with no stop of its own: the earlier run's stop is not the extension's."""
    assert await rig.click("stop") is None
    await rig.poll(trial("a", "completed", accuracy=0.9), running=False, can_extend=True)
    assert await rig.click("extend") is None
    await rig.poll(trial("a", "completed", accuracy=0.9), trial("b", "running"), job=98,
                   coordinator=99)  # fmt: skip
    rig.ei.answer = job_answer(finished=True, ok=False)
    await rig.actions.sweep()
    [outcome] = [e for e in await rig.thread() if e.key.endswith(":outcome")]
    assert outcome.payload["outcome"] == "failed"

"""One `eon-bot run` for two workspaces (issue 33), on the real process, SQLite and PostgreSQL:
both install through /slack/install and are counted; each is told of its own project and of
the one they share (polled once) with its own token alone; and to one workspace the other's
project does not exist: `/eon status`, `top`, `chart` and `list` answer as for a project nobody
watches, its Home tab shows only its own, and a click naming it reaches no Edge Impulse, while
the same click from the workspace that watches it does. The leaving side is
`test_workspaces_leaving.py`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.sandbox.buttons import Button, buttons_in
from bot.sandbox.simulator.projects import project_name
from tests.e2e.harness import advance, explain, polled
from tests.e2e.workspaces import (
    ALPHA,
    BETA,
    CHANNEL,
    NOBODY,
    OWN,
    RUN_STARTED,
    SHARED,
    TEAMS,
    TRIAL_COMPLETED,
    WAIT_S,
    Many,
    as_nobody,
    completions,
    first_completions,
    installed_and_watching,
    many_stack,
    metric,
    with_project,
)

pytestmark = pytest.mark.e2e

STOP = "eon_stop_run"
WINDOW = 20  # polls of one project, over which the shared one must not be polled twice as often


async def test_two_workspaces_are_told_each_with_its_own_token_and_share_one_poll(
    tmp_path: Path, database_url: str
) -> None:
    async with many_stack(tmp_path, database_url) as many:
        with explain(many.bot):
            await installed_and_watching(many)
            assert await many.workspaces() == {"installed": 2, "left": 0}
            await first_completions(many, OWN[ALPHA], OWN[BETA], SHARED)
            for team in TEAMS:  # each channel: its own project's and the shared one's, no other
                told = {
                    str(((m.metadata or {}).get("event_payload") or {}).get("project_id"))
                    for m in many.slack.messages(CHANNEL[team])
                    if m.metadata
                }
                assert told == {OWN[team], SHARED}, (team, told)
            assert not many.misdirected(), many.misdirected()

            # One poller for the shared project: 3 projects held, and polled as often as one
            # watched by a single channel (two pollers would read it twice as often).
            assert metric(await many.metrics(), "eonbot_leases_held", 'kind="poll"') == 3
            controller = many.stack.controller
            alone, shared = controller.requests(OWN[ALPHA]), controller.requests(SHARED)
            await polled(controller, OWN[ALPHA], alone + WINDOW, within=WAIT_S, why="a count")
            reads = controller.requests(SHARED) - shared
            assert WINDOW // 2 <= reads <= WINDOW * 3 // 2, f"shared: {reads} in {WINDOW} polls"

            for method in ("chat.postMessage", "chat.update"):  # the token check is not empty
                assert {c.team for c in many.slack.calls_to(method)} == set(TEAMS), method
            assert many.slack.calls_to("files.completeUploadExternal") == []  # no chart yet
            await answered_as_nobody(many, "chart", BETA)  # alpha asks too: its chart is drawn
            await many.slack.wait_for(
                lambda f: f.calls_to("files.completeUploadExternal"), timeout=WAIT_S
            )
            assert not many.misdirected(), many.misdirected()
            assert not many.leaked(), many.leaked()


async def answered_as_nobody(many: Many, command: str, team: str) -> None:
    """`/eon <command> <the other workspace's project>` from `team`, in its own channel and in
    the other's channel id (one channel of Slack Connect has one id in both workspaces): the
    very answer a project nobody watches gets there, naming nothing of the project's run."""
    owner = ALPHA if team == BETA else BETA
    other = OWN[owner]
    run = many.stack.controller.simulation(other).runs[0]
    secrets = (project_name(other), str(run.coordinator_job_id), str(run.tuner_job_id))
    told = await many.eon(owner, f"{command} {other}")  # the owner is told (the test can fail)
    for channel in (None, CHANNEL[owner]):
        asked = await many.eon(team, f"{command} {other}", channel=channel)
        assert asked.body != told.body, told.text
        nobody = await many.eon(team, f"{command} {NOBODY}", channel=channel)
        shown = json.dumps(asked.body, ensure_ascii=False)
        assert as_nobody(shown, other) == json.dumps(nobody.body, ensure_ascii=False), (
            f"/eon {command} {other} from {team} in {channel}: {shown[:400]}"
        )
        assert not [s for s in secrets if s in shown], shown[:400]


async def refused_click(many: Many, team: str, button: Button, channel: str | None) -> str:
    """`team` presses `button` in `channel`: what the clicker is told, once it is sure that
    nothing reached Edge Impulse (a click that did is told in the thread, not to the clicker)."""
    status, rid = await many.click(team, button, channel=channel)
    assert status == 200
    await many.slack.wait_for(lambda f: f.responses(rid) or many.book.requests, timeout=WAIT_S)
    assert many.book.requests == [], f"{team}'s click reached Edge Impulse: {many.book.requests}"
    return await many.answer(rid)


async def test_a_workspace_cannot_see_or_act_on_the_others_project(
    tmp_path: Path, database_url: str
) -> None:
    async with many_stack(tmp_path, database_url) as many:
        with explain(many.bot):
            await installed_and_watching(many)
            await first_completions(many, OWN[ALPHA])  # a run with figures to show
            for command in ("status", "top", "chart"):
                await answered_as_nobody(many, command, BETA)
            listed = (await many.eon(BETA, "list")).text  # its own two, not alpha's
            assert f"project *{OWN[BETA]}*" in listed and f"project *{SHARED}*" in listed
            assert f"project *{OWN[ALPHA]}*" not in listed, listed
            assert project_name(OWN[ALPHA]) not in listed, listed
            there = await many.eon(BETA, "list", channel=CHANNEL[ALPHA])
            nowhere = await many.eon(BETA, "list", channel="C0NOBODY")
            assert there.body == nowhere.body, there.text
            for team, other in ((ALPHA, BETA), (BETA, ALPHA)):  # each Home tab: its own alone
                home = await many.home(team)
                assert project_name(OWN[team]) in home and project_name(SHARED) in home, home
                assert project_name(OWN[other]) not in home, home[:600]

            # The Stop button of alpha's card, pressed from beta (its channel, then alpha's
            # channel id): told what a project nobody watches is told; nothing reaches EI.
            card = await many.wait_post(ALPHA, OWN[ALPHA], RUN_STARTED)
            [stop] = [b for b in buttons_in([card]) if b.action_id == STOP]
            for channel in (None, CHANNEL[ALPHA]):
                said = []
                for button in (stop, with_project(stop, NOBODY)):
                    said.append(await refused_click(many, BETA, button, channel))
                assert as_nobody(said[0], OWN[ALPHA]) == said[1], said

            # Alpha's run goes on: its next trial is told, the card still offers Stop.
            second = completions(many.stack.controller.simulation(OWN[ALPHA]))[1]
            await advance(many.stack.controller, OWN[ALPHA], second, within=WAIT_S)
            await many.wait_post(ALPHA, OWN[ALPHA], TRIAL_COMPLETED, count=2)
            now = many.slack.message(CHANNEL[ALPHA], card.ts)
            assert [b for b in buttons_in([now]) if b.action_id == STOP], now.text
            assert many.book.requests == []

            # The same click from alpha reaches Edge Impulse: the test could fail.
            status, _ = await many.click(ALPHA, stop)
            assert status == 200
            [cancel] = await many.slack.wait_for(
                lambda _: many.book.requests_to("cancel"), timeout=WAIT_S
            )
            run = many.stack.controller.simulation(OWN[ALPHA]).runs[0]
            assert cancel.path == f"/v1/api/{OWN[ALPHA]}/jobs/{run.coordinator_job_id}/cancel"
            assert not many.misdirected(), many.misdirected()
            assert not many.leaked(), many.leaked()

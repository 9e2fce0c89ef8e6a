"""A workspace never sees another's projects (issue 33): `/eon status`, `list`, `top`, `chart`,
the Home tab and the run's buttons, asked from workspace B about a project only workspace A
watches, in the same Slack Connect channel, answer as if it did not exist, and a click reaches
no Edge Impulse. In-process, through the listeners' own functions, on the real store."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from pydantic import SecretStr

from bot.slack.listeners.app_home import home_projects
from bot.slack.listeners.deps import Deps
from bot.slack.listeners.eon_answers import EMPTY_HINT, answer
from bot.slack.listeners.eon_parse import parse
from bot.slack.listeners.run_buttons import answer as click
from bot.store import Store
from tests.factories import trial
from tests.slack.test_run_actions import P, Rig, payload

A, B = "T0AAAA", "T0BBBB"
CHANNEL = "C1"  # one Slack Connect channel, in both workspaces


@pytest.fixture
async def rig(store: Store) -> AsyncIterator[Rig]:
    """Project 7 watched in C1 by workspace A alone, its run running."""
    await store.subscribe(A, CHANNEL, P, added_by="UA")
    made = Rig(store)
    await made.poll(trial("a", "running"))
    yield made


async def said(rig: Rig, team: str, text: str) -> str:
    reply = await answer(parse(text), channel_id=CHANNEL, user_id="U1", deps=_as(rig, team))
    return reply.text


def _as(rig: Rig, team: str) -> Deps:
    return rig.deps.of({"team_id": team})


async def test_another_workspaces_project_answers_as_if_it_did_not_exist(rig: Rig) -> None:
    assert P in await said(rig, A, "status")  # the control: A sees its project
    assert await said(rig, B, "status") == EMPTY_HINT
    assert await said(rig, B, "list") == EMPTY_HINT
    assert await said(rig, B, f"status {P}") == EMPTY_HINT
    for text in (f"top {P}", f"chart {P}"):  # as for a project nobody watches
        assert (
            await said(rig, A, text)
            == f"No trial of project {P}'s run has ended yet: nothing to show."
        )
        assert (
            await said(rig, B, text)
            == f"This channel does not watch project {P} — `/eon watch {P}`"
        )
    assert await said(rig, B, "top") == await said(rig, B, "chart") == EMPTY_HINT
    assert [p.project_id for p in await home_projects(rig.deps.of({"team_id": A}))] == [P]
    assert await home_projects(rig.deps.of({"team_id": B})) == []


async def test_a_click_naming_another_workspaces_project_reaches_no_edge_impulse(
    rig: Rig,
) -> None:
    told = await click(rig.deps.of({"team_id": B}), payload("stop", "UB"))
    assert told is not None and "no longer watches" in told
    assert rig.ei.requests == [] and await rig.store.actions_of(B, P) == []
    assert await click(rig.deps.of({"team_id": A}), payload("stop", "UA")) is None  # control
    assert rig.ei.posts() == [f"/v1/api/{P}/jobs/11/cancel"]


async def test_a_workspace_acts_with_its_own_key(rig: Rig) -> None:
    """DESIGN33 point 3: a click acts with the clicking workspace's key (or the deployment's),
    never with the key another workspace stored for the same project."""
    await rig.store.subscribe(B, CHANNEL, P, added_by="UB")  # B watches it too, there
    keys = {A: SecretStr("ei_" + "a" * 40), B: SecretStr("ei_" + "b" * 40)}
    rig.actions._key_of = lambda team, project: keys[team]
    assert await click(rig.deps.of({"team_id": B}), payload("stop", "UB")) is None
    [request] = rig.ei.requests
    assert request.headers["x-api-key"] == keys[B].get_secret_value()


async def test_a_workspace_follows_the_job_its_click_started_with_its_own_key(rig: Rig) -> None:
    """The job a Use click started is followed (its status read until it ends) with the
    clicking workspace's key too, not the key the project's polls read with."""
    await rig.store.subscribe(B, CHANNEL, P, added_by="UB")
    keys = {A: SecretStr("ei_" + "a" * 40), B: SecretStr("ei_" + "b" * 40)}
    rig.actions._key_of = lambda team, project: keys[team]
    await rig.poll(trial("a", "completed", accuracy=0.9), running=False)
    assert await click(rig.deps.of({"team_id": B}), payload("use", "UB", "a")) is None
    rig.ei.finished = True
    await rig.actions.sweep()
    followed = [r for r in rig.ei.requests if r.url.path.endswith("/status")]
    assert followed, "the job was not followed"
    assert {r.headers["x-api-key"] for r in followed} == {keys[B].get_secret_value()}

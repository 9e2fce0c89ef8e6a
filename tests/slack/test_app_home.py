"""The App Home tab: the view (pure, validated by slack_sdk's `View`), and the listener in
process (signed `app_home_opened` through bolt, a real SQLite store, the fake Slack's
views.publish), including an admin's button opening the `/eon key` form."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from slack_bolt.async_app import AsyncApp
from slack_sdk.models.views import View
from slack_sdk.web.async_client import AsyncWebClient

from bot.core.outage import Outage
from bot.core.rules import RuleError, parse_rule
from bot.core.summary import Counts, RunSummary, TrialSummary, Workers
from bot.keys import KeyRing
from bot.sandbox.fakeslack import FakeSlack
from bot.sandbox.slashcmd import event_body, payload_body, signed_headers
from bot.settings import Settings
from bot.slack.listeners import Deps, register_all
from bot.slack.listeners.home_view import HOME_PROJECTS, HomeProject, home_view
from bot.slack.render.key_form import KEY_FORM_CALLBACK, OPEN_KEY_FORM_ACTION
from bot.slack.tokens import OneWorkspace
from bot.slack.web import slack_request
from bot.store import Store, Subscription

T = ""  # the workspace of the rows these tests write (single mode: adopted at start)

SIGNING = "test-signing-secret"
ADMIN, PERSON = "U0ADMIN", "U0PERSON"
T0 = datetime(2026, 12, 1, tzinfo=UTC)


def summary(project_id: str = "42", **changes: Any) -> RunSummary:
    base = RunSummary(
        project_id=project_id,
        run_id="11",
        tuner_job_id="11",
        coordinator_job_id="77",
        status="running",
        running=True,
        finished=False,
        outcome=None,
        counts=Counts(completed=3, pending=5),
        planned_trials=8,
        workers=Workers(busy=2),
        precision="int8",
        best=TrialSummary(id="t1", name="trial <!here> 1", status="completed", accuracy=0.91),
    )
    return base.model_copy(update=changes)


def sub(channel: str, project: str = "42", **values: Any) -> Subscription:
    defaults: dict[str, Any] = {
        "team_id": T,
        "added_by": "U1",
        "mode": "all",
        "paused_reason": None,
        "created_at": T0,
        "needs_start": False,
    }
    return Subscription(channel_id=channel, project_id=project, **(defaults | values))


def validated(view: dict[str, Any]) -> dict[str, Any]:
    View(**view).validate_json()
    return view


def text_of(view: dict[str, Any]) -> str:
    return json.dumps(view, ensure_ascii=False)


@pytest.mark.parametrize(
    ("project", "shown"),
    [
        (HomeProject("42", [sub("C1")], summary(), None, "stored"), "🔄 *Running*"),
        (
            HomeProject("42", [sub("C1")], summary(time_limit_exceeded=True), None, "default"),
            "⏱ *Time limit reached*",
        ),
        (
            HomeProject("42", [sub("C1")], summary(finished=True, running=False), None, "none"),
            "🏁 *Finished*",
        ),
        (HomeProject("42", [sub("C1")], summary(never_ran=True), None, "none"), "*No run yet*"),
        (HomeProject("42", [sub("C1")], None, None, "none"), "Not polled yet"),
        (
            HomeProject("42", [sub("C1")], summary(), "Edge Impulse refused <!channel>", "none"),
            "⚠ *Unreachable*: Edge Impulse refused &lt;!channel&gt;",
        ),
    ],
)
def test_each_run_state_reads_as_a_person_expects(project: HomeProject, shown: str) -> None:
    view = validated(home_view([project], admin=False, keys_enabled=True))
    assert shown in text_of(view)
    assert "<!channel>" not in text_of(view) and "<!here>" not in text_of(view)


def test_a_project_shows_channels_modes_progress_best_studio_key_and_pauses() -> None:
    project = HomeProject(
        "42",
        [
            sub("C1"),
            sub("C2", mode="milestones", paused_reason="not_in_channel"),
            sub("C3", mode="failures"),
        ],
        summary(),
        None,
        "stored",
        key_added_by="U0ADMIN",
        key_added_at=T0,
        key_role="readonly",
    )
    text = text_of(validated(home_view([project], admin=True, keys_enabled=True)))
    for part in (
        "*Project 42*",
        "<https://studio.edgeimpulse.com/studio/42/tuner/77|Open in Studio>",
        "3 of 8 trials",
        "*Best so far:*",
        "<#C1> (every trial)",
        "<#C2> (milestones only",
        "<#C3> (failures only (failed trials, time limit, end, stalls, outages))",
        "⏸ Paused in <#C2>: not_in_channel — invite the bot",
        "🔑 Key: stored with `/eon key` by <@U0ADMIN> on 2026-12-01, role readonly",
        '"action_id": "eon_key_open"',
        '"text": "Replace key"',
    ):
        assert part in text, part


@pytest.mark.parametrize(
    ("source", "words"),
    [
        ("environment", "from the environment (EI_API_KEY_42)"),
        ("default", "the default key from the environment (EI_API_KEY)"),
        ("none", "none — an admin can add one with `/eon key 42`"),
        ("unreadable", "cannot be decrypted with this SECRET_KEY"),
    ],
)
def test_the_key_source_is_named_never_the_key(source: Any, words: str) -> None:
    view = home_view(
        [HomeProject("42", [sub("C1")], None, None, source)], admin=False, keys_enabled=True
    )
    assert words in text_of(validated(view))


def test_only_admins_get_buttons_and_only_when_keys_can_be_stored() -> None:
    projects = [HomeProject("42", [sub("C1")], None, None, "none")]
    assert OPEN_KEY_FORM_ACTION in text_of(home_view(projects, admin=True, keys_enabled=True))
    assert OPEN_KEY_FORM_ACTION not in text_of(home_view(projects, admin=False, keys_enabled=True))
    no_secret = home_view(projects, admin=True, keys_enabled=False)
    assert OPEN_KEY_FORM_ACTION not in text_of(no_secret) and "SECRET_KEY" in text_of(no_secret)


def test_many_projects_stay_within_slacks_block_limit() -> None:
    many = [
        HomeProject(str(i), [sub("C1", str(i))], summary(str(i)), None, "default")
        for i in range(1, 120)
    ]
    view = validated(home_view(many, admin=True, keys_enabled=True))
    assert len(view["blocks"]) <= 100
    assert f"…and {119 - HOME_PROJECTS} more project(s)" in text_of(view)


# --- the listener, in process -----------------------------------------------------------------


@dataclass
class World:
    app: AsyncApp
    fake: FakeSlack
    store: Store

    async def send(self, body: str, content_type: str = "application/x-www-form-urlencoded") -> int:
        request = slack_request(body, "", signed_headers(SIGNING, body, content_type=content_type))
        response = await asyncio.wait_for(self.app.async_dispatch(request), timeout=5)
        return response.status

    async def open_home(self, user: str) -> dict[str, Any]:
        before = self.fake.home_of(user)
        event = {"type": "app_home_opened", "user": user, "channel": "D1", "tab": "home"}
        assert await self.send(event_body(event), "application/json") == 200
        return await self.fake.wait_for(lambda f: (h := f.home_of(user)) != before and h)


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    async with FakeSlack() as fake:
        store = await Store.open(f"sqlite:///{tmp_path / 'bot.db'}")
        settings = Settings.given(
            secret_key=SecretStr("h" * 40), project_keys={"43": SecretStr("ei_env_key_43_000")}
        )
        keys = KeyRing(settings, store)
        await keys.add("", "42", SecretStr("ei_" + "9" * 64), role="admin", user=ADMIN)

        async def nothing(_: str) -> None:
            return None

        async def fine(_: str) -> str | None:
            return None

        client = AsyncWebClient(token="xoxb-test", base_url=fake.api_url)
        app = AsyncApp(client=client, signing_secret=SIGNING, process_before_response=True)
        register_all(
            app,
            Deps(
                store=store,
                settings=settings,
                start_watching=nothing,
                stop_watching=nothing,
                check_project=fine,
                keys=keys,
                team_of=OneWorkspace(client, T).team_of,  # single mode
            ),
        )
        fake.set_user(ADMIN, is_admin=True)
        try:
            yield World(app, fake, store)
        finally:
            await store.close()


async def test_opening_home_lists_every_watched_project_from_the_store(world: World) -> None:
    await world.store.subscribe(T, "C1", "42", added_by="U1")
    await world.store.subscribe(T, "C2", "43", added_by="U1", mode="best")
    await world.store.save_poll(
        "43", snapshot=None, events=[], outage=Outage(failing_since=T0, last_error="HTTP 503")
    )
    home = validated(await world.open_home(PERSON))
    text = text_of(home)
    assert "*Project 42*" in text and "*Project 43*" in text
    assert "🔑 Key: stored with `/eon key` by <@U0ADMIN>" in text
    assert "from the environment (EI_API_KEY_43)" in text
    assert "⚠ *Unreachable*: HTTP 503" in text
    assert OPEN_KEY_FORM_ACTION not in text  # not an admin
    assert "ei_" not in text  # not even masked: only admins see that

    await world.store.subscribe(T, "C3", "44", added_by="U1")  # opened again: fresh
    assert "*Project 44*" in text_of(await world.open_home(PERSON))


async def test_home_shows_each_channels_alerts_and_digest_and_the_viewers_own_bells(
    world: World,
) -> None:
    """What a channel asked for (`/eon alert`, `/eon digest`) beside its project, and the run
    ends the person opening Home asked to be told of by DM (theirs only)."""
    store = world.store
    await store.subscribe(T, "C1", "42", added_by="U1")
    await store.subscribe(T, "C2", "42", added_by="U1")
    rule = parse_rule("accuracy>=90%")
    assert not isinstance(rule, RuleError)
    assert await store.add_alert(T, "C2", "42", rule, "U1") == "added"
    await store.set_digest(T, "C1", 9 * 60 + 30, "U1")
    await store.save_poll("42", snapshot=None, events=[], outage=Outage())
    assert await store.add_bell(T, "42", "11", PERSON, "C1") == "added"
    text = text_of(validated(await world.open_home(PERSON)))
    assert "<#C1> (every trial; 🗞 digest at 09:30), <#C2> (every trial)" in text
    assert "🎯 Alert in <#C2>: `accuracy&gt;=90%`" in text
    assert "🔔 You will get a direct message when run 11 ends" in text
    other = text_of(validated(await world.open_home(ADMIN)))
    assert "🎯 Alert in <#C2>" in other and "🔔" not in other  # a bell is its person's


async def test_an_admins_home_has_buttons_that_open_the_key_form(world: World) -> None:
    await world.store.subscribe(T, "C1", "42", added_by="U1")
    home = await world.open_home(ADMIN)
    assert "stored with `/eon key` (`ei_…9999`)" in text_of(home)  # masked, for admins only
    (button,) = [b["accessory"] for b in home["blocks"] if "accessory" in b]
    assert button["text"]["text"] == "Replace key" and button["value"] == "42"
    click = {
        "type": "block_actions",
        "user": {"id": ADMIN},
        "team": {"id": "T0EONTEST"},
        "api_app_id": "A0EONBOT",
        "trigger_id": world.fake.trigger_id(),
        "container": {"type": "view", "view_id": home["id"]},
        "view": home,
        "actions": [{**button, "block_id": "b1", "action_ts": "1.0", "type": "button"}],
    }
    assert await world.send(payload_body(click)) == 200
    (form,) = world.fake.views_opened
    assert form["callback_id"] == KEY_FORM_CALLBACK and "42" in form["private_metadata"]


async def test_an_app_home_opened_without_a_user_publishes_nothing_and_no_traceback(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    """Found by tests/e2e/test_slack_door.py's fuzz: an empty user made views.publish fail
    (`invalid_arguments`) and the listener log its traceback."""
    caplog.set_level(logging.INFO)
    for user in ("", None, "not-a-user"):
        event = {"type": "app_home_opened", "user": user, "channel": "D1", "tab": "home"}
        assert await world.send(event_body(event), "application/json") == 200
    assert world.fake.calls_to("views.publish") == []
    assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"

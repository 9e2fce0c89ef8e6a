"""`/eon`: the parser (a table), and the handlers driven through bolt with signed form-encoded
slash-command requests, an in-memory store and `FakeSlack` (auth.test and response_url)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import given
from hypothesis import strategies as st
from pydantic import SecretStr
from slack_bolt.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.request.internals import parse_body
from slack_sdk.web.async_client import AsyncWebClient

from bot.core.events import Snapshot
from bot.core.routing import MODES
from bot.core.rules import Rule
from bot.core.summary import Counts, RunSummary, Workers
from bot.sandbox.fakeslack import FakeSlack
from bot.sandbox.slashcmd import signed_headers, slash_body
from bot.service.app import build
from bot.settings import Settings
from bot.slack.listeners import Deps, register_all
from bot.slack.listeners.eon_answers import (
    EMPTY_HINT,
    FOLLOW_UP_ERROR,
    HELP_TEXT,
    INTERNAL_ERROR,
    MODE_WORDS,
    mode_words,
)
from bot.slack.listeners.eon_parse import Help, List, Status, Unwatch, UsageError, Watch, parse
from bot.slack.render import STUDIO_ACTION_ID
from bot.slack.web import slack_request
from bot.store import Store, StoredAlert
from bot.store.alerts import MAX_ALERTS

T = ""  # the workspace of the rows these tests write (single mode: adopted at start)

SECRET = "test-signing-secret"
NOW = datetime(2024, 5, 1, 13, 0, tzinfo=UTC)
WATCH_USAGE = "Usage: `/eon watch PROJECT_ID [all|best|milestones|failures]`"
NOT_AN_ID = "is not a project id: use the number in the Studio URL"

# --- parse ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", Help()),
        ("   \n\t ", Help()),
        ("help", Help()),
        ("HELP watch", Help()),
        ("status", Status()),
        ("status 42", Status("42")),
        ("Status   42  ", Status("42")),
        ("watch 42", Watch("42", "all")),
        ("WATCH 42", Watch("42", "all")),
        (" watch  42 ", Watch("42", "all")),
        ("watch 42 milestones", Watch("42", "milestones", mode_named=True)),
        ("watch 42 MILESTONES", Watch("42", "milestones", mode_named=True)),
        ("watch 42 all", Watch("42", "all", mode_named=True)),
        ("watch 42 Best", Watch("42", "best", mode_named=True)),
        ("watch 42 failures", Watch("42", "failures", mode_named=True)),
        ("watch 42 FAILURES", Watch("42", "failures", mode_named=True)),
        ("watch 0042", Watch("42", "all")),
        (f"watch {2**63 - 1}", Watch(str(2**63 - 1), "all")),
        ("unwatch 42", Unwatch("42")),
        ("UnWatch 7", Unwatch("7")),
        ("list", List()),
        ("LIST", List()),
    ],
)
def test_parse_commands(text: str, expected: object) -> None:
    assert parse(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("watch", f"The project id is missing. {WATCH_USAGE}"),
        ("unwatch", "The project id is missing. Usage: `/eon unwatch PROJECT_ID`"),
        ("watch payload", f"“payload” {NOT_AN_ID} (studio.edgeimpulse.com/studio/12345). "),
        ("status payload", "“payload” is not a project id"),
        ("payload", "Unknown command “payload”. Try `/eon status`"),
        (
            "watch 42 payload",
            f"Unknown mode “payload”: use `all`, `best`, `milestones` or `failures`. {WATCH_USAGE}",
        ),
        (" 42 ", "Unknown command “42”"),
        ("frobnicate 42", "Unknown command “frobnicate”"),
        ("wach 1", f"Unknown command “wach”: did you mean `watch`? {WATCH_USAGE}"),
        ("STAUTS", "Unknown command “STAUTS”: did you mean `status`? Usage: `/eon status"),
        ("watch 42 bset", f"Unknown mode “bset”: did you mean `best`? {WATCH_USAGE}"),
        ("watch -1", f"The project id must be a positive whole number, not “-1”. {WATCH_USAGE}"),
        ("watch +5", "must be a positive whole number, not “+5”"),
        ("watch 0", f"The project id must be positive, not “0”. {WATCH_USAGE}"),
        ("watch 000", "must be positive, not “000”"),
        (f"watch {2**63}", f"“{2**63}” is too large for an Edge Impulse project id"),
        ("unwatch " + "9" * 10_000, "“" + "9" * 39 + "…” is too large"),
        ("watch abc", f"“abc” {NOT_AN_ID}"),
        ("watch 4.2", f"“4.2” {NOT_AN_ID}"),
        ("watch 🚀", f"“🚀” {NOT_AN_ID}"),
        ("watch ４２", f"“４２” {NOT_AN_ID}"),  # full-width digits
        ("watch ٤٢", f"“\u2068٤٢\u2069” {NOT_AN_ID}"),  # Arabic-Indic digits, isolated
        ("watch مشروع", f"“\u2068مشروع\u2069” {NOT_AN_ID}"),  # right-to-left text
        ("watch " + "x" * 10_000, "“" + "x" * 39 + "…” is not a project id"),
        ("x" * 10_000, "Unknown command “" + "x" * 39 + "…”"),
        ("watch <@U123>", f"“&lt;@U123&gt;” {NOT_AN_ID}"),
        ("<!channel>", "Unknown command “&lt;!channel&gt;”"),
        ("&lt;!channel&gt;", "Unknown command “&lt;!channel&gt;”"),  # as Slack escapes it
        ("watch a&b", "“a&amp;b”"),
        (
            "watch 42 extra",
            f"Unknown mode “extra”: use `all`, `best`, `milestones` or `failures`. {WATCH_USAGE}",
        ),
        ("watch 42 all extra", f"Too many words, starting at “extra”. {WATCH_USAGE}"),
        ("unwatch 42 43", "Too many words, starting at “43”. Usage: `/eon unwatch PROJECT_ID`"),
        ("status 42 43", "Too many words, starting at “43”. Usage: `/eon status [PROJECT_ID]`"),
        ("list all", "Too many words, starting at “all”. Usage: `/eon list`"),
    ],
)
def test_parse_mistakes_get_one_clear_line(text: str, message: str) -> None:
    result = parse(text)
    assert isinstance(result, UsageError)
    assert message in result.message
    assert "\n" not in result.message
    assert len(result.message) < 300
    assert "<" not in result.message and ">" not in result.message


@given(st.text(max_size=300))
def test_parse_never_raises_and_errors_stay_one_safe_line(text: str) -> None:
    result = parse(text)
    if isinstance(result, UsageError):
        assert "\n" not in result.message and "<" not in result.message
        assert len(result.message) < 400


# --- an in-memory store, and the dependencies -------------------------------------------------


@dataclass(frozen=True)
class Sub:
    channel_id: str
    project_id: str
    added_by: str
    mode: str
    paused_reason: str | None = None
    created_at: datetime = NOW
    needs_start: bool = True


class MemoryStore:
    """Honours the part of `bot.store.Store`'s API the commands use, for one workspace (the
    team each method is given is the one these tests ask as)."""

    def __init__(self) -> None:
        self.subs: dict[tuple[str, str], Sub] = {}
        self.snapshots: dict[str, Snapshot] = {}
        self.names: dict[str, str] = {}  # projects' names from Edge Impulse (`bot.service.names`)
        self.broken = False
        self.alert_list: list[StoredAlert] = []
        self.digest_times: dict[str, int] = {}

    async def subscribe(
        self, team: str, channel_id: str, project_id: str, *, added_by: str, mode: str = "all"
    ) -> bool:
        if self.broken:
            raise ConnectionError("database is down")
        if (channel_id, project_id) in self.subs:
            return False
        self.subs[channel_id, project_id] = Sub(channel_id, project_id, added_by, mode)
        return True

    async def unsubscribe(self, team: str, channel_id: str, project_id: str) -> bool:
        return self.subs.pop((channel_id, project_id), None) is not None

    async def subscriptions(
        self, team: str, *, channel_id: str | None = None, project_id: str | None = None
    ) -> list[Sub]:
        if self.broken:
            raise ConnectionError("database is down")
        found = [
            s
            for s in self.subs.values()
            if channel_id in (None, s.channel_id) and project_id in (None, s.project_id)
        ]
        return sorted(found, key=lambda s: (int(s.project_id), s.channel_id))

    async def snapshot(self, project_id: str) -> Snapshot | None:
        return self.snapshots.get(project_id)

    async def summaries(self, project_ids: Sequence[str]) -> dict[str, RunSummary]:
        found = (self.snapshots.get(pid) for pid in project_ids)
        return {s.project_id: s.summary for s in found if s is not None and s.summary}

    async def project_names(self, project_ids: Sequence[str]) -> dict[str, str]:
        return {pid: self.names[pid] for pid in project_ids if pid in self.names}

    async def stops_in(self, team: str, project_ids: Any) -> list[Any]:
        return []  # no run acted on from Slack here (tests/slack/test_run_actions.py)

    async def resume_channel(self, team: str, channel_id: str) -> None:
        for key, sub in self.subs.items():
            if sub.channel_id == channel_id:
                self.subs[key] = dataclasses.replace(sub, paused_reason=None)

    async def set_mode(self, team: str, channel_id: str, project_id: str, mode: str) -> bool:
        sub = self.subs.get((channel_id, project_id))
        if sub is None:
            return False
        self.subs[channel_id, project_id] = dataclasses.replace(sub, mode=mode)
        return True

    async def add_alert(
        self, team: str, channel_id: str, project_id: str, rule: Rule, added_by: str
    ) -> str:
        if (channel_id, project_id) not in self.subs:
            return "not_watched"
        mine = await self.alerts(team, channel_id=channel_id, project_id=project_id)
        if any(alert.rule == rule.text for alert in mine):
            return "exists"
        if len(mine) >= MAX_ALERTS:
            return "full"
        self.alert_list.append(StoredAlert(channel_id, project_id, rule.text, added_by, NOW))
        return "added"

    async def digest_at(self, team: str, channel_id: str) -> int | None:
        return self.digest_times.get(channel_id)

    async def set_digest(
        self,
        team: str,
        channel_id: str,
        at_minute: int | None,
        set_by: str,
        done_day: str | None = None,
    ) -> None:
        if at_minute is None:
            self.digest_times.pop(channel_id, None)
        else:
            self.digest_times[channel_id] = at_minute

    async def alerts(
        self, team: str, *, channel_id: str, project_id: str | None = None
    ) -> list[StoredAlert]:
        return [
            a
            for a in self.alert_list
            if a.channel_id == channel_id and project_id in (None, a.project_id)
        ]

    async def remove_alerts(
        self, team: str, channel_id: str, project_id: str, numbers: Sequence[int] | None = None
    ) -> list[str]:
        mine = await self.alerts(team, channel_id=channel_id, project_id=project_id)
        gone = [a for n, a in enumerate(mine, 1) if numbers is None or n in numbers]
        self.alert_list = [a for a in self.alert_list if a not in gone]
        return [a.rule for a in gone]


@dataclass
class Edge:
    """The Edge Impulse side of the commands: records calls; `check_project` waits for `gate`
    so a test can prove the acknowledgement never waits on it."""

    error: str | None = None
    gate: asyncio.Event = field(default_factory=asyncio.Event)
    started: list[str] = field(default_factory=list)
    stopped: list[str] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)

    async def start_watching(self, project_id: str) -> None:
        self.started.append(project_id)

    async def stop_watching(self, project_id: str) -> None:
        self.stopped.append(project_id)

    async def check_project(self, project_id: str) -> str | None:
        self.checked.append(project_id)
        await self.gate.wait()
        return self.error


def settings(**values: Any) -> Settings:
    defaults: dict[str, Any] = {
        "project_keys": {"42": SecretStr("ei_key_42"), "43": SecretStr("ei_key_43")},
    }
    return Settings.given(**(defaults | values))


@dataclass
class Bot:
    app: AsyncApp
    fake: FakeSlack
    store: MemoryStore
    edge: Edge

    async def command(
        self,
        text: str,
        *,
        user: str = "U1",
        channel: str = "C1",
        channel_name: str = "tuner-runs",
        response_id: str = "R1",
    ) -> tuple[int, Any]:
        """POST a signed `/eon` as Slack does; the status and the acknowledgement body."""
        body = slash_body(
            text,
            channel_id=channel,
            user_id=user,
            channel_name=channel_name,
            response_url=self.fake.response_url(response_id),
        )
        response = await asyncio.wait_for(self.app.async_dispatch(signed(body)), timeout=2)
        try:
            return response.status, json.loads(response.body)
        except ValueError:
            return response.status, response.body


def signed(body: str) -> AsyncBoltRequest:
    """The request as `POST /slack/events` builds it (the project's adapter, `payload` fixed)."""
    return slack_request(body, "", signed_headers(SECRET, body))


MakeBot = Callable[..., Bot]


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    async with FakeSlack() as started:
        yield started


@pytest.fixture
def make_bot(fake: FakeSlack) -> MakeBot:
    def make(
        *,
        process_before_response: bool = True,
        start_watching: Callable[[str], Awaitable[None]] | None = None,
        **setting_values: Any,
    ) -> Bot:
        store, edge = MemoryStore(), Edge()
        app = AsyncApp(
            client=AsyncWebClient(token="xoxb-test", base_url=fake.api_url),
            signing_secret=SECRET,
            process_before_response=process_before_response,
        )
        deps = Deps(
            store=store,
            settings=settings(**setting_values),
            start_watching=start_watching or edge.start_watching,
            stop_watching=edge.stop_watching,
            check_project=edge.check_project,
        )
        register_all(app, deps)
        return Bot(app, fake, store, edge)

    return make


def ephemeral(text: str) -> dict[str, Any]:
    return {"text": text, "response_type": "ephemeral"}


async def settle() -> None:
    """Let the follow-up tasks bolt's handler started run until they wait on something."""
    for _ in range(20):
        await asyncio.sleep(0)


# --- handlers ---------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["", "help", "Help me"])
async def test_help(make_bot: MakeBot, text: str) -> None:
    assert await make_bot().command(text) == (200, ephemeral(HELP_TEXT))


async def test_usage_error_is_acknowledged_not_failed(make_bot: MakeBot) -> None:
    status, body = await make_bot().command("watch -1")
    assert status == 200
    assert body == ephemeral(
        f"⚠ The project id must be a positive whole number, not “-1”. {WATCH_USAGE}"
    )


@pytest.mark.parametrize("process_before_response", [True, False])
async def test_watch_acks_at_once_then_checks_in_the_background(
    make_bot: MakeBot, process_before_response: bool
) -> None:
    bot = make_bot(process_before_response=process_before_response)
    status, body = await bot.command("watch 42 milestones", user="U7")
    assert status == 200
    assert body["response_type"] == "ephemeral"
    assert body["text"].startswith("👀 Watching project 42 here (milestones only")
    assert bot.store.subs["C1", "42"] == Sub("C1", "42", "U7", "milestones")
    await settle()
    assert bot.edge.started == ["42"]
    assert bot.edge.checked == ["42"]  # and still waiting: the ack did not wait for it
    bot.edge.gate.set()
    await settle()
    assert ("C1", "42") in bot.store.subs
    assert bot.edge.stopped == []
    assert bot.fake.responses("R1") == []


async def test_watch_of_a_project_edge_impulse_refuses_is_undone(make_bot: MakeBot) -> None:
    bot = make_bot()
    bot.edge.error = "Edge Impulse has no such project (HTTP 404). Check the project id"
    bot.edge.gate.set()
    status, _ = await bot.command("watch 42", response_id="R9")
    assert status == 200
    posts = await bot.fake.wait_for(lambda fake: fake.responses("R9"))
    assert [(p.text, p.response_type, p.replace_original) for p in posts] == [
        (
            "⚠ Stopped watching project 42: Edge Impulse has no such project (HTTP 404). "
            "Check the project id",
            "ephemeral",
            False,
        )
    ]
    assert bot.store.subs == {}
    assert bot.edge.stopped == ["42"]


async def test_watch_without_an_api_key_names_the_variables(make_bot: MakeBot) -> None:
    bot = make_bot()
    status, body = await bot.command("watch 77")
    assert status == 200
    assert "`/eon key 77`" in body["text"]  # the fix from Slack alone
    assert "EI_API_KEY_77" in body["text"] and "EI_API_KEY where" in body["text"]
    assert bot.store.subs == {}
    await settle()
    assert bot.edge.started == []


async def test_default_key_is_enough(make_bot: MakeBot) -> None:
    bot = make_bot(ei_api_key=SecretStr("ei_default"))
    _, body = await bot.command("watch 77")
    assert body["text"].startswith("👀 Watching project 77 here (every trial)")


@pytest.mark.parametrize("text", ["watch 42", "unwatch 42"])
async def test_only_admins_change_what_a_channel_watches(make_bot: MakeBot, text: str) -> None:
    bot = make_bot(admin_user_ids=frozenset({"UADMIN"}))
    await bot.store.subscribe(T, "C1", "42", added_by="UADMIN")
    before = dict(bot.store.subs)
    status, body = await bot.command(text, user="U1")
    assert status == 200
    assert body["text"].startswith("⛔ Only eon-bot admins (ADMIN_USER_IDS)")
    assert "<@UADMIN>" in body["text"]
    assert bot.store.subs == before
    _, allowed = await bot.command(text, user="UADMIN")
    assert not allowed["text"].startswith("⛔")


async def test_watch_in_a_paused_channel_resumes_it(make_bot: MakeBot) -> None:
    bot = make_bot()
    await bot.store.subscribe(T, "C1", "42", added_by="U2")
    bot.store.subs["C1", "42"] = dataclasses.replace(
        bot.store.subs["C1", "42"], paused_reason="is_archived"
    )
    _, body = await bot.command("watch 42")
    assert body["text"].startswith("▶ Delivery here resumes (it was paused: is_archived)")
    assert bot.store.subs["C1", "42"].paused_reason is None
    await settle()
    assert bot.edge.started == ["42"]


def test_every_mode_has_words_for_list_and_home() -> None:
    assert set(MODE_WORDS) == set(MODES)
    assert all(mode_words(mode) == MODE_WORDS[mode] for mode in MODES)


async def test_watch_twice_says_so(make_bot: MakeBot) -> None:
    bot = make_bot()
    await bot.store.subscribe(T, "C1", "42", added_by="U2", mode="milestones")
    _, body = await bot.command("watch 42")
    assert body["text"] == (
        "This channel already watches project *42* — milestones only (run start, time limit, "
        "end) · added by <@U2>. To change the mode: `/eon watch 42 MODE` with one of "
        "all, best, milestones, failures."
    )
    assert bot.store.subs["C1", "42"].mode == "milestones"  # no mode named: nothing changes


async def test_watching_again_with_a_mode_changes_it_and_list_shows_it(make_bot: MakeBot) -> None:
    bot = make_bot()
    await bot.store.subscribe(T, "C1", "42", added_by="U2", mode="all")
    _, body = await bot.command("watch 42 best")
    assert body["text"] == (
        "🔁 Project 42 here: now new bests only (plus time limit, end, stalls) (was every trial)."
    )
    assert bot.store.subs["C1", "42"].mode == "best"
    _, listed = await bot.command("list")
    assert "project *42* — new bests only" in listed["text"]
    _, body = await bot.command("watch 42 failures")
    assert body["text"] == (
        "🔁 Project 42 here: now failures only (failed trials, time limit, end, stalls, "
        "outages) (was new bests only (plus time limit, end, stalls))."
    )
    assert bot.store.subs["C1", "42"].mode == "failures"
    _, listed = await bot.command("list")
    assert "project *42* — failures only (failed trials" in listed["text"]
    await settle()
    assert bot.edge.started == []


async def test_unwatch(make_bot: MakeBot) -> None:
    bot = make_bot()
    _, body = await bot.command("unwatch 42")
    assert body == ephemeral(
        "This channel does not watch project 42; `/eon list` shows what it does."
    )
    await bot.store.subscribe(T, "C1", "42", added_by="U1")
    await bot.store.subscribe(T, "C2", "42", added_by="U1")
    _, body = await bot.command("unwatch 42")
    assert body == ephemeral("🔕 Stopped watching project 42 here.")
    assert list(bot.store.subs) == [("C2", "42")]
    await settle()
    assert bot.edge.stopped == ["42"]


async def test_list(make_bot: MakeBot) -> None:
    bot = make_bot()
    assert await bot.command("list") == (200, ephemeral(EMPTY_HINT))
    await bot.store.subscribe(T, "C1", "43", added_by="U2", mode="milestones")
    await bot.store.subscribe(T, "C1", "42", added_by="U1")
    await bot.store.subscribe(T, "C2", "44", added_by="U1")
    bot.store.subs["C1", "43"] = Sub("C1", "43", "U2", "milestones", "not_in_channel")
    _, body = await bot.command("list")
    assert body["text"] == (
        "*Watched in this channel:*\n"
        "• project *42* — every trial · added by <@U1>\n"
        "• project *43* — milestones only (run start, time limit, end) · added by <@U2>"
        " · ⏸ paused: not_in_channel — invite the bot (`/invite @eon-bot`),"
        " then `/eon watch 43` here to resume"
    )
    bot.store.names["42"] = "Keyword <spotting>"  # Edge Impulse's text: escaped
    _, body = await bot.command("list")
    assert "• Keyword &lt;spotting&gt; (project *42*) — every trial" in body["text"]


async def test_list_of_very_many_fits(make_bot: MakeBot) -> None:
    bot = make_bot()
    for pid in range(1, 501):
        await bot.store.subscribe(T, "C1", str(pid), added_by="U1")
    _, body = await bot.command("list")
    assert len(body["text"]) <= 3000
    assert body["text"].endswith("more")


def run_summary(project_id: str) -> RunSummary:
    return RunSummary(
        project_id=project_id,
        run_id="11",
        tuner_job_id="11",
        name="Keyword run <!channel>",
        status="running",
        running=True,
        finished=False,
        outcome=None,
        counts=Counts(completed=3, pending=5),
        planned_trials=8,
        workers=Workers(busy=2),
        precision="int8",
    )


async def test_status(make_bot: MakeBot) -> None:
    bot = make_bot()
    assert await bot.command("status") == (200, ephemeral(EMPTY_HINT))
    await bot.store.subscribe(T, "C1", "42", added_by="U1")
    await bot.store.subscribe(T, "C1", "43", added_by="U1")
    bot.store.snapshots["42"] = Snapshot(project_id="42", summary=run_summary("42"))
    _, body = await bot.command("status")
    assert body["response_type"] == "ephemeral"
    assert body["text"].startswith('*EON Tuner run "Keyword run &lt;!channel&gt;" · project 42*')
    assert "Progress: ▓▓▓░░░░░░░ 37%  (3 of 8 trials)" in body["text"]
    assert body["text"].endswith("Not polled yet: project 43")
    assert body["blocks"][0]["type"] == "section"
    _, one = await bot.command("status 43")
    assert one["text"] == "Not polled yet: project 43"
    _, other = await bot.command("status 44")
    assert other == ephemeral("This channel does not watch project 44 — `/eon watch 44`")


async def test_internal_error_still_answers(make_bot: MakeBot) -> None:
    bot = make_bot()
    bot.store.broken = True
    assert await bot.command("list") == (200, ephemeral(INTERNAL_ERROR))


async def test_studio_button_clicks_are_acknowledged(make_bot: MakeBot) -> None:
    bot = make_bot()
    payload = {
        "type": "block_actions",
        "team": {"id": "T0001"},
        "user": {"id": "U1"},
        "api_app_id": "A0001",
        "channel": {"id": "C1"},
        "actions": [{"type": "button", "action_id": STUDIO_ACTION_ID, "block_id": "b"}],
    }
    response = await bot.app.async_dispatch(signed(urlencode({"payload": json.dumps(payload)})))
    assert response.status == 200


@pytest.mark.parametrize(
    "forge", ["a wrong signature", "no signature", "an old timestamp", "another body"]
)
async def test_unsigned_requests_are_refused(fake: FakeSlack, tmp_path: Path, forge: str) -> None:
    """The product's own app (`bot.service.app.build`, its HTTP server), not one built here: a
    request Slack did not sign gets 401 and reaches no listener; a signed one is served."""
    store = await Store.open(f"sqlite:///{tmp_path / 'bot.db'}")
    bot = await build(
        Settings.given(slack_bot_token="xoxb-test", slack_signing_secret=SECRET),
        store=store,
        ei_transport=httpx.MockTransport(lambda _: httpx.Response(500)),
        slack=AsyncWebClient(token="xoxb-test", base_url=fake.api_url),
    )
    body = slash_body("watch 5", channel_id="C1", user_id="U1", response_url=fake.response_url())
    forged = {
        "a wrong signature": signed_headers("not-the-secret", body),
        "no signature": {"Content-Type": "application/x-www-form-urlencoded"},
        "an old timestamp": signed_headers(SECRET, body, timestamp=int(time.time()) - 360),
        "another body": signed_headers(SECRET, body + "&text=unwatch+5"),
    }[forge]
    try:
        async with TestClient(TestServer(bot.web_app)) as http:
            refused = await http.post("/slack/events", data=body, headers=forged)
            assert refused.status == 401
            assert await store.subscriptions(T) == []
            listed = slash_body(
                "list", channel_id="C1", user_id="U1", response_url=fake.response_url()
            )
            served = await http.post(
                "/slack/events", data=listed, headers=signed_headers(SECRET, listed)
            )
            assert served.status == 200 and (await served.json())["text"] == EMPTY_HINT
    finally:
        await bot.stop()
        await store.close()


# --- the `payload` trap -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "channel_name", "answer"),
    [
        ("watch payload", "tuner-runs", f"⚠ “payload” {NOT_AN_ID}"),
        ("payload", "tuner-runs", "⚠ Unknown command “payload”"),
        ("list", "payload-team", EMPTY_HINT),  # the word can come from any field, not only text
    ],
)
async def test_the_word_payload_gets_a_clear_answer(
    make_bot: MakeBot, text: str, channel_name: str, answer: str
) -> None:
    status, body = await make_bot().command(text, channel_name=channel_name)
    assert status == 200
    assert body["response_type"] == "ephemeral"
    assert body["text"].startswith(answer)


def test_bolt_reads_any_form_body_mentioning_payload_as_nothing() -> None:
    """Why `bot.slack.web.slack_request` re-parses: bolt's `parse_body` sees the substring
    "payload", finds no `payload` field and returns an empty body, so no listener matches."""
    body = urlencode({"command": "/eon", "text": "watch payload"})
    assert parse_body(body, "application/x-www-form-urlencoded") == {}
    assert parse_body(body.replace("payload", "x"), None) == {"command": "/eon", "text": "watch x"}


async def test_without_the_adapter_bolt_answers_404(make_bot: MakeBot) -> None:
    bot = make_bot()
    body = urlencode({"command": "/eon", "text": "watch payload", "channel_id": "C1"})
    request = AsyncBoltRequest(body=body, headers=signed_headers(SECRET, body))
    response = await bot.app.async_dispatch(request)
    assert response.status == 404


async def test_a_failing_follow_up_is_reported(make_bot: MakeBot) -> None:
    async def broken(project_id: str) -> None:
        raise RuntimeError("the scheduler is gone")

    bot = make_bot(start_watching=broken)
    status, _ = await bot.command("watch 42", response_id="R5")
    assert status == 200
    posts = await bot.fake.wait_for(lambda fake: fake.responses("R5"))
    assert [(p.text, p.response_type) for p in posts] == [(FOLLOW_UP_ERROR, "ephemeral")]

"""Many-workspace mode ("Add to Slack") on the real `eon-bot run` process, for
`test_workspaces.py` and `test_workspaces_leaving.py`: the harness's stack (`e2e_stack`) with
the app's client id and secret in place of a bot token, two workspaces installing through the
bot's own /slack/install, and Slack's side of each one's commands and clicks (signed, carrying
that workspace's team id, as Slack sends them).

Each workspace has its own channel and user and watches its own project; both watch `SHARED`
from their channels; `NOBODY` is watched by no one, the answer every question about another
workspace's project is held to.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import aiohttp
from yarl import URL

from bot.sandbox.buttons import Button, block_actions_payload
from bot.sandbox.fakeslack import BOT_USER_ID, FakeSlack, Message
from bot.sandbox.simulator.jobs import JOBS_KEY, JobBook
from bot.sandbox.simulator.simulation import Simulation
from bot.sandbox.slashcmd import event_body, payload_body, signed_headers
from tests.e2e.harness import (
    EI_KEY,
    PROJECT_ID,
    SIGNING_SECRET,
    BotProcess,
    CommandReply,
    Stack,
    advance,
    assert_ack,
    e2e_stack,
)

CLIENT_ID: Final = "4242.4343"
CLIENT_SECRET: Final = "e2e-client-secret-" + "c" * 20
SECRET_KEY: Final = "e2e-secret-key-" + "k" * 40  # seals each workspace's token (>= 32)
ALPHA, BETA = "T0ALPHA", "T0BETA"
TEAMS: Final = (ALPHA, BETA)
CHANNEL: Final = {ALPHA: "C0ALPHA", BETA: "C0BETA"}
USER: Final = {ALPHA: "U0ALPHA", BETA: "U0BETA"}
OWN: Final = {ALPHA: PROJECT_ID, BETA: "2"}  # each workspace's own project
SHARED: Final = "3"
NOBODY: Final = "7"  # a project no workspace watches
WAIT_S: Final = 30.0  # an upper bound for a loaded machine; every wait is on a condition

RUN_STARTED: Final = "eon_run_started"
TRIAL_COMPLETED: Final = "eon_trial_completed"
# The only requests made without a workspace's token: Slack's authorize page, the token
# exchange (the app's credentials), a file's bytes (to the URL files.getUploadURLExternal
# handed out for that file) and answers to a command's or click's own response_url.
TOKENLESS: Final = frozenset({"oauth/v2/authorize", "oauth.v2.access", "upload", "response_url"})


def completions(simulation: Simulation) -> list[int]:
    """The simulated seconds the first run's trials complete at, in order."""
    run = simulation.runs[0]
    return sorted(
        attempt.end
        for trial_id in run.trial_ids
        for attempt in simulation.attempts(trial_id)
        if not attempt.failed
    )


def about(message: Message, project_id: str, kind: str) -> bool:
    payload = (message.metadata or {}).get("event_payload") or {}
    return message.event_type == kind and str(payload.get("project_id")) == project_id


def metric(text: str, name: str, labels: str = "") -> float | None:
    """One sample of the /metrics page: `metric(text, "eonbot_workspaces", 'state="left"')`."""
    series = re.escape(name + (f"{{{labels}}}" if labels else ""))
    found = re.search(rf"^{series} ([0-9.e+-]+)$", text, re.MULTILINE)
    return float(found.group(1)) if found else None


def with_project(button: Button, project_id: str) -> Button:
    """The same button, its value naming another project."""
    value = json.loads(str(button.element["value"])) | {"p": project_id}
    element = button.element | {"value": json.dumps(value, separators=(",", ":"))}
    return Button(button.message, button.block_id, element)


def as_nobody(text: str, project_id: str) -> str:
    """`text` with `project_id` written as `NOBODY`: what an answer about a project nobody
    watches would read, were it about this one."""
    return re.sub(rf"\b{re.escape(project_id)}\b", NOBODY, text)


@dataclass
class Many:
    """The stack in many-workspace mode, and Slack's side of each workspace."""

    stack: Stack

    @property
    def bot(self) -> BotProcess:
        return self.stack.bot

    @property
    def slack(self) -> FakeSlack:
        return self.stack.slack

    @property
    def book(self) -> JobBook:
        """What reached Edge Impulse's job routes (cancel, extend, use a trial)."""
        return self.stack.simulator.app[JOBS_KEY]

    async def install(self, team: str) -> str:
        """A person's browser: /slack/install → Slack's authorize page → /slack/oauth_redirect
        (bolt's state in a cookie); the page it ends on."""
        base = URL(self.bot.base_url)
        jar = aiohttp.CookieJar(unsafe=True, treat_as_secure_origin=[base])
        async with (
            aiohttp.ClientSession(cookie_jar=jar) as browser,
            browser.get(base / "slack/install" % {"team": team}) as page,
        ):
            assert page.status == 200, await page.text()
            return await page.text()

    async def eon(self, team: str, text: str, *, channel: str | None = None) -> CommandReply:
        """`/eon <text>` typed in `channel` (the workspace's own) by the workspace's user."""
        return await self.bot.command(
            self.stack.http, text, response_url=self.slack.response_url(),
            channel_id=channel or CHANNEL[team], user_id=USER[team], team_id=team,
        )  # fmt: skip

    async def watch(self, team: str, project_id: str) -> Message:
        """`/eon watch` from the workspace's channel; its run card there."""
        assert_ack(await self.eon(team, f"watch {project_id}"), f"Watching project {project_id}")
        return await self.wait_post(team, project_id, RUN_STARTED)

    async def wait_post(self, team: str, project_id: str, kind: str, count: int = 1) -> Message:
        """The workspace's channel has `count` posts of `kind` about the project: the last."""
        channel = CHANNEL[team]
        found = await self.slack.wait_for(
            lambda f: [m for m in f.messages(channel) if about(m, project_id, kind)][count - 1 :],
            timeout=WAIT_S,
        )
        return found[-1]

    async def click(
        self, team: str, button: Button, *, channel: str | None = None
    ) -> tuple[int, str]:
        """The workspace's user presses `button` in `channel` (the workspace's own): the
        HTTP status and the response_url's id, where an answer to the clicker lands."""
        url = self.slack.response_url()
        payload = block_actions_payload(
            button, user_id=USER[team], channel_name="eon-runs", response_url=url
        )
        where = channel or CHANNEL[team]
        payload["team"] = {"id": team, "domain": team.lower()}
        payload["user"]["team_id"] = team
        payload["channel"]["id"] = payload["container"]["channel_id"] = where
        body = payload_body(payload)
        response = await self.stack.http.post(
            self.bot.events_url, content=body, headers=signed_headers(SIGNING_SECRET, body)
        )
        return response.status_code, url.rsplit("/", 1)[1]

    async def answer(self, response_id: str) -> str:
        """What the clicker was told (ephemeral, through the click's response_url)."""
        [post] = await self.slack.wait_for(lambda f: f.responses(response_id), timeout=WAIT_S)
        return post.text

    async def home(self, team: str) -> str:
        """The workspace's user opens eon-bot's Home tab: the view published (JSON), once
        the bot has published it for that user with the workspace's token."""
        event = {"type": "app_home_opened", "user": USER[team], "channel": "D0HOME", "tab": "home"}
        body = event_body(event, team_id=team)
        headers = signed_headers(SIGNING_SECRET, body, content_type="application/json")
        before = len(self.slack.calls)
        assert (await self.bot.post_events(self.stack.http, body, headers)).status_code == 200
        [call] = await self.slack.wait_for(
            lambda f: [c for c in f.calls[before:] if c.method == "views.publish"], timeout=WAIT_S
        )
        assert (call.args.get("user_id"), call.team) == (USER[team], team), call
        return json.dumps(call.args.get("view"), ensure_ascii=False)

    async def leave(self, team: str, how: str = "app_uninstalled") -> int:
        """The workspace's tokens revoked at Slack, then the event Slack sends about it:
        `app_uninstalled` (the app removed) or `tokens_revoked` (its bot token revoked)."""
        event = self.slack.uninstall(team)["event"]
        if how == "tokens_revoked":
            event = {"type": how, "tokens": {"bot": [BOT_USER_ID]}, "event_ts": event["event_ts"]}
        body = event_body(event, team_id=team)
        headers = signed_headers(SIGNING_SECRET, body, content_type="application/json")
        return (await self.bot.post_events(self.stack.http, body, headers)).status_code

    async def metrics(self) -> str:
        response = await self.stack.http.get(f"{self.bot.base_url}/metrics")
        assert response.status_code == 200, response.text
        return response.text

    async def workspaces(self) -> dict[str, float | None]:
        text = await self.metrics()
        return {s: metric(text, "eonbot_workspaces", f'state="{s}"') for s in ("installed", "left")}

    def calls_of(self, team: str, since: int = 0) -> list[str]:
        """The Slack calls made with the workspace's token from call number `since` on."""
        return [f"{c.method} {c.args}"[:200] for c in self.slack.calls[since:] if c.team == team]

    def misdirected(self) -> list[str]:
        """Every Slack call that is not made with the token of the workspace it speaks to: one
        naming a channel with another workspace's token (or none), and any call without a
        workspace's token but `TOKENLESS` ones (the harness's bot token is never used)."""
        team_of = {channel: team for team, channel in CHANNEL.items()}
        wrong = []
        for call in self.slack.calls:
            named = call.args.get("channel", call.args.get("channel_id"))
            if call.method in TOKENLESS:
                continue
            if call.team not in TEAMS or (named is not None and team_of.get(named) != call.team):
                wrong.append(f"{call.method} to {named} with {call.team}'s token")
        return wrong

    def secrets(self) -> Iterable[str]:
        """What must never show in the bot's logs."""
        tokens = [w.token for w in self.slack.workspaces()]
        return [*tokens, CLIENT_SECRET, SIGNING_SECRET, SECRET_KEY, EI_KEY]

    def leaked(self) -> list[str]:
        text = self.bot.log_text()
        return [secret[:8] + "…" for secret in self.secrets() if secret in text]


@contextlib.asynccontextmanager
async def many_stack(tmp_path: Path, database_url: str) -> AsyncIterator[Many]:
    """`e2e_stack` in many-workspace mode: no SLACK_BOT_TOKEN at all (the settings refuse it
    beside a client id), the app's client id and secret, SECRET_KEY; FakeSlack playing the
    app's OAuth settings; every project's clock frozen at 0. The bot is not started. It logs
    at DEBUG, where slack_sdk writes the requests and answers it sends and receives (the
    oauth.v2.access answer holds the new token): `leaked` reads those lines too."""
    async with e2e_stack(tmp_path, trials=8, database_url=database_url) as stack:
        env = stack.bot.env
        del env["SLACK_BOT_TOKEN"]
        env.update(
            SLACK_CLIENT_ID=CLIENT_ID,
            SLACK_CLIENT_SECRET=CLIENT_SECRET,
            SECRET_KEY=SECRET_KEY,
            LOG_LEVEL="DEBUG",
        )
        redirect = f"{stack.bot.base_url}/slack/oauth_redirect"
        stack.slack.enable_oauth(CLIENT_ID, CLIENT_SECRET, redirect)
        for project in (*OWN.values(), SHARED):
            stack.controller.set_time(project, 0)
        yield Many(stack)


async def installed_and_watching(many: Many) -> None:
    """Start the bot; both workspaces install, each watches its own project and `SHARED`."""
    await many.bot.start()
    for team in TEAMS:
        page = await many.install(team)
        assert "eon-bot is installed" in page, page
    for team in TEAMS:
        for project in (OWN[team], SHARED):
            await many.watch(team, project)


async def first_completions(many: Many, *projects: str) -> None:
    """Each project at its first trial's completion, told to every channel watching it."""
    await news(many, 0, *projects)


async def news(many: Many, index: int, *projects: str, told: Iterable[str] = TEAMS) -> None:
    """Each project at its run's `index`-th trial completion (from 0); returns once the
    channels of the workspaces `told` that watch it have that completion's post."""
    controller = many.stack.controller
    for project in projects:
        t = completions(controller.simulation(project))[index]
        await advance(controller, project, t, within=WAIT_S)
    for team in told:
        for project in (OWN[team], SHARED):
            if project in projects:
                await many.wait_post(team, project, TRIAL_COMPLETED, count=index + 1)

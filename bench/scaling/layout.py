"""Which workspace each channel belongs to, and Slack's side of the bot in either mode.

With no workspaces (`--workspaces` not given) the bot runs in single mode, as every release
before issue 33: `SLACK_BOT_TOKEN`, and the commands carry slash_body's default team. With
`--workspaces N` it runs in many-workspace mode (`SLACK_CLIENT_ID`, `SLACK_CLIENT_SECRET`,
`SECRET_KEY`, no bot token): each of the N workspaces installs through `GET /slack/install`
(FakeSlack's authorize page and `oauth.v2.access`, as tests/test_app_workspaces.py does), the
channels are theirs round-robin (channel k is workspace k mod N's), and each command carries
its channel's workspace as `team_id`."""

from __future__ import annotations

from dataclasses import dataclass, field

import aiohttp
import httpx
from yarl import URL

from bot.sandbox.fakeslack import FakeSlack
from tests.e2e.harness import BotProcess, CommandReply

CLIENT_ID = "4242.4343"
CLIENT_SECRET = "client-secret-" + "s" * 24
SECRET_KEY = "k" * 40  # seals each workspace's token


@dataclass(frozen=True)
class Layout:
    channels: tuple[str, ...]
    teams: tuple[str, ...] = ()  # none: single mode, one workspace through SLACK_BOT_TOKEN
    _team: dict[str, str] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def of(cls, channels: int, workspaces: int | None) -> Layout:
        names = tuple(f"C0SCALE{i:02d}" for i in range(channels))
        teams = tuple(f"T0SCALE{k:02d}" for k in range(workspaces or 0))
        owner = {c: teams[k % len(teams)] for k, c in enumerate(names)} if teams else {}
        return cls(names, teams, owner)

    @property
    def many(self) -> bool:
        return bool(self.teams)

    def channel(self, index: int) -> str:
        """The channel the index-th project is watched in (round-robin)."""
        return self.channels[index % len(self.channels)]

    def team(self, channel: str) -> str | None:
        return self._team.get(channel)

    def describe(self) -> str:
        if not self.many:
            return f"single mode (SLACK_BOT_TOKEN), {len(self.channels)} channels"
        return f"{len(self.teams)} workspace(s) installed (OAuth), {len(self.channels)} channels"

    def environment(self, env: dict[str, str]) -> dict[str, str]:
        """The bot's environment for this mode (`env` is single mode's)."""
        if not self.many:
            return env
        env = {k: v for k, v in env.items() if k != "SLACK_BOT_TOKEN"}
        return env | {
            "SLACK_CLIENT_ID": CLIENT_ID,
            "SLACK_CLIENT_SECRET": CLIENT_SECRET,
            "SECRET_KEY": SECRET_KEY,
        }

    async def install(self, slack: FakeSlack, bot: BotProcess) -> None:
        """Each workspace installs the app, as a browser would: /slack/install, Slack's
        authorize page, back to /slack/oauth_redirect (the state in a cookie)."""
        if not self.many:
            return
        slack.enable_oauth(CLIENT_ID, CLIENT_SECRET, f"{bot.base_url}/slack/oauth_redirect")
        base = URL(bot.base_url)
        jar = aiohttp.CookieJar(unsafe=True, treat_as_secure_origin=[base])
        async with aiohttp.ClientSession(cookie_jar=jar) as browser:
            for team in self.teams:
                async with browser.get(f"{bot.base_url}/slack/install?team={team}") as page:
                    text = await page.text()
                    if page.status != 200 or "eon-bot is installed" not in text:
                        raise RuntimeError(f"installing {team}: {page.status} {text[:200]}")

    async def command(
        self, http: httpx.AsyncClient, bot: BotProcess, slack: FakeSlack, text: str, channel: str
    ) -> CommandReply:
        """`/eon <text>` in `channel`, signed, from the channel's workspace; timed."""
        return await bot.command(
            http, text, response_url=slack.response_url(), channel_id=channel,
            team_id=self.team(channel),
        )  # fmt: skip

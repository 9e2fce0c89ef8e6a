"""Installing the app, as Slack does it: the authorize page (`GET /oauth/v2/authorize`, where a
person approves and is sent back with a `code`) and `oauth.v2.access` (the code, with the app's
client id and secret, for a bot token), so eon-bot's whole "Add to Slack" flow runs here.

Each install makes a workspace of its own: a bot token of its own, which `auth.test` answers
for with that workspace's ids, and which every call made with it is recorded under
(`Call.team`). `uninstall(team)` revokes the workspace's tokens (`token_revoked`, as Slack
answers afterwards) and returns the `app_uninstalled` event Slack would send.

Choices: the authorize page approves at once (no person to click); the installing workspace is
the `team` parameter (bolt passes /slack/install's `?team=`), else `TEAM_ID`; the installer is
`installer` (set by tests); a code is good once, for 10 minutes.
"""

from __future__ import annotations

import base64
import binascii
import secrets
from collections.abc import Callable
from dataclasses import dataclass, replace
from urllib.parse import urlencode

from aiohttp import web

from bot.sandbox.fakeslack.records import APP_ID, BOT_ID, BOT_USER_ID, HUMAN_USER_ID, TEAM_ID
from bot.sandbox.fakeslack.state import SlackState
from bot.sandbox.fakeslack.wire import ApiError, JSONDict, opt_str

CODE_TTL_S = 600.0
OAUTH_METHODS = frozenset({"oauth.v2.access"})


@dataclass(frozen=True, slots=True)
class Workspace:
    team_id: str
    name: str
    token: str
    installed_by: str
    revoked: bool = False


class OAuthMethods(SlackState):
    def _oauth_state(self) -> None:
        self.client_id: str | None = None
        self._client_secret: str | None = None
        self.redirect_uri: str | None = None
        self.installer = HUMAN_USER_ID
        self._codes: dict[str, tuple[str, float]] = {}  # code → (team, issued at)
        self._workspaces: dict[str, Workspace] = {}  # token → its workspace

    def enable_oauth(self, client_id: str, client_secret: str, redirect_uri: str) -> None:
        """Play the app's OAuth settings: its credentials and its one Redirect URL."""
        self.client_id, self._client_secret = client_id, client_secret
        self.redirect_uri = redirect_uri

    @property
    def authorize_url(self) -> str:
        return f"{self.url}/oauth/v2/authorize"

    def workspaces(self) -> list[Workspace]:
        """Every install, in order (a reinstall is a new one, with a new token)."""
        return list(self._workspaces.values())

    def token_of(self, team_id: str) -> str:
        """The workspace's current bot token (its latest install)."""
        found = [w for w in self._workspaces.values() if w.team_id == team_id and not w.revoked]
        if not found:
            raise KeyError(team_id)
        return found[-1].token

    def team_of_token(self, token: str | None) -> str | None:
        """The workspace a token was issued to by an install; None for any other token."""
        workspace = self._workspaces.get(token or "")
        return workspace.team_id if workspace is not None else None

    def uninstall(self, team_id: str) -> JSONDict:
        """Revoke the workspace's tokens; the `app_uninstalled` event Slack then sends."""
        for token, workspace in list(self._workspaces.items()):
            if workspace.team_id == team_id:
                self._workspaces[token] = replace(workspace, revoked=True)
        return {
            "type": "event_callback",
            "team_id": team_id,
            "api_app_id": APP_ID,
            "event": {"type": "app_uninstalled", "event_ts": f"{self._clock():.6f}"},
            "event_id": f"Ev{next(self._ids):08d}",
            "event_time": int(self._clock()),
            "authorizations": [{"team_id": team_id, "is_enterprise_install": False}],
        }

    # -- the authorize page ----------------------------------------------------------------

    async def _handle_authorize(self, request: web.Request) -> web.StreamResponse:
        query = request.query
        if self.client_id is None or query.get("client_id") != self.client_id:
            return web.Response(status=400, text="invalid_client_id")
        redirect = query.get("redirect_uri") or self.redirect_uri
        if not redirect:
            return web.Response(status=400, text="no redirect_uri")
        team = query.get("team") or TEAM_ID
        code = secrets.token_hex(12)
        self._codes[code] = (team, self._clock())
        self._record("oauth/v2/authorize", dict(query), 302, None, "query")
        back = {"code": code} | ({"state": query["state"]} if "state" in query else {})
        raise web.HTTPFound(f"{redirect}?{urlencode(back)}")

    # -- oauth.v2.access -------------------------------------------------------------------

    def oauth_handlers(self) -> dict[str, Callable[[JSONDict], JSONDict]]:
        self._oauth_state()
        return {"oauth.v2.access": self._oauth_v2_access}

    def _oauth_v2_access(self, args: JSONDict) -> JSONDict:
        client_id, secret = opt_str(args, "client_id"), args.pop("client_secret", None)
        if client_id != self.client_id or client_id is None:
            raise ApiError("invalid_client_id")
        if secret != self._client_secret:
            raise ApiError("bad_client_secret")
        issued = self._codes.pop(str(opt_str(args, "code")), None)
        if issued is None or self._clock() - issued[1] > CODE_TTL_S:
            raise ApiError("invalid_code")
        team = issued[0]
        token = f"xoxb-{team.lower()}-{secrets.token_hex(8)}"
        name = f"Workspace {team}"
        self._workspaces[token] = Workspace(team, name, token, self.installer)
        return {
            "ok": True,
            "app_id": APP_ID,
            "authed_user": {"id": self.installer},
            "scope": ",".join(self.scopes),
            "token_type": "bot",
            "access_token": token,
            "bot_user_id": BOT_USER_ID,
            "team": {"id": team, "name": name},
            "enterprise": None,
            "is_enterprise_install": False,
        }

    def _auth_test_of(self, token: str | None) -> JSONDict | None:
        """`auth.test` for a token an install issued (its workspace's ids), else None."""
        workspace = self._workspaces.get(token or "")
        if workspace is None:
            return None
        return {
            "ok": True,
            "url": f"https://{workspace.team_id.lower()}.slack.com/",
            "team": workspace.name,
            "user": "eon-bot",
            "team_id": workspace.team_id,
            "user_id": BOT_USER_ID,
            "bot_id": BOT_ID,
            "is_enterprise_install": False,
        }

    def _installed_token(self, token: str | None) -> bool:
        """Whether `token` came from an install; `token_revoked` if that workspace left."""
        workspace = self._workspaces.get(token or "")
        if workspace is None:
            return False
        if workspace.revoked:
            raise ApiError("token_revoked")
        return True


def basic_credentials(header: str) -> JSONDict:
    """client_id and client_secret from `Authorization: Basic …` (slack_sdk sends them so)."""
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return {}
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return {}
    client_id, colon, secret = decoded.partition(":")
    return {"client_id": client_id, "client_secret": secret} if colon and client_id else {}

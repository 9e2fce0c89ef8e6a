"""Which Slack client speaks for a workspace: one interface, `BotTokens`, two modes.

Every call to a channel (delivery's posts, card edits, charts, a bell's DM, the Home tab) is
made with the client of the workspace the row belongs to (its `team_id`), asked of `BotTokens`
at the moment of the call, so a workspace that left is never called with its old token.

- `OneWorkspace` (SLACK_BOT_TOKEN): the one client, for its one workspace. Everything a request
  or a row names belongs to it: Slack Connect and org installs need no rule here.
- the multi-workspace side (SLACK_CLIENT_ID/SECRET): one client per installed workspace, from
  the installation store; None for one that is gone (uninstalled, revoked).

The workspace key (`workspace_key`) is the team id, or the enterprise id (`E…`) of an
Enterprise Grid org-wide install, which stands for every workspace of the org.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from slack_sdk.web.async_client import AsyncWebClient


class BotTokens(Protocol):
    """The clients of the workspaces this deployment serves."""

    async def client(self, team_id: str) -> AsyncWebClient | None:
        """The client to call the workspace with; None when it is not installed (or left):
        the caller keeps its rows and calls nothing."""
        ...

    def teams(self) -> frozenset[str]:
        """The workspaces known to be served now (for counts and start-up; delivery does not
        filter by it: a workspace installed on another replica is served from its rows)."""
        ...

    def team_of(self, context: Mapping[str, Any]) -> str:
        """The workspace a request (bolt's context, or a payload's ids) belongs to."""
        ...

    def refused(self, team_id: str) -> bool:
        """Slack refused the workspace's token (`invalid_auth`, `token_revoked`, …). True:
        nothing can be delivered any more (the one token: delivery stops and /healthz says
        so); False: that workspace alone is set aside, the others go on."""
        ...


def workspace_key(
    team_id: str | None, enterprise_id: str | None = None, *, enterprise_install: bool = False
) -> str:
    """The workspace's key in the store: the enterprise id for an org-wide install, else the
    team id ('' when the request names none)."""
    if enterprise_install and enterprise_id:
        return enterprise_id
    return team_id or ""


def request_workspace(context: Mapping[str, Any]) -> str:
    """`workspace_key` of a bolt context (`team_id`, `enterprise_id`, `is_enterprise_install`),
    as bolt's authorize fills it from the request."""
    return workspace_key(
        _text(context.get("team_id")),
        _text(context.get("enterprise_id")),
        enterprise_install=bool(context.get("is_enterprise_install")),
    )


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


class OneWorkspace:
    """Single mode: the one bot token's client serves its one workspace, named by `auth.test`
    at start (`named`). Rows written before that (and rows from before v12) carry '' and are
    adopted by the store at start; until then '' is this workspace too."""

    def __init__(self, client: AsyncWebClient, team_id: str = "") -> None:
        self._client = client
        self.team_id = team_id

    def named(self, team_id: str) -> None:
        """The workspace `auth.test` says the token belongs to."""
        self.team_id = team_id

    @property
    def one(self) -> AsyncWebClient:
        """The one client (start-up's `auth.test`, bolt's app)."""
        return self._client

    async def client(self, team_id: str) -> AsyncWebClient | None:
        # A row of another workspace (the token was swapped for another workspace's) stays
        # where it is: this token may not speak there.
        return self._client if team_id in ("", self.team_id) else None

    def teams(self) -> frozenset[str]:
        return frozenset({self.team_id}) if self.team_id else frozenset()

    def team_of(self, context: Mapping[str, Any]) -> str:
        """Every request belongs to the one workspace (also a Slack Connect guest's)."""
        return self.team_id

    def refused(self, team_id: str) -> bool:
        return True  # the one token: nothing can be delivered with it any more

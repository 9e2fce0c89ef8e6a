"""Many workspaces' clients (`BotTokens`, `bot.slack.tokens`): one metered AsyncWebClient per
installed workspace, made from its sealed token the first time it is asked for and kept.

A workspace that leaves through this replica (`leave`, from `app_uninstalled` or
`tokens_revoked`) loses its client at once, and the store hands its token out no more; other
replicas drop theirs at their next `refresh` (every few seconds, `run`), and meanwhile Slack
itself refuses the revoked token, which `refused` turns into the same. A token Slack refused is
not asked for again until the workspace installs again (a new sealed token).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import SecretStr
from slack_bolt.async_app import AsyncApp
from slack_bolt.authorization.async_authorize import AsyncInstallationStoreAuthorize
from slack_bolt.oauth.async_oauth_flow import AsyncOAuthFlow
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse

from bot.conditions import Condition, Unexpected
from bot.fmt import one_line
from bot.keys import KeyRing
from bot.settings import Settings
from bot.slack.install import SealedInstallations, StoredStates, oauth_settings, token_box
from bot.slack.listeners import leaving
from bot.slack.tokens import request_workspace
from bot.store import Store, keep_doing

log = logging.getLogger(__name__)
OAUTH_TIMEOUT_S = 10


class Installed:
    def __init__(
        self,
        store: Store,
        installations: SealedInstallations,
        make_client: Callable[[SecretStr], AsyncWebClient],
        database: Condition | None = None,
    ) -> None:
        self._store = store
        self._database = database  # the database's one condition: an outage said once
        self._installations = installations
        self._make_client = make_client
        self._clients: dict[str, tuple[str, AsyncWebClient]] = {}  # team → (sealed, client)
        self._refused: dict[str, str] = {}  # team → the sealed token Slack refused
        self._known: frozenset[str] = frozenset()
        self._listeners: list[Callable[[str], None]] = []
        self._sealed: dict[str, str] = {}  # team → its sealed token, as the last refresh read it
        self._unexpected = Unexpected(log)

    async def client(self, team_id: str) -> AsyncWebClient | None:
        """The workspace's client; None if it is not installed, left, or its token was refused."""
        kept = self._clients.get(team_id)
        if kept is not None:
            return kept[1]
        row = await self._store.installation(team_id) if team_id else None
        if row is None or self._refused.get(team_id) == row.sealed_token:
            return None
        token = self._installations.open(row)
        if token is None:
            return None
        client = self._make_client(token)
        self._clients[team_id] = (row.sealed_token, client)
        self._known |= {team_id}
        return client

    def teams(self) -> frozenset[str]:
        return self._known | frozenset(self._clients)

    def team_of(self, context: Mapping[str, Any]) -> str:
        return request_workspace(context)

    def refused(self, team_id: str) -> bool:
        """Slack refused the workspace's token: that workspace alone is set aside."""
        kept = self._clients.pop(team_id, None)
        if kept is not None:
            self._refused[team_id] = kept[0]
            log.warning(
                "Slack refused the bot token of workspace %s: nothing is sent there until it "
                "installs the app again",
                team_id,
            )
        return False

    def on_change(self, listener: Callable[[str], None]) -> None:
        """`listener(team)` each time a workspace installs (again) or leaves through this
        replica, or is found installed (again) through another at a `refresh`: delivery looks
        at its channels at once."""
        self._listeners.append(listener)

    def drop(self, team_id: str) -> None:
        """Forget the workspace's client (it left, or installed again with a new token)."""
        self._clients.pop(team_id, None)
        self._refused.pop(team_id, None)
        self._tell(team_id)

    def _tell(self, team_id: str) -> None:
        for listener in self._listeners:
            listener(team_id)

    async def leave(self, team_id: str) -> bool:
        """The workspace left (`app_uninstalled`, `tokens_revoked`): no call with its token
        from now on, on this replica at once; its rows are kept for the grace period."""
        self._clients.pop(team_id, None)
        return await self._installations.leave(team_id)

    async def refresh(self) -> None:
        """Drop the clients of workspaces that left (or installed again) through another
        replica; learn the workspaces installed meanwhile (for `teams`; `on_change` is told of
        each); seal again under SECRET_KEY the tokens sealed under SECRET_KEY_PREVIOUS (their
        clients are made anew)."""
        installed = await self._store.installed_teams()
        await self._installations.reseal(installed)  # SECRET_KEY_PREVIOUS → SECRET_KEY
        for team, (sealed, _) in list(self._clients.items()):
            if installed.get(team) != sealed:
                self._clients.pop(team, None)
        self._refused = {t: s for t, s in self._refused.items() if installed.get(t) == s}
        self._known = frozenset(installed)
        arrived = [team for team, sealed in installed.items() if self._sealed.get(team) != sealed]
        self._sealed = installed
        for team in arrived:
            self._tell(team)

    async def run(self, every: float) -> None:
        """`refresh` every `every` seconds until cancelled; a failed read is logged, retried."""
        await keep_doing(every, self.refresh, "reading the installed workspaces",
                    database=self._database, unexpected=self._unexpected)  # fmt: skip


# slack_sdk logs every answer's body at DEBUG, and oauth.v2.access's holds the new bot token:
# the OAuth flow's client logs through this logger, never below INFO (slack_sdk asks the
# logger's own level, whatever LOG_LEVEL says).
_OAUTH_CLIENT_LOG = logging.getLogger("bot.slack.oauth_client")
_OAUTH_CLIENT_LOG.setLevel(logging.INFO)


class _OAuthClient(AsyncWebClient):
    """oauth.v2.access with the app's credentials as the method's documented arguments, not
    slack_sdk's Basic auth (built with aiohttp's `BasicAuth`, deprecated since aiohttp 3.14)."""

    async def oauth_v2_access(
        self, *, client_id: str, client_secret: str, **kwargs: Any
    ) -> AsyncSlackResponse:
        given = {k: v for k, v in kwargs.items() if v is not None}
        data = given | {"client_id": client_id, "client_secret": client_secret}
        return await self.api_call("oauth.v2.access", data=data)


class _NoCodes(logging.Filter):
    """bolt logs a refused code with the code in it; the failure page's line says enough."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "oauth.v2.access result with code" not in str(record.msg)


@dataclass
class ManyWorkspaces:
    """Everything "Add to Slack" adds to the bolt app: the OAuth flow, an authorize that
    resolves each request's token from the installations, and the leaving listeners."""

    installations: SealedInstallations
    tokens: Installed
    flow: AsyncOAuthFlow
    authorize: AsyncInstallationStoreAuthorize

    def bolt_options(self) -> dict[str, Any]:
        return {"oauth_flow": self.flow, "authorize": self.authorize}

    def register(self, bolt: AsyncApp) -> None:
        bolt.logger.addFilter(_NoCodes())
        self.flow.logger.addFilter(_NoCodes())
        leaving.register(bolt, self.tokens.leave)


def many_workspaces(
    settings: Settings,
    store: Store,
    make_client: Callable[[SecretStr], AsyncWebClient],
    *,
    now: Callable[[], datetime],
    keys: KeyRing | None = None,
    database: Condition | None = None,
) -> ManyWorkspaces:
    """With `keys`: the ring read again when a workspace installs or leaves through this
    replica (its stored keys read with, or no more); other replicas' rings at their refresh."""
    tokens: Installed | None = None

    async def changed(team: str) -> None:
        if tokens is not None:
            tokens.drop(team)
        if keys is not None:
            try:
                await keys.refresh()
            except Exception as error:  # the install or departure stands; read at the next
                log.warning(
                    "reading the stored Edge Impulse keys again failed: %s", one_line(str(error))
                )

    installations = SealedInstallations(store, token_box(settings), now=now, on_change=changed)
    tokens = Installed(store, installations, make_client, database)
    oauth_client = _OAuthClient(
        base_url=settings.slack_api_url, timeout=OAUTH_TIMEOUT_S, logger=_OAUTH_CLIENT_LOG
    )
    flow = AsyncOAuthFlow(
        client=oauth_client,
        logger=log,
        settings=oauth_settings(settings, installations, StoredStates(store, now=now)),
    )
    authorize = AsyncInstallationStoreAuthorize(
        logger=log,
        installation_store=installations,
        bot_only=True,
        cache_enabled=True,  # auth.test once per token, not per request
    )
    return ManyWorkspaces(installations, tokens, flow, authorize)

"""'Add to Slack': slack_sdk's installation and state store interfaces over eon-bot's own store,
and bolt's OAuth flow configured with them (`oauth_flow`).

slack_sdk ships SQLAlchemy stores, but they keep the bot tokens in clear, in tables of their
own. Here a token is sealed under SECRET_KEY (`bot.keys.KeyBox`, bound to its workspace as an
Edge Impulse key is to its project) before it reaches the database, and opened only when a
client or bolt's `authorize` asks for it. The workspace key is its team id, or its enterprise
id for an org-wide (Enterprise Grid) install, as `workspace_key` says.

A workspace that leaves (`app_uninstalled`, `tokens_revoked`: `bot.slack.listeners.leaving`) is
marked at once: its token is never handed out again. Its rows stay `GRACE` (a reinstall within
it finds everything as it was), then `forget_departed` deletes them.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urljoin

from pydantic import SecretStr
from slack_bolt.error import BoltError
from slack_bolt.oauth.async_oauth_settings import AsyncOAuthSettings
from slack_sdk.oauth.installation_store import Bot, Installation
from slack_sdk.oauth.installation_store.async_installation_store import AsyncInstallationStore
from slack_sdk.oauth.state_store.async_state_store import AsyncOAuthStateStore

from bot.keys import TOKEN_INFO, KeyBox, Unreadable
from bot.settings import Settings
from bot.slack.auth import REQUIRED_SCOPES
from bot.slack.install_pages import callback_options
from bot.slack.tokens import workspace_key
from bot.store import SealedInstallation, Store

log = logging.getLogger(__name__)

GRACE = timedelta(days=7)  # a workspace's rows outlive its leaving by this much
STATE_TTL_S = 600  # an install must finish within 10 minutes of /slack/install (bolt's default)
INSTALL_PATH = "/slack/install"
REDIRECT_PATH = "/slack/oauth_redirect"


def token_box(settings: Settings) -> KeyBox:
    """What seals the bot tokens: SECRET_KEY (and SECRET_KEY_PREVIOUS, to open older seals)."""
    if settings.secret_key is None:
        raise RuntimeError("no SECRET_KEY: bot tokens cannot be stored")
    return KeyBox(settings.secret_key, settings.secret_key_previous, info=TOKEN_INFO)


def authorize_url(api_url: str) -> str:
    """Slack's authorize page beside its Web API: https://slack.com/api/ → /oauth/v2/authorize
    (a stand-in's too, so the whole flow runs against it)."""
    return urljoin(api_url if api_url.endswith("/") else api_url + "/", "../oauth/v2/authorize")


class SealedInstallations(AsyncInstallationStore):
    """Bot installations only (eon-bot asks for no user token), sealed in eon-bot's store."""

    def __init__(
        self,
        store: Store,
        box: KeyBox,
        *,
        now: Callable[[], datetime],
        on_change: Callable[[str], Awaitable[None]] | None = None,
    ) -> None:
        self._store = store
        self._box = box
        self._now = now
        # A workspace installed (again) or left: its client dropped, its keys' use changed.
        self._on_change = on_change

    @property
    def logger(self) -> logging.Logger:
        return log

    async def async_save(self, installation: Installation) -> None:
        if installation.bot_token is None or installation.bot_user_id is None:
            raise BoltError("Slack granted no bot token")  # said by the failure page
        key = workspace_key(
            installation.team_id,
            installation.enterprise_id,
            enterprise_install=bool(installation.is_enterprise_install),
        )
        await self._store.put_installation(
            SealedInstallation(
                team_id=key,
                enterprise_id=installation.enterprise_id,
                team_name=installation.team_name,
                is_enterprise_install=bool(installation.is_enterprise_install),
                app_id=installation.app_id,
                bot_id=installation.bot_id,
                bot_user_id=installation.bot_user_id,
                scopes=",".join(installation.bot_scopes or []),
                installed_by=installation.user_id,
                installed_at=self._now(),
                sealed_token=self._box.seal(key, SecretStr(installation.bot_token)),
            )
        )
        log.info("installed in workspace %s (%s)", key, installation.team_name or "no name")
        await self._changed(key)

    async def async_find_bot(
        self,
        *,
        enterprise_id: str | None,
        team_id: str | None,
        is_enterprise_install: bool | None = False,
    ) -> Bot | None:
        key = workspace_key(team_id, enterprise_id, enterprise_install=bool(is_enterprise_install))
        row = await self._store.installation(key)
        if row is None:
            return None
        token = self.open(row)
        if token is None:
            return None
        return Bot(
            app_id=row.app_id,
            enterprise_id=row.enterprise_id,
            team_id=None if row.is_enterprise_install else row.team_id,
            team_name=row.team_name,
            bot_token=token.get_secret_value(),
            bot_id=row.bot_id or "",
            bot_user_id=row.bot_user_id,
            bot_scopes=row.scopes,
            is_enterprise_install=row.is_enterprise_install,
            installed_at=row.installed_at.timestamp(),
        )

    async def async_find_installation(
        self,
        *,
        enterprise_id: str | None,
        team_id: str | None,
        user_id: str | None = None,
        is_enterprise_install: bool | None = False,
    ) -> Installation | None:
        if user_id is not None:
            return None  # no user tokens are kept: bolt then uses the bot's
        org_wide = is_enterprise_install
        bot = await self.async_find_bot(
            enterprise_id=enterprise_id, team_id=team_id, is_enterprise_install=org_wide
        )
        if bot is None:
            return None
        return Installation(
            app_id=bot.app_id,
            enterprise_id=bot.enterprise_id,
            team_id=bot.team_id,
            team_name=bot.team_name,
            bot_token=bot.bot_token,
            bot_id=bot.bot_id,
            bot_user_id=bot.bot_user_id,
            bot_scopes=bot.bot_scopes,
            user_id="",
            is_enterprise_install=bot.is_enterprise_install,
            installed_at=bot.installed_at,
        )

    async def async_delete_bot(self, *, enterprise_id: str | None, team_id: str | None) -> None:
        await self.leave(workspace_key(team_id, enterprise_id, enterprise_install=team_id is None))

    async def async_delete_installation(
        self, *, enterprise_id: str | None, team_id: str | None, user_id: str | None = None
    ) -> None:
        if user_id is None:
            await self.async_delete_bot(enterprise_id=enterprise_id, team_id=team_id)

    async def _changed(self, key: str) -> None:
        if self._on_change is not None:
            await self._on_change(key)

    async def leave(self, key: str) -> bool:
        """The workspace left: no call with its token from now on; its rows wait `GRACE`."""
        left = await self._store.revoke_installation(key)
        await self._changed(key)
        if left:
            log.info("workspace %s left; its rows are deleted after %d days", key, GRACE.days)
        return left

    async def reseal(self, installed: dict[str, str], *, write: bool = True) -> list[str]:
        """The workspaces (of `installed`: key → sealed token) whose token is sealed under
        SECRET_KEY_PREVIOUS; with `write`, each is sealed again under SECRET_KEY instead (the
        first replica to write it wins) and not listed. `eon-bot check` only looks."""
        previous, resealed = [], 0
        for team, sealed in installed.items():
            try:
                again = self._box.reseal(team, sealed)
            except Unreadable:
                continue  # said when it is opened
            if again is not None and write:
                resealed += await self._store.reseal_installation(team, sealed, again)
            elif again is not None:
                previous.append(team)
        if resealed:
            log.info("re-sealed %d workspace bot token(s) under SECRET_KEY", resealed)
        return previous

    def open(self, row: SealedInstallation) -> SecretStr | None:
        """The row's token, or None (logged on one line) if it does not open under SECRET_KEY."""
        try:
            return self._box.open(row.team_id, row.sealed_token)
        except Unreadable:
            log.error(
                "the bot token of workspace %s cannot be decrypted: it was stored under another "
                "SECRET_KEY; set SECRET_KEY back, or install the app in that workspace again",
                row.team_id,
            )
            return None


class StoredStates(AsyncOAuthStateStore):
    """OAuth states in eon-bot's store, so any replica can finish an install another began."""

    def __init__(self, store: Store, *, now: Callable[[], datetime]) -> None:
        self._store = store
        self._now = now

    @property
    def logger(self) -> logging.Logger:
        return log

    async def async_issue(self, *args: Any, **kwargs: Any) -> str:
        state = secrets.token_urlsafe(32)
        await self._store.issue_state(state, self._now() + timedelta(seconds=STATE_TTL_S))
        return state

    async def async_consume(self, state: str) -> bool:
        return bool(state) and await self._store.consume_state(state, self._now())


def oauth_settings(
    settings: Settings, installations: SealedInstallations, states: StoredStates
) -> AsyncOAuthSettings:
    """bolt's OAuth flow: /slack/install redirects to Slack's authorize page (no page of its
    own), /slack/oauth_redirect finishes, answering with `bot.slack.install_pages`."""
    assert settings.slack_client_id is not None and settings.slack_client_secret is not None
    return AsyncOAuthSettings(
        client_id=settings.slack_client_id,
        client_secret=settings.slack_client_secret.get_secret_value(),
        scopes=list(REQUIRED_SCOPES),
        user_scopes=[],
        install_path=INSTALL_PATH,
        redirect_uri_path=REDIRECT_PATH,
        install_page_rendering_enabled=False,
        callback_options=callback_options(),
        authorization_url=authorize_url(settings.slack_api_url),
        installation_store=installations,
        installation_store_bot_only=True,
        state_store=states,
        state_expiration_seconds=STATE_TTL_S,
        logger=log,
    )


async def forget_departed(store: Store, now: datetime) -> list[str]:
    """Delete the workspaces whose grace period is over (`GRACE` after they left)."""
    cutoff = now - GRACE
    gone = await store.departed(cutoff)
    forgotten = [team for team in gone if await store.forget_installation(team, cutoff)]
    if forgotten:
        log.info("deleted %d workspace(s) that left over %d days ago", len(forgotten), GRACE.days)
    return forgotten

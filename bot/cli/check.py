"""`eon-bot check [PROJECT_ID…]`: is this deployment set up right? One ✓/✗ line per check, with
the fix under each ✗; exit 0 only if every check passes.

It reads the settings as `run` does (environment and `.env`) and uses `run`'s own parts
(`slack_client`, `tuner_client`, `Store.open`, `auth_test`), so a pass means `run` gets as far:
Slack accepts the bot token and granted the scopes the features need (`x-oauth-scopes`), Slack
accepts the app token (Socket Mode), the database opens, and each watched or named project's
tuner state can be fetched with its key (whose source each line names: stored with `/eon key`,
the environment's `EI_API_KEY_<id>`, or the default `EI_API_KEY`; never the key), and the keys
stored with `/eon key` open under `SECRET_KEY`, and some Edge Impulse key is set. Nothing is
posted and nothing is written but an existing database's schema, which `run` would upgrade too;
a SQLite file that does not exist is not created (it would land in the working folder).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.clock import utcnow
from bot.errors import (
    AppTokenRefused,
    BotTokenRefused,
    ConfigError,
    EonBotError,
    InvalidProjectId,
    MissingApiKey,
    NotEdgeImpulse,
    StoredKeyUnreadable,
    TunerAuthError,
    TunerNotFound,
    TunerUnavailable,
)
from bot.fmt import one_line
from bot.keys import KeyRing
from bot.keys.ring import unreadable_line
from bot.service.edges import slack_client, tuner_client
from bot.settings import Settings, load_settings
from bot.slack.auth import (
    REQUIRED_SCOPES,
    SlackUnavailable,
    auth_test,
    is_refusal,
)
from bot.slack.install import GRACE, SealedInstallations, token_box
from bot.store import Store, parse_url
from bot.tuner.client import TunerClient, default_transport, project_id_from

OK, FAILED = 0, 1
PASS, FAIL = "✓", "✗"
_NAME_WIDTH = 17


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""


def lines(checks: Sequence[Check]) -> list[str]:
    """The table: `✓ name  detail`, and `fix: …` under each ✗."""
    out: list[str] = []
    for check in checks:
        out.append(f"{PASS if check.ok else FAIL} {check.name.ljust(_NAME_WIDTH)} {check.detail}")
        if not check.ok and check.fix:
            out.append(f"  {' ' * _NAME_WIDTH} fix: {check.fix}")
    return out


async def check(
    project_ids: Sequence[str],
    *,
    settings: Settings | None = None,
    out: TextIO | None = None,
) -> int:
    out = out if out is not None else sys.stdout
    print(f"eon-bot check: settings from the {_source()}", file=out)
    try:
        settings = settings if settings is not None else load_settings()
    except ConfigError as error:
        fix = "correct it in the environment or .env (see `eon-bot run --help`)"
        print("\n".join(lines([Check("settings", False, str(error), fix)])), file=out)
        return FAILED
    token, *slack = await _slack(settings)  # the bot token first: nothing works without it
    checks = [Check("settings", True, "read"), token, _mode(settings), *slack]
    store_check, watched, keys, workspaces = await _database(settings)
    checks.append(store_check)
    if workspaces is not None:
        checks.append(workspaces[0])
    checks.append(_secret_key(settings, keys, workspaces[1] if workspaces else []))
    checks.append(_ei_key(settings, keys))
    checks += await _projects(settings, [*project_ids, *watched], keys)
    print("\n".join(lines(checks)), file=out)
    return OK if all(c.ok for c in checks) else FAILED


def _source() -> str:
    env_file = Path(".env")
    return f"environment and {env_file.resolve()}" if env_file.exists() else "environment"


def _mode(settings: Settings) -> Check:
    if settings.slack_app_token is not None:
        return Check("Slack mode", True, "Socket Mode (SLACK_APP_TOKEN is set)")
    if settings.slack_signing_secret is not None:
        return Check("Slack mode", True, f"HTTP: Slack posts to :{settings.port}/slack/events")
    return Check(
        "Slack mode",
        False,
        "neither SLACK_SIGNING_SECRET (HTTP) nor SLACK_APP_TOKEN (Socket Mode) is set",
        "set SLACK_SIGNING_SECRET (Basic Information → Signing Secret), or SLACK_APP_TOKEN",
    )


async def _slack(settings: Settings) -> list[Check]:
    if settings.many_workspaces:
        return [_app_credentials(settings)]
    try:
        slack = slack_client(settings)
    except ConfigError as error:
        fix = "set SLACK_BOT_TOKEN to the Bot User OAuth Token (OAuth & Permissions)"
        return [Check("SLACK_BOT_TOKEN", False, str(error), fix)]
    try:
        identity = await auth_test(slack)
    except BotTokenRefused as error:
        fix = "copy the Bot User OAuth Token (xoxb-…) again; reinstall the app if it was revoked"
        return [Check("SLACK_BOT_TOKEN", False, str(error), fix)]
    except SlackUnavailable as error:
        fix = (
            f"check SLACK_API_URL ({settings.slack_api_url}) and the network, then run check again"
        )
        return [Check("SLACK_BOT_TOKEN", False, f"Slack did not answer: {error.reason}", fix)]
    checks = [Check("SLACK_BOT_TOKEN", True, f"Slack knows the bot as {identity.user_id}")]
    checks.append(_scopes(identity.scopes))
    if settings.slack_app_token is not None:
        checks.append(await _app_token(slack, settings.slack_app_token.get_secret_value()))
    return checks


def _app_credentials(settings: Settings) -> Check:
    """Many workspaces: each brings its own token ("Add to Slack"); the app's credentials are
    first used by an install (oauth.v2.access), which `check` cannot make."""
    lacking = [name for name, value in (("SLACK_CLIENT_ID", settings.slack_client_id),
               ("SLACK_CLIENT_SECRET", settings.slack_client_secret)) if value is None]  # fmt: skip
    if lacking:
        fix = "copy both from the app's Basic Information → App Credentials"
        return Check("Slack app", False, f"{' and '.join(lacking)} not set", fix)
    detail = f"many workspaces (SLACK_CLIENT_ID {settings.slack_client_id}), each installs at "
    return Check("Slack app", True, detail + "https://YOUR-HOST/slack/install")


def _workspaces(installed: int, left: int) -> Check:
    """How many workspaces this deployment serves (many-workspace mode)."""
    gone = f"; {left} left, deleted {GRACE.days} days after" if left else ""
    if not installed:
        return Check("workspaces", True, f"none installed yet: open /slack/install{gone}")
    return Check("workspaces", True, f"{installed} installed{gone}")


async def _counted(settings: Settings, store: Store) -> tuple[Check, list[str]] | None:
    """The workspaces' line, and those whose token is still sealed under SECRET_KEY_PREVIOUS
    (read as `run` reads them, nothing written)."""
    if not settings.many_workspaces:
        return None
    tokens = await store.installed_teams()
    previous = []
    if settings.secret_key is not None:
        sealed = SealedInstallations(store, token_box(settings), now=utcnow)
        previous = await sealed.reseal(tokens, write=False)
    return _workspaces(*await store.workspace_counts()), previous


def _scopes(granted: frozenset[str] | None) -> Check:
    reinstall = (
        "add them under OAuth & Permissions → Scopes (or re-create the app from "
        "`eon-bot manifest`), then reinstall the app to the workspace"
    )
    if granted is None:
        return Check("Slack scopes", False, "Slack's answer named no scopes", reinstall)
    missing = [scope for scope in REQUIRED_SCOPES if scope not in granted]
    if not missing:
        return Check("Slack scopes", True, f"all {len(REQUIRED_SCOPES)} the bot needs")
    needs = "; ".join(f"{scope} ({REQUIRED_SCOPES[scope]})" for scope in missing)
    return Check("Slack scopes", False, f"missing {needs}", reinstall)


async def _app_token(slack: AsyncWebClient, app_token: str) -> Check:
    fix = "an app-level token (xapp-…) with connections:write: Basic Information → App-Level Tokens"
    try:
        await slack.apps_connections_open(app_token=app_token)
    except SlackApiError as error:
        code = str(error.response.get("error", ""))
        if is_refusal(code):
            return Check("SLACK_APP_TOKEN", False, str(AppTokenRefused(code)), fix)
        return Check("SLACK_APP_TOKEN", False, f"Slack answered {code}", "try again later")
    except Exception as error:
        reason = one_line(f"{type(error).__name__}: {error}", 160)
        return Check("SLACK_APP_TOKEN", False, f"Slack did not answer: {reason}", "try again")
    return Check("SLACK_APP_TOKEN", True, "Slack opens Socket Mode connections for it")


def _ei_key(settings: Settings, keys: KeyRing | None) -> Check:
    """Some Edge Impulse key to poll with: EI_API_KEY, a project's own, or one stored."""
    if settings.ei_api_key is not None:
        return Check("EI_API_KEY", True, "set (the default Edge Impulse key)")
    own = len(settings.project_keys) + (len(keys.stored_projects) if keys is not None else 0)
    if own:
        return Check("EI_API_KEY", True, f"not set; {own} project(s) have a key of their own")
    return Check(
        "EI_API_KEY",
        False,
        "not set, and no project has a key (EI_API_KEY_<id>, /eon key): no project can be polled",
        "set EI_API_KEY to an API key from Studio → Dashboard → Keys, in the environment or .env",
    )


async def _database(
    settings: Settings,
) -> tuple[Check, list[str], KeyRing | None, tuple[Check, list[str]] | None]:
    """The database's check, the watched projects, and the stored keys read as `run` reads them.
    A SQLite file that does not exist yet is not created (`run` does that): its folder must
    let `run` write it, and nothing is watched yet."""
    fix = "set DATABASE_URL to sqlite:///path.db or a reachable postgresql://… database"
    try:
        sqlite_path = parse_url(settings.database_url).sqlite_path
    except ConfigError as error:
        return Check("database", False, str(error), fix), [], None, None
    if sqlite_path is not None and not sqlite_path.exists():
        folder = sqlite_path.parent.resolve()
        if not os.access(folder, os.W_OK):
            fix = f"make {folder} writable, or set DATABASE_URL to a path that is"
            failed = Check("database", False, f"cannot create {sqlite_path} there", fix)
            return failed, [], None, None
        detail = f"{sqlite_path} does not exist yet; `eon-bot run` creates it"
        none: tuple[Check, list[str]] | None = None
        if settings.many_workspaces:
            none = (_workspaces(0, 0), [])
        return Check("database", True, detail), [], None, none
    try:
        store = await Store.open(settings.database_url)
    except ConfigError as error:
        return Check("database", False, str(error), fix), [], None, None
    try:
        watched = await store.watched_projects()
        keys = KeyRing(settings, store)
        await keys.refresh(say=False, reseal=False)  # check looks; `run` re-seals
        workspaces = await _counted(settings, store)
    finally:
        await store.close()
    detail = f"opened; {len(watched)} project(s) watched"
    return Check("database", True, detail), watched, keys, workspaces


def _secret_key(settings: Settings, keys: KeyRing | None, tokens: Sequence[str] = ()) -> Check:
    """`keys` None: no database to read them from (none yet, or it would not open); `tokens`:
    the workspaces whose bot token is still sealed under SECRET_KEY_PREVIOUS."""
    stored = len(keys.stored_projects) if keys is not None else 0
    if keys is not None and keys.unreadable:
        # Only the secret they were sealed with opens them: a new one would not (no howto).
        fix = (
            "set SECRET_KEY to the one the keys were stored with (a new secret does not open "
            "them; set the new one with the old as SECRET_KEY_PREVIOUS to rotate), or add them "
            "again with /eon key PROJECT_ID"
        )
        secret_set = settings.secret_key is not None
        line = unreadable_line(sorted(keys.unreadable), secret_key_set=secret_set,
                               rotating=settings.secret_key_previous is not None)  # fmt: skip
        line = line.partition("; their projects")[0] + _still_previous(keys)
        return Check("SECRET_KEY", False, line, fix)
    if settings.secret_key is None:
        return Check(
            "SECRET_KEY", True, "not set: keys come from the environment only (/eon key is off)"
        )
    if settings.secret_key_previous is None:
        return Check("SECRET_KEY", True, f"set; {stored} stored key(s) open with it")
    if keys is not None and keys.previous:
        return Check("SECRET_KEY", True, f"set; {stored} stored key(s) open{_still_previous(keys)}")
    if tokens:
        return Check("SECRET_KEY", True, f"set; {len(tokens)} workspace bot token(s) still "
                     "sealed under SECRET_KEY_PREVIOUS (`eon-bot run` re-seals them)")  # fmt: skip
    return Check(
        "SECRET_KEY", True, f"set; {stored} stored key(s) open with it, none is left under "
        "SECRET_KEY_PREVIOUS: it can be removed",
    )  # fmt: skip


def _still_previous(keys: KeyRing) -> str:
    """How many stored keys are still sealed under the previous secret, if any."""
    if not keys.previous:
        return ""
    return (
        f"; {len(keys.previous)} still sealed under SECRET_KEY_PREVIOUS (`eon-bot run` "
        "re-seals them under SECRET_KEY)"
    )


async def _projects(
    settings: Settings, project_ids: Sequence[str], keys: KeyRing | None = None
) -> list[Check]:
    if not project_ids:
        return [Check("Edge Impulse", True, "no project watched or named (eon-bot check 12345)")]
    checks: list[Check] = []
    async with AsyncExitStack() as stack:
        transport = await stack.enter_async_context(default_transport())
        tuner = tuner_client(settings, transport, keys.api_key_for if keys else None)
        for raw in dict.fromkeys(project_ids):  # once each, in order
            checks.append(await _project(tuner, raw, keys, settings))
    return checks


async def _project(tuner: TunerClient, raw: str, keys: KeyRing | None, settings: Settings) -> Check:
    """One project's tuner state read with its key; the line names the key's source (without
    a database, the environment's: its own EI_API_KEY_<id>, else the default)."""
    name = f"project {one_line(raw, 20)}"
    try:
        project_id = project_id_from(raw)
    except EonBotError as error:
        return Check(name, False, str(error), _fix(error))
    if keys is not None:
        which = keys.poll_source(project_id)
    else:
        which = "environment" if project_id in settings.project_keys else "default"
    source = f" (key: {_SOURCES[which]})"
    try:
        state = await tuner.get_state(project_id)
    except EonBotError as error:
        return Check(name, False, f"{error}{source}", _fix(error))
    return Check(name, True, f"tuner state read ({len(state.trials)} trial(s)){source}")


_SOURCES = {
    "stored": "stored (/eon key)",
    "environment": "environment (EI_API_KEY_<id>)",
    "default": "default (EI_API_KEY)",
    "unreadable": "stored, unreadable",
    "none": "none",
}


def _fix(error: EonBotError) -> str:
    if isinstance(error, InvalidProjectId):
        return "use the number in the project's Studio URL"
    if isinstance(error, StoredKeyUnreadable):
        return "set SECRET_KEY to the one the key was stored with, or add it again with /eon key"
    if isinstance(error, MissingApiKey | TunerAuthError):
        return (
            "add the project's key with /eon key PROJECT_ID, or set EI_API_KEY (or "
            "EI_API_KEY_<id>) to a key from Studio → Dashboard → Keys"
        )
    if isinstance(error, NotEdgeImpulse):
        return "set EI_API_URL to https://studio.edgeimpulse.com/v1 (or unset it)"
    if isinstance(error, TunerNotFound):
        return "check the id, and that the key is this project's"
    if isinstance(error, TunerUnavailable):
        return "check EI_API_URL and the network, then run `eon-bot check` again"
    return "check EI_API_URL: it should be Edge Impulse's API"

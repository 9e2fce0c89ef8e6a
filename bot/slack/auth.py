"""What Slack says about the bot's tokens, asked before the bot claims to be listening.

`is_refusal` is the one rule for "this token will never work" (both tokens use it): Slack's
error codes about the token itself. Any other failure (unreachable, 5xx, `ratelimited`,
`internal_error`, an answer that is not Slack's) may pass, so start-up waits and asks again.

`auth_test` asks once; `verify_bot_token` asks until Slack answers, for `eon-bot run`.
The granted scopes come from the `x-oauth-scopes` header Slack puts on every Web API answer.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.conditions import Condition
from bot.errors import BotTokenRefused, SlackAuthError
from bot.fmt import one_line
from bot.retry import Backoff
from bot.slack.tokens import workspace_key

log = logging.getLogger(__name__)

# Slack's answers that are about the token, not the moment (api.slack.com/methods/auth.test
# and apps.connections.open, "Errors"); asking again gets the same answer. A dead token
# (`SlackAuthError.CODES`, which also stops delivery) is one; the rest say the token is of the
# wrong kind or lacks a grant.
REFUSALS = SlackAuthError.CODES | frozenset(
    {
        "not_allowed_token_type",
        "no_permission",
        "missing_scope",
        "org_login_required",
        "ekm_access_denied",
        "team_access_not_granted",
        "two_factor_setup_required",
    }
)
# The bot token's scopes each feature needs (the manifests in bot/config declare these).
REQUIRED_SCOPES: dict[str, str] = {
    "commands": "/eon",
    "chat:write": "posting notifications and editing the run card",
    "chat:write.public": "posting in public channels the bot was not invited to",
    "channels:history": "finding an interrupted post before posting it again (public channels)",
    "groups:history": "finding an interrupted post before posting it again (private channels)",
    "channels:read": "member_joined_channel in public channels",
    "groups:read": "member_joined_channel in private channels",
    "files:write": "uploading the run's chart into the card's thread",
    "users:read": "/eon key with ADMIN_USER_IDS empty (telling workspace admins by users.info)",
    "im:write": "a run's end by direct message to who asked (the card's 🔔 button)",
}
RETRY = Backoff(initial=1.0, cap=15.0)  # 1, 2, 4, 8 s, then every 15 s


def is_refusal(error: str) -> bool:
    return error in REFUSALS


class SlackUnavailable(Exception):
    """Slack did not give a clear answer this time; `reason` is one line, without the token."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


@dataclass(frozen=True, slots=True)
class Identity:
    team: str
    user_id: str
    scopes: frozenset[str] | None
    """From `x-oauth-scopes`; `None` when the answer had no such header."""
    team_id: str = ""  # the workspace key (`bot.slack.tokens.workspace_key`)


async def auth_test(slack: AsyncWebClient) -> Identity:
    """One `auth.test`: the bot's identity, `BotTokenRefused`, or `SlackUnavailable`."""
    try:
        response = await slack.auth_test()
    except SlackApiError as error:
        code = str(error.response.get("error", "")) if error.response is not None else ""
        if is_refusal(code):
            raise BotTokenRefused(code) from None
        status = error.response.status_code if error.response is not None else "?"
        raise SlackUnavailable(f"{code or 'no error code'}, HTTP {status}") from None
    except Exception as error:  # aiohttp's ClientError, timeouts, an answer that is not JSON
        raise SlackUnavailable(_reason(error)) from None
    header = response.headers.get("x-oauth-scopes") if response.headers else None
    scopes = None if header is None else frozenset(s.strip() for s in header.split(",") if s)
    return Identity(
        team=str(response.get("team", "")),
        user_id=str(response.get("user_id", "")),
        scopes=scopes,
        team_id=workspace_key(
            str(response.get("team_id") or ""),
            str(response.get("enterprise_id") or ""),
            enterprise_install=bool(response.get("is_enterprise_install")),
        ),
    )


async def verify_bot_token(
    slack: AsyncWebClient,
    *,
    condition: Condition | None = None,
    backoff: Backoff = RETRY,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> Identity:
    """`auth_test` until Slack answers: a refusal is raised at once; a passing failure is
    asked again (for ever: a service waits for Slack to come back; SIGTERM cancels the wait),
    told as one condition (`condition`, `slack_condition`'s by default): one line when Slack
    cannot be reached, at most one summary a minute, one line when it answers."""
    condition = condition if condition is not None else slack_condition()
    attempt = 0
    while True:
        try:
            identity = await auth_test(slack)
        except SlackUnavailable as error:
            attempt += 1
            condition.failed(f"auth.test at {slack.base_url}", error.reason)
            await sleep(backoff.delay(attempt))
            continue
        condition.ok()
        return identity


def slack_condition() -> Condition:
    """Slack at start-up, as one condition of the log."""
    return Condition(
        log,
        "Slack",
        "check SLACK_API_URL and the network; eon-bot keeps asking and serves /healthz (503) "
        "meanwhile",
    )


def _reason(error: BaseException) -> str:
    said = one_line(str(error), 160)
    return f"{type(error).__name__}: {said}" if said else type(error).__name__

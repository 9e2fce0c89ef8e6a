"""The page /slack/oauth_redirect answers with: that the install worked, or what failed and
what to do, in one line (and the same line in the log, without the code or the state)."""

from __future__ import annotations

import html
import logging
from collections.abc import Sequence

from slack_bolt.oauth.async_callback_options import (
    AsyncCallbackOptions,
    AsyncFailureArgs,
    AsyncSuccessArgs,
)
from slack_bolt.response import BoltResponse

log = logging.getLogger(__name__)

# bolt's failure reasons (slack_bolt.oauth.async_oauth_flow) and Slack's `error` parameter,
# each as what happened and what to do; anything else is FAILED.
FAILURES: dict[str, str] = {
    "access_denied": "The install was cancelled in Slack: nothing was installed.",
    "invalid_browser": (
        "This install was not started from this browser (or its cookie expired): "
        "start again from /slack/install."
    ),
    "invalid_state": (
        "This install link is not valid (expired after 10 minutes, used already, or forged): "
        "start again from /slack/install."
    ),
    "missing_code": "Slack sent no authorization code: start again from /slack/install.",
    "invalid_code": (
        "Slack refused the authorization code (expired, used already, or SLACK_CLIENT_ID / "
        "SLACK_CLIENT_SECRET do not match the app): start again from /slack/install."
    ),
    "storage_error": "The install could not be stored: see eon-bot's log, then try again.",
}
FAILED = "The install did not finish: start again from /slack/install."


def page(line: str, status: int, cookie: str | None = None) -> BoltResponse:
    body = (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>eon-bot</title></head>"
        f"<body><p>{html.escape(line)}</p></body></html>"
    )
    headers: dict[str, str | Sequence[str]] = {"Content-Type": "text/html; charset=utf-8"}
    if cookie is not None:
        headers["Set-Cookie"] = [cookie]
    return BoltResponse(status=status, body=body, headers=headers)


def installed_line(team_name: str | None) -> str:
    where = f"the {team_name} workspace" if team_name else "your workspace"
    return (
        f"eon-bot is installed in {where}. In a channel, type /eon help, then "
        "/eon watch PROJECT_ID."
    )


def failed_line(reason: str) -> str:
    return FAILURES.get(reason, FAILED)


async def _success(args: AsyncSuccessArgs) -> BoltResponse:
    cookie = args.settings.state_utils.build_set_cookie_for_deletion()
    return page(installed_line(args.installation.team_name), 200, cookie)


async def _failure(args: AsyncFailureArgs) -> BoltResponse:
    line = failed_line(args.reason)
    known = args.reason if args.reason in FAILURES else "other"
    cause = f" ({type(args.error).__name__})" if args.error is not None else ""
    log.warning("an install failed: %s%s: %s", known, cause, line)
    cookie = args.settings.state_utils.build_set_cookie_for_deletion()
    return page(line, args.suggested_status_code, cookie)


def callback_options() -> AsyncCallbackOptions:
    return AsyncCallbackOptions(success=_success, failure=_failure)

"""Who may add or remove Edge Impulse keys: the users in `ADMIN_USER_IDS`; when it is empty,
the workspace's admins and owners as Slack's `users.info` says (`is_admin`/`is_owner`), never
everyone, since a key opens a project's data (and, for an admin key, its jobs).

`users.info` is asked within `ADMIN_CHECK_TIMEOUT_S`: the answer to the command or the click
that asks waits on it, and Slack gives that 3 s. No answer in time is a refusal, said as such.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Final

from slack_sdk.web.async_client import AsyncWebClient

from bot.settings import Settings

log = logging.getLogger(__name__)

ADMIN_CHECK_TIMEOUT_S: Final = 1.0


async def key_refusal(slack: AsyncWebClient, settings: Settings, user_id: str) -> str | None:
    """None if `user_id` may manage keys; else one line saying why not and whom to ask."""
    admins = settings.admin_user_ids
    if admins:
        if user_id in admins:
            return None
        ask = ", ".join(f"<@{admin}>" for admin in sorted(admins)[:5])
        return (
            "⛔ Only eon-bot admins (ADMIN_USER_IDS) can add or remove Edge Impulse keys; "
            f"ask {ask}."
        )
    try:
        async with asyncio.timeout(ADMIN_CHECK_TIMEOUT_S):
            answer = await slack.users_info(user=user_id)
    except Exception as error:  # SlackApiError, a timeout, the network
        log.warning("users.info for %s failed: %s", user_id, type(error).__name__)
        return (
            "⚠ Slack did not say whether you are a workspace admin (users.info failed), "
            "so no key can be changed now. Try again."
        )
    user = answer.get("user") or {}
    if user.get("is_admin") or user.get("is_owner"):
        return None
    return (
        "⛔ Only workspace admins and owners can add or remove Edge Impulse keys "
        "(ADMIN_USER_IDS is empty); ask one of them."
    )

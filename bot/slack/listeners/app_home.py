"""`app_home_opened`: publish the Home tab (`views.publish`) for the user who opened it,
answered from the store alone (never Edge Impulse), each time it is opened, so it is fresh.
What it shows: `home_view`."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.async_context import AsyncBoltContext
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.core.digest import at_text
from bot.settings import is_user_id
from bot.slack.delivery.stops import stops_of
from bot.slack.key_admins import key_refusal
from bot.slack.listeners.deps import Deps, SubscriptionView
from bot.slack.listeners.home_view import HomeProject, home_view

log = logging.getLogger(__name__)


async def home_projects(deps: Deps, *, admin: bool = False, user_id: str = "") -> list[HomeProject]:
    """Every watched project, as the Home tab shows it to `user_id`, in eight reads of the
    store: with its channels' alerts and digests, and the ends that user awaits by DM; an
    admin also sees each stored key masked (`ei_…abcd`), to tell which one is in use."""
    store, team = deps.store, deps.team
    by_project: dict[str, list[SubscriptionView]] = {}
    for sub in await store.subscriptions(team):
        by_project.setdefault(sub.project_id, []).append(sub)
    pids = list(by_project)
    summaries = await store.summaries(pids)
    failing = await store.failing(pids)
    names = await store.project_names(pids)
    stops = await stops_of(store, team, list(summaries.values()))
    alerts: dict[str, list[tuple[str, str]]] = {}
    for alert in await store.alerts(team):
        alerts.setdefault(alert.project_id, []).append((alert.channel_id, alert.rule))
    digests = {c: at_text(m) for c, m in (await store.digest_times(team)).items()}
    bells: dict[str, list[str]] = {}
    for project_id, run_id in await store.bells_waiting(team, user_id) if user_id else ():
        bells.setdefault(project_id, []).append(run_id)
    projects = []
    for pid in pids:
        row = deps.keys.row(deps.team, pid) if deps.keys is not None else None
        projects.append(
            HomeProject(
                project_id=pid,
                subscriptions=by_project[pid],
                summary=summaries.get(pid),
                stop=stops.get(pid),
                alerts=alerts.get(pid, ()),
                digests=digests,
                bells=bells.get(pid, ()),
                name=names.get(pid),
                failing=failing.get(pid),
                key_source=deps.keys.source(deps.team, pid) if deps.keys is not None else "none",
                key_added_by=row.added_by if row is not None else None,
                key_added_at=row.updated_at if row is not None else None,
                key_role=row.role if row is not None else None,
                key_mask=deps.keys.masked(deps.team, pid)
                if admin and deps.keys is not None
                else None,
            )
        )
    return projects


async def home_for(user_id: str, slack: AsyncWebClient, deps: Deps) -> dict[str, Any]:
    keys_enabled = deps.keys is not None and deps.keys.box is not None
    admin = keys_enabled and await key_refusal(slack, deps.settings, user_id) is None
    projects = await home_projects(deps, admin=admin, user_id=user_id)
    return home_view(projects, admin=admin, keys_enabled=keys_enabled)


def register(app: AsyncApp, deps: Deps) -> None:
    @app.event("app_home_opened")
    async def on_home_opened(
        event: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext
    ) -> None:
        if event.get("tab", "home") != "home":
            return  # the Messages tab
        user_id = str(event.get("user") or "")
        if not is_user_id(user_id):
            log.info("app_home_opened without a user id: no Home tab to publish")
            return
        try:
            view = await home_for(user_id, client, deps.of(context))
            await client.views_publish(user_id=user_id, view=view)
        except SlackApiError as error:  # Slack's answer says why: one line, not a traceback
            code = error.response.get("error") if error.response is not None else None
            log.warning("publishing the Home tab for %s failed: %s", user_id, code)
        except Exception:
            log.exception("publishing the Home tab for %s failed", user_id)

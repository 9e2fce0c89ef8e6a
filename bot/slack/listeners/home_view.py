"""The App Home tab (pure: values in, a `home` view out): every project the workspace watches,
with its channels and modes, its run's state, progress and best trial, a Studio link, where its
Edge Impulse key comes from, the channels paused and why, each channel's alerts and digest, and
the run ends the viewer awaits by direct message; for admins a button per project
that opens the `/eon key` form. Slack caps a Home view at 100 blocks: past `HOME_PROJECTS`
projects, the rest are counted, not shown.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from bot.core.run_name import PROJECT_NAME_CHARS
from bot.core.summary import RunSummary, studio_page
from bot.fmt import one_line
from bot.keys import KeySource
from bot.slack.listeners.deps import SubscriptionView
from bot.slack.listeners.eon_answers import PAUSE_HINTS, mode_words, shown
from bot.slack.render import best_text, clip, escape, progress_text, state_text
from bot.slack.render.actions import Stop
from bot.slack.render.key_form import OPEN_KEY_FORM_ACTION

HOME_PROJECTS: Final = 40  # two blocks each, within Slack's 100 per view
SECTION_CHARS: Final = 3000


@dataclass(frozen=True, slots=True)
class HomeProject:
    project_id: str
    subscriptions: Sequence[SubscriptionView]
    summary: RunSummary | None  # None: not polled yet
    failing: str | None  # the last error while polls fail
    key_source: KeySource
    key_added_by: str | None = None
    key_added_at: datetime | None = None
    key_role: str | None = None
    key_mask: str | None = None  # `ei_…abcd`, for admins only
    name: str | None = None  # Edge Impulse's name of the project (`bot.service.names`)
    stop: Stop | None = None  # who stopped its run from Slack (`bot.slack.delivery.stops`)
    alerts: Sequence[tuple[str, str]] = ()  # (channel, rule) of each `/eon alert`
    digests: Mapping[str, str] = field(default_factory=dict)  # channel → its digest's "09:00"
    bells: Sequence[str] = ()  # the runs whose end the viewer awaits by DM (their run ids)


def _channel(channel_id: str) -> str:
    return f"<#{channel_id}>" if channel_id.isalnum() else escape(one_line(channel_id, 30))


def _key_words(project: HomeProject) -> str:
    pid = project.project_id
    match project.key_source:
        case "stored":
            by = f" by <@{project.key_added_by}>" if project.key_added_by else ""
            when = f" on {project.key_added_at:%Y-%m-%d}" if project.key_added_at else ""
            role = f", role {escape(one_line(project.key_role, 20))}" if project.key_role else ""
            shown = f" (`{project.key_mask}`)" if project.key_mask else ""
            return f"🔑 Key: stored with `/eon key`{shown}{by}{when}{role}"
        case "environment":
            return f"🔑 Key: from the environment (EI_API_KEY_{pid})"
        case "default":
            return "🔑 Key: the default key from the environment (EI_API_KEY)"
        case "unreadable":
            return "⚠ Key: stored, but it cannot be decrypted with this SECRET_KEY"
        case _:
            return f"⚠ Key: none — an admin can add one with `/eon key {pid}`"


def _run_words(project: HomeProject) -> list[str]:
    summary = project.summary
    if project.failing is not None:
        return [f"⚠ *Unreachable*: {escape(one_line(project.failing, 300))}"]
    if summary is None:
        return ["⏳ Not polled yet"]
    if summary.never_ran:
        return ["💤 *No run yet*"]
    return [f"{state_text(summary, project.stop)} · {progress_text(summary)}", best_text(summary)]


def _channel_words(project: HomeProject) -> list[str]:
    subs, digests = project.subscriptions, project.digests
    watched = ", ".join(
        f"{_channel(s.channel_id)} ({mode_words(s.mode)}"
        + (f"; 🗞 digest at {digests[s.channel_id]})" if s.channel_id in digests else ")")
        for s in subs
    )
    lines = [f"Channels: {watched}"]
    for channel_id, rule in project.alerts:
        lines.append(f"🎯 Alert in {_channel(channel_id)}: {shown(rule)}")
    for sub in subs:
        if sub.paused_reason:
            reason = escape(one_line(sub.paused_reason, 40))
            hint = PAUSE_HINTS.get(sub.paused_reason, "fix it")
            lines.append(f"⏸ Paused in {_channel(sub.channel_id)}: {reason} — {hint}")
    return lines


def _bell_words(project: HomeProject) -> list[str]:
    """The viewer's own "🔔 tell me when it ends" requests on the project, not yet told."""
    summary = project.summary
    return [
        "🔔 You will get a direct message when "
        + escape(
            summary.display_name if summary is not None and summary.run_id == run else f"run {run}"
        )
        + " ends"
        for run in project.bells
    ]


def _title(project: HomeProject) -> str:
    """ "*Keyword spotting* (project 42)", or "*Project 42*" while its name is unknown."""
    pid = escape(project.project_id)
    if project.name is None or not project.name.strip():
        return f"*Project {pid}*"
    return f"*{escape(one_line(project.name, PROJECT_NAME_CHARS))}* (project {pid})"


def project_blocks(project: HomeProject, *, admin: bool) -> list[dict[str, Any]]:
    pid = project.project_id
    summary = project.summary
    link = summary.studio_url if summary is not None else studio_page(pid, None)
    lines = [
        f"{_title(project)} · <{link}|Open in Studio>",
        *_run_words(project),
        *_channel_words(project),
        *_bell_words(project),
        _key_words(project),
    ]
    section: dict[str, Any] = {
        "type": "section",
        "text": {"type": "mrkdwn", "text": clip("\n".join(lines), SECTION_CHARS)},
    }
    if admin:
        replacing = project.key_source in ("stored", "unreadable")
        section["accessory"] = {
            "type": "button",
            "action_id": OPEN_KEY_FORM_ACTION,
            "value": pid,
            "text": {"type": "plain_text", "text": "Replace key" if replacing else "Add key"},
        }
    return [section, {"type": "divider"}]


def home_view(
    projects: Sequence[HomeProject], *, admin: bool, keys_enabled: bool
) -> dict[str, Any]:
    """The Home tab for one user; `admin` adds the key buttons (only when keys can be stored)."""
    intro = (
        f"eon-bot watches {len(projects)} project(s) in this workspace."
        if projects
        else "eon-bot watches no project yet: `/eon watch PROJECT_ID` in a channel."
    )
    note = (
        "Admins: add or replace a project's key with the buttons, or `/eon key PROJECT_ID`."
        if admin and keys_enabled
        else "Keys are added with `/eon key PROJECT_ID` (admins)."
        if keys_enabled
        else "Keys come from the environment; `/eon key` needs SECRET_KEY set."
    )
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": "EON Tuner runs"}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": f"{intro} {note}"}]},
        {"type": "divider"},
    ]
    for project in projects[:HOME_PROJECTS]:
        blocks += project_blocks(project, admin=admin and keys_enabled)
    if len(projects) > HOME_PROJECTS:
        more = len(projects) - HOME_PROJECTS
        text = f"…and {more} more project(s): `/eon list` in their channels shows them."
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": text}]})
    return {"type": "home", "blocks": blocks}

"""The acknowledgement of each `/eon` command, computed from the store alone, because Slack
waits only 3 seconds for it. Anything that talks to Edge Impulse (checking a newly watched
project) is a `follow_up`, run once Slack has the acknowledgement, reporting through
`respond()` (the command's response_url).

Every reply is ephemeral: only the person who typed the command sees it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from bot.core.digest import at_text
from bot.core.routing import MODES
from bot.core.run_name import PROJECT_NAME_CHARS
from bot.errors import StoredKeyUnreadable
from bot.fmt import one_line
from bot.slack.delivery.stops import stops_of
from bot.slack.listeners import eon_runs
from bot.slack.listeners.deps import AlertView, Deps, SubscriptionView
from bot.slack.listeners.eon_parse import (
    USAGE,
    Chart,
    Command,
    Help,
    List,
    Status,
    Top,
    Unwatch,
    UsageError,
    Watch,
)
from bot.slack.render import LIMITS, clip, escape, render_status
from bot.slack.render.actions import mention

HELP_TEXT: Final = "\n".join(
    (
        "*eon-bot* posts what happens in Edge Impulse EON Tuner runs. Commands:",
        f"• `{USAGE['status']}` — the runs this channel watches, or one of them",
        f"• `{USAGE['watch']}` — post this project's runs here: every trial (`all`, the "
        "default), only new bests (`best`), only run start, time limit and end "
        "(`milestones`), or those and failed trials (`failures`); watching again changes "
        "the mode",
        f"• `{USAGE['unwatch']}` — stop posting this project here",
        f"• `{USAGE['list']}` — what this channel watches, and how",
        f"• `{USAGE['chart']}` — the run in one picture, posted in its thread here",
        f"• `{USAGE['top']}` — the N best trials so far (5 unless told), as a table",
        f"• `{USAGE['key']}` — admins: give eon-bot a project's Edge Impulse key (a form), "
        "or forget it",
        f"• `{escape(USAGE['alert'])}` — tell this channel when the first trial of a run "
        "meets every condition, e.g. `accuracy&gt;=0.92 latency&lt;=50` (fields accuracy, "
        "latency in ms, ram, rom in bytes or KB/MB; accuracy as 0.92 or 92%); "
        "`list` numbers them, `remove N` or `remove all` drops them",
        f"• `{USAGE['digest']}` — one message a day here summing up the last 24 h of what "
        "this channel watches, at HH:MM (DIGEST_TZ, UTC unless set); `off` stops it, `now` "
        "posts one at once, no time says when it comes",
        f"• `{USAGE['help']}` — this help",
        "The project id is the number in the Studio URL: studio.edgeimpulse.com/studio/12345",
    )
)
EMPTY_HINT: Final = "This channel watches nothing — `/eon watch PROJECT_ID`"
INTERNAL_ERROR: Final = (
    "⚠ eon-bot could not answer because of an internal error (it is logged). Try again later."
)
FOLLOW_UP_ERROR: Final = (
    "⚠ eon-bot hit an internal error after answering (it is logged); `/eon list` shows "
    "what this channel watches now."
)


Respond = Callable[..., Awaitable[Any]]
FollowUp = Callable[[Respond], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Reply:
    """The acknowledgement, and what to do once Slack has it (`follow_up`, given `respond`)."""

    text: str
    blocks: list[dict[str, Any]] | None = None
    follow_up: FollowUp | None = None


PAUSE_HINTS: Final = {
    "not_in_channel": "invite the bot (`/invite @eon-bot`)",
    "channel_not_found": "the channel is gone or the bot cannot see it",
    "is_archived": "the channel is archived",
}


def _refusal(deps: Deps, user_id: str, doing: str = "change what a channel watches") -> str | None:
    """Who may act: the users in ADMIN_USER_IDS, everyone when it is empty (one rule, for
    `/eon watch` and the run's buttons alike)."""
    admins = deps.settings.admin_user_ids
    if not admins or user_id in admins:
        return None
    ask = ", ".join(mention(admin) for admin in sorted(admins)[:5])
    return f"⛔ Only eon-bot admins (ADMIN_USER_IDS) can {doing}; ask {ask}."


refusal = _refusal


def _key_problem(deps: Deps, pid: str) -> str | None:
    """Why no key can be sent for the project (one line, with who can fix it), or None. A
    key another workspace stored is not this one's: it must add its own (DESIGN33 point 3)."""
    try:
        key = (deps.keys.api_key_for if deps.keys else deps.settings.api_key_for)(pid)
    except StoredKeyUnreadable:
        return (
            f"⚠ The Edge Impulse key stored for project {pid} cannot be decrypted (SECRET_KEY "
            f"changed); an admin can add it again with `/eon key {pid}`."
        )
    readers = deps.keys.readers(pid) if deps.keys is not None else None
    if key is not None and (readers is None or deps.team in readers):
        return None  # a deployment key, or one of this workspace's own
    return (
        f"⚠ eon-bot has no Edge Impulse API key for project {pid}: an admin can add one with "
        f"`/eon key {pid}` (or set EI_API_KEY_{pid} or the default EI_API_KEY where the bot "
        "runs), then try again."
    )


MODE_WORDS: Final[dict[str, str]] = {
    "all": "every trial",
    "best": "new bests only (plus time limit, end, stalls)",
    "milestones": "milestones only (run start, time limit, end)",
    "failures": "failures only (failed trials, time limit, end, stalls, outages)",
}


def mode_words(mode: str) -> str:
    """How `/eon list`, the Home tab and `/eon watch` name a mode; a mode this version does
    not know (a newer one's row) is shown as stored."""
    return MODE_WORDS.get(mode) or escape(one_line(mode, 20))


def subscription_line(sub: SubscriptionView, name: str | None = None) -> str:
    """ "• project 42 — every trial · added by <@U1> · paused: not_in_channel — invite…";
    "• Keyword spotting (project *42*) — …" once the project's name is known
    (`bot.service.names`)."""
    project = f"project *{escape(one_line(sub.project_id, 40))}*"
    if name is not None and name.strip():
        project = f"{escape(one_line(name, PROJECT_NAME_CHARS))} ({project})"
    line = f"• {project} — {mode_words(sub.mode)} · added by {mention(sub.added_by)}"
    if sub.paused_reason:
        reason = escape(one_line(sub.paused_reason, 40))
        hint = PAUSE_HINTS.get(sub.paused_reason, "fix it")
        hint += f", then `/eon watch {sub.project_id}` here to resume"
        line += f" · ⏸ paused: {reason} — {hint}"
    return line


def shown(rule: str) -> str:
    """A stored alert's rule in a reply: code, escaped (`<=` must not open a Slack link)."""
    return f"`{escape(rule)}`"


def alerts_line(alerts: Sequence[AlertView]) -> str:
    """ "🎯 alerts: `accuracy>=92%` · `latency<=50ms`", for `/eon list` under its project."""
    return "    🎯 alerts: " + " · ".join(shown(alert.rule) for alert in alerts)


def _lines_within(header: str, lines: Sequence[str], limit: int) -> str:
    """As many lines as fit in `limit` characters, then "…and N more"."""
    text = header
    for shown, line in enumerate(lines):
        left = len(lines) - shown
        candidate = f"{text}\n{line}"
        tail = f"\n…and {left - 1} more" if left > 1 else ""
        if len(candidate) + len(tail) > limit:
            return clip(f"{text}\n…and {left} more", limit)
        text = candidate
    return text


async def _status(command: Status, channel_id: str, deps: Deps) -> Reply:
    subs = await deps.store.subscriptions(deps.team, channel_id=channel_id)
    if not subs:
        return Reply(EMPTY_HINT)
    project_ids = list(dict.fromkeys(sub.project_id for sub in subs))
    if command.project_id is not None:
        if command.project_id not in project_ids:
            pid = command.project_id
            return Reply(f"This channel does not watch project {pid} — `/eon watch {pid}`")
        project_ids = [command.project_id]
    found = await deps.store.summaries(project_ids)
    summaries = [found[pid] for pid in project_ids if pid in found]
    not_polled = [pid for pid in project_ids if pid not in found]
    message = render_status(
        summaries, not_polled=not_polled, stops=await stops_of(deps.store, deps.team, summaries)
    )
    return Reply(message.text, message.blocks)


async def _watch(command: Watch, channel_id: str, user_id: str, deps: Deps) -> Reply:
    pid = command.project_id
    refusal = _refusal(deps, user_id)
    if refusal:
        return Reply(refusal)
    missing = _key_problem(deps, pid)
    if missing is not None:
        return Reply(missing)
    if not await deps.store.subscribe(
        deps.team, channel_id, pid, added_by=user_id, mode=command.mode
    ):
        existing = await deps.store.subscriptions(deps.team, channel_id=channel_id, project_id=pid)
        if existing and existing[0].paused_reason is not None:
            # Whoever types here can see the channel works again: deliver what waited.
            await deps.store.resume_channel(deps.team, channel_id)

            async def poll_now(_: Respond) -> None:
                await deps.start_watching(pid)

            return Reply(
                f"▶ Delivery here resumes (it was paused: "
                f"{escape(existing[0].paused_reason)}); what waited follows, in order.",
                follow_up=poll_now,
            )
        if existing and command.mode_named and existing[0].mode != command.mode:
            await deps.store.set_mode(deps.team, channel_id, pid, command.mode)
            return Reply(
                f"🔁 Project {pid} here: now {mode_words(command.mode)} "
                f"(was {mode_words(existing[0].mode)})."
            )
        state = subscription_line(existing[0]).removeprefix("• ") if existing else f"project {pid}"
        return Reply(
            f"This channel already watches {state}. To change the mode: "
            f"`/eon watch {pid} MODE` with one of {', '.join(MODES)}."
        )

    async def start_and_check(respond: Respond) -> None:
        await deps.start_watching(pid)
        error = await deps.check_project(pid)
        if error is None:
            return
        await deps.store.unsubscribe(deps.team, channel_id, pid)
        await deps.stop_watching(pid)
        await respond(
            text=f"⚠ Stopped watching project {pid}: {escape(one_line(error, 300))}",
            response_type="ephemeral",
            replace_original=False,
        )

    return Reply(
        f"👀 Watching project {pid} here ({mode_words(command.mode)}). "
        "Checking it with Edge Impulse now; the run card follows once a run is found.",
        follow_up=start_and_check,
    )


async def _unwatch(command: Unwatch, channel_id: str, user_id: str, deps: Deps) -> Reply:
    pid = command.project_id
    refusal = _refusal(deps, user_id)
    if refusal:
        return Reply(refusal)
    if not await deps.store.unsubscribe(deps.team, channel_id, pid):
        return Reply(f"This channel does not watch project {pid}; `/eon list` shows what it does.")

    async def stop(respond: Respond) -> None:
        await deps.stop_watching(pid)

    return Reply(f"🔕 Stopped watching project {pid} here.", follow_up=stop)


async def _list(channel_id: str, deps: Deps) -> Reply:
    subs = await deps.store.subscriptions(deps.team, channel_id=channel_id)
    if not subs:
        return Reply(EMPTY_HINT)
    names = await deps.store.project_names([sub.project_id for sub in subs])
    alerts: dict[str, list[AlertView]] = {}
    for alert in await deps.store.alerts(deps.team, channel_id=channel_id):
        alerts.setdefault(alert.project_id, []).append(alert)
    lines: list[str] = []
    for sub in subs:  # by project id
        lines.append(subscription_line(sub, names.get(sub.project_id)))
        if sub.project_id in alerts:
            lines[-1] += "\n" + alerts_line(alerts[sub.project_id])
    at = await deps.store.digest_at(deps.team, channel_id)
    if at is not None:
        lines.append(f"🗞 daily digest at {at_text(at)} ({deps.settings.digest_tz})")
    return Reply(_lines_within("*Watched in this channel:*", lines, LIMITS.fallback_text))


async def answer(
    command: Command | UsageError, *, channel_id: str, user_id: str, deps: Deps
) -> Reply:
    """The acknowledgement of one command, from the store alone (fast enough for ack)."""
    match command:
        case UsageError(message):
            return Reply(f"⚠ {message}")
        case Help():
            return Reply(HELP_TEXT)
        case Status():
            return await _status(command, channel_id, deps)
        case Watch():
            return await _watch(command, channel_id, user_id, deps)
        case Unwatch():
            return await _unwatch(command, channel_id, user_id, deps)
        case List():
            return await _list(channel_id, deps)
        case Chart():
            return Reply(await eon_runs.chart(command, channel_id, deps))
        case Top():
            shown = await eon_runs.top(command, channel_id, deps)
            return Reply(shown) if isinstance(shown, str) else Reply(shown.text, shown.blocks)

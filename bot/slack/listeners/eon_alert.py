"""`/eon alert PROJECT_ID …`: a channel's threshold alerts on a project it watches (any mode),
added, listed and removed from the store alone (the ack's 3 s). Adding or removing one changes
what the channel is told, so it takes who may change what a channel watches (`refusal`)."""

from __future__ import annotations

from typing import Final

from bot.core.rules import Rule
from bot.slack.listeners.deps import Deps
from bot.slack.listeners.eon_answers import refusal, shown
from bot.slack.listeners.eon_parse import AlertAdd, AlertCommand, AlertList, AlertRemove
from bot.slack.render import LIMITS, clip, escape, safe
from bot.slack.render.actions import mention

EXAMPLE: Final = "accuracy>=0.92 latency<=50"
TOLD: Final = (
    "The first trial of each run that meets every condition gets one notice in the run's "
    "thread, also sent to the channel."
)


async def _add(command: AlertAdd, channel_id: str, user_id: str, deps: Deps) -> str:
    pid, rule = command.project_id, command.rule
    refused = refusal(deps, user_id, "change this channel's alerts")
    if refused:
        return refused
    outcome = await deps.store.add_alert(deps.team, channel_id, pid, rule, user_id)
    if outcome == "not_watched":
        return (
            f"This channel does not watch project {pid}: `/eon watch {pid}` first (in any "
            f"mode; `/eon watch {pid} milestones` keeps the channel quiet but for the card, "
            "the end and the alerts)."
        )
    if outcome == "exists":
        return f"This channel has that alert on project {pid} already: {shown(rule.text)}."
    if outcome == "full":
        return (
            f"This channel has as many alerts on project {pid} as it can keep: remove one "
            f"first (`/eon alert {pid} list`, then `/eon alert {pid} remove N`)."
        )
    return (
        f"🎯 Alert on project {pid} here: {shown(rule.text)}. {TOLD}{await _met(rule, pid, deps)}"
    )


async def _met(rule: Rule, project_id: str, deps: Deps) -> str:
    """Which trials of the run going on already meet the rule (before it was added, so they are
    not told), so the one told next is not taken for the run's first; "" when none do."""
    snapshot = await deps.store.snapshot(project_id)
    summary = snapshot.summary if snapshot is not None else None
    if snapshot is None or summary is None or summary.finished:
        return ""
    met = [
        trial
        for trial in snapshot.ended_trials()
        if trial.status == "completed" and rule.met_by(trial.numbers())
    ]
    if not met:
        return ""
    names = ", ".join(f"*{safe(trial.name, 60)}*" for trial in met[:3])
    more = f" and {len(met) - 3} more" if len(met) > 3 else ""
    return (
        f" In the run going on, {names}{more} met it already, before the alert: the next "
        "trial of this run to meet it is told."
    )


async def _list(command: AlertList, channel_id: str, deps: Deps) -> str:
    pid = command.project_id
    found = await deps.store.alerts(deps.team, channel_id=channel_id, project_id=pid)
    if not found:
        return f"No alert on project {pid} here. Add one: `/eon alert {pid} {escape(EXAMPLE)}`"
    lines = [f"*Alerts on project {pid} here* ({TOLD[:1].lower()}{TOLD[1:-1]}):"]
    lines += [
        f"{n}. {shown(alert.rule)} · added by {mention(alert.added_by)}"
        for n, alert in enumerate(found, 1)
    ]
    lines.append(f"Remove one with `/eon alert {pid} remove N`, or `remove all`.")
    return clip("\n".join(lines), LIMITS.fallback_text)


async def _remove(command: AlertRemove, channel_id: str, user_id: str, deps: Deps) -> str:
    pid, which = command.project_id, command.which
    refused = refusal(deps, user_id, "change this channel's alerts")
    if refused:
        return refused
    if which is None:
        found = await deps.store.alerts(deps.team, channel_id=channel_id, project_id=pid)
        if len(found) > 1:
            return (
                f"This channel has {len(found)} alerts on project {pid}: "
                f"`/eon alert {pid} remove N` with N as `/eon alert {pid} list` numbers them, "
                "or `remove all`."
            )
    numbers = list(which) if isinstance(which, tuple) else None  # None: every one
    removed = await deps.store.remove_alerts(deps.team, channel_id, pid, numbers)
    if not removed:
        if numbers is None:
            return f"No alert on project {pid} here."
        listed = ", ".join(str(n) for n in numbers)
        return f"No alert numbered {listed} on project {pid} here; `/eon alert {pid} list`."
    gone = ", ".join(shown(rule) for rule in removed)
    return clip(f"🗑 Removed from project {pid} here: {gone}.", LIMITS.fallback_text)


async def answer(command: AlertCommand, *, channel_id: str, user_id: str, deps: Deps) -> str:
    """The acknowledgement of one `/eon alert` command."""
    match command:
        case AlertAdd():
            return await _add(command, channel_id, user_id, deps)
        case AlertList():
            return await _list(command, channel_id, deps)
        case AlertRemove():
            return await _remove(command, channel_id, user_id, deps)

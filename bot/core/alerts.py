"""Threshold alerts (pure): which completions meet a channel's alert, and the notice each gets.

An alert is a channel's rule on a project (`core.rules`). A poll's events are judged in the
order they are told: the first completion of a run that meets every condition of an alert is
followed, right after it, by one `eon_threshold_met` notice addressed to the alert's channel
alone (every watch mode receives it there, `core.routing`). Its key names the run and the rule,
not the trial, so the outbox's UNIQUE(channel, event key) keeps it to one per alert and run
across polls, restarts and replicas: a later trial that meets the rule again is not told.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bot.core.events import Event, EventKind, RunRef
from bot.core.rules import Rule

Addressed = tuple[Event, tuple[str, str] | None]
"""An event and the one (workspace, channel) it is for; None: every subscription, by its mode."""

_NUMBERS = ("accuracy", "score", "score_name", "latency_ms", "ram_bytes", "rom_bytes")


@dataclass(frozen=True, slots=True)
class Alert:
    """A channel's rule on a project."""

    channel_id: str
    project_id: str
    rule: Rule
    team_id: str = ""  # the workspace whose channel it is


def threshold_notice(completion: Event, rule: Rule) -> Event:
    """The notice that `completion` met `rule`: its run, its trial and figures, the rule."""
    run = RunRef(
        completion.project_id,
        completion.coordinator_job_id,
        completion.tuner_job_id,
        completion.run_name,
        completion.project_name,
    )
    payload = completion.payload
    numbers = {key: payload[key] for key in _NUMBERS if payload.get(key) is not None}
    return run.event(
        EventKind.THRESHOLD_MET,
        rule.text,
        trial_id=completion.trial_id,
        trial_name=payload.get("trial_name"),
        rule=rule.text,
        **numbers,
    )


def with_alerts(events: Sequence[Event], alerts: Sequence[Alert]) -> list[Addressed]:
    """`events` in their order, for everyone, each completion followed by the notices of the
    alerts it is the first of `events` to meet (earlier polls' are the outbox's to remember)."""
    told: list[Addressed] = []
    noticed: set[tuple[str, str, str]] = set()
    for event in events:
        told.append((event, None))
        if event.kind is not EventKind.TRIAL_COMPLETED:
            continue
        for alert in alerts:
            if alert.project_id != event.project_id or not alert.rule.met_by(event.payload):
                continue
            notice = threshold_notice(event, alert.rule)
            if (alert.team_id, alert.channel_id, notice.key) not in noticed:
                noticed.add((alert.team_id, alert.channel_id, notice.key))
                told.append((notice, (alert.team_id, alert.channel_id)))
    return told

"""A channel's daily digest (pure): when it is due, and the one event that carries it.

The time is a minute of the day in `DIGEST_TZ`. A digest is due once a day, from its minute on:
setting a time that has already passed today starts tomorrow, setting the current minute posts
today. Its event key names the channel and the day (`digest:C1:2026-12-07`), so the outbox's
UNIQUE(channel, event key) keeps it to one a day across replicas; `/eon digest now` is keyed by
the minute it was asked in.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, Final

from bot.core.events import Event, EventKind

WINDOW_H: Final = 24
_HH_MM = re.compile(r"([01]?[0-9]|2[0-3]):([0-5][0-9])")


def parse_at(word: str) -> int | None:
    """ "HH:MM" (24-hour, "9:05" too) as minutes after midnight; None when it is not one."""
    found = _HH_MM.fullmatch(word.strip())
    return int(found[1]) * 60 + int(found[2]) if found else None


def at_text(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def minute_of(local: datetime) -> int:
    return local.hour * 60 + local.minute


def first_day_done(at_minute: int, local_now: datetime) -> str | None:
    """What a newly set time counts as already done: today, when its minute has passed."""
    return local_now.date().isoformat() if at_minute < minute_of(local_now) else None


def is_due(at_minute: int, last_day: str | None, local_now: datetime) -> bool:
    """Whether today's digest is owed now: its minute reached and none queued today."""
    today = local_now.date().isoformat()
    return minute_of(local_now) >= at_minute and (last_day is None or last_day < today)


@dataclass(frozen=True, slots=True)
class RunLine:
    """One run active in the window: its name, how it stands, its best trial (a TrialSummary's
    fields, as the card shows it)."""

    name: str
    state: str  # "running" | "finished" | "failed"
    best: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class ProjectDay:
    """What one watched project did in the window."""

    project_id: str
    label: str
    runs_started: int
    runs_ended: int
    failures: int
    stalls: int
    actions: int
    runs: tuple[RunLine, ...] = ()

    def quiet(self) -> bool:
        return not (self.runs_started or self.runs_ended or self.failures or self.stalls) and (
            not self.actions and not self.runs
        )


def digest_event(channel_id: str, key: str, days: list[ProjectDay], since: datetime) -> Event:
    """The digest as an event for the outbox: keyed as `key`, addressed by its first project
    (the outbox delivers a channel's rows of projects it watches), figures in its payload."""
    projects: list[dict[str, Any]] = [asdict(day) for day in days]
    return Event(
        kind=EventKind.DIGEST,
        key=key,
        project_id=days[0].project_id,
        payload={"channel_id": channel_id, "projects": projects, "since": since.isoformat()},
    )


def day_key(channel_id: str, day: str) -> str:
    return f"digest:{channel_id}:{day}"


def now_key(channel_id: str, local_now: datetime) -> str:
    return f"digest:{channel_id}:now:{local_now.strftime('%Y-%m-%dT%H:%M')}"

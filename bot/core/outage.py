"""When failed polls become a notice (pure): one `eon_api_unreachable` once a project has failed
for `OUTAGE_NOTICE_AFTER` seconds (at once when the key is refused: waiting will not fix that),
and one `eon_api_recovered` when it answers again. A short blip says nothing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

from bot.core.events import Event, EventKind
from bot.errors import ConfigError, EonBotError, TunerApiError, TunerAuthError


@dataclass(frozen=True, slots=True)
class Outage:
    """Per project: the API-failure bookkeeping the poller keeps between polls (the store
    keeps it in the project's row)."""

    failing_since: datetime | None = None
    unreachable_notified: bool = False
    auth_notified: bool = False
    last_error: str | None = None


class OutageStep(NamedTuple):
    outage: Outage
    events: list[Event]


def _event(
    kind: EventKind, project_id: str, since: datetime, tag: str = "", **payload: object
) -> Event:
    return Event(
        kind=kind,
        key=f"{project_id}:outage:{since.isoformat()}:{kind}{tag}",
        project_id=project_id,
        payload=payload,
    )


def after_failure(
    project_id: str, outage: Outage, error: EonBotError, *, now: datetime, notice_after: float
) -> OutageStep:
    """A refused or missing key is told at once, also in an outage already told: only a
    person can fix it, and the channel must know what to fix."""
    since = outage.failing_since or now
    refused = isinstance(error, TunerAuthError | ConfigError)
    detail = error.detail if isinstance(error, TunerApiError) else str(error)
    due = refused or (now - since).total_seconds() >= notice_after
    events: list[Event] = []
    if refused and not outage.auth_notified:
        # No request was made for a key that is missing or unreadable: Edge Impulse refused
        # nothing, and the message must not say it did.
        no_key = {"no_key": True} if isinstance(error, ConfigError) else {}
        events.append(
            _event(
                EventKind.API_UNREACHABLE,
                project_id,
                since,
                ":refused",
                error=detail,
                refused=True,
                **no_key,
            )
        )
    elif due and not outage.unreachable_notified:
        events.append(_event(EventKind.API_UNREACHABLE, project_id, since, error=detail))
    return OutageStep(
        Outage(
            failing_since=since,
            unreachable_notified=outage.unreachable_notified or due,
            auth_notified=outage.auth_notified or refused,
            last_error=detail,
        ),
        events,
    )


def after_success(project_id: str, outage: Outage) -> OutageStep:
    events: list[Event] = []
    if outage.unreachable_notified and outage.failing_since is not None:
        events.append(
            _event(
                EventKind.API_RECOVERED,
                project_id,
                outage.failing_since,
                error=outage.last_error,
            )
        )
    return OutageStep(Outage(), events)

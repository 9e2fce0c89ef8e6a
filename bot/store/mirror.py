"""What a store keeps in memory between queries: `Memory` keeps nothing, `Mirror` keeps all.

SQLite serves one process (`bot.service.fleet.SqliteLock`), so that process writes every
subscription and every run summary, and its backend keeps them in a `Mirror`, changed after each
commit that changes the tables: `/eon status` and `/eon list` then answer without a query, and a
poll finds its audience (the channels to queue its events for) without one. PostgreSQL replicas
share the tables, so their backend's `Memory` knows nothing and every read asks the database.
The store's parts tell either one what they committed, and ask it first; they never ask which.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any


def project_order(project_id: str) -> tuple[int, int, str]:
    """Numeric ids in numeric order, then anything else by its text."""
    return (0, int(project_id), "") if project_id.isdigit() else (1, 0, project_id)


@dataclass(frozen=True, slots=True)
class Subscription:
    team_id: str  # the workspace whose channel it is
    channel_id: str
    project_id: str
    added_by: str
    mode: str  # one of `routing.MODES`
    paused_reason: str | None
    created_at: datetime
    needs_start: bool


class Memory:
    """Knows nothing: each question answers None ("ask the database"), each change is dropped."""

    def load(self, subscriptions: Iterable[Subscription]) -> None:
        """Keep these subscriptions from here on (no-op: nothing is kept)."""

    def subscriptions(
        self, team: str | None, *, channel_id: str | None = None, project_id: str | None = None
    ) -> list[Subscription] | None:
        """The workspace's (every workspace's: None), of the channel and/or the project (all
        without either), in no set order; None when not known here."""
        return None

    def may_await_start(self, project_id: str) -> bool:
        """False only when memory knows no subscription to the project awaits its start event."""
        return True

    def summary(self, project_id: str) -> str | None:
        """The project's latest summary (JSON, "" for none), or None when not known here."""
        return None

    # After a commit: what changed.
    def put(self, sub: Subscription) -> None: ...
    def drop(self, team: str, channel_id: str, project_id: str) -> None: ...
    def change(self, team: str, channel_id: str, project_id: str, **fields: Any) -> None: ...

    def paused(self, team: str, channel_id: str, reason: str | None) -> None:
        for sub in self.subscriptions(team, channel_id=channel_id) or ():
            self.change(team, channel_id, sub.project_id, paused_reason=reason)

    def started(self, project_id: str, channels: Iterable[tuple[str, str]]) -> None:
        """These (workspace, channel)s' subscriptions to the project got their start event."""
        for team, channel_id in channels:
            self.change(team, channel_id, project_id, needs_start=False)

    def summarised(self, project_id: str, summary: str | None) -> None:
        """The project's latest summary is now `summary` (JSON, "" for none; None: unknown)."""


class Mirror(Memory):
    """Every subscription (once loaded: until then, none is known) and every summary seen."""

    def __init__(self) -> None:
        # (workspace, channel) -> project -> its subscription; project -> (workspace, channel) -> …
        self._by_channel: dict[tuple[str, str], dict[str, Subscription]] | None = None
        self._by_project: dict[str, dict[tuple[str, str], Subscription]] = {}
        self._summaries: dict[str, str] = {}

    def load(self, subscriptions: Iterable[Subscription]) -> None:
        self._by_channel, self._by_project = {}, {}
        for sub in subscriptions:
            self.put(sub)

    def subscriptions(
        self, team: str | None, *, channel_id: str | None = None, project_id: str | None = None
    ) -> list[Subscription] | None:
        if self._by_channel is None:
            return None
        if channel_id is not None and team is not None:
            found = list(self._by_channel.get((team, channel_id), {}).values())
            return [s for s in found if project_id is None or s.project_id == project_id]
        if project_id is not None:
            found = list(self._by_project.get(project_id, {}).values())
        else:
            found = [sub for subs in self._by_channel.values() for sub in subs.values()]
        return [
            s
            for s in found
            if (team is None or s.team_id == team)
            and (channel_id is None or s.channel_id == channel_id)
        ]

    def may_await_start(self, project_id: str) -> bool:
        if self._by_channel is None:
            return True
        return any(sub.needs_start for sub in self._by_project.get(project_id, {}).values())

    def summary(self, project_id: str) -> str | None:
        return self._summaries.get(project_id)

    def put(self, sub: Subscription) -> None:
        if self._by_channel is not None:
            where = (sub.team_id, sub.channel_id)
            self._by_channel.setdefault(where, {})[sub.project_id] = sub
            self._by_project.setdefault(sub.project_id, {})[where] = sub

    def drop(self, team: str, channel_id: str, project_id: str) -> None:
        if self._by_channel is not None:
            self._by_channel.get((team, channel_id), {}).pop(project_id, None)
            self._by_project.get(project_id, {}).pop((team, channel_id), None)

    def change(self, team: str, channel_id: str, project_id: str, **fields: Any) -> None:
        sub = (self._by_channel or {}).get((team, channel_id), {}).get(project_id)
        if sub is not None:
            self.put(replace(sub, **fields))

    def summarised(self, project_id: str, summary: str | None) -> None:
        if summary is None:
            self._summaries.pop(project_id, None)
        else:
            self._summaries[project_id] = summary

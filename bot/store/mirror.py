"""Subscriptions, and what a SQLite store keeps of them in memory.

SQLite serves one process (`bot.fleet.SqliteLock`), so that process writes every subscription
and can keep them all in memory, changed after each commit that changes the table: `/eon
status` and `/eon list` then answer without a query, and a poll finds its audience (the
channels to queue its events for) without one. PostgreSQL replicas read the table.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class Subscription:
    channel_id: str
    project_id: str
    added_by: str
    mode: str  # one of `routing.MODES`
    paused_reason: str | None
    created_at: datetime
    needs_start: bool


class Mirror:
    """The subscriptions, by channel and by project."""

    def __init__(self, subscriptions: Iterable[Subscription] = ()) -> None:
        self._by_channel: dict[str, dict[str, Subscription]] = {}
        self._by_project: dict[str, dict[str, Subscription]] = {}
        for sub in subscriptions:
            self.put(sub)

    def put(self, sub: Subscription) -> None:
        self._by_channel.setdefault(sub.channel_id, {})[sub.project_id] = sub
        self._by_project.setdefault(sub.project_id, {})[sub.channel_id] = sub

    def drop(self, channel_id: str, project_id: str) -> None:
        self._by_channel.get(channel_id, {}).pop(project_id, None)
        self._by_project.get(project_id, {}).pop(channel_id, None)

    def change(self, channel_id: str, project_id: str, **fields: Any) -> None:
        sub = self._by_channel.get(channel_id, {}).get(project_id)
        if sub is not None:
            self.put(replace(sub, **fields))

    def of_channel(self, channel_id: str) -> list[Subscription]:
        return list(self._by_channel.get(channel_id, {}).values())

    def of_project(self, project_id: str) -> list[Subscription]:
        return list(self._by_project.get(project_id, {}).values())

    def select(
        self, *, channel_id: str | None = None, project_id: str | None = None
    ) -> list[Subscription]:
        """Those of the channel and/or the project (all without either), in no set order."""
        if channel_id is not None:
            found = self.of_channel(channel_id)
            return [s for s in found if project_id is None or s.project_id == project_id]
        if project_id is not None:
            return self.of_project(project_id)
        return [sub for subs in self._by_channel.values() for sub in subs.values()]

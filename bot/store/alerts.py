"""Channels' threshold alerts (`/eon alert`): added only where the channel watches the project,
listed and removed in the order they were added, dropped with the channel's subscription."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.core.alerts import Alert
from bot.core.rules import Rule, parse_rule
from bot.store.backend import Backend
from bot.store.schema import alerts, digest, subscriptions

MAX_ALERTS = 10
"""Per channel and project: enough for a few targets, few enough to list in one answer."""

Added = Literal["added", "exists", "not_watched", "full"]


@dataclass(frozen=True, slots=True)
class StoredAlert:
    """An alert as `/eon alert … list` and `/eon list` show it."""

    channel_id: str
    project_id: str
    rule: str  # Rule.text
    added_by: str
    created_at: datetime


def _rule(text: str) -> Rule | None:
    """A stored rule read back through the grammar; None for one it no longer reads (a newer
    version's), which is then judged by no trial rather than breaking the poll."""
    found = parse_rule(text)
    return found if isinstance(found, Rule) else None


def _of(team: str, channel_id: str, project_id: str) -> tuple[Any, ...]:
    return (
        alerts.c.team_id == team,
        alerts.c.channel_id == channel_id,
        alerts.c.project_id == project_id,
    )


class Alerts:
    def __init__(self, backend: Backend, now: Callable[[], datetime]) -> None:
        self._backend = backend
        self._now = now

    async def add_alert(
        self, team: str, channel_id: str, project_id: str, rule: Rule, added_by: str
    ) -> Added:
        """Keep the rule, unless the channel does not watch the project, has it already, or has
        `MAX_ALERTS` on it. One transaction, so an `/eon unwatch` racing it leaves no alert."""
        where = _of(team, channel_id, project_id)
        async with self._backend.write() as conn:
            watched = await conn.scalar(
                select(func.count())
                .select_from(subscriptions)
                .where(
                    subscriptions.c.team_id == team,
                    subscriptions.c.channel_id == channel_id,
                    subscriptions.c.project_id == project_id,
                )
            )
            if not watched:
                return "not_watched"
            count = await conn.scalar(select(func.count()).select_from(alerts).where(*where))
            if (count or 0) >= MAX_ALERTS:
                return "full"
            values = {
                "team_id": team,
                "channel_id": channel_id,
                "project_id": project_id,
                "rule": rule.text,
                "rule_hash": digest(rule.text),
                "added_by": added_by,
                "created_at": self._now(),
            }
            stmt = self._backend.insert(alerts).values(values).on_conflict_do_nothing()
            found = (await conn.execute(stmt.returning(alerts.c.id))).first()
        return "added" if found is not None else "exists"

    async def alerts(
        self, team: str, *, channel_id: str | None = None, project_id: str | None = None
    ) -> list[StoredAlert]:
        """The workspace's alerts (in one channel, on one project), in the order added."""
        query = select(alerts).where(alerts.c.team_id == team)
        if channel_id is not None:
            query = query.where(alerts.c.channel_id == channel_id)
        if project_id is not None:
            query = query.where(alerts.c.project_id == project_id)
        async with self._backend.read() as conn:
            rows = (await conn.execute(query.order_by(alerts.c.id))).all()
        return [
            StoredAlert(row.channel_id, row.project_id, row.rule, row.added_by, row.created_at)
            for row in rows
        ]

    async def remove_alerts(
        self, team: str, channel_id: str, project_id: str, numbers: Sequence[int] | None = None
    ) -> list[str]:
        """Remove the channel's alerts on the project numbered `numbers` (1 = the first added,
        as `list` numbers them), or all of them (None); returns the rules removed."""
        where = _of(team, channel_id, project_id)
        async with self._backend.write() as conn:
            rows = (
                await conn.execute(
                    select(alerts.c.id, alerts.c.rule).where(*where).order_by(alerts.c.id)
                )
            ).all()
            chosen = [
                row for index, row in enumerate(rows, 1) if numbers is None or index in numbers
            ]
            if chosen:
                ids = [r.id for r in chosen]
                await conn.execute(delete(alerts).where(*where, alerts.c.id.in_(ids)))
        return [row.rule for row in chosen]

    async def project_alerts(self, conn: AsyncConnection, project_id: str) -> list[Alert]:
        """Every channel's alerts on the project, read in `conn` (a poll's transaction)."""
        query = (  # every workspace's: a poll's audience is every workspace's
            select(alerts.c.team_id, alerts.c.channel_id, alerts.c.rule)
            .where(alerts.c.project_id == project_id)
            .order_by(alerts.c.id)
        )
        found = [(r.team_id, r.channel_id, _rule(r.rule)) for r in await conn.execute(query)]
        return [Alert(c, project_id, rule, t) for t, c, rule in found if rule is not None]

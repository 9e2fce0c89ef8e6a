"""Who watches what, and how: subscriptions, and the pause that holds a channel's delivery."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, delete, func, select, update

from bot.core.routing import MODES
from bot.store.backend import Backend
from bot.store.installations import away
from bot.store.mirror import Subscription, project_order
from bot.store.schema import (
    ABANDONED,
    ATTEMPTING,
    OPEN_STATES,
    PENDING,
    alerts,
    outbox,
    projects,
    subscriptions,
)
from bot.store.snapshots import CLEARED
from bot.store.workspaces import adoptions


def _order(sub: Subscription) -> tuple[tuple[int, int, str], str, str]:
    return project_order(sub.project_id), sub.channel_id, sub.team_id


def _of(team: str, channel_id: str) -> Any:
    """The workspace's channel, in the subscriptions table."""
    return and_(subscriptions.c.team_id == team, subscriptions.c.channel_id == channel_id)


class Subscriptions:
    def __init__(self, backend: Backend, now: Callable[[], datetime]) -> None:
        self._backend = backend
        self._memory = backend.memory
        self._now = now

    async def subscribe(
        self, team: str, channel_id: str, project_id: str, *, added_by: str, mode: str = "all"
    ) -> bool:
        """False if the channel already watches the project (its mode is left as it was).

        A project that no channel followed until now takes a fresh baseline: its old snapshot
        (from before anyone stopped watching) is dropped in the same transaction, so the next
        poll posts the run card and none of what happened while nobody watched.
        """
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
        sub = Subscription(
            team_id=team,
            channel_id=channel_id,
            project_id=project_id,
            added_by=added_by,
            mode=mode,
            paused_reason=None,
            created_at=self._now().astimezone(UTC),  # as the table gives it back
            needs_start=True,
        )
        stmt = self._backend.insert(subscriptions).values(asdict(sub)).on_conflict_do_nothing()
        async with self._backend.write() as conn:
            result = await conn.execute(stmt.returning(subscriptions.c.channel_id))
            if result.first() is None:
                return False
            others = await conn.scalar(
                select(func.count())
                .select_from(subscriptions)
                .where(subscriptions.c.project_id == project_id)
            )
            if others == 1:
                await conn.execute(
                    update(projects).where(projects.c.project_id == project_id).values(CLEARED)
                )
        if others == 1:
            self._memory.summarised(project_id, "")
        self._memory.put(sub)
        return True

    async def set_mode(self, team: str, channel_id: str, project_id: str, mode: str) -> bool:
        """Watching again with another mode: later events follow the new one (rows already
        queued keep theirs). False if the channel does not watch the project."""
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
        async with self._backend.write() as conn:
            result = await conn.execute(
                update(subscriptions)
                .where(_of(team, channel_id), subscriptions.c.project_id == project_id)
                .values(mode=mode)
                .returning(subscriptions.c.channel_id)
            )
            changed = result.first() is not None
        if changed:
            self._memory.change(team, channel_id, project_id, mode=mode)
        return changed

    async def unsubscribe(self, team: str, channel_id: str, project_id: str) -> bool:
        """Drop the subscription, its alerts and its pending rows; rows mid-attempt become
        `abandoned` and sent ones stay, since those messages may be in the channel and must not
        be re-posted."""
        pair = and_(
            outbox.c.team_id == team,
            outbox.c.channel_id == channel_id,
            outbox.c.project_id == project_id,
        )
        async with self._backend.write() as conn:
            gone = await conn.execute(
                delete(subscriptions)
                .where(_of(team, channel_id), subscriptions.c.project_id == project_id)
                .returning(subscriptions.c.channel_id)
            )
            if gone.first() is None:
                return False
            await conn.execute(
                delete(alerts).where(
                    alerts.c.team_id == team,
                    alerts.c.channel_id == channel_id,
                    alerts.c.project_id == project_id,
                )
            )
            await conn.execute(delete(outbox).where(pair, outbox.c.state == PENDING))
            await conn.execute(
                update(outbox).where(pair, outbox.c.state == ATTEMPTING).values(state=ABANDONED)
            )
        self._memory.drop(team, channel_id, project_id)
        return True

    async def subscriptions(
        self, team: str, *, channel_id: str | None = None, project_id: str | None = None
    ) -> list[Subscription]:
        """The workspace's, ordered by project id (numerically where numeric), then channel:
        from memory where the backend keeps them (SQLite), else read."""
        return await self._read(team, channel_id=channel_id, project_id=project_id)

    async def all_subscriptions(self, *, project_id: str | None = None) -> list[Subscription]:
        """Every workspace's (what is polled, and who is told of a poll), in the same order."""
        return await self._read(None, project_id=project_id)

    async def _read(
        self, team: str | None, *, channel_id: str | None = None, project_id: str | None = None
    ) -> list[Subscription]:
        found = self._memory.subscriptions(team, channel_id=channel_id, project_id=project_id)
        if found is not None:
            return sorted(found, key=_order)
        query = select(subscriptions)
        if team is not None:
            query = query.where(subscriptions.c.team_id == team)
        if channel_id is not None:
            query = query.where(subscriptions.c.channel_id == channel_id)
        if project_id is not None:
            query = query.where(subscriptions.c.project_id == project_id)
        async with self._backend.read() as conn:
            rows = (await conn.execute(query)).all()
        return sorted((Subscription(**row._asdict()) for row in rows), key=_order)

    async def watched_projects(self) -> list[str]:
        """Projects with at least one subscription, paused or not (paused ones still queue),
        of a workspace that has not left."""
        here = subscriptions.c.team_id.not_in(away())
        async with self._backend.read() as conn:
            rows = await conn.execute(select(subscriptions.c.project_id).where(here).distinct())
            return sorted(rows.scalars(), key=project_order)

    async def pause_channel(self, team: str, channel_id: str, reason: str) -> None:
        """Hold back delivery to the channel (e.g. the bot was removed); rows keep queueing."""
        async with self._backend.write() as conn:
            await conn.execute(
                update(subscriptions).where(_of(team, channel_id)).values(paused_reason=reason)
            )
        self._memory.paused(team, channel_id, reason)

    async def resume_channel(self, team: str, channel_id: str) -> None:
        """Deliver to the channel again; its waiting rows get a fresh count of attempts."""
        async with self._backend.write() as conn:
            await conn.execute(
                update(subscriptions).where(_of(team, channel_id)).values(paused_reason=None)
            )
            await conn.execute(
                update(outbox)
                .where(
                    outbox.c.team_id == team,
                    outbox.c.channel_id == channel_id,
                    outbox.c.state.in_(OPEN_STATES),
                )
                .values(attempts=0)
            )
        self._memory.paused(team, channel_id, None)

    async def adopt(self, team: str) -> int:
        """Single mode at start: rows of no workspace ('') become `team`'s (`workspaces`);
        how many rows changed (0 the second time)."""
        changed = 0
        async with self._backend.write() as conn:
            for statement in adoptions(team):
                changed += (await conn.execute(statement)).rowcount or 0
        if changed:
            self._memory.load(await self.stored())
        return changed

    async def stored(self) -> list[Subscription]:
        """Every subscription as the table has it (memory refilled from it)."""
        async with self._backend.read() as conn:
            rows = (await conn.execute(select(subscriptions))).all()
        return sorted((Subscription(**row._asdict()) for row in rows), key=_order)

"""What polling keeps: each project's last snapshot and outage bookkeeping, each run's latest
summary, and the outbox rows a poll's events become, all written in ONE transaction."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.core.events import Event, Snapshot
from bot.core.outage import Outage
from bot.core.routing import receives
from bot.core.summary import RunSummary
from bot.store.db import Database
from bot.store.schema import PENDING, outbox, projects, runs, subscriptions


class Polls(Database):
    async def load_project(self, project_id: str) -> tuple[Snapshot | None, Outage]:
        async with self._read() as conn:
            row = (
                await conn.execute(select(projects).where(projects.c.project_id == project_id))
            ).first()
        if row is None:
            return None, Outage()
        snapshot = Snapshot.model_validate_json(row.snapshot) if row.snapshot else None
        return snapshot, Outage(
            failing_since=row.failing_since,
            unreachable_notified=row.unreachable_notified,
            auth_notified=row.auth_notified,
            last_error=row.last_error,
        )

    async def snapshot(self, project_id: str) -> Snapshot | None:
        async with self._read() as conn:
            found = await conn.scalar(
                select(projects.c.snapshot).where(projects.c.project_id == project_id)
            )
        return Snapshot.model_validate_json(found) if found else None

    async def save_poll(
        self,
        project_id: str,
        *,
        snapshot: Snapshot | None,
        events: Sequence[Event],
        outage: Outage,
        start_event: Event | None = None,
    ) -> int:
        """Store one poll's outcome in ONE transaction; returns the number of outbox rows added.

        `snapshot=None` (a failed poll) keeps the previous snapshot. `start_event` goes to the
        subscriptions still waiting for one (new ones), ahead of `events` unless `events`
        already carry its key; then no subscription of the project waits any more.
        """
        for item in (*events, *([start_event] if start_event else [])):
            if item.project_id != project_id:
                raise ValueError(f"event {item.key!r} is not about project {project_id}")
        if snapshot is not None and snapshot.project_id != project_id:
            raise ValueError(f"snapshot of project {snapshot.project_id}, not {project_id}")
        now = self._now()
        async with self._write() as conn:
            await self._save_project(conn, project_id, snapshot, outage, now)
            if snapshot is not None and snapshot.summary is not None and snapshot.run_id:
                await self._save_summary(conn, project_id, snapshot.run_id, snapshot.summary, now)
            everyone = [
                (row.channel_id, row.mode)
                for row in await conn.execute(
                    select(subscriptions.c.channel_id, subscriptions.c.mode)
                    .where(subscriptions.c.project_id == project_id)
                    .order_by(subscriptions.c.channel_id)
                )
            ]
            plan = [(item, everyone) for item in events]
            if start_event is not None:
                # Claim atomically: a subscription made after this UPDATE keeps waiting.
                waiting = (
                    await conn.execute(
                        update(subscriptions)
                        .where(subscriptions.c.project_id == project_id)
                        .where(subscriptions.c.needs_start.is_(True))
                        .values(needs_start=False)
                        .returning(subscriptions.c.channel_id, subscriptions.c.mode)
                    )
                ).all()
                if all(item.key != start_event.key for item in events):
                    plan.insert(0, (start_event, sorted((r.channel_id, r.mode) for r in waiting)))
            inserted = 0
            for item, targets in plan:
                inserted += await self._enqueue(conn, item, targets, now)
            return inserted

    async def _save_project(
        self,
        conn: AsyncConnection,
        project_id: str,
        snapshot: Snapshot | None,
        outage: Outage,
        now: datetime,
    ) -> None:
        values: dict[str, Any] = {
            "project_id": project_id,
            "failing_since": outage.failing_since,
            "unreachable_notified": outage.unreachable_notified,
            "auth_notified": outage.auth_notified,
            "last_error": outage.last_error,
            "updated_at": now,
        }
        if snapshot is not None:
            values["snapshot"] = snapshot.model_dump_json()
        stmt = self._insert(projects).values(values)
        changes = {name: stmt.excluded[name] for name in values if name != "project_id"}
        await conn.execute(
            stmt.on_conflict_do_update(index_elements=[projects.c.project_id], set_=changes)
        )

    async def _save_summary(
        self,
        conn: AsyncConnection,
        project_id: str,
        run_id: str,
        summary: RunSummary,
        now: datetime,
    ) -> None:
        """Keep the run's latest summary; its version moves only when the summary changed,
        which is what tells delivery a card needs editing."""
        body = summary.model_dump_json()
        first = self._insert(runs).values(
            project_id=project_id, run_id=run_id, summary=body, version=1, updated_at=now
        )
        if (await conn.execute(first.on_conflict_do_nothing().returning(runs.c.version))).first():
            return
        await conn.execute(
            update(runs)
            .where(runs.c.project_id == project_id, runs.c.run_id == run_id, runs.c.summary != body)
            .values(summary=body, version=runs.c.version + 1, updated_at=now)
        )

    async def _enqueue(
        self,
        conn: AsyncConnection,
        item: Event,
        targets: Iterable[tuple[str, str]],
        now: datetime,
    ) -> int:
        body = item.model_dump_json()
        inserted = 0
        for channel_id, mode in targets:
            if not receives(mode, item):
                continue
            stmt = self._insert(outbox).values(
                channel_id=channel_id,
                project_id=item.project_id,
                run_id=item.run_id,
                event_key=item.key,
                kind=item.kind.value,
                event=body,
                state=PENDING,
                attempts=0,
                created_at=now,
            )
            stmt = stmt.on_conflict_do_nothing(index_elements=["channel_id", "event_key"])
            if (await conn.execute(stmt.returning(outbox.c.id))).first() is not None:
                inserted += 1
        return inserted

    async def queue(self, channel_id: str, event: Event) -> bool:
        """One event owed to one channel, asked for there (`/eon chart`); False if that event
        is already owed or posted there."""
        async with self._write() as conn:
            return await self._enqueue(conn, event, [(channel_id, "all")], self._now()) == 1

    async def run_summary(self, project_id: str, run_id: str) -> tuple[RunSummary, int] | None:
        query = select(runs.c.summary, runs.c.version).where(
            runs.c.project_id == project_id, runs.c.run_id == run_id
        )
        async with self._read() as conn:
            row = (await conn.execute(query)).first()
        return (RunSummary.model_validate_json(row.summary), row.version) if row else None

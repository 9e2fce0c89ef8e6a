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
from bot.store.leases import Leases
from bot.store.schema import PENDING, POLL, digest, outbox, projects, runs, subscriptions

_ROWS_PER_INSERT = 500  # 9 values a row: well under SQLite's 32,766 bound parameters


class Polls(Leases):
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
        owner: str | None = None,
    ) -> int:
        """Store one poll's outcome in ONE transaction; returns the number of outbox rows added.

        `snapshot=None` (a failed poll) keeps the previous snapshot. `start_event` goes to the
        subscriptions still waiting for one (new ones), ahead of `events` unless `events`
        already carry its key; then no subscription of the project waits any more.

        With `owner`, only while that replica holds the project's poll lease (else LeaseLost,
        nothing stored): a replica that stalled past its lease cannot overwrite the snapshot
        of the one that took the project over.
        """
        for item in (*events, *([start_event] if start_event else [])):
            if item.project_id != project_id:
                raise ValueError(f"event {item.key!r} is not about project {project_id}")
        if snapshot is not None and snapshot.project_id != project_id:
            raise ValueError(f"snapshot of project {snapshot.project_id}, not {project_id}")
        now = self._now()
        summary = snapshot.summary if snapshot is not None else None
        shown = summary.model_dump_json() if summary is not None else ""
        async with self._write() as conn:
            if owner is not None:
                await self._hold(conn, POLL, project_id, owner)
            await self._save_project(conn, project_id, snapshot, outage, now)
            kept = self._views.get(project_id) if self._views is not None else None
            if snapshot is not None and summary is not None and snapshot.run_id and kept != shown:
                await self._save_summary(
                    conn, project_id, snapshot.run_id, shown, now, finished=summary.finished
                )
            everyone = (
                [
                    (row.channel_id, row.mode)
                    for row in await conn.execute(
                        select(subscriptions.c.channel_id, subscriptions.c.mode)
                        .where(subscriptions.c.project_id == project_id)
                        .order_by(subscriptions.c.channel_id)
                    )
                ]
                if events
                else []
            )
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
            inserted = await self._enqueue(conn, plan, now)
        if snapshot is not None:
            self._view(project_id, shown)
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
        body: str,
        now: datetime,
        *,
        finished: bool,
    ) -> None:
        """Keep the run's latest summary (`body`, its JSON); its version moves only when the
        summary changed, which is what tells delivery a card needs editing. One statement."""
        stmt = self._insert(runs).values(
            project_id=project_id,
            run_id=run_id,
            run_hash=digest(run_id),
            summary=body,
            version=1,
            updated_at=now,
            finished=finished,
        )
        await conn.execute(
            stmt.on_conflict_do_update(
                index_elements=[runs.c.project_id, runs.c.run_hash],
                set_={
                    "summary": stmt.excluded.summary,
                    "version": runs.c.version + 1,
                    "updated_at": stmt.excluded.updated_at,
                    "finished": stmt.excluded.finished,
                },
                where=runs.c.summary != stmt.excluded.summary,
            )
        )

    async def _enqueue(
        self,
        conn: AsyncConnection,
        plan: Iterable[tuple[Event, Iterable[tuple[str, str]]]],
        now: datetime,
    ) -> int:
        """One outbox row per (event, channel whose mode receives it), in the plan's order
        (which the ids keep, and delivery follows); multi-row INSERTs, not one per row."""
        rows: list[dict[str, Any]] = []
        for item, targets in plan:
            body = item.model_dump_json()
            rows.extend(
                {
                    "channel_id": channel_id,
                    "project_id": item.project_id,
                    "run_id": item.run_id,
                    "event_key": item.key,
                    "event_hash": digest(item.key),
                    "kind": item.kind.value,
                    "event": body,
                    "state": PENDING,
                    "attempts": 0,
                    "created_at": now,
                }
                for channel_id, mode in targets
                if receives(mode, item)
            )
        inserted = 0
        for start in range(0, len(rows), _ROWS_PER_INSERT):
            stmt = self._insert(outbox).values(rows[start : start + _ROWS_PER_INSERT])
            # No conflict target: on SQLite v1's UNIQUE(channel, event_key) is there too.
            stmt = stmt.on_conflict_do_nothing()
            inserted += len((await conn.execute(stmt.returning(outbox.c.id))).all())
        return inserted

    async def queue(self, channel_id: str, event: Event) -> bool:
        """One event owed to one channel, asked for there (`/eon chart`); False if that event
        is already owed or posted there."""
        async with self._write() as conn:
            return await self._enqueue(conn, [(event, [(channel_id, "all")])], self._now()) == 1

    async def summaries(self, project_ids: Sequence[str]) -> dict[str, RunSummary]:
        """The latest summary of each project that has one, for `/eon status`: from memory on
        SQLite (kept by `save_poll`), else in one query."""
        views = self._views if self._views is not None else {}
        missing = [pid for pid in project_ids if pid not in views]
        if missing:
            query = select(projects.c.project_id, projects.c.snapshot).where(
                projects.c.project_id.in_(missing)
            )
            async with self._read() as conn:
                rows = (await conn.execute(query)).all()
            found = {row.project_id: row.snapshot for row in rows}
            for pid in missing:
                snapshot = Snapshot.model_validate_json(found[pid]) if found.get(pid) else None
                summary = snapshot.summary if snapshot is not None else None
                views[pid] = summary.model_dump_json() if summary is not None else ""
        shown = ((pid, views.get(pid)) for pid in project_ids)
        return {pid: RunSummary.model_validate_json(body) for pid, body in shown if body}

    async def run_summary(self, project_id: str, run_id: str) -> tuple[RunSummary, int] | None:
        query = select(runs.c.summary, runs.c.version).where(
            runs.c.project_id == project_id, runs.c.run_hash == digest(run_id)
        )
        async with self._read() as conn:
            row = (await conn.execute(query)).first()
        return (RunSummary.model_validate_json(row.summary), row.version) if row else None

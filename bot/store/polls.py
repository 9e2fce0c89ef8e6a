"""What polling keeps: each project's last snapshot and outage bookkeeping, each run's latest
summary, and the outbox rows a poll's events become, all written in ONE transaction."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Sequence
from datetime import datetime
from functools import cached_property
from typing import Any

from sqlalchemy import Executable, and_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.core.alerts import with_alerts
from bot.core.events import Event, EventKind, Snapshot
from bot.core.outage import Outage
from bot.core.routing import told_as
from bot.core.summary import RunSummary
from bot.store.alerts import Alerts
from bot.store.backend import Backend
from bot.store.installations import away
from bot.store.leases import Leases
from bot.store.schema import PENDING, POLL, digest, outbox, projects, runs, subscriptions
from bot.store.snapshots import Change, SnapshotWriter, whole

_SNAPSHOT_COLUMNS = ("snapshot", "snapshot_patch", "snapshot_tag")
Target = tuple[str, str, str]  # (workspace, channel, watch mode): where an event is queued


def _change(
    project_id: str,
    snapshot: Snapshot | None,
    text: str | None,
    stored_json: str | None,
    stored: Snapshot | None,
) -> Change | None:
    """The snapshot a poll writes: none after a failed one, nor one the store holds already
    (a rewritten snapshot is a dead row version for PostgreSQL to vacuum); else its changes
    since `stored_json` where they are short (`bot.store.snapshots`), found between the
    models when the caller has that one parsed too (`stored`)."""
    if snapshot is None:
        return None
    if snapshot.project_id != project_id:
        raise ValueError(f"snapshot of project {snapshot.project_id}, not {project_id}")
    text = text if text is not None else snapshot.model_dump_json()
    return None if text == stored_json else Change(text, stored_json, stored, snapshot)


class Polls:
    def __init__(
        self,
        backend: Backend,
        now: Callable[[], datetime],
        leases: Leases,
        alerts: Alerts | None = None,
    ) -> None:
        self._backend = backend
        self._memory = backend.memory
        self._now = now
        self._leases = leases
        self._alerts = alerts if alerts is not None else Alerts(backend, now)
        self._snapshots = SnapshotWriter()

    async def load_project(self, project_id: str) -> tuple[Snapshot | None, Outage]:
        text, outage = await self.stored_project(project_id)
        return (Snapshot.model_validate_json(text) if text else None), outage

    async def stored_project(self, project_id: str) -> tuple[str | None, Outage]:
        """The project's snapshot as stored (its JSON, unparsed) and its outage bookkeeping."""
        async with self._backend.read() as conn:
            row = (
                await conn.execute(select(projects).where(projects.c.project_id == project_id))
            ).first()
        if row is None:
            return None, Outage()
        return self._snapshots.read(project_id, row) or None, Outage(
            failing_since=row.failing_since,
            unreachable_notified=row.unreachable_notified,
            auth_notified=row.auth_notified,
            last_error=row.last_error,
        )

    async def snapshot(self, project_id: str) -> Snapshot | None:
        query = select(projects.c.snapshot, projects.c.snapshot_patch).where(
            projects.c.project_id == project_id
        )
        async with self._backend.read() as conn:
            row = (await conn.execute(query)).first()
        found = whole(row.snapshot, row.snapshot_patch) if row is not None else None
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
        snapshot_json: str | None = None,
        stored_json: str | None = None,
        stored: Snapshot | None = None,
        closed: Sequence[RunSummary] = (),
        readers: Collection[str] | None = None,
    ) -> int:
        """Store one poll's outcome in ONE transaction; returns the number of outbox rows added.

        `snapshot=None` (a failed poll) keeps the previous snapshot; `snapshot_json` is its
        JSON when the caller has it already; `stored_json` and `stored`: the snapshot the
        store holds, as the caller last stored or read it (see `_change`). `start_event` goes
        to the subscriptions still waiting for one (new ones), ahead of `events` unless
        `events` already carry its key; then no subscription of the project waits any more.
        `closed`: earlier runs' last summaries (`core.handover`). `readers`: the workspaces
        that may read the project (None: all, a deployment key reads it); the others' channels
        are told nothing of it (DESIGN: a workspace is told only of what it may read).

        With `owner`, only while that replica holds the project's poll lease (else LeaseLost,
        nothing stored): a replica that stalled past its lease cannot overwrite the snapshot
        of the one that took the project over.
        """
        for item in (*events, *([start_event] if start_event else [])):
            if item.project_id != project_id:
                raise ValueError(f"event {item.key!r} is not about project {project_id}")
        now = self._now()
        summary = snapshot.summary if snapshot is not None else None
        shown = summary.model_dump_json() if summary is not None else ""
        write = _change(project_id, snapshot, snapshot_json, stored_json, stored)
        async with self._backend.write() as conn:
            if owner is not None:
                await self._leases.hold(conn, POLL, project_id, owner)
            patch = await self._save_project(conn, project_id, write, outage, now)
            kept = self._memory.summary(project_id)
            if snapshot is not None and summary is not None and snapshot.run_id and kept != shown:
                await self._save_summary(
                    conn, project_id, snapshot.run_id, shown, now, finished=summary.finished
                )
            await self._save_closed(conn, project_id, closed, now)
            plan = await self._plan(conn, project_id, events, readers)
            waiting: Sequence[Any] = []
            if start_event is not None and self._memory.may_await_start(project_id):
                # Claim atomically: a subscription made after this UPDATE keeps waiting.
                waiting = await self._claim_start(conn, project_id, readers)
                if all(item.key != start_event.key for item in events):
                    plan.insert(0, (start_event, sorted(waiting)))
            inserted = await self.enqueue(conn, plan, now)
        if write is not None:
            self._snapshots.written(project_id, patch)
        if snapshot is not None:
            self._memory.summarised(project_id, shown)
        self._memory.started(project_id, ((team, channel) for team, channel, _ in waiting))
        return inserted

    async def _claim_start(
        self, conn: AsyncConnection, project_id: str, readers: Collection[str] | None
    ) -> list[Target]:
        """The subscriptions still waiting for the project's start event (of the workspaces
        that may read it), claimed atomically: one made after this UPDATE keeps waiting."""
        waits = and_(
            subscriptions.c.project_id == project_id,
            subscriptions.c.needs_start.is_(True),
            subscriptions.c.team_id.not_in(away()),
        )
        if readers is not None:
            waits = and_(waits, subscriptions.c.team_id.in_(sorted(readers)))
        claimed = await conn.execute(
            update(subscriptions)
            .where(waits)
            .values(needs_start=False)
            .returning(subscriptions.c.team_id, subscriptions.c.channel_id, subscriptions.c.mode)
        )
        return [(row.team_id, row.channel_id, row.mode) for row in claimed]

    async def _plan(
        self,
        conn: AsyncConnection,
        project_id: str,
        events: Sequence[Event],
        readers: Collection[str] | None,
    ) -> list[tuple[Event, list[Target]]]:
        """Each event and the (workspace, channel, mode)s it is queued for, in the order told:
        every subscription of a workspace that may read the project, and after a completion
        its alerts' notices to their own channels (`core.alerts`), read in this transaction;
        a channel no longer watching gets none."""
        if not events:
            return []
        everyone = await self._audience(conn, project_id)
        if readers is not None:
            everyone = [target for target in everyone if target[0] in readers]
        completed = any(item.kind is EventKind.TRIAL_COMPLETED for item in events)
        alerts = await self._alerts.project_alerts(conn, project_id) if completed else []
        return [
            (item, everyone if to is None else [t for t in everyone if (t[0], t[1]) == to])
            for item, to in with_alerts(events, alerts)
        ]

    async def _audience(self, conn: AsyncConnection, project_id: str) -> list[Target]:
        """(workspace, channel, mode) of each subscription to the project, of every workspace
        but those that left: from memory where the backend keeps the subscriptions (SQLite),
        else read in `conn`."""
        known = self._memory.subscriptions(None, project_id=project_id)
        if known is not None:
            gone = set((await conn.scalars(away())).all())
            return sorted((s.team_id, s.channel_id, s.mode) for s in known if s.team_id not in gone)
        query = (
            select(subscriptions.c.team_id, subscriptions.c.channel_id, subscriptions.c.mode)
            .where(subscriptions.c.project_id == project_id, subscriptions.c.team_id.not_in(away()))
            .order_by(subscriptions.c.team_id, subscriptions.c.channel_id)
        )
        return [(row.team_id, row.channel_id, row.mode) for row in await conn.execute(query)]

    @cached_property
    def _upserts(self) -> dict[str, Executable]:
        """The statements every changed poll runs, built once (building one, `excluded` and
        all, took longer than SQLite took to run it); each execution passes its values."""
        project = self._backend.insert(projects)
        outage = ("failing_since", "unreachable_notified", "auth_notified", "last_error")
        kept = {name: project.excluded[name] for name in (*outage, "updated_at")}
        run = self._backend.insert(runs)
        return {
            "project": project.on_conflict_do_update(
                index_elements=[projects.c.project_id], set_=kept
            ),
            "project+snapshot": project.on_conflict_do_update(
                index_elements=[projects.c.project_id],
                set_={
                    **kept,
                    **{name: project.excluded[name] for name in _SNAPSHOT_COLUMNS},
                },
            ),
            "run": run.on_conflict_do_update(
                index_elements=[runs.c.project_id, runs.c.run_hash],
                set_={
                    "summary": run.excluded.summary,
                    "version": runs.c.version + 1,
                    "updated_at": run.excluded.updated_at,
                    "finished": run.excluded.finished,
                },
                where=runs.c.summary != run.excluded.summary,
            ),
            # No conflict target: on SQLite v1's UNIQUE(channel, event_key) is there too.
            "outbox": self._backend.insert(outbox).on_conflict_do_nothing().returning(outbox.c.id),
        }

    async def _save_project(
        self,
        conn: AsyncConnection,
        project_id: str,
        change: Change | None,
        outage: Outage,
        now: datetime,
    ) -> str | None:
        """The project's row; with `change`, its snapshot too (as a patch where it can be).
        Returns the patch written, if one was."""
        values: dict[str, Any] = {
            "project_id": project_id,
            "failing_since": outage.failing_since,
            "unreachable_notified": outage.unreachable_notified,
            "auth_notified": outage.auth_notified,
            "last_error": outage.last_error,
            "updated_at": now,
        }
        if change is None:
            await conn.execute(self._upserts["project"], values)
            return None
        return await self._snapshots.write(conn, values, change, self._upserts["project+snapshot"])

    async def _save_closed(
        self, conn: AsyncConnection, project_id: str, closed: Sequence[RunSummary], now: datetime
    ) -> None:
        """The last summaries of runs closed by a poll of a later one (their cards' source)."""
        for ended in closed:
            if ended.run_id is not None:
                body = ended.model_dump_json()
                await self._save_summary(conn, project_id, ended.run_id, body, now, finished=True)

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
        values = {
            "project_id": project_id,
            "run_id": run_id,
            "run_hash": digest(run_id),
            "summary": body,
            "version": 1,
            "updated_at": now,
            "finished": finished,
        }
        await conn.execute(self._upserts["run"], values)

    async def enqueue(
        self,
        conn: AsyncConnection,
        plan: Iterable[tuple[Event, Iterable[Target]]],
        now: datetime,
    ) -> int:
        """One outbox row per (event, channel whose mode is told it), in the plan's order
        (which the ids keep, and delivery follows); SQLAlchemy sends them as multi-row
        INSERTs ("insertmanyvalues"), not one per row."""
        rows: list[dict[str, Any]] = []
        for item, targets in plan:
            bodies: dict[bool, str] = {}  # the event's, and a quiet copy's (`routing.told_as`)
            for team, channel_id, mode in targets:
                told = told_as(mode, item)
                if told is None:
                    continue
                if told.quiet not in bodies:
                    bodies[told.quiet] = told.model_dump_json()
                rows.append(
                    {
                        "team_id": team,
                        "channel_id": channel_id,
                        "project_id": item.project_id,
                        "run_id": item.run_id,
                        "event_key": item.key,
                        "event_hash": digest(item.key),
                        "kind": item.kind.value,
                        "event": bodies[told.quiet],
                        "state": PENDING,
                        "attempts": 0,
                        "created_at": now,
                    }
                )
        if not rows:
            return 0
        return len((await conn.execute(self._upserts["outbox"], rows)).all())

    async def queue(self, team: str, channel_id: str, event: Event) -> bool:
        """One event owed to one channel of a workspace, asked for there (`/eon chart`);
        False if that event is already owed or posted there."""
        async with self._backend.write() as conn:
            plan = [(event, [(team, channel_id, "all")])]
            return await self.enqueue(conn, plan, self._now()) == 1

    async def summaries(self, project_ids: Sequence[str]) -> dict[str, RunSummary]:
        """The latest summary of each project that has one, for `/eon status`: from memory
        where the backend keeps them (SQLite; `save_poll` tells it), else from the run last
        updated (one query), or for a project with no run yet, its snapshot."""
        known = {pid: self._memory.summary(pid) for pid in project_ids}
        missing = [pid for pid, body in known.items() if body is None]
        if missing:
            found = await self._latest_summaries(missing)
            for pid, body in found.items():
                self._memory.summarised(pid, body)
            known.update(found)
        return {pid: RunSummary.model_validate_json(body) for pid, body in known.items() if body}

    async def _latest_summaries(self, project_ids: list[str]) -> dict[str, str]:
        """Each project's latest summary (JSON, "" for none), reading no snapshot but those of
        projects without a run (a snapshot is many times its summary)."""
        latest = (
            select(runs.c.project_id, runs.c.summary)
            .join(projects, projects.c.project_id == runs.c.project_id)
            # No snapshot: a fresh baseline (`subscribe`), so no summary to show yet.
            .where(runs.c.project_id.in_(project_ids), projects.c.snapshot.is_not(None))
        )
        # SQLite reads all a project's runs, once per project after a start (then memory).
        latest = self._backend.latest_last(latest, runs.c.project_id, runs.c.updated_at)
        snapshots: dict[str, str | None] = {}
        async with self._backend.read() as conn:
            found = {row.project_id: row.summary for row in await conn.execute(latest)}
            runless = [pid for pid in project_ids if pid not in found]
            if runless:
                query = select(
                    projects.c.project_id, projects.c.snapshot, projects.c.snapshot_patch
                ).where(projects.c.project_id.in_(runless))
                snapshots = {
                    row.project_id: whole(row.snapshot, row.snapshot_patch)
                    for row in await conn.execute(query)
                }
        for pid in runless:
            text = snapshots.get(pid)
            snapshot = Snapshot.model_validate_json(text) if text else None
            summary = snapshot.summary if snapshot is not None else None
            found[pid] = summary.model_dump_json() if summary is not None else ""
        return found

    async def run_summary(self, project_id: str, run_id: str) -> tuple[RunSummary, int] | None:
        query = select(runs.c.summary, runs.c.version).where(
            runs.c.project_id == project_id, runs.c.run_hash == digest(run_id)
        )
        async with self._backend.read() as conn:
            row = (await conn.execute(query)).first()
        return (RunSummary.model_validate_json(row.summary), row.version) if row else None

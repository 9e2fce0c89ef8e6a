"""Channels' daily digests (`/eon digest`): each channel's time, the figures of its last 24 h
read from what the store keeps (runs, the outbox's events, actions), and the digest queued once
a day: the replica that moves `last_day` forward alone queues it, in the same transaction, and
the outbox's UNIQUE(channel, event key) keeps it to one besides."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, or_, select, update

from bot.core.digest import ProjectDay, RunLine
from bot.core.events import Event, EventKind
from bot.core.run_name import project_label
from bot.core.summary import RunSummary
from bot.store.backend import Backend
from bot.store.schema import PENDING, actions, digest, digests, outbox, project_names, runs

_COUNTED = (
    EventKind.RUN_STARTED,
    EventKind.JOB_FINISHED,
    EventKind.TRIAL_FAILED,
    EventKind.RUN_STALLED,
)


def _of(team: str, channel_id: str) -> tuple[Any, Any]:
    return digests.c.team_id == team, digests.c.channel_id == channel_id


class Digests:
    def __init__(self, backend: Backend, now: Callable[[], datetime]) -> None:
        self._backend = backend
        self._now = now

    async def set_digest(
        self,
        team: str,
        channel_id: str,
        at_minute: int | None,
        set_by: str,
        done_day: str | None = None,
    ) -> None:
        """The channel's digest time (None: no digest); `done_day`: today, when the time has
        already passed (the first digest is tomorrow's)."""
        async with self._backend.write() as conn:
            await conn.execute(delete(digests).where(*_of(team, channel_id)))
            if at_minute is not None:
                await conn.execute(
                    digests.insert().values(
                        team_id=team,
                        channel_id=channel_id,
                        at_minute=at_minute,
                        set_by=set_by,
                        last_day=done_day,
                    )
                )

    async def digest_at(self, team: str, channel_id: str) -> int | None:
        query = select(digests.c.at_minute).where(*_of(team, channel_id))
        async with self._backend.read() as conn:
            found = await conn.scalar(query)
        return int(found) if found is not None else None

    async def digest_times(self, team: str) -> dict[str, int]:
        """The workspace's channels with a daily digest → its minute (`at_text` shows it)."""
        query = select(digests.c.channel_id, digests.c.at_minute).where(digests.c.team_id == team)
        async with self._backend.read() as conn:
            return {str(c): int(m) for c, m in (await conn.execute(query)).all()}

    async def digests_waiting(self, today: str) -> list[tuple[str, str, int, str | None]]:
        """(workspace, channel, minute, last day) of each digest not yet queued today, every
        workspace's (a small table, looked at by delivery for all)."""
        query = select(
            digests.c.team_id, digests.c.channel_id, digests.c.at_minute, digests.c.last_day
        ).where(or_(digests.c.last_day.is_(None), digests.c.last_day < today))
        async with self._backend.read() as conn:
            rows = (await conn.execute(query)).all()
        return [(str(r[0]), str(r[1]), int(r[2]), r[3]) for r in rows]

    async def project_days(
        self, team: str, project_ids: Sequence[str], since: datetime
    ) -> list[ProjectDay]:
        """What each project did since `since`, as the workspace saw it: runs started and
        ended, failed trials and stalls (told to any of its channels, each event once),
        actions taken from its Slack, and each run active meanwhile with its best trial."""
        ids = sorted(project_ids)
        async with self._backend.read() as conn:
            events = (
                await conn.execute(
                    select(outbox.c.project_id, outbox.c.kind, outbox.c.event_hash)
                    .where(
                        outbox.c.team_id == team,
                        outbox.c.project_id.in_(ids),
                        outbox.c.created_at >= since,
                        outbox.c.kind.in_([kind.value for kind in _COUNTED]),
                    )
                    .distinct()
                )
            ).all()
            acted = (
                await conn.execute(
                    select(actions.c.project_id, func.count())
                    .where(
                        actions.c.team_id == team,
                        actions.c.project_id.in_(ids),
                        actions.c.created_at >= since,
                    )
                    .group_by(actions.c.project_id)
                )
            ).all()
            active = (
                await conn.execute(
                    select(runs.c.project_id, runs.c.summary)
                    .where(runs.c.project_id.in_(ids), runs.c.updated_at >= since)
                    .order_by(runs.c.updated_at)
                )
            ).all()
            names = dict(
                (
                    await conn.execute(
                        select(project_names.c.project_id, project_names.c.name).where(
                            project_names.c.project_id.in_(ids)
                        )
                    )
                ).all()
            )
        counts = Counter((str(row.project_id), str(row.kind)) for row in events)
        done = dict((str(pid), int(n)) for pid, n in acted)
        lines: dict[str, list[RunLine]] = {}
        for pid, body in active:
            lines.setdefault(str(pid), []).append(_run_line(RunSummary.model_validate_json(body)))
        return [
            ProjectDay(
                project_id=pid,
                label=project_label(pid, names.get(pid)),
                runs_started=counts[(pid, EventKind.RUN_STARTED.value)],
                runs_ended=counts[(pid, EventKind.JOB_FINISHED.value)],
                failures=counts[(pid, EventKind.TRIAL_FAILED.value)],
                stalls=counts[(pid, EventKind.RUN_STALLED.value)],
                actions=done.get(pid, 0),
                runs=tuple(lines.get(pid, ())),
            )
            for pid in ids
        ]

    async def queue_digest(self, team: str, channel_id: str, event: Event, day: str | None) -> bool:
        """Queue the digest to the channel; with `day`, only if no replica queued that day's
        (moving `last_day` forward is the claim). False when it was queued already."""
        async with self._backend.write() as conn:
            if day is not None:
                claimed = (
                    await conn.execute(
                        update(digests)
                        .where(
                            *_of(team, channel_id),
                            or_(digests.c.last_day.is_(None), digests.c.last_day < day),
                        )
                        .values(last_day=day)
                        .returning(digests.c.channel_id)
                    )
                ).first()
                if claimed is None:
                    return False
            row: dict[str, Any] = {
                "team_id": team,
                "channel_id": channel_id,
                "project_id": event.project_id,
                "run_id": None,
                "event_key": event.key,
                "event_hash": digest(event.key),
                "kind": event.kind.value,
                "event": event.model_dump_json(),
                "state": PENDING,
                "attempts": 0,
                "created_at": self._now(),
            }
            stmt = self._backend.insert(outbox).values(row).on_conflict_do_nothing()
            return (await conn.execute(stmt.returning(outbox.c.id))).first() is not None


def _run_line(summary: RunSummary) -> RunLine:
    state = "running"
    if summary.finished:
        state = "failed" if summary.outcome == "failed" else "finished"
    best = summary.best
    return RunLine(summary.display_name, state, best.model_dump() if best is not None else None)

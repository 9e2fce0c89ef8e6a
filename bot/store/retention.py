"""Retention: what the store forgets after `RETENTION_DAYS`, so it does not grow for ever.

Pruned, once older than the cut-off: outbox rows already `sent` or `abandoned` (their messages
are in Slack; rows still owed are never pruned), runs that ended (with their cards), projects
no channel watches any more, leases of replicas long gone, actions taken from Slack whose
job ended, and requests for a run's end by DM ("🔔") once told or once their run is gone,
unless that DM is still owed. Never pruned: subscriptions, and
what the next poll of a watched project needs (its snapshot, its current run). Forgetting a
sent row cannot get its message posted again: the project's snapshot remembers what was
reported of its current run, and an ended run's events are not raised again.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, delete, exists, func, literal, or_

from bot.store.backend import Backend
from bot.store.schema import (
    ABANDONED,
    CLAIMED,
    OPEN_STATES,
    SENT,
    STARTED,
    actions,
    bells,
    cards,
    leases,
    outbox,
    projects,
    runs,
    subscriptions,
)


class Retention:
    def __init__(self, backend: Backend) -> None:
        self._backend = backend

    async def prune(self, before: datetime) -> dict[str, int]:
        """Forget what is older than `before`, in one transaction; returns rows deleted by table."""
        done_at = func.coalesce(outbox.c.sent_at, outbox.c.created_at)
        watched = exists().where(subscriptions.c.project_id == projects.c.project_id)
        has_run = exists().where(
            and_(runs.c.project_id == cards.c.project_id, runs.c.run_hash == cards.c.run_hash)
        )
        run_kept = exists().where(
            runs.c.project_id == bells.c.project_id, runs.c.run_hash == bells.c.run_hash
        )
        dm_owed = exists().where(
            outbox.c.channel_id == literal("@").concat(bells.c.user_id),
            outbox.c.project_id == bells.c.project_id,
            outbox.c.state.in_(OPEN_STATES),
        )
        statements = {
            "outbox": delete(outbox).where(outbox.c.state.in_((SENT, ABANDONED)), done_at < before),
            "runs": delete(runs).where(runs.c.finished.is_(True), runs.c.updated_at < before),
            "projects": delete(projects).where(~watched, projects.c.updated_at < before),
            "cards": delete(cards).where(~has_run),
            "leases": delete(leases).where(leases.c.expires_at < before),
            "actions": delete(actions).where(
                actions.c.state.not_in((CLAIMED, STARTED)), actions.c.updated_at < before
            ),
            "bells": delete(bells).where(
                bells.c.created_at < before, or_(bells.c.rung.is_(True), ~run_kept), ~dm_owed
            ),
        }
        counts: dict[str, int] = {}
        async with self._backend.write() as conn:
            for table, statement in statements.items():  # a project's runs go with it (FK)
                result = await conn.execute(statement)
                counts[table] = int(result.rowcount or 0)
        return counts

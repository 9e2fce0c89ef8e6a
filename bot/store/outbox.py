"""What delivery keeps: the outbox rows owed to channels (their run cards: `cards`)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, exists, func, or_, select, tuple_, update

from bot.core.events import Event, EventKind
from bot.fmt import one_line, redact
from bot.store.backend import Backend
from bot.store.bells import bell_for_row, people_with_work
from bot.store.leases import LeaseLost, Leases, TeamChannel
from bot.store.schema import (
    ABANDONED,
    ATTEMPTING,
    DELIVER,
    OPEN_STATES,
    PENDING,
    SENT,
    cards,
    digest,
    outbox,
    runs,
    subscriptions,
)

log = logging.getLogger(__name__)

ERROR_CHARS = 300  # of a row's last error: enough to act on, small enough to list
_UNCLAIMED: dict[str, Any] = {"claimed_by": None, "claim_expires": None}


@dataclass(frozen=True, slots=True)
class OutboxRow:
    id: int
    channel_id: str
    project_id: str
    run_id: str | None
    event: Event
    state: str  # "pending" | "attempting" (an attempt started and its outcome is unknown)
    attempts: int
    created_at: datetime
    team_id: str = ""  # the workspace whose channel it is (always given by the store)


class Outbox:
    def __init__(self, backend: Backend, now: Callable[[], datetime], leases: Leases) -> None:
        self._backend = backend
        self._now = now
        self._leases = leases

    def _active(self) -> Any:
        """Outbox and card rows whose (channel, project) is subscribed and not paused."""
        return and_(
            subscriptions.c.paused_reason.is_(None),
            subscriptions.c.team_id == outbox.c.team_id,
            subscriptions.c.channel_id == outbox.c.channel_id,
            subscriptions.c.project_id == outbox.c.project_id,
        )

    async def channels_with_work(self) -> list[str]:
        """Unpaused channels with rows to post or a card behind its run's summary."""
        return sorted(where.channel_id for where in await self.work())

    async def work(
        self,
        *,
        projects: Collection[str] | None = None,
        channels: Collection[TeamChannel] | None = None,
    ) -> dict[TeamChannel, bool]:
        """Each unpaused channel with work, and whether rows are owed there (False: only a
        card is behind its run's summary, which delivery may leave for later). Given
        `projects` or `channels`, only the subscriptions to those projects and those of those
        channels are looked at (both indexed): what a few polls' news can have changed, at a
        few rows' cost instead of every subscription's."""
        owed = exists().where(
            outbox.c.team_id == subscriptions.c.team_id,
            outbox.c.channel_id == subscriptions.c.channel_id,
            outbox.c.project_id == subscriptions.c.project_id,
            outbox.c.state.in_(OPEN_STATES),
        )
        stale = exists().where(
            cards.c.team_id == subscriptions.c.team_id,
            cards.c.channel_id == subscriptions.c.channel_id,
            cards.c.project_id == subscriptions.c.project_id,
            runs.c.project_id == cards.c.project_id,
            runs.c.run_hash == cards.c.run_hash,
            runs.c.version > cards.c.rendered_version,
        )
        query = (
            select(subscriptions.c.team_id, subscriptions.c.channel_id, owed.label("owed"))
            .where(subscriptions.c.paused_reason.is_(None), or_(owed, stale))
            .distinct()
        )
        if projects is not None or channels is not None:
            if not projects and not channels:
                return {}
            query = query.where(
                or_(
                    subscriptions.c.project_id.in_(sorted(projects or ())),
                    tuple_(subscriptions.c.team_id, subscriptions.c.channel_id).in_(
                        sorted(channels or ())
                    ),
                )
            )
        found: dict[TeamChannel, bool] = {}
        async with self._backend.read() as conn:
            for team, channel_id, rows_owed in await conn.execute(query):
                where = TeamChannel(team, channel_id)
                found[where] = found.get(where, False) or bool(rows_owed)
            for team, person in await conn.execute(people_with_work()):  # ends owed by DM
                found[TeamChannel(team, person)] = True
        return found

    async def outbox(self, team: str, channel_id: str, *, limit: int = 100) -> list[OutboxRow]:
        """Rows to post in the workspace's channel, oldest first; none of paused
        subscriptions; to a person (`bells.person_address`), the ends they still ask for."""
        query = (
            select(outbox)
            .where(
                outbox.c.team_id == team,
                outbox.c.channel_id == channel_id,
                outbox.c.state.in_(OPEN_STATES),
            )
            .where(or_(exists().where(self._active()), bell_for_row()))
            .order_by(outbox.c.id)
            .limit(limit)
        )
        async with self._backend.read() as conn:
            rows = (await conn.execute(query)).all()
        return [
            OutboxRow(
                id=row.id,
                channel_id=row.channel_id,
                project_id=row.project_id,
                run_id=row.run_id,
                event=Event.model_validate_json(row.event),
                state=row.state,
                attempts=row.attempts,
                created_at=row.created_at,
                team_id=row.team_id,
            )
            for row in rows
        ]

    async def mark_attempting(
        self, row_id: int, *, owner: str | None = None, claim_s: float = 60.0
    ) -> bool:
        """Committed before the Slack call, so a crash mid-call leaves a trace to check.
        False if the row is no longer to be posted (the channel unsubscribed): skip it.

        With `owner`, the row is claimed by that replica for `claim_s` seconds (renewed while
        it lives, `Leases.renew`), and only while it holds the channel's delivery lease and no
        live replica claims the row: else LeaseLost, and the channel is another's to drain. A
        dead replica's claim lapses, and the row, still `attempting`, is looked up before it
        is posted again.
        """
        claim: dict[str, Any] = {}
        mine: Any = outbox.c.id == row_id
        if owner is not None:
            claim = {"claimed_by": owner, "claim_expires": self._backend.until(claim_s)}
            mine = and_(mine, self._backend.claimable(owner))
        async with self._backend.write() as conn:
            result = await conn.execute(
                update(outbox)
                .where(mine, outbox.c.state.in_(OPEN_STATES))
                .values(state=ATTEMPTING, attempts=outbox.c.attempts + 1, **claim)
                .returning(outbox.c.team_id, outbox.c.channel_id)
            )
            channel = result.first()
            if owner is None:
                return channel is not None
            if channel is None:
                holder = await conn.scalar(
                    select(outbox.c.claimed_by).where(
                        outbox.c.id == row_id, outbox.c.state.in_(OPEN_STATES)
                    )
                )
                if holder is not None:  # open, and claimed by a live replica
                    raise LeaseLost(f"outbox row {row_id} is claimed by {holder}")
                return False
            await self._leases.hold(conn, DELIVER, TeamChannel(*channel).lease, owner)
            return True

    async def mark_sent(self, row_id: int, *, ts: str, card_version: int | None = None) -> None:
        """Record the post; with `card_version`, the message also becomes its run's card in
        the channel (same transaction, so a card never exists without its row marked sent)."""
        async with self._backend.write() as conn:
            row = (
                await conn.execute(
                    update(outbox)
                    .where(outbox.c.id == row_id)
                    .values(state=SENT, ts=ts, sent_at=self._now(), **_UNCLAIMED)
                    .returning(
                        outbox.c.team_id,
                        outbox.c.channel_id,
                        outbox.c.project_id,
                        outbox.c.run_id,
                    )
                )
            ).first()
            if row is None or card_version is None:
                return
            if row.run_id is None:
                # Raising would roll back the `sent` mark and get the message posted again.
                log.error("outbox row %s has no run: not recording it as a card", row_id)
                return
            stmt = self._backend.insert(cards).values(
                team_id=row.team_id,
                channel_id=row.channel_id,
                project_id=row.project_id,
                run_id=row.run_id,
                run_hash=digest(row.run_id),
                ts=ts,
                rendered_version=card_version,
            )
            await conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=[
                        cards.c.team_id,
                        cards.c.channel_id,
                        cards.c.project_id,
                        cards.c.run_hash,
                    ],
                    set_={"ts": stmt.excluded.ts, "rendered_version": card_version},
                )
            )

    async def mark_retry(self, row_id: int, error: str) -> int:
        """Back to pending (unless sent or abandoned meanwhile), keeping a short, masked error;
        returns the row's attempts so far (0: it was not open)."""
        async with self._backend.write() as conn:
            attempts = await conn.scalar(
                update(outbox)
                .where(outbox.c.id == row_id, outbox.c.state.in_(OPEN_STATES))
                .values(
                    state=PENDING, last_error=one_line(redact(error), ERROR_CHARS), **_UNCLAIMED
                )
                .returning(outbox.c.attempts)
            )
            return int(attempts or 0)

    async def count_failure(self, row_id: int, error: str) -> int:
        """A failed step that is not a post (the look-up before a repost): counted among the
        row's attempts, its state kept; returns the attempts so far (0: it was not open)."""
        async with self._backend.write() as conn:
            attempts = await conn.scalar(
                update(outbox)
                .where(outbox.c.id == row_id, outbox.c.state.in_(OPEN_STATES))
                .values(
                    attempts=outbox.c.attempts + 1, last_error=one_line(redact(error), ERROR_CHARS)
                )
                .returning(outbox.c.attempts)
            )
            return int(attempts or 0)

    async def mark_given_up(self, row_id: int, error: str) -> None:
        """No more attempts (unless sent meanwhile): `abandoned`, with its error kept."""
        async with self._backend.write() as conn:
            await conn.execute(
                update(outbox)
                .where(outbox.c.id == row_id, outbox.c.state.in_(OPEN_STATES))
                .values(state=ABANDONED, last_error=one_line(redact(error), ERROR_CHARS))
            )

    async def sent_failures(
        self, team: str, channel_id: str, project_id: str, trial_id: str
    ) -> list[tuple[str, Event]]:
        """(ts, event) of the failure messages of one trial posted in the channel, oldest
        first: what is edited when the trial later completes on a retry."""
        query = (
            select(outbox.c.ts, outbox.c.event)
            .where(
                outbox.c.team_id == team,
                outbox.c.channel_id == channel_id,
                outbox.c.project_id == project_id,
                outbox.c.kind == EventKind.TRIAL_FAILED.value,
                outbox.c.state == SENT,
                outbox.c.ts.is_not(None),
            )
            .order_by(outbox.c.id)
        )
        async with self._backend.read() as conn:
            rows = (await conn.execute(query)).all()
        found = [(str(row.ts), Event.model_validate_json(row.event)) for row in rows]
        return [(ts, event) for ts, event in found if event.trial_id == trial_id]

    async def sent_of_run(
        self,
        team: str,
        channel_id: str,
        project_id: str,
        run_id: str,
        kinds: Collection[EventKind],
    ) -> list[tuple[str, Event]]:
        """(ts, event) of the run's messages of `kinds` posted in the channel, oldest first:
        what is edited when a button on them no longer applies."""
        query = (
            select(outbox.c.ts, outbox.c.event)
            .where(
                outbox.c.team_id == team,
                outbox.c.channel_id == channel_id,
                outbox.c.project_id == project_id,
                outbox.c.run_id == run_id,
                outbox.c.kind.in_([kind.value for kind in kinds]),
                outbox.c.state == SENT,
                outbox.c.ts.is_not(None),
                outbox.c.ts != "",
            )
            .order_by(outbox.c.id)
        )
        async with self._backend.read() as conn:
            rows = (await conn.execute(query)).all()
        return [(str(row.ts), Event.model_validate_json(row.event)) for row in rows]

    async def waiting_count(self) -> int:
        """Notifications not yet posted (pending or attempting, paused channels included),
        for the `eonbot_outbox_waiting` gauge."""
        query = select(func.count()).select_from(outbox).where(outbox.c.state.in_(OPEN_STATES))
        async with self._backend.read() as conn:
            return int(await conn.scalar(query) or 0)

    async def sent_count(self, team: str | None = None, channel_id: str | None = None) -> int:
        """Posted notifications: every workspace's (None), or a workspace's (of a channel)."""
        query = select(func.count()).select_from(outbox).where(outbox.c.state == SENT)
        if team is not None:
            query = query.where(outbox.c.team_id == team)
        if channel_id is not None:
            query = query.where(outbox.c.channel_id == channel_id)
        async with self._backend.read() as conn:
            return int(await conn.scalar(query) or 0)

""" "🔔 Tell me when it ends": who asked for a run's end by direct message, and that end queued
to each of them once.

A request is one row per (project, run, person) (UNIQUE: a second click finds it). The end is
queued by `ring_due`, from what the outbox already holds: a request whose run's end
(`eon_job_finished`) has a row in any channel gets one outbox row of its own, addressed to the
person (`person_address`: `@` + user id, which delivery opens a DM for), under the same event
key, so the outbox's UNIQUE(channel, event key) keeps it to one across replicas and restarts.
`ring_due` runs after every click and every few seconds on each replica (`bot.slack.delivery`),
so a click racing the run's end is rung either way; it reads before it writes.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Final, Literal

from sqlalchemy import and_, delete, exists, literal, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.core.events import EventKind
from bot.store.backend import Backend
from bot.store.schema import (
    OPEN_STATES,
    PENDING,
    bells,
    cards,
    digest,
    outbox,
    runs,
    subscriptions,
)

PERSON: Final = "@"
"""Outbox rows addressed to a person, not a channel, have `channel_id` = PERSON + user id."""

Rang = Literal["added", "exists", "not_watched"]


def person_address(user_id: str) -> str:
    """The outbox's address of a person's direct message."""
    return f"{PERSON}{user_id}"


def person_of(address: str) -> str | None:
    """The user id an outbox address names, or None for a channel."""
    return address[len(PERSON) :] if address.startswith(PERSON) else None


def bell_for_row() -> Any:
    """SQL: the outbox row is addressed to a person who still asks for its project's run end."""
    return exists().where(
        bells.c.team_id == outbox.c.team_id,
        literal(PERSON).concat(bells.c.user_id) == outbox.c.channel_id,
        bells.c.project_id == outbox.c.project_id,
        bells.c.run_id == outbox.c.run_id,
    )


class Bells:
    def __init__(self, backend: Backend, now: Callable[[], datetime]) -> None:
        self._backend = backend
        self._now = now

    async def add_bell(
        self, team: str, project_id: str, run_id: str, user_id: str, channel_id: str
    ) -> Rang:
        """Keep the request, unless the person has it already or the channel (where the card
        was clicked) no longer watches the project. The run's cards are marked to be drawn
        again (they name who asked)."""
        async with self._backend.write() as conn:
            watched = await conn.scalar(
                select(subscriptions.c.channel_id).where(
                    subscriptions.c.team_id == team,
                    subscriptions.c.channel_id == channel_id,
                    subscriptions.c.project_id == project_id,
                )
            )
            if watched is None:
                return "not_watched"
            stmt = self._backend.insert(bells).values(
                team_id=team,
                project_id=project_id,
                run_id=run_id,
                run_hash=digest(run_id),
                user_id=user_id,
                channel_id=channel_id,
                rung=False,
                created_at=self._now(),
            )
            added = (
                await conn.execute(stmt.on_conflict_do_nothing().returning(bells.c.id))
            ).first()
            if added is not None:
                await _redraw_cards(conn, team, project_id, run_id)
        return "added" if added is not None else "exists"

    async def remove_bell(self, team: str, project_id: str, run_id: str, user_id: str) -> bool:
        """Forget the request (an end already queued to them is then not posted either)."""
        where = _request(team, project_id, run_id, user_id)
        async with self._backend.write() as conn:
            gone = (await conn.execute(delete(bells).where(where).returning(bells.c.id))).first()
            if gone is not None:
                await _redraw_cards(conn, team, project_id, run_id)
        return gone is not None

    async def bells_of(self, team: str, project_id: str, run_id: str) -> list[str]:
        """Who of the workspace asked for the run's end, in the order they asked (user ids)."""
        query = (
            select(bells.c.user_id)
            .where(
                bells.c.team_id == team,
                bells.c.project_id == project_id,
                bells.c.run_hash == digest(run_id),
            )
            .order_by(bells.c.id)
        )
        async with self._backend.read() as conn:
            return [str(user) for user in (await conn.scalars(query)).all()]

    async def bells_waiting(self, team: str, user_id: str) -> list[tuple[str, str]]:
        """(project, run) of each end the person asked for and was not told yet, in the order
        asked (the Home tab lists them)."""
        query = (
            select(bells.c.project_id, bells.c.run_id)
            .where(bells.c.team_id == team, bells.c.user_id == user_id, bells.c.rung.is_(False))
            .order_by(bells.c.id)
        )
        async with self._backend.read() as conn:
            return [(str(p), str(r)) for p, r in (await conn.execute(query)).all()]

    async def bell_channel(
        self, team: str, user_id: str, project_id: str, run_id: str
    ) -> str | None:
        """The channel whose card the person clicked (its thread is what their DM links to)."""
        query = select(bells.c.channel_id).where(_request(team, project_id, run_id, user_id))
        async with self._backend.read() as conn:
            found = await conn.scalar(query)
        return str(found) if found is not None else None

    async def ring_due(self) -> int:
        """Queue each waiting request whose run has ended to its person, once; returns how many
        were queued now. A read of the few waiting requests first (the usual answer: none
        ended), then one transaction. A request whose run ended with no end row anywhere (no
        channel watched it any more) is closed with nothing to tell."""
        query = (
            select(bells.c.id, bells.c.team_id, bells.c.project_id, bells.c.run_id, bells.c.user_id)
            .join(
                runs,
                and_(runs.c.project_id == bells.c.project_id, runs.c.run_hash == bells.c.run_hash),
            )
            .where(bells.c.rung.is_(False), runs.c.finished.is_(True))
        )
        async with self._backend.read() as conn:
            due = (await conn.execute(query)).all()
        if not due:
            return 0
        now = self._now()
        async with self._backend.write() as conn:
            rows: list[dict[str, Any]] = []
            for bell in due:
                end = (
                    await conn.execute(
                        select(outbox.c.event, outbox.c.event_key)
                        .where(  # the end as told in a channel of the person's workspace
                            outbox.c.team_id == bell.team_id,
                            outbox.c.project_id == bell.project_id,
                            outbox.c.run_id == bell.run_id,
                            outbox.c.kind == EventKind.JOB_FINISHED.value,
                        )
                        .order_by(outbox.c.id)
                        .limit(1)
                    )
                ).first()
                if end is not None:
                    rows.append(_personal_row(bell, end, now))
            queued = 0
            if rows:
                stmt = self._backend.insert(outbox).on_conflict_do_nothing().returning(outbox.c.id)
                queued = len((await conn.execute(stmt, rows)).all())
            ids = [bell.id for bell in due]
            await conn.execute(update(bells).where(bells.c.id.in_(ids)).values(rung=True))
        return queued


def people_with_work() -> Any:
    """SQL: the person addresses with an end still to post (read from the few requests kept,
    each an indexed look into the outbox)."""
    return (
        select(outbox.c.team_id, outbox.c.channel_id)
        .join(
            bells,
            and_(
                outbox.c.team_id == bells.c.team_id,
                outbox.c.channel_id == literal(PERSON).concat(bells.c.user_id),
                outbox.c.project_id == bells.c.project_id,
                outbox.c.run_id == bells.c.run_id,
            ),
        )
        .where(outbox.c.state.in_(OPEN_STATES))
        .distinct()
    )


def _personal_row(bell: Any, end: Any, now: datetime) -> dict[str, Any]:
    """The outbox row of a run's end (`end`: its event and key, read from a channel's row)
    addressed to the person who asked (`bell`: their request)."""
    return {
        "team_id": bell.team_id,
        "channel_id": person_address(bell.user_id),
        "project_id": bell.project_id,
        "run_id": bell.run_id,
        "event_key": end.event_key,
        "event_hash": digest(end.event_key),
        "kind": EventKind.JOB_FINISHED.value,
        "event": end.event,
        "state": PENDING,
        "attempts": 0,
        "created_at": now,
    }


def _request(team: str, project_id: str, run_id: str, user_id: str) -> Any:
    return and_(
        bells.c.team_id == team,
        bells.c.project_id == project_id,
        bells.c.run_hash == digest(run_id),
        bells.c.user_id == user_id,
    )


async def _redraw_cards(conn: AsyncConnection, team: str, project_id: str, run_id: str) -> None:
    """The run's cards, in every channel of the workspace, drawn again at their next drain
    (version 0 is never current: `Cards.dirty_cards`)."""
    await conn.execute(
        update(cards)
        .where(
            cards.c.team_id == team,
            cards.c.project_id == project_id,
            cards.c.run_hash == digest(run_id),
        )
        .values(rendered_version=0)
    )

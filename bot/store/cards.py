"""The run cards: each run's top-level message in a channel, edited as its summary changes
(written with the card's row marked sent, `Outbox.mark_sent`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, select, update

from bot.core.summary import RunSummary
from bot.store.backend import Backend
from bot.store.schema import cards, digest, runs, subscriptions


def _ts_order(ts: str) -> float:
    """Slack's message ts ("1712345678.000200") as a number: later messages sort later."""
    try:
        return float(ts)
    except ValueError:
        return 0.0


@dataclass(frozen=True, slots=True)
class Card:
    """A run's top-level message in one channel, edited as the run's summary changes."""

    channel_id: str
    project_id: str
    run_id: str
    ts: str
    rendered_version: int
    team_id: str = ""  # the workspace whose channel it is (always given by the store)


def _card(row: Any) -> Card:
    """A `cards` row as a Card (its run's digest is the store's business)."""
    return Card(
        row.channel_id, row.project_id, row.run_id, row.ts, row.rendered_version, row.team_id
    )


class Cards:
    def __init__(self, backend: Backend) -> None:
        self._backend = backend

    async def card(self, team: str, channel_id: str, project_id: str, run_id: str) -> Card | None:
        query = select(cards).where(
            cards.c.team_id == team,
            cards.c.channel_id == channel_id,
            cards.c.project_id == project_id,
            cards.c.run_hash == digest(run_id),
        )
        async with self._backend.read() as conn:
            row = (await conn.execute(query)).first()
        return _card(row) if row is not None else None

    async def earlier_card(
        self, team: str, channel_id: str, project_id: str, run_id: str | None, continues: str
    ) -> Card | None:
        """The card in the channel of the run that `run_id` continues: the run named
        `continues` (`continuationJobId`), else the project's latest other card here."""
        query = select(cards).where(
            cards.c.team_id == team,
            cards.c.channel_id == channel_id,
            cards.c.project_id == project_id,
            cards.c.run_hash != digest(run_id or ""),
        )
        async with self._backend.read() as conn:
            found = [_card(row) for row in (await conn.execute(query)).all()]
        exact = next((card for card in found if card.run_id == continues), None)
        return exact or max(found, key=lambda card: _ts_order(card.ts), default=None)

    async def dirty_cards(self, team: str, channel_id: str) -> list[tuple[Card, RunSummary, int]]:
        """Cards (of unpaused subscriptions) whose run's summary moved past what they show."""
        query = (
            select(cards, runs.c.summary, runs.c.version)
            .join(
                runs,
                and_(runs.c.project_id == cards.c.project_id, runs.c.run_hash == cards.c.run_hash),
            )
            .join(
                subscriptions,
                and_(
                    subscriptions.c.team_id == cards.c.team_id,
                    subscriptions.c.channel_id == cards.c.channel_id,
                    subscriptions.c.project_id == cards.c.project_id,
                ),
            )
            .where(
                cards.c.team_id == team,
                cards.c.channel_id == channel_id,
                subscriptions.c.paused_reason.is_(None),
                runs.c.version > cards.c.rendered_version,
            )
            .order_by(cards.c.project_id, cards.c.run_id)
        )
        async with self._backend.read() as conn:
            rows = (await conn.execute(query)).all()
        return [
            (
                _card(row),
                RunSummary.model_validate_json(row.summary),
                row.version,
            )
            for row in rows
        ]

    async def mark_card_rendered(self, card: Card, version: int) -> None:
        """Never moves backwards, so a slow edit finishing late cannot hide a newer change."""
        async with self._backend.write() as conn:
            await conn.execute(
                update(cards)
                .where(
                    cards.c.team_id == card.team_id,
                    cards.c.channel_id == card.channel_id,
                    cards.c.project_id == card.project_id,
                    cards.c.run_hash == digest(card.run_id),
                    cards.c.rendered_version < version,
                )
                .values(rendered_version=version)
            )

"""The run cards kept current: each card edited once per change of its run, within Slack's
`chat.update` budget, and the permalink of the card an extended search continues.

Slack allows `chat.update` about 50 times a minute per workspace (Tier 3). A running run's card
gathers several polls' news into one edit (`card_edit_gap`), spread further apart when many
runs go at once; the run's end is shown at once. Edits are idempotent, so one whose outcome is
unknown is simply made again at the next drain.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.core.summary import RunSummary
from bot.errors import SlackOutcomeUnknown
from bot.slack.delivery.stops import StopStore, stop_of
from bot.slack.failures import TRANSPORT_ERRORS, slack_failure
from bot.slack.render import Message, render_card
from bot.store import Card, TeamChannel

log = logging.getLogger(__name__)

CARD_GONE = frozenset({"message_not_found", "cant_update_message"})
CARD_EDIT_GAP_MAX_S = 60.0
CARD_EDITS_PER_MINUTE = 40  # all running runs' cards together; Slack's Tier 3 allows ~50
# A card not edited for this long counts no more (its run went quiet, or moved elsewhere) and
# is forgotten, so its next edit is made at once. Longer than any gap up to 2,400 cards, so a
# card still waiting for its turn is never forgotten into an early edit.
CARD_SHOWN_FOR_S = 3600.0


def card_edit_gap(interval: float, *, cards: int = 1) -> float:
    """The least time between two edits of a running run's card, when the process keeps
    `cards` of them current: three polls' news in one edit, at most a minute apart, and
    further apart when many runs share the workspace's `chat.update` budget."""
    return max(min(CARD_EDIT_GAP_MAX_S, 3 * interval), 60.0 * cards / CARD_EDITS_PER_MINUTE)


class CardStore(StopStore, Protocol):
    """The part of `bot.store.Store` the card editor uses."""

    async def earlier_card(
        self, team: str, channel_id: str, project_id: str, run_id: str | None, job_id: str
    ) -> Card | None: ...
    async def dirty_cards(
        self, team: str, channel_id: str
    ) -> list[tuple[Card, RunSummary, int]]: ...
    async def mark_card_rendered(self, card: Card, version: int) -> None: ...
    async def bells_of(self, team: str, project_id: str, run_id: str) -> list[str]: ...


class CardEditor:
    """`poll_interval` None: a card is edited at every change (no budget)."""

    def __init__(self, *, store: CardStore, poll_interval: float | None) -> None:
        self._store = store
        self._poll_interval = poll_interval
        self._shown: dict[tuple[str, str], float] = {}  # (channel, ts) -> loop time
        self._due: dict[TeamChannel, float] = {}  # channel -> when its next held edit is due
        self._permalinks: dict[tuple[str, str], str | None] = {}  # (channel, ts) -> link

    def due(self, channel: TeamChannel) -> float:
        """Loop time at which the channel's next held edit falls due (0.0: none held)."""
        return self._due.get(channel, 0.0)

    def shown(self, channel: str, ts: str) -> None:
        """A running run's card was just posted: its next edit waits its gap."""
        self._shown[(channel, ts)] = asyncio.get_running_loop().time()

    async def update(self, where: TeamChannel, slack: AsyncWebClient) -> None:
        """Edit each card whose run moved on, once, with its latest summary (coalesced); a
        running run's card not within the gap of its last showing. A held edit is made at the
        first drain of its channel after it falls due: the scheduler looks at `due`."""
        loop = asyncio.get_running_loop()
        gap = self._gap(loop.time())
        held: list[float] = []
        channel = where.channel_id
        for card, summary, version in await self._store.dirty_cards(*where):
            shown = self._shown.get((channel, card.ts))
            if shown is not None and not summary.finished and shown + gap > loop.time():
                held.append(shown + gap)
                continue
            earlier = await self.earlier(slack, where, summary)
            if summary.finished:
                stop = await stop_of(self._store, card.team_id, card.project_id, card.run_id)
                bells: list[str] = []
            else:
                bells = await self._store.bells_of(card.team_id, card.project_id, card.run_id)
                stop = None
            message = render_card(summary, earlier, stop, bells)
            await self.edit(slack, channel, card.ts, message, what="card")
            if summary.finished:
                self._shown.pop((channel, card.ts), None)
            else:
                self._shown[(channel, card.ts)] = loop.time()
            await self._store.mark_card_rendered(card, version)
        self._due[where] = min(held, default=0.0)

    def _gap(self, now: float) -> float:
        """`card_edit_gap` for the running runs' cards shown lately (older ones forgotten)."""
        if self._poll_interval is None:
            return 0.0
        quiet = [key for key, at in self._shown.items() if now - at > CARD_SHOWN_FOR_S]
        for key in quiet:
            del self._shown[key]
        return card_edit_gap(self._poll_interval, cards=len(self._shown))

    async def earlier(
        self, slack: AsyncWebClient, where: TeamChannel, summary: RunSummary
    ) -> str | None:
        """The permalink of the card of the run `summary`'s run continues, in this channel
        (asked of Slack once per card). None when there is none or Slack does not answer:
        the card then names that run without a link, and the next edit asks again."""
        if not summary.continuation_job_id:
            return None
        card = await self._store.earlier_card(
            *where, summary.project_id, summary.run_id, summary.continuation_job_id
        )
        if card is None:
            return None
        return await self.permalink(slack, where.channel_id, card.ts)

    async def permalink(self, slack: AsyncWebClient, channel: str, ts: str) -> str | None:
        """The message's permalink, asked of Slack once per message; None when Slack refuses
        (not asked again) or does not answer (asked again next time)."""
        if (channel, ts) not in self._permalinks:
            link: str | None = None
            try:
                response = await slack.chat_getPermalink(channel=channel, message_ts=ts)
                link = str(response.get("permalink") or "") or None
            except (SlackApiError, *TRANSPORT_ERRORS) as error:
                failure = slack_failure(error)
                if isinstance(failure, SlackOutcomeUnknown) or failure.code == "ratelimited":
                    return None  # asked again at the next edit
                # Slack refuses: not asked again for this card.
                log.warning("no permalink for card %s in %s: %s", ts, channel, failure.code)
            self._permalinks[(channel, ts)] = link
        return self._permalinks[(channel, ts)]

    async def edit(
        self, slack: AsyncWebClient, channel: str, ts: str, message: Message, *, what: str
    ) -> None:
        """chat.update; a message that is gone is left alone, any other failure raised as its
        `SlackError`."""
        try:
            await slack.chat_update(
                channel=channel,
                ts=ts,
                text=message.text,
                blocks=message.blocks,
                metadata=message.metadata,  # None (a card) keeps what the message had
            )
        except (SlackApiError, *TRANSPORT_ERRORS) as error:
            failure = slack_failure(error)
            if failure.code not in CARD_GONE:
                raise failure from None
            log.warning("%s %s in %s is gone; not editing it", what, ts, channel)

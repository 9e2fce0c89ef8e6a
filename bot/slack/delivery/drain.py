"""`Delivery`: the scheduler, the poster and the card editor put together, and a channel's
drain: its rows in order through the poster, then its cards through the editor, and one
verdict (`verdicts.judge`) applied when Slack does not take what was asked."""

from __future__ import annotations

import logging
from typing import Protocol

from bot.conditions import Condition
from bot.errors import SlackError
from bot.metrics import Metrics
from bot.slack.delivery.cards import CardEditor, CardStore
from bot.slack.delivery.digests import Digester
from bot.slack.delivery.poster import Poster, PosterStore
from bot.slack.delivery.scheduler import ChannelScheduler, SchedulerStore
from bot.slack.delivery.verdicts import Failed, Pause, Stop, Wait, judge
from bot.slack.tokens import BotTokens
from bot.store import OutboxRow, TeamChannel

log = logging.getLogger(__name__)

OUTBOX_BATCH = 100  # rows a drain reads at once
SLACK_FIX = "the notifications wait in the outbox and are posted, in order, when it answers"
NOT_INSTALLED_WAIT_S = 60.0  # before a channel of a workspace with no token is looked at again


class DeliveryStore(SchedulerStore, PosterStore, CardStore, Protocol):
    """The part of `bot.store.Store` delivery uses (tests may pass a store that races)."""

    async def outbox(self, team: str, channel_id: str, *, limit: int = 100) -> list[OutboxRow]: ...
    async def pause_channel(self, team: str, channel_id: str, reason: str) -> None: ...


class Delivery:
    """Outbox to Slack, each channel with its workspace's client (`tokens`); `owner` and
    `claim_s`: this replica's delivery leases and row claims
    (`bot.service.fleet`); `poll_interval`: what a running run's card edits are spaced by
    (None: every change shown at once)."""

    def __init__(
        self,
        *,
        store: DeliveryStore,
        tokens: BotTokens,
        idle_s: float = 2.0,
        max_backoff_s: float = 300.0,
        owner: str | None = None,
        claim_s: float = 60.0,
        poll_interval: float | None = None,
        metrics: Metrics | None = None,
        database: Condition | None = None,
        digests: Digester | None = None,
    ) -> None:
        self._store = store
        self._tokens = tokens
        self._not_installed: set[str] = set()  # workspaces told of once, with no token
        self.digests = digests
        self._slack_down = Condition(log, "Slack", SLACK_FIX)
        self._max_backoff_s = max_backoff_s
        self._failed_drains: dict[TeamChannel, int] = {}  # channel -> consecutive failed drains
        self.auth_error: str | None = None
        self._cards = CardEditor(store=store, poll_interval=poll_interval)
        self._poster = Poster(
            store=store,
            cards=self._cards,
            owner=owner,
            claim_s=claim_s,
            metrics=metrics,
        )
        self._scheduler = ChannelScheduler(
            store=store,
            drain=self._drain,
            cards_due=self._cards.due,
            idle_s=idle_s,
            owner=owner,
            lease_s=claim_s,
            database=database,
            look=digests.tick if digests is not None else None,
        )

    @property
    def draining(self) -> int:
        """Channels this replica is draining now (for the leases gauge)."""
        return self._scheduler.draining

    def wake(self, project_id: str | None = None) -> None:
        """Look for work now: where `project_id`'s poll wrote news, or everywhere (None)."""
        self._scheduler.wake(project_id)

    def look_again(self, team_id: str) -> None:
        """The workspace installed (again) or left through this replica: its channels held
        for want of a token are looked at now, not `NOT_INSTALLED_WAIT_S` later."""
        self._scheduler.release(team_id)

    async def run(self) -> None:
        """Until `stop()`: drain each channel with work, each in its own task."""
        await self._scheduler.run()

    async def stop(self, grace_s: float = 5.0) -> None:
        """Let in-flight drains finish (bounded); an interrupted post is looked up at restart."""
        await self._scheduler.stop(grace_s)

    async def idle(self) -> bool:
        """True when nothing is left to deliver (for the demo and tests)."""
        return await self._scheduler.idle()

    async def _drain(self, channel: TeamChannel) -> bool:
        """Post what the channel owes, then bring its cards up to date; True when all it owed
        when it looked is done (what a poll writes since wakes the scheduler again)."""
        slack = await self._tokens.client(channel.team_id)
        if slack is None:  # not installed, or left: its rows wait (a reinstall finds them)
            if channel.team_id not in self._not_installed:
                self._not_installed.add(channel.team_id)
                log.warning("not delivering to workspace %r: no token for it", channel.team_id)
            self._scheduler.hold(channel, NOT_INSTALLED_WAIT_S)
            return False
        self._not_installed.discard(channel.team_id)
        try:
            while not self._scheduler.stopping:
                found = await self._store.outbox(*channel, limit=OUTBOX_BATCH)
                # a failed chart never holds others
                rows = [row for row in found if not self._poster.charts.deferred(row.id)]
                for row in rows:
                    if self._scheduler.stopping:
                        return False
                    await self._poster.deliver(row, slack)
                await self._cards.update(channel, slack)
                if not rows or len(found) < OUTBOX_BATCH:
                    break
        except Failed as failed:
            await self._judged(channel, failed.error, failed.attempts)
            return False
        except SlackError as error:  # no row's attempt (a card edit), or what stops the channel
            await self._judged(channel, error, None)
            return False
        self._failed_drains.pop(channel, None)
        self._slack_down.ok()
        return True

    async def _judged(self, channel: TeamChannel, error: SlackError, attempts: int | None) -> None:
        """Apply the one verdict on a failed attempt: the row's count when it has one, else
        the channel's consecutive failed drains."""
        drains = self._failed_drains[channel] = self._failed_drains.get(channel, 0) + 1
        verdict = judge(error, attempts or drains, max_wait_s=self._max_backoff_s)
        match verdict:
            case Wait(seconds):  # once while Slack fails, not per attempt (`bot.conditions`)
                doing = f"posting to channel {channel.channel_id}"
                self._slack_down.failed(doing, f"Slack said {error.code}")
                self._scheduler.hold(channel, seconds)
            case Pause(reason):
                log.warning("pausing channel %s: Slack says %s", channel.channel_id, reason)
                await self._store.pause_channel(*channel, reason)
            case Stop(reason) if self._tokens.refused(channel.team_id):
                log.error("%s", error)
                self.auth_error = reason
                self._scheduler.halt()
            case Stop(reason):  # one workspace among several: its channels wait, no others
                log.warning("workspace %r refused its token (%s)", channel.team_id, reason)
                self._scheduler.hold(channel, NOT_INSTALLED_WAIT_S)

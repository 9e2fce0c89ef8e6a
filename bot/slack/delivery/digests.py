"""Channels' daily digests queued when due: at each of delivery's looks everywhere (every
`idle_s`), each digest not yet queued today whose minute has come (in `DIGEST_TZ`) is summed up
from the store and queued to its channel, once: the store's `queue_digest` lets one replica
claim the day. `now` (`/eon digest now`) queues one at once, keyed by the minute asked in.
The clock comes in as `now`, so a test picks the minute."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from bot.core.digest import (
    WINDOW_H,
    ProjectDay,
    day_key,
    digest_event,
    is_due,
    now_key,
)
from bot.core.events import Event

log = logging.getLogger(__name__)


class DigestStore(Protocol):
    """The part of `bot.store.Store` digests use."""

    async def digests_waiting(self, today: str) -> list[tuple[str, str, int, str | None]]: ...
    async def project_days(
        self, team: str, project_ids: Sequence[str], since: datetime
    ) -> list[ProjectDay]: ...
    async def queue_digest(
        self, team: str, channel_id: str, event: Event, day: str | None
    ) -> bool: ...
    async def subscriptions(
        self, team: str, *, channel_id: str | None = None, project_id: str | None = None
    ) -> Any: ...


class Digester:
    def __init__(self, *, store: DigestStore, tz: ZoneInfo, now: Callable[[], datetime]) -> None:
        self._store = store
        self._tz = tz
        self._now = now

    def local_now(self) -> datetime:
        return self._now().astimezone(self._tz)

    async def tick(self) -> int:
        """Queue each digest that is due; returns how many this replica queued."""
        local = self.local_now()
        today = local.date().isoformat()
        queued = 0
        for team, channel, minute, last_day in await self._store.digests_waiting(today):
            if is_due(minute, last_day, local):
                event = await self.compose(team, channel, day_key(channel, today))
                if event is None:
                    continue
                if await self._store.queue_digest(team, channel, event, today):
                    log.info("queued the daily digest of channel %s", channel)
                    queued += 1
        return queued

    async def now(self, team: str, channel: str) -> bool | None:
        """`/eon digest now`: the digest queued at once (False: already asked this minute;
        None: the channel watches nothing)."""
        event = await self.compose(team, channel, now_key(channel, self.local_now()))
        if event is None:
            return None
        return await self._store.queue_digest(team, channel, event, None)

    async def compose(self, team: str, channel: str, key: str) -> Event | None:
        """The digest of what the workspace's channel watches, keyed `key`; None when it
        watches nothing."""
        subs = await self._store.subscriptions(team, channel_id=channel)
        watched = sorted(s.project_id for s in subs)
        if not watched:
            return None
        since = self._now() - timedelta(hours=WINDOW_H)
        days = await self._store.project_days(team, watched, since)
        return digest_event(channel, key, days, since)

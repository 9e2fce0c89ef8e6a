"""A poll that failed: the outage's bookkeeping (`bot.core.outage`), stored with its notices
(one "unreachable" once it lasts `OUTAGE_NOTICE_AFTER`), and Edge Impulse's condition in the
log (`bot.conditions`: said once when it goes down and once when it is back).

A failed poll forgets what was kept of the project (`bot.service.saver.Kept`), so the poll after
an outage goes the whole way and can say the project recovered.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from bot.conditions import Condition
from bot.core.outage import Outage, after_failure
from bot.errors import EonBotError
from bot.service.names import ProjectNames
from bot.service.saver import Kept, Readers, everyone
from bot.store import Store

log = logging.getLogger("bot.service.poller")  # the poll's own lines, as before the split
EDGE_IMPULSE_FIX = "polls go on; its channels are told once it lasts OUTAGE_NOTICE_AFTER seconds"


class Failures:
    def __init__(
        self,
        *,
        store: Store,
        kept: dict[str, Kept],
        notice_after: float,
        on_events: Callable[[str], None],
        owner: str | None,
        names: ProjectNames | None,
        unreachable: set[str],
        readers: Readers = everyone,
    ) -> None:
        self._store = store
        self._readers = readers
        self._kept = kept
        self._notice_after = notice_after
        self._on_events = on_events
        self._owner = owner
        self._names = names
        self._unreachable = unreachable
        self._edge_impulse = Condition(log, "Edge Impulse", EDGE_IMPULSE_FIX)

    def ok(self, project_id: str) -> None:
        """Edge Impulse answered the project's poll (said once, if it had failed)."""
        self._edge_impulse.ok(project_id)

    async def failed(
        self,
        project_id: str,
        error: EonBotError,
        asked_at: datetime,
        outage: Outage | None = None,
    ) -> None:
        """Store the failure of a poll begun at `asked_at` (`outage`: as stored, if known)."""
        self._kept.pop(project_id, None)  # the next success goes the whole way
        if outage is None:
            _, outage = await self._store.stored_project(project_id)
        step = after_failure(
            project_id, outage, error, now=asked_at, notice_after=self._notice_after
        )
        self._edge_impulse.failed("polling", error, key=project_id)
        name = self._names.known(project_id) if self._names else None
        events = [event.model_copy(update={"project_name": name}) for event in step.events]
        await self._store.save_poll(
            project_id,
            snapshot=None,
            events=events,
            outage=step.outage,
            owner=self._owner,
            readers=self._readers(project_id),
        )
        if step.outage.unreachable_notified:
            self._unreachable.add(project_id)
        if step.events:
            self._on_events(project_id)

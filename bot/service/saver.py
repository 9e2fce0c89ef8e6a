"""Stores what a poll read: the new snapshot and its notifications in one transaction
(`Store.save_poll`), the stall clock moved on, and delivery woken when there is news.

What was stored last is kept per project in memory (`Kept`, in the poller's `kept` map): the
digest, the stall time, the snapshot as the JSON text the store holds, and the outage
bookkeeping. The store is only written, never read, while that is kept: its snapshot is this
process's own last write, because only the holder of a project's poll lease writes it
(`bot.service.fleet`). The JSON text, not the parsed model, is what stays: about the
snapshot's size per project, where the model would be several times that.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import NamedTuple

from bot.core.diff import started_event
from bot.core.events import EventKind, Snapshot
from bot.core.increment import Read
from bot.core.outage import Outage, after_success
from bot.core.stall import stall_due, watch_progress, working
from bot.service.names import named, stamped
from bot.store import Store

log = logging.getLogger(__name__)


Readers = Callable[[str], frozenset[str] | None]
"""The workspaces that may be told of a project (`bot.keys.KeyRing.readers`); None: all."""


def everyone(project_id: str) -> frozenset[str] | None:
    """Every workspace is told (a deployment's key reads every project)."""
    return None


class Kept(NamedTuple):
    """What was stored last for a project."""

    digest: str  # of the document last stored
    stall_due: datetime | None  # when an unchanged document is due a stall check
    snapshot: str  # the snapshot as stored (its JSON)
    outage: Outage  # as stored
    running: bool  # a job at work (`bot.core.stall.working`): the running tier (`tiers`)


class Saver:
    def __init__(
        self,
        *,
        store: Store,
        kept: dict[str, Kept],
        now: Callable[[], datetime],
        stall_after: float,
        on_events: Callable[[str], None],
        owner: str | None,
        stalled: set[str],
        unreachable: set[str],
        readers: Readers = everyone,
    ) -> None:
        self._store = store
        self._readers = readers
        self._kept = kept
        self._now = now
        self._stall_after = stall_after
        self._on_events = on_events
        # The replica whose poll lease each save needs (`fleet`); None: the only process.
        self._owner = owner
        self._stalled = stalled  # projects told stalled, not moved since
        self._unreachable = unreachable  # projects whose channels were told of an outage

    async def save(
        self,
        project_id: str,
        read: Read,
        snapshot: Snapshot | None,
        outage: Outage,
        digest: str,
        kept: str | None,
        name: str | None,
    ) -> None:
        """Store what the poll read; the snapshot only if it changed (`kept`: as stored)."""
        recovered = after_success(project_id, outage)
        stalls, fresh = watch_progress(
            read.snapshot, read.progress, now=self._now(), stall_after=self._stall_after
        )
        fresh, events = stamped(fresh, [*recovered.events, *read.events, *stalls], name)
        text = fresh.model_dump_json()
        added = await self._store.save_poll(
            project_id,
            snapshot=fresh,
            snapshot_json=text,
            stored_json=kept,
            stored=snapshot,
            events=events,
            outage=recovered.outage,
            start_event=started_event(fresh),
            owner=self._owner,
            closed=named(read.closed, name),
            readers=self._readers(project_id),
        )
        for event in events:
            if event.kind is EventKind.RUN_STARTED:
                log.info("project %s: found a tuner run (job %s)", project_id, event.run_id)
        due = stall_due(fresh, self._stall_after)
        self._kept[project_id] = Kept(digest, due, text, recovered.outage, working(fresh))
        self._unreachable.discard(project_id)
        if fresh.stalled:
            self._stalled.add(project_id)
        else:
            self._stalled.discard(project_id)
        if added or snapshot is None or fresh.summary != snapshot.summary:
            self._on_events(project_id)  # new rows, or a card to edit

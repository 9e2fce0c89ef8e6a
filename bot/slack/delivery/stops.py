"""Who stopped a run from Slack, read from the actions table when its end is shown.

The poll that sees a run end knows nothing of the buttons (the diff is pure, and the stop's
record may be written a moment after Edge Impulse acted), so delivery asks the store when it
posts the end message and when it edits the finished card: "⏹ stopped by @someone" instead of
"🏁 finished". Only the run's own stop counts; a stop Edge Impulse refused left no record.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from bot.core.summary import RunSummary
from bot.slack.render.actions import Stop
from bot.store import CLAIMED, DONE, STARTED, UNKNOWN, ActionRecord

CONFIRMED = frozenset({STARTED, DONE})  # Edge Impulse said it did
ASKED = frozenset({CLAIMED, UNKNOWN})  # its answer awaited, or never known


class StopStore(Protocol):
    """The part of `bot.store.Store` this needs."""

    async def actions_of(
        self, project_id: str, run_id: str | None = None
    ) -> list[ActionRecord]: ...


async def stops_of(store: StopStore, summaries: Sequence[RunSummary]) -> dict[str, Stop]:
    """By project id, the stop taken from Slack on each of these runs that ended, if any
    (`/eon status` and the Home tab word the end as the card does)."""
    stops = {}
    for summary in summaries:
        if summary.finished and summary.run_id:
            stop = await stop_of(store, summary.project_id, summary.run_id)
            if stop is not None:
                stops[summary.project_id] = stop
    return stops


async def stop_of(store: StopStore, project_id: str, run_id: str) -> Stop | None:
    """The stop taken on the run from Slack, if any (one per run: the record is unique)."""
    for record in await store.actions_of(project_id, run_id):
        if record.action == "stop" and record.state in CONFIRMED | ASKED:
            return Stop(record.user_id, confirmed=record.state in CONFIRMED)
    return None

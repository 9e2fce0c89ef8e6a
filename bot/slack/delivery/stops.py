"""Who stopped a run from Slack, read from the actions table when its end is shown.

The poll that sees a run end knows nothing of the buttons (the diff is pure, and the stop's
record may be written a moment after Edge Impulse acted), so delivery asks the store when it
posts the end message and when it edits the finished card: "⏹ stopped by @someone" instead of
"🏁 finished". Only the run's own stop counts; a stop Edge Impulse refused left no record.
"""

from __future__ import annotations

from typing import Protocol

from bot.slack.render.actions import Stop
from bot.store import CLAIMED, DONE, STARTED, UNKNOWN, ActionRecord

CONFIRMED = frozenset({STARTED, DONE})  # Edge Impulse said it did
ASKED = frozenset({CLAIMED, UNKNOWN})  # its answer awaited, or never known


class StopStore(Protocol):
    """The part of `bot.store.Store` this needs."""

    async def actions_of(
        self, project_id: str, run_id: str | None = None
    ) -> list[ActionRecord]: ...


async def stop_of(store: StopStore, project_id: str, run_id: str) -> Stop | None:
    """The stop taken on the run from Slack, if any (one per run: the record is unique)."""
    for record in await store.actions_of(project_id, run_id):
        if record.action == "stop" and record.state in CONFIRMED | ASKED:
            return Stop(record.user_id, confirmed=record.state in CONFIRMED)
    return None

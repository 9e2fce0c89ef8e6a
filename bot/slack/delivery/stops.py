"""Who stopped a run from Slack, read from the actions table when its end is shown.

The poll that sees a run end knows nothing of the buttons (the diff is pure, and the stop's
record may be written a moment after Edge Impulse acted), so delivery asks the store when it
posts the end message and when it edits the finished card: "⏹ stopped by @someone" instead of
"🏁 finished". Only the run's own stop counts; a stop Edge Impulse refused left no record.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Protocol

from bot.core.summary import RunSummary
from bot.slack.render.actions import Stop
from bot.store import CLAIMED, DONE, STARTED, UNKNOWN, ActionRecord

CONFIRMED = frozenset({STARTED, DONE})  # Edge Impulse said it did
ASKED = frozenset({CLAIMED, UNKNOWN})  # its answer awaited, or never known


class StopStore(Protocol):
    """The part of `bot.store.Store` `stop_of` needs."""

    async def actions_of(
        self, team: str, project_id: str, run_id: str | None = None
    ) -> list[ActionRecord]: ...


class StopsStore(Protocol):
    """The part of `bot.store.Store` `stops_of` needs."""

    async def stops_in(self, team: str, project_ids: Collection[str]) -> list[ActionRecord]: ...


async def stops_of(
    store: StopsStore, team: str, summaries: Sequence[RunSummary]
) -> dict[str, Stop]:
    """By project id, the stop taken from the workspace's Slack on each of these runs that
    ended, if any (`/eon status` and the Home tab word the end as the card does), in one read."""
    ended = {s.project_id: s.run_id for s in summaries if s.finished and s.run_id}
    stops = {}
    for record in await store.stops_in(team, ended) if ended else []:
        if ended.get(record.project_id) == record.run_id and record.state in CONFIRMED | ASKED:
            stops[record.project_id] = Stop(record.user_id, confirmed=record.state in CONFIRMED)
    return stops


async def stop_of(store: StopStore, team: str, project_id: str, run_id: str) -> Stop | None:
    """The stop taken on the run from the workspace's Slack, if any (one per run and
    workspace: the record is unique)."""
    for record in await store.actions_of(team, project_id, run_id):
        if record.action == "stop" and record.state in CONFIRMED | ASKED:
            return Stop(record.user_id, confirmed=record.state in CONFIRMED)
    return None


async def extended(store: StopStore, team: str, project_id: str, run_id: str) -> bool:
    """Whether the run's search was extended from the workspace's Slack (Edge Impulse said it
    did): its "Extend" buttons no longer apply."""
    return any(
        record.action == "extend" and record.state in CONFIRMED
        for record in await store.actions_of(team, project_id, run_id)
    )

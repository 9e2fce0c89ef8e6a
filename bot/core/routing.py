"""Which events a subscription's watch mode gets (pure): one table, read by the store when it
queues a poll's events and by `/eon watch` when it parses a mode.

A mode is a row of `MODE_KINDS`; adding one is adding a row (and its name to `Mode`).
An event addressed to one channel (an alert's `eon_threshold_met`, `core.alerts`) is of a kind
every mode gets: the address, not the mode, decides who is told.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final, Literal

from bot.core.events import Event, EventKind

Mode = Literal["all", "best", "milestones", "failures"]

_EVERY_KIND: Final = frozenset(EventKind)
MILESTONE_KINDS: Final = _EVERY_KIND - {EventKind.TRIAL_COMPLETED, EventKind.TRIAL_FAILED}
"""What `milestones` subscriptions get: everything but single trials completing or failing."""

BEST_KINDS: Final = MILESTONE_KINDS | {EventKind.TRIAL_COMPLETED}
"""What `best` subscriptions get: the milestones, and completions that are new bests."""

FAILURE_KINDS: Final = MILESTONE_KINDS | {EventKind.TRIAL_FAILED}
"""What `failures` subscriptions get: the milestones and failed trials, never a completion."""

MODE_KINDS: Final[Mapping[Mode, frozenset[EventKind]]] = {
    "all": _EVERY_KIND,
    "best": BEST_KINDS,
    "milestones": MILESTONE_KINDS,
    "failures": FAILURE_KINDS,
}
MODES: Final[tuple[Mode, ...]] = tuple(MODE_KINDS)
"""The modes in the order help and usage list them; the first is the default."""


def as_mode(word: str) -> Mode | None:
    """The mode named by `word` (any case), or None if no mode has that name."""
    lowered = word.lower()
    return next((mode for mode in MODES if mode == lowered), None)


def receives(mode: str, event: Event) -> bool:
    """Whether a subscription in `mode` is told `event`; an unknown mode gets everything, so a
    row written by a newer version is never silently starved."""
    for known, kinds in MODE_KINDS.items():
        if known == mode:
            return event.kind in kinds and (known != "best" or _new_best_or_not_a_trial(event))
    return True


def told_as(mode: str, event: Event) -> Event | None:
    """What a subscription in `mode` is queued of `event`: the event, or None; and in
    `failures` mode, a completion after a failure it was told of, as a `quiet` one, so its
    "❌ failed" is edited to "retried → ✅ completed" and nothing is posted."""
    if receives(mode, event):
        return event
    if mode == "failures" and event.kind is EventKind.TRIAL_COMPLETED and event.after_failure:
        return event.model_copy(update={"quiet": True})
    return None


def _new_best_or_not_a_trial(event: Event) -> bool:
    return event.kind is not EventKind.TRIAL_COMPLETED or event.payload.get("is_best") is True

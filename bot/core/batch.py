"""What a poll's trials did since the last poll, in the order it happened (pure).

One poll may see many changes at once: after Edge Impulse or the database was away, or the
bot was. They are told as they happened, not in the document's order, so a completion is
told after the ones before it and "new best" is judged in that order (`bot.core.diff`):

- each change is given the time the document shows for it: a completion its trial's
  `lastCompletedTraining`; a failure the latest `lastActive` of its trial's blocks; a
  failure that a retry followed before the poll, the start of that retry (its blocks' first
  `lastActive`), as it happened before it;
- changes without a time come after those with one, in the document's order; one trial's
  changes keep their own order (its failures before its completion).

A failure counts even when the poll never saw the trial `failed`: the trial's (or one of its
blocks') `retries` went up while it is pending, running or completed again. Each failed
attempt is one failure, told once (`failed_attempts` counts them on both sides of a poll).

A document may claim any number of retries (`retries` is the service's to say): one trial
tells at most `FAILURES_TOLD_AT_ONCE` failures in one poll, its latest, so a count gone wrong
cannot flood a channel; a negative count is none.

A stop is not a failure (`cut_short`): an attempt a stop ended is not told, and the run counts
it as stopped.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Final, NamedTuple

from bot.core.events import TrialMark
from bot.core.run_state import parse_time
from bot.tuner.models import TrialStatus, TunerTrial

STOPPED: Final = frozenset({"cancelled", "canceled", "stopped"})
"""Trial statuses that say a stop ended it. The official models list none (a trial is
pending, running, completed or failed), but Edge Impulse's jobs end `cancelled`, and enums
grow: one that reaches the trials is read as what it says."""


FAILURES_TOLD_AT_ONCE: Final = 25
"""Failures one trial tells in one poll at most (its latest attempts). Tuner trials are
retried a few times; this bound is for a document whose count is wrong, and is above what
the state machine in tests/core/test_batch_property.py can reach between two polls."""


def cut_short(
    trial: TunerTrial, mark: TrialMark | None, retries: int, *, stopped: bool, was_cut: bool
) -> bool:
    """Whether a stop, not a failure, ended the trial's current attempt: Edge Impulse says so
    (`STOPPED`), or the run was stopped (`stopped`: from Slack, as the actions table records)
    and the trial shows a failure not seen before the stop (a cancel leaves the trials it cut
    short `failed`). Once stopped (`was_cut`), a trial stays so."""
    if was_cut:
        return True
    if trial.status in STOPPED:
        return True
    if not stopped or trial.status != TrialStatus.FAILED:
        return False
    return mark is None or mark.status != TrialStatus.FAILED or mark.retries != retries


def retries_of(trial: TunerTrial) -> int:
    """Attempts of the trial that failed before its current one: its own `retries`, or a
    block's when that is higher (a block retried on its own)."""
    found = trial.retries
    for block in trial.blocks:
        if block.retries is not None and block.retries > found:
            found = block.retries
    return max(0, found)


def failed_attempts(status: str, retries: int) -> int:
    """How many of a trial's attempts failed: those before the current one, and the current
    one when it failed."""
    return retries + (status == TrialStatus.FAILED)


def new_failures(trial: TunerTrial, mark: TrialMark | None, retries: int) -> int:
    """Failed attempts since `mark` (None: a trial not listed before, all of them);
    `retries`: `retries_of(trial)`."""
    before = failed_attempts(mark.status, mark.retries) if mark is not None else 0
    return max(0, failed_attempts(trial.status, retries) - before)


class Change(NamedTuple):
    """One thing a trial did: a failure (`attempt`: its retries count) or its completion."""

    when: datetime | None
    position: int  # the trial's place in the document
    step: int  # its place among the trial's own changes
    trial: TunerTrial
    completed: bool
    attempt: int = 0
    retried: bool = False  # a failure the poll saw retried already


def _ended_at(trial: TunerTrial) -> datetime | None:
    """When the trial's current attempt ended, as the document shows it."""
    if trial.status == TrialStatus.COMPLETED:
        return parse_time(trial.last_completed_training)
    stamps = [s for b in trial.blocks if (s := parse_time(b.last_active)) is not None]
    return max(stamps) if stamps else None


def _retried_at(trial: TunerTrial, ended: datetime | None) -> datetime | None:
    """When the current attempt began (its blocks' first activity): a failure that a retry
    followed came before it."""
    stamps = [s for b in trial.blocks if (s := parse_time(b.last_active)) is not None]
    first = min(stamps) if stamps else None
    if first is None or (ended is not None and ended < first):
        return ended
    return first


def trial_changes(
    trial: TunerTrial,
    mark: TrialMark | None,
    position: int,
    *,
    retries: int,
    completion: bool,
    cut: bool = False,
) -> list[Change]:
    """The trial's failures since `mark`, then its completion if `completion` is owed
    (`retries`: `retries_of(trial)`); with `cut` (`cut_short`), its current attempt is a stop,
    not one of them."""
    failures = min(new_failures(trial, mark, retries), FAILURES_TOLD_AT_ONCE)
    failed_now = trial.status == TrialStatus.FAILED
    stop = cut and failed_now and failures > 0
    failures -= stop
    failed_now = failed_now and not cut
    if not failures and not completion:
        return []
    ended = _ended_at(trial)
    last = failed_attempts(trial.status, retries) - stop  # failed attempts, all told
    retried_at = _retried_at(trial, ended) if failures > failed_now else None
    changes = []
    for step, attempt in enumerate(range(last - failures, last)):
        current = failed_now and attempt == last - 1
        when = ended if current else retried_at
        changes.append(Change(when, position, step, trial, False, attempt, not current))
    if completion:
        changes.append(Change(ended, position, failures, trial, True, retries))
    return changes


def as_happened(changes: Iterable[Change]) -> list[Change]:
    """`changes` in the order they happened (see the module's docstring)."""
    return sorted(
        changes,
        key=lambda c: (c.when is None, c.when or _NEVER, c.position, c.step),
    )


_NEVER = datetime.min

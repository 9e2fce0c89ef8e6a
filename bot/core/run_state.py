"""What a tuner state says about its run as a whole (pure): whether it ran, whether it ended,
how long it trained, and its trial and worker counts."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import datetime, timedelta

from bot.core.summary import Counts, Workers
from bot.tuner.models import (
    OptimizeStateResponse,
    TrialStatus,
    TunerStatus,
    TunerTrial,
)


def tally(statuses: Iterable[str]) -> Counts:
    """Counts of trial statuses (statuses the bot does not know are not counted)."""
    found = Counter(statuses)
    return Counts(
        pending=found[TrialStatus.PENDING],
        running=found[TrialStatus.RUNNING],
        completed=found[TrialStatus.COMPLETED],
        failed=found[TrialStatus.FAILED],
    )


def parse_time(value: str | None) -> datetime | None:
    """A timestamp of the document, or None when it is missing, garbled or has no zone."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def activity_span(state: OptimizeStateResponse) -> tuple[datetime | None, datetime | None]:
    """The earliest and latest timestamps the document shows (trial epochs, trainings and
    block activity): the run's own clock, free of any skew between it and this machine's."""
    spans = [span for trial in state.trials if (span := trial_span(trial)) is not None]
    if not spans:
        return None, None
    return min(first for first, _ in spans), max(last for _, last in spans)


def span_micros(span: tuple[datetime, datetime]) -> int:
    """A trial's training time in whole microseconds: integers add up the same in any order,
    so a total kept up to date trial by trial (`bot.core.increment`) equals a fresh one."""
    first, last = span
    return (last - first) // timedelta(microseconds=1)


def training_time(state: OptimizeStateResponse) -> float | None:
    """Training time summed over workers, which is what `maxTotalTrainingTime` counts: the sum
    of each trial's span in the document (its first block activity to its latest stamp).
    An attempt that a retry replaced is no longer listed, so this may read a little low.
    None before any trial has a timestamp."""
    spans = [span for trial in state.trials if (span := trial_span(trial)) is not None]
    if not spans:
        return None
    return sum(span_micros(span) for span in spans) / 1e6


def trial_span(trial: TunerTrial) -> tuple[datetime, datetime] | None:
    """The earliest and latest timestamps of one trial (memoised on it)."""
    memo = trial.memo()
    if "span" not in memo:
        stamps = [
            stamp
            for stamp in (
                parse_time(trial.last_completed_epoch),
                parse_time(trial.last_completed_training),
                *(parse_time(block.last_active) for block in trial.blocks),
            )
            if stamp is not None
        ]
        memo["span"] = (min(stamps), max(stamps)) if stamps else None
    span: tuple[datetime, datetime] | None = memo["span"]
    return span


def never_ran(state: OptimizeStateResponse) -> bool:
    """A project whose tuner never ran, as in Edge Impulse's documented example response
    (`status` "creating", `tunerJobIsRunning` false): no job id, no trial, nothing running."""
    return (
        state.run_id is None
        and not state.trials
        and state.tuner_job_is_running is not True
        and not state.job_error
    )


def is_finished(state: OptimizeStateResponse) -> bool:
    """Whether a run that started has stopped: the SDK's criterion (`status.status ==
    completed`); or `tunerJobIsRunning` false for a run with a job id that has left
    `creating`; or a crashed job (`jobError`, not running). Never for `never_ran`."""
    if never_ran(state):
        return False
    status = state.status.status if state.status else None
    if status == TunerStatus.COMPLETED:
        return True
    if state.tuner_job_is_running is not False:
        return False
    if state.job_error:
        return True
    return state.run_id is not None and status != TunerStatus.CREATING


def count_trials(state: OptimizeStateResponse, statuses: Iterable[str] | None = None) -> Counts:
    """The document's own counts if it has them, else a tally of the listed trials' statuses
    (`statuses`, when the trials are not all in `state`)."""
    if state.status is not None and "num_completed_trials" in state.status.model_fields_set:
        s = state.status
        return Counts(
            pending=s.num_pending_trials,
            running=s.num_running_trials,
            completed=s.num_completed_trials,
            failed=s.num_failed_trials,
        )
    return tally(statuses if statuses is not None else (trial.status for trial in state.trials))


def count_workers(state: OptimizeStateResponse) -> Workers:
    if state.status is not None and "num_busy_workers" in state.status.model_fields_set:
        s = state.status
        return Workers(
            ready=s.num_ready_workers, busy=s.num_busy_workers, pending=s.num_pending_workers
        )
    statuses = [worker.status for worker in state.workers]
    return Workers(
        ready=statuses.count("ready"),
        busy=statuses.count("busy"),
        pending=statuses.count("pending"),
    )


def current_index(state: OptimizeStateResponse) -> int | None:
    """The run's number by Studio's own rule, for a run Edge Impulse gave no name: Studio names
    a new run "EON Tuner run {nextRunIndex}" and counts on, so the project's current run is
    `nextRunIndex - 1`. None when that is not known, or for a run that never started (its
    `nextRunIndex` names a run still to come). An earlier run's own state has its
    `nextRunIndex` taken out (`bot.tuner.runs`): it counts the project's runs, not that one."""
    if state.next_run_index is None or state.run_id is None or state.next_run_index < 2:
        return None
    return state.next_run_index - 1

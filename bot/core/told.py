"""What a poll's trials are owed: their completions and failures, as events (pure).

Each trial's news since its mark (`bot.core.batch`: failures, its completion, a stop), told
in the order it happened, each completion judged a new best or not in that order. A stop is
not told per trial; the run counts its trials as stopped (`with_stops`).
"""

from __future__ import annotations

from collections.abc import Iterable

from bot.core.batch import Change, as_happened, cut_short, retries_of, trial_changes
from bot.core.best import beats, best_before, best_listed
from bot.core.events import Event, EventKind, RunRef, TrialMark
from bot.core.summarize import summarize_trial
from bot.core.summary import RunSummary, TrialSummary
from bot.tuner.models import OptimizeStateResponse, TrialStatus, TunerTrial


def retry_may_follow(state: OptimizeStateResponse) -> bool:
    """Whether the document tells that a failed trial may still be retried: its job is still
    running and the time limit has not stopped the search (the coordinator then starts nothing
    new, queued retries included). "May": the document does not say how many retries are left."""
    return state.tuner_job_is_running is True and not state.total_training_time_exceeded


def _completed_event(
    run: RunRef, trial: TunerTrial, numbers: TrialSummary, *, is_best: bool, after_failure: bool
) -> Event:
    event = run.event(
        EventKind.TRIAL_COMPLETED,
        trial.id,
        trial_id=trial.id,
        trial_name=trial.display_name,
        **numbers.numbers(),
        over_latency=numbers.over_latency or None,
        over_ram=numbers.over_ram or None,
        over_rom=numbers.over_rom or None,
        unchecked=list(numbers.unchecked) or None,
        retries=retries_of(trial) or None,
        is_best=is_best or None,
    )
    return event.model_copy(update={"after_failure": after_failure})


def _failed_event(run: RunRef, change: Change, number: int, state: OptimizeStateResponse) -> Event:
    """The failure of one attempt (`number`: the trial's failures told before it). One that a
    retry followed before the poll says so (`retried`) and no retry is then still to come."""
    trial = change.trial
    return run.event(
        EventKind.TRIAL_FAILED,
        trial.id,
        number,
        trial_id=trial.id,
        trial_name=trial.display_name,
        retries=change.attempt,
        retried=change.retried or None,
        retry_may_follow=(not change.retried and retry_may_follow(state)) or None,
    )


def _trial_news(
    trial: TunerTrial,
    mark: TrialMark | None,
    state: OptimizeStateResponse,
    position: int,
    *,
    baseline: bool,
    stopped: bool,
    cut_ids: set[str],
) -> tuple[list[Change], TrialMark | None]:
    """What one trial did since `mark` (its changes, unordered with other trials'), and its
    new mark (None: unchanged). `stopped`: the run was stopped from Slack; `cut_ids`: the
    run's trials a stop cut short, this one added when it is."""
    completed = trial.status == TrialStatus.COMPLETED
    failed = trial.status == TrialStatus.FAILED
    figures = summarize_trial(trial, state.config) if completed or failed else None
    completed_reported = mark.completed_reported if mark else False
    failures = mark.failures_reported if mark else 0
    retries = retries_of(trial)
    changes: list[Change] = []
    cut = False
    if baseline:
        completed_reported = completed
        failures = int(failed)
    else:
        owed = completed and figures is not None and not completed_reported
        was_cut = trial.id in cut_ids
        cut = not completed and cut_short(trial, mark, retries, stopped=stopped, was_cut=was_cut)
        if cut and not was_cut:
            cut_ids.add(trial.id)
        changes = trial_changes(trial, mark, position, retries=retries, completion=owed, cut=cut)
        completed_reported = completed_reported or owed
        failures += sum(not change.completed for change in changes)
    if (
        mark is not None
        and (
            mark.status,
            mark.retries,
            mark.completed_reported,
            mark.failures_reported,
        )
        == (trial.status, retries, completed_reported, failures)
        and (mark.figures is figures or mark.figures == figures)
    ):
        return changes, None
    return changes, TrialMark(
        status=trial.status,
        retries=retries,
        completed_reported=completed_reported,
        failures_reported=failures,
        figures=figures,
    )


def report_trials(
    run: RunRef,
    trials: list[TunerTrial],
    marks: dict[str, TrialMark],
    state: OptimizeStateResponse,
    *,
    baseline: bool,
    listed: list[str] | None = None,
    stopped: bool = False,
    cut_ids: set[str] | None = None,
) -> list[Event]:
    """The events of `trials` in the order they happened (`bot.core.batch`), updating `marks`;
    each completion is judged against the best of the trials that completed before it
    (earlier polls, then this one, in that order).
    `listed`: every id the document lists, when `trials` are only the changed ones;
    `stopped`: the run was stopped from Slack; `cut_ids`: the run's trials a stop cut short
    (`bot.core.batch.cut_short`), those found now added."""
    cut_ids = set() if cut_ids is None else cut_ids
    if listed is None:
        best = best_before(trials, marks, state.config)
    else:
        best = best_listed(listed, trials, marks, state.config)
    told = {trial.id: marks[trial.id].failures_reported for trial in trials if trial.id in marks}
    changes: list[Change] = []
    for position, trial in enumerate(trials):
        found, mark = _trial_news(
            trial, marks.get(trial.id), state, position,
            baseline=baseline, stopped=stopped, cut_ids=cut_ids,
        )  # fmt: skip
        changes.extend(found)
        if mark is not None:
            marks[trial.id] = mark
    events: list[Event] = []
    for change in as_happened(changes) if len(changes) > 1 else changes:
        trial = change.trial
        number = told.get(trial.id, 0)
        if not change.completed:
            events.append(_failed_event(run, change, number, state))
            told[trial.id] = number + 1
            continue
        figures = summarize_trial(trial, state.config)
        is_best = beats(figures, best)
        events.append(
            _completed_event(run, trial, figures, is_best=is_best, after_failure=number > 0)
        )
        if is_best:
            best = figures
    return events


def with_stops(
    summary: RunSummary, marks: dict[str, TrialMark], cut_ids: Iterable[str]
) -> RunSummary:
    """The run's counts with the trials a stop cut short (`cut_ids`) as stopped, not failed
    (Edge Impulse counts those that show `failed` among its failures)."""
    cut = [mark for trial_id in cut_ids if (mark := marks.get(trial_id)) is not None]
    if not cut and not summary.counts.stopped:
        return summary
    failed = sum(mark.status == TrialStatus.FAILED for mark in cut)
    counts = summary.counts.model_copy(
        update={"failed": max(0, summary.counts.failed - failed), "stopped": len(cut)}
    )
    return summary.model_copy(update={"counts": counts})

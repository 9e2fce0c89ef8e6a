"""Turn two consecutive looks at a tuner run into the events users are owed (pure).

The rules, as users expect them:

- The first look at a project is a baseline: one `eon_run_started`, no flood of history.
- A project whose tuner never ran (no job id, no trial, not running) has no run: nothing is
  reported until its first run appears, which then starts with its `eon_run_started`.
- Trials are judged by where they are now, so a trial that went pending -> completed between
  two polls is still reported; each completion once, each failed attempt once (a retried trial
  that fails again is reported again, and its later completion too; a failure retried before
  the poll saw it, from `retries`, as well).
- What one poll finds is told in the order it happened (`bot.core.batch`), and each
  completion is judged a new best or not in that order.
- A trial missing from one response is not "deleted": its mark is kept.
- A new run (another coordinator or tuner job id) starts afresh with its own
  `eon_run_started`; if the previous run's end was never seen, it is reported first, after
  what its trials did since the last poll (as the new document lists them), with figures
  brought up to date from them. Marks of
  trials carry over by id, so an extended search that lists the earlier trials again does not
  announce them twice; marks of trials the new run does not list are dropped, so a snapshot
  does not grow from run to run.
- A failure says whether a retry may follow (`retry_may_follow`); a completion says after how
  many retries it came (`retries`), so delivery can tie the two messages together.
- The time limit and the job's end are reported once per run; `jobError` makes the outcome
  `failed`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, NamedTuple

from bot.core.chart import ChartData, chart_data, chart_event
from bot.core.events import Event, EventKind, RunRef, Snapshot, TrialMark
from bot.core.run_state import is_finished, never_ran, span_micros, trial_span
from bot.core.summarize import summarize_run
from bot.core.summary import Counts, RunSummary
from bot.core.told import report_trials, with_stops
from bot.tuner.models import OptimizeStateResponse, TrialStatus


class Diff(NamedTuple):
    events: list[Event]
    snapshot: Snapshot


def _counts(counts: Counts) -> dict[str, int | None]:
    return {
        "pending_trials": counts.pending,
        "running_trials": counts.running,
        "completed_trials": counts.completed,
        "failed_trials": counts.failed,
        "stopped_trials": counts.stopped or None,
    }


def _finished_event(run: RunRef, summary: RunSummary) -> Event:
    best = summary.best
    return run.event(
        EventKind.JOB_FINISHED,
        outcome=summary.outcome or "completed",
        job_error=summary.job_error,
        can_extend_search=summary.can_extend_search,
        **_counts(summary.counts),
        best_trial_id=best.id if best else None,
        best_trial_name=best.name if best else None,
        **({f"best_{k}": v for k, v in best.numbers().items()} if best else {}),
    )


def is_new_run(previous: Snapshot, state: OptimizeStateResponse) -> bool:
    """Another job id than before, or the first run of a project whose tuner had never run."""
    if previous.summary is not None and previous.summary.never_ran:
        return not never_ran(state)
    pairs = (
        (previous.coordinator_job_id, state.tuner_coordinator_job_id),
        (previous.tuner_job_id, state.job_id),
    )
    return any(old is not None and new is not None and old != new for old, new in pairs)


def _summary(
    project_id: str,
    state: OptimizeStateResponse,
    first_seen: datetime | None,
    now: datetime | None,
    summarize: Callable[[datetime | None], RunSummary] | None,
) -> RunSummary:
    """The run's summary: the incremental one when given (`bot.core.increment`), else whole."""
    if summarize is not None:
        return summarize(first_seen)
    return summarize_run(project_id, state, started_at=first_seen, now=now)


def diff(
    previous: Snapshot | None,
    state: OptimizeStateResponse,
    *,
    project_id: str,
    now: datetime | None = None,
    summarize: Callable[[datetime | None], RunSummary] | None = None,
    listed: list[str] | None = None,
    stopped: bool = False,
) -> Diff:
    """Events owed since `previous` (None: never looked before), and the snapshot to keep.

    With `listed` (every id the document lists, in order), `state.trials` holds only the
    trials that changed since `previous` and `summarize(first_seen)` stands in for
    `summarize_run` (`bot.core.increment`); the trials left out must be unchanged (their
    marks, figures included, are what the document shows). `stopped`: the run was stopped
    from Slack, as the actions table says (`bot.core.batch.cut_short`)."""
    baseline = previous is None
    new_run = previous is not None and is_new_run(previous, state)
    prev = previous or Snapshot(project_id=project_id)
    events: list[Event] = []

    marks = dict(prev.trials)
    if new_run:
        events.extend(_unseen_end(prev, state, marks))
        marks = _listed_again(marks, state, listed)

    first_seen = now if baseline or new_run or prev.first_seen_at is None else prev.first_seen_at
    summary = _summary(project_id, state, first_seen, now, summarize)
    run = RunRef(
        project_id,
        state.tuner_coordinator_job_id or (None if new_run else prev.coordinator_job_id),
        state.job_id or (None if new_run else prev.tuner_job_id),
        summary.display_name,
    )
    if (baseline or new_run) and not summary.never_ran:
        events.append(run.event(EventKind.RUN_STARTED, **_counts(summary.counts)))

    fresh = baseline or new_run
    cut = set() if fresh else set(prev.stopped_trials)
    events += report_trials(run, state.trials, marks, state, baseline=baseline, listed=listed,
                            stopped=stopped, cut_ids=cut)  # fmt: skip
    summary, inherited = _this_run(summary, prev, state, marks, cut=cut, new_run=new_run)

    told, time_limit_reported = _time_limit(run, state, prev, fresh=fresh, baseline=baseline)
    events.extend(told)
    was_reported = prev.finished_reported and not fresh
    ends_now = is_finished(state) and not was_reported
    chart_due = ends_now and not baseline  # the run in one picture, after its end
    if chart_due:
        events.append(_finished_event(run, summary))
    finished_reported = was_reported or ends_now

    snapshot = Snapshot(
        project_id=project_id,
        coordinator_job_id=run.coordinator_job_id,
        tuner_job_id=run.tuner_job_id,
        first_seen_at=first_seen,
        trials=marks,
        time_limit_reported=time_limit_reported,
        finished_reported=finished_reported,
        summary=summary,
        run_trials=_run_trials(prev, state, listed, fresh=fresh),
        inherited_training_s=inherited,
        stopped_trials=_in_order(prev.stopped_trials if not fresh else (), cut),
        **({} if fresh else _stall_clock(prev)),
    )
    if chart_due:
        events.extend(_chart(run, chart_data(snapshot)))
    return Diff(events, snapshot)


def _this_run(
    summary: RunSummary,
    prev: Snapshot,
    state: OptimizeStateResponse,
    marks: dict[str, TrialMark],
    *,
    cut: set[str],
    new_run: bool,
) -> tuple[RunSummary, float | None]:
    """The run's summary as it is true of that run: the trials a stop cut short counted as
    stopped (`with_stops`), and an extended search's training time its own: without the
    trials the earlier run listed first (their training, fixed once the search was extended,
    is kept in the snapshot: `inherited`, None while not known, after a first look at it)."""
    if cut or (not new_run and prev.summary is not None and prev.summary.counts.stopped):
        summary = with_stops(summary, marks, cut)  # the trials stopped, as their marks say
    if new_run:  # the earlier run's marks tell its trials listed again (it was read whole)
        spans = (trial_span(t) for t in state.trials if t.id in prev.trials)
        inherited: float | None = sum(span_micros(s) for s in spans if s is not None) / 1e6
    elif prev.summary is None:  # a first look: what the earlier run trained is not known
        inherited = None if state.continuation_job_id else 0.0
    else:
        inherited = prev.inherited_training_s
    if not summary.continuation_job_id or summary.training_s is None:
        return summary, inherited
    if inherited is None:
        return summary.model_copy(update={"training_with_earlier": True}), inherited
    own = max(0.0, summary.training_s - inherited)
    return summary.model_copy(update={"training_s": float(int(own // 60) * 60)}), inherited


def _in_order(known: tuple[str, ...], cut: set[str]) -> tuple[str, ...]:
    """The trials stopped so far: those known, then the ones found now (sorted: a set)."""
    return known + tuple(sorted(cut.difference(known))) if len(cut) > len(known) else known


def _listed_again(
    marks: dict[str, TrialMark], state: OptimizeStateResponse, listed: list[str] | None
) -> dict[str, TrialMark]:
    """What a new run's diff keeps of the earlier run's marks: those of the trials the new
    document lists again (an extended search); the others are that run's history."""
    ids = set(listed) if listed is not None else {trial.id for trial in state.trials}
    return {trial_id: mark for trial_id, mark in marks.items() if trial_id in ids}


def _time_limit(
    run: RunRef, state: OptimizeStateResponse, prev: Snapshot, *, fresh: bool, baseline: bool
) -> tuple[list[Event], bool]:
    """The time-limit event owed (none at a baseline: the past is not posted), and whether
    the limit now counts as reported (a new run's starts unreported)."""
    reported = prev.time_limit_reported and not fresh
    if not state.total_training_time_exceeded or reported:
        return [], reported
    if baseline:
        return [], True
    return [
        run.event(EventKind.TIME_LIMIT_EXCEEDED, can_extend_search=state.can_extend_search)
    ], True


def _stall_clock(prev: Snapshot) -> dict[str, Any]:
    """What a run's next snapshot keeps of its stall bookkeeping (`bot.core.stall`)."""
    return {
        "progress": prev.progress,
        "progress_at": prev.progress_at,
        "stalls": prev.stalls,
        "stalled": prev.stalled,
    }


def _unseen_end(
    prev: Snapshot, state: OptimizeStateResponse, marks: dict[str, TrialMark]
) -> list[Event]:
    """The previous run's end, when it fell between two polls and its own state could not be
    read (`bot.core.handover` closes it from that state when it can; updating `marks`). What
    its trials that the new document lists again did is told under the old run; then an end
    that says what was seen, claiming no count, best trial or chart it did not see."""
    if prev.finished_reported or prev.summary is None or prev.summary.never_ran:
        return []
    old = RunRef.of(prev)
    carried = [trial for trial in state.trials if trial.id in prev.trials]
    events = report_trials(
        old, carried, marks, state, baseline=False, cut_ids=set(prev.stopped_trials)
    )
    return [*events, old.event(EventKind.JOB_FINISHED, **unseen_figures(prev, marks))]


def unseen_figures(prev: Snapshot, marks: dict[str, TrialMark]) -> dict[str, Any]:
    """What an end that was not seen may say: how many of the run's trials were seen to end,
    of how many it planned (or listed)."""
    summary = prev.summary
    assert summary is not None
    ended = (TrialStatus.COMPLETED, TrialStatus.FAILED)
    found = (marks.get(t) for t in prev.run_trials)
    cut = set(prev.stopped_trials)
    seen = sum(1 for t, m in zip(prev.run_trials, found, strict=True)
               if m is not None and (m.status in ended or t in cut))  # fmt: skip
    planned = max(summary.planned_trials or 0, summary.counts.total, len(prev.run_trials))
    return {"ended_unseen": True, "trials_seen": seen, "trials_planned": planned}


def _chart(run: RunRef, data: ChartData) -> list[Event]:
    """The run's chart, owed once it ended; none for a run no trial of which ended."""
    return [chart_event(run, data)] if data.trials else []


def _run_trials(
    prev: Snapshot, state: OptimizeStateResponse, ids: list[str] | None, *, fresh: bool
) -> tuple[str, ...]:
    """The run's trial ids so far: those already known (none for a fresh run), then new ones
    in document order (`ids`: the document's, when `state` lists only the changed trials; a
    trial missing from one response stays the run's)."""
    known = prev.run_trials if not fresh else ()
    listed = ids if ids is not None else [trial.id for trial in state.trials]
    seen = set(known)
    added = tuple(trial_id for trial_id in listed if trial_id not in seen)
    return known + added if added else known


def started_event(snapshot: Snapshot) -> Event | None:
    """The `eon_run_started` of the snapshot's run, for channels that start watching mid-run
    (the same key as the diff's own, so a channel never gets it twice)."""
    if snapshot.summary is None or snapshot.summary.never_ran:
        return None
    return RunRef.of(snapshot).event(EventKind.RUN_STARTED, **_counts(snapshot.summary.counts))

"""`diff` against whole simulated runs: every poll sequence a real poller could see.

The table tests in `test_diff.py` pin one behaviour per row; this file checks the promises of
`bot.core.diff` hold over the simulator's runs (retries, time limits, extensions, crashed jobs),
polled at every milestone (every status change seen) and by slow pollers that skip most of
them. The truth the events are checked against comes from the documents the poller saw and
from the simulation's own schedule (`Simulation.attempts`, `Simulation.runs`), never from
`diff` itself. Each poll also round-trips the snapshot through JSON, as the store does.
"""

from __future__ import annotations

import functools
import itertools
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.core.batch import retries_of
from bot.core.chart import chart_of
from bot.core.diff import Diff, diff
from bot.core.events import Event, EventKind, Snapshot
from bot.core.handover import Earlier, close, needs_closing, to_close
from bot.sandbox.simulator.runs import run_state_bytes, runs_document
from bot.sandbox.simulator.simulation import SIM_EPOCH, RunInfo, Simulation
from bot.tuner.models import OptimizeStateResponse, TrialStatus

PROJECT = "7"


@dataclass(frozen=True)
class Scenario:
    seed: int
    trials: int
    extend: bool = True
    job_error: bool = False

    def __str__(self) -> str:
        flags = "+extend" * self.extend + "+job_error" * self.job_error
        return f"seed{self.seed}-{self.trials}trials{flags}"


# Few trials (the time limit may not bind, so no extension), the default size, a larger one;
# each with and without the extension and the crash.
SCENARIOS = [
    Scenario(1, 24),
    Scenario(2, 24, job_error=True),
    Scenario(3, 24, extend=False),
    Scenario(4, 12, extend=False, job_error=True),
    Scenario(5, 12, job_error=True),
    Scenario(6, 6),
    Scenario(7, 3, job_error=True),
    Scenario(8, 2, extend=False),
    Scenario(9, 40),
]


@dataclass
class Recorded:
    """One simulation and the documents parsed so far: hypothesis asks for the same seconds
    over and over, and parsing is most of the cost of an example."""

    simulation: Simulation
    states: dict[int, OptimizeStateResponse] = field(default_factory=dict)

    def state(self, t: float) -> OptimizeStateResponse:
        second = int(t)  # the simulation floors to whole seconds too
        if second not in self.states:
            body = self.simulation.document_bytes(second)
            self.states[second] = OptimizeStateResponse.model_validate_json(body)
        return self.states[second]

    def milestones(self) -> list[float]:
        """`Simulation.milestones()`, always closed by the run's end."""
        end = self.simulation.duration
        return [t for t in self.simulation.milestones() if t < end] + [end]

    def run_at(self, t: float) -> RunInfo:
        """The run whose document is served at `t` (the same choice the simulation makes)."""
        return next(r for r in reversed(self.simulation.runs) if r.start <= int(t))


@functools.cache
def recorded(scenario: Scenario) -> Recorded:
    simulation = Simulation(
        PROJECT,
        seed=scenario.seed,
        trials=scenario.trials,
        extend=scenario.extend,
        job_error=scenario.job_error,
    )
    return Recorded(simulation)


@dataclass(frozen=True)
class Poll:
    t: float
    state: OptimizeStateResponse
    run: RunInfo
    events: list[Event]


def replay(rec: Recorded, times: list[float]) -> list[Poll]:
    """Diff the documents at `times` in order, restoring each snapshot from its JSON first and
    checking that diffing from the original gives the same answer."""
    snapshot: Snapshot | None = None
    polls: list[Poll] = []
    for t in times:
        state = rec.state(t)
        now = SIM_EPOCH + timedelta(seconds=t)
        if snapshot is not None:
            restored = Snapshot.model_validate_json(snapshot.model_dump_json())
            assert restored == snapshot
            original = look(rec, snapshot, state, t)
            result = look(rec, restored, state, t)
            assert result.events == original.events
            assert result.snapshot == original.snapshot
        else:
            result = diff(None, state, project_id=PROJECT, now=now)
        polls.append(Poll(t, state, rec.run_at(t), result.events))
        snapshot = result.snapshot
    return polls


def look(rec: Recorded, snapshot: Snapshot, state: OptimizeStateResponse, t: float) -> Diff:
    """One poll as the poller makes it: a new run first closes the earlier ones from their
    own states, read from the simulation as its routes serve them (`core.handover`)."""
    now = SIM_EPOCH + timedelta(seconds=t)
    if not needs_closing(snapshot, state):
        return diff(snapshot, state, project_id=PROJECT, now=now)
    listed = runs_document(rec.simulation, t)["runs"]
    ids = [(str(r["tunerCoordinatorJobId"]), str(r["tunerJobId"])) for r in reversed(listed)]
    earlier = []
    for coordinator in to_close(snapshot, state, ids):
        body = run_state_bytes(rec.simulation, coordinator, t)
        assert body is not None
        earlier.append(Earlier(coordinator, OptimizeStateResponse.model_validate_json(body)))
    closed = close(snapshot, earlier, project_id=PROJECT, now=now)
    found, after = diff(closed.snapshot, state, project_id=PROJECT, now=now)
    return Diff([*closed.events, *found], after)


def _trials(state: OptimizeStateResponse, status: str) -> dict[str, int]:
    """Trial id -> retries, of the trials in `status`."""
    return {trial.id: trial.retries for trial in state.trials if trial.status == status}


def check(rec: Recorded, times: list[float], *, every_change_seen: bool) -> None:
    """Every promise of `bot.core.diff` about one poll sequence (the last poll is the run's end)."""
    assert times == sorted(set(times)) and times[-1] == rec.simulation.duration
    polls = replay(rec, times)
    baseline, later = polls[0], polls[1:]
    runs = rec.simulation.runs
    run_of = {str(r.coordinator_job_id): r for r in runs}
    events = [event for poll in polls for event in poll.events]

    keys = Counter(event.key for event in events)
    assert not [key for key, n in keys.items() if n > 1], "duplicate event keys"
    assert baseline.events == [e for e in baseline.events if e.kind is EventKind.RUN_STARTED]
    assert len(baseline.events) == 1
    for event in events:
        assert event.project_id == PROJECT
        assert event.run_id in run_of, f"event of an unknown run: {event.key}"
        if event.trial_id is not None:  # each trial told under the run that ran it
            assert event.trial_id in run_of[str(event.run_id)].trial_ids, event.key

    # Trials: nothing reported that the poll's own document does not show. Events belong to
    # the poll's run, or to the previous poll's (the end, maybe the last trials, of a run that
    # ended between the two).
    for before, poll in itertools.pairwise(polls):
        completed = _trials(poll.state, TrialStatus.COMPLETED)
        failed = _trials(poll.state, TrialStatus.FAILED)
        for event in poll.events:
            if event.kind is not EventKind.RUN_STARTED:
                runs_now = {str(r.coordinator_job_id) for r in (before.run, poll.run)}
                assert event.run_id in runs_now, event.key
            else:
                assert event.run_id == str(poll.run.coordinator_job_id), event.key
            if event.kind is EventKind.TRIAL_COMPLETED:
                assert event.trial_id in completed, f"t={poll.t}: {event.key} not completed"
            elif event.kind is EventKind.TRIAL_FAILED and event.payload.get("retried"):
                # a failure the poll saw retried: the trial's attempts went on past it
                listed = {trial.id: trial for trial in poll.state.trials}
                assert event.trial_id in listed, f"t={poll.t}: {event.key} not listed"
                assert retries_of(listed[event.trial_id]) > event.payload["retries"]
            elif event.kind is EventKind.TRIAL_FAILED:
                assert event.trial_id in failed, f"t={poll.t}: {event.key} not failed"
                assert event.payload["retries"] == failed[event.trial_id]

    # Each completion seen after the baseline is reported exactly once.
    at_baseline = set(_trials(baseline.state, TrialStatus.COMPLETED))
    seen_later = {tid for poll in later for tid in _trials(poll.state, TrialStatus.COMPLETED)}
    reported = Counter(e.trial_id for e in events if e.kind is EventKind.TRIAL_COMPLETED)
    assert reported == Counter(seen_later - at_baseline)

    # Failures: one per attempt that failed after the baseline, however few polls saw it:
    # also an attempt whose trial was retried before the next poll (its `retries` went up).
    failures = Counter(e.trial_id for e in events if e.kind is EventKind.TRIAL_FAILED)
    for trial in polls[-1].state.trials:
        real = sum(a.failed and a.end > baseline.t for a in rec.simulation.attempts(trial.id))
        assert failures[trial.id] == real, trial.id
    numbers = Counter((e.trial_id, e.key) for e in events if e.kind is EventKind.TRIAL_FAILED)
    assert max(numbers.values(), default=0) <= 1, "a failure told twice"

    # Runs: started for the baseline and each later run, in order, before their own events.
    started = [e.run_id for e in events if e.kind is EventKind.RUN_STARTED]
    first = runs.index(baseline.run)
    assert started == [str(r.coordinator_job_id) for r in runs[first:]]
    for run_id, group in itertools.groupby(events, key=lambda e: e.run_id):
        kinds = [e.kind for e in group]
        assert kinds[0] is EventKind.RUN_STARTED, f"run {run_id} not started first: {kinds}"

    # The time limit: at most once per run; once for every run that hit it, unless the
    # baseline showed it already: also when the limit was hit after the run's last poll (the
    # run is closed from its own state, which shows it).
    limits = Counter(e.run_id for e in events if e.kind is EventKind.TIME_LIMIT_EXCEEDED)
    assert max(limits.values(), default=0) <= 1
    for run in runs[first:]:
        at_baseline = baseline.run is run and baseline.state.total_training_time_exceeded
        expected = int(run.time_limit_at is not None and not at_baseline)
        assert limits[str(run.coordinator_job_id)] == expected, f"time limit of run {run.index}"
        if expected:
            assert run.time_limit_at is not None and baseline.t < run.time_limit_at
        if every_change_seen and run.time_limit_at is not None:
            assert limits[str(run.coordinator_job_id)] == int(baseline.t < run.time_limit_at)

    # The job's end: once per run that ended after the baseline, the last event of its run,
    # also when the poller only saw the next run start; `failed` iff there was a jobError.
    finished = {e.run_id: e for e in events if e.kind is EventKind.JOB_FINISHED}
    assert len(finished) == sum(e.kind is EventKind.JOB_FINISHED for e in events)
    assert set(finished) == {str(r.coordinator_job_id) for r in runs if r.end > baseline.t}
    for run_id, event in finished.items():
        run = run_of[str(run_id)]
        assert event.payload["outcome"] == ("failed" if run.job_error else "completed")
        assert event.payload["job_error"] == run.job_error
        truth = rec.state(run.end).status  # the counts of the run's last document
        assert truth is not None
        assert event.payload["completed_trials"] == truth.num_completed_trials, run_id
        assert event.payload["failed_trials"] == truth.num_failed_trials, run_id
        own = [e for e in events if e.run_id == run_id]
        if own[-1].kind is EventKind.RUN_CHART:  # the run's chart follows its end
            chart = chart_of(own.pop())
            assert chart.run_id == str(run_id) and chart.trials
            assert len(chart.completed) <= event.payload["completed_trials"]
        assert own[-1] is event


@pytest.mark.parametrize("scenario", SCENARIOS, ids=str)
def test_every_milestone_polled(scenario: Scenario) -> None:
    """A poller that sees every status change: the counts must be exact."""
    rec = recorded(scenario)
    times = rec.milestones()
    check(rec, times, every_change_seen=True)


@pytest.mark.parametrize("scenario", SCENARIOS, ids=str)
def test_every_milestone_from_a_late_baseline(scenario: Scenario) -> None:
    """Watching starts mid-run (the first poll is a baseline) and then sees every change."""
    rec = recorded(scenario)
    times = rec.milestones()
    for start in range(1, len(times), max(1, len(times) // 7)):
        check(rec, times[start:], every_change_seen=True)


@st.composite
def sampled_polls(draw: st.DrawFn) -> tuple[Scenario, list[float]]:
    """A slow poller: a subset of the milestones, or irregular gaps of up to half an hour
    from a random start; the last poll is always the run's final document."""
    scenario = draw(st.sampled_from(SCENARIOS))
    simulation = recorded(scenario).simulation
    end = simulation.duration
    if draw(st.booleans()):
        milestones = recorded(scenario).milestones()
        picked = draw(st.sets(st.sampled_from(milestones), max_size=len(milestones)))
        times = sorted(picked | {end})
    else:
        t = float(draw(st.integers(0, int(end))))
        times = []
        for gap in draw(st.lists(st.integers(1, 1800), max_size=40)):
            if t >= end:
                break
            times.append(t)
            t += gap
        times.append(end)
    return scenario, times


@pytest.mark.slow
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sampled_polls())
def test_sampled_polls(case: tuple[Scenario, list[float]]) -> None:
    scenario, times = case
    check(recorded(scenario), times, every_change_seen=False)


def test_a_run_whose_end_falls_between_two_polls() -> None:
    """Polled just before the time limit, then only after the extension started: the first
    run's last trials and its end are told as they happened, under the first run."""
    rec = recorded(Scenario(1, 24))
    first, extension = rec.simulation.runs
    assert first.time_limit_at is not None
    polls = replay(rec, [first.time_limit_at - 1.0, extension.start + 1.0])
    events = polls[1].events
    kinds = [e.kind for e in events]
    assert kinds.count(EventKind.TRIAL_COMPLETED) > 0, "the scenario no longer shows the case"
    ended = kinds.index(EventKind.JOB_FINISHED)
    for i, event in enumerate(events):
        if event.trial_id in first.trial_ids:
            assert event.run_id == str(first.coordinator_job_id), event.key
            assert i < ended, f"{event.key} after the run's end"
    truth = rec.state(first.end).status
    assert truth is not None
    assert events[ended].payload == events[ended].payload | {
        "completed_trials": truth.num_completed_trials,
        "failed_trials": truth.num_failed_trials,
        "running_trials": 0,
        "pending_trials": 0,
    }

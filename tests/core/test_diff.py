"""`diff` as a table: a sequence of polls in, the events owed out (one row per behaviour)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.core.batch import FAILURES_TOLD_AT_ONCE
from bot.core.diff import diff, started_event, unseen_figures
from bot.core.events import Event, EventKind, Snapshot
from bot.core.status_text import training_words
from bot.core.summarize import summarize_run
from bot.core.summary import RunSummary
from bot.slack.render.events import render_event
from bot.tuner.models import OptimizeStateResponse
from tests.factories import state, trial

STARTED = EventKind.RUN_STARTED
COMPLETED = EventKind.TRIAL_COMPLETED
FAILED = EventKind.TRIAL_FAILED
TIME_LIMIT = EventKind.TIME_LIMIT_EXCEEDED
FINISHED = EventKind.JOB_FINISHED
CHART = EventKind.RUN_CHART


def run(polls: list[OptimizeStateResponse]) -> list[Event]:
    snapshot: Snapshot | None = None
    events: list[Event] = []
    for poll in polls:
        found, snapshot = diff(snapshot, poll, project_id="7")
        events.extend(found)
    return events


def brief(events: list[Event]) -> list[tuple[EventKind, str | None]]:
    return [(event.kind, event.trial_id) for event in events]


CASES = [
    pytest.param(
        [state(trial("a", "completed", accuracy=0.9), trial("b", "failed"), trial("c", "running"))],
        [(STARTED, None)],
        id="first poll is a baseline: one run_started, no history",
    ),
    pytest.param(
        [state(trial("a")), state(trial("a", "running")), state(trial("a", "completed"))],
        [(STARTED, None), (COMPLETED, "a")],
        id="trial completes",
    ),
    pytest.param(
        [state(trial("a")), state(trial("a", "completed"))],
        [(STARTED, None), (COMPLETED, "a")],
        id="pending to completed between two polls is still reported",
    ),
    pytest.param(
        [state(trial("a")), state(trial("a", "completed")), state(trial("a", "completed"))],
        [(STARTED, None), (COMPLETED, "a")],
        id="a completion is reported once",
    ),
    pytest.param(
        [state(trial("a", "running")), state(trial("a", "failed")), state(trial("a", "failed"))],
        [(STARTED, None), (FAILED, "a")],
        id="a failure is reported once",
    ),
    pytest.param(
        [
            state(trial("a", "running")),
            state(trial("a", "failed")),
            state(trial("a", "running", retries=1)),
            state(trial("a", "failed", retries=1)),
        ],
        [(STARTED, None), (FAILED, "a"), (FAILED, "a")],
        id="a retried trial that fails again is reported again",
    ),
    pytest.param(
        [
            state(trial("a", "running")),
            state(trial("a", "failed")),
            state(trial("a", "failed", retries=1)),
        ],
        [(STARTED, None), (FAILED, "a"), (FAILED, "a")],
        id="second failure seen without the retry in between (retries grew)",
    ),
    pytest.param(
        [
            state(trial("a", "running")),
            state(trial("a", "failed")),
            state(trial("a", "running")),
            state(trial("a", "failed")),
        ],
        [(STARTED, None), (FAILED, "a"), (FAILED, "a")],
        id="second failure seen through the retry although retries was not sent",
    ),
    pytest.param(
        [
            state(trial("a", "running")),
            state(trial("a", "failed")),
            state(trial("a", "completed", retries=1)),
        ],
        [(STARTED, None), (FAILED, "a"), (COMPLETED, "a")],
        id="a retried trial's later completion is reported",
    ),
    pytest.param(
        [state(trial("a", "failed")), state(trial("a", "failed"))],
        [(STARTED, None)],
        id="a failure already there at the baseline is history",
    ),
    pytest.param(
        [state(trial("a"), trial("b")), state(trial("b", "completed")), state(trial("a"))],
        [(STARTED, None), (COMPLETED, "b")],
        id="trials missing from a response are not deleted nor re-reported",
    ),
    pytest.param(
        [state(trial("a")), state(trial("a"), time_exceeded=True), state(time_exceeded=True)],
        [(STARTED, None), (TIME_LIMIT, None)],
        id="the time limit is reported once",
    ),
    pytest.param(
        [state(trial("a")), state(trial("a", "completed"), running=False)],
        [(STARTED, None), (COMPLETED, "a"), (FINISHED, None), (CHART, None)],
        id="tunerJobIsRunning false means finished, after the trial events",
    ),
    pytest.param(
        [state(trial("a")), state(trial("a"), status="completed"), state(status="completed")],
        [(STARTED, None), (FINISHED, None)],
        id="status completed (the SDK's criterion) means finished, once (no trial ended: no chart)",
    ),
    pytest.param(
        [state(trial("a"), running=False), state(trial("a"), running=False)],
        [(STARTED, None)],
        id="a run already finished at the baseline is not announced as finishing",
    ),
    pytest.param(
        [
            state(trial("a", "completed")),
            state(trial("a", "completed"), trial("b", "completed"), job=20, coordinator=21),
        ],
        [(STARTED, None), (FINISHED, None), (STARTED, None), (COMPLETED, "b")],
        id="a new run: the unseen end of the old one first (no chart), then a fresh start",
    ),
    pytest.param(
        [
            state(trial("a"), time_exceeded=True),
            state(trial("a"), running=False, time_exceeded=True),
            state(trial("a"), trial("b"), job=20, coordinator=21),
            state(trial("a"), trial("b"), job=20, coordinator=21, time_exceeded=True),
            state(trial("a"), trial("b"), job=20, coordinator=21, running=False),
        ],
        [(STARTED, None), (FINISHED, None), (STARTED, None), (TIME_LIMIT, None), (FINISHED, None)],
        id="time limit and end are once per run; an extension gets its own",
    ),
    pytest.param(
        [
            state(trial("a", "running"), trial("b", "completed", accuracy=0.8)),
            state(
                trial("a", "completed", accuracy=0.9),
                trial("b", "completed", accuracy=0.8),
                trial("c"),
                job=20,
                coordinator=21,
            ),
        ],
        [(STARTED, None), (COMPLETED, "a"), (FINISHED, None), (STARTED, None)],
        id="an end between two polls: the old run's last trials, then its end, then the new run",
    ),
    pytest.param(
        [state(trial("a")), state(trial("a", "completed"), job=20)],
        [(STARTED, None), (COMPLETED, "a"), (FINISHED, None), (STARTED, None)],
        id="a new tuner job id alone also starts a new run; the old run's trials first",
    ),
]


@pytest.mark.parametrize(("polls", "expected"), CASES)
def test_diff_table(polls: list[OptimizeStateResponse], expected: list[object]) -> None:
    assert brief(run(polls)) == expected


def test_keys_are_unique_per_occurrence() -> None:
    events = run(
        [
            state(trial("a", "running")),
            state(trial("a", "failed")),
            state(trial("a", "running", retries=1)),
            state(trial("a", "failed", retries=1)),
            state(trial("a", "completed", retries=2), running=False),
        ]
    )
    keys = [event.key for event in events]
    assert len(keys) == len(set(keys)) == 6  # the chart after the end too


def test_job_error_makes_the_outcome_failed() -> None:
    events = run([state(trial("a")), state(trial("a"), running=False, job_error="OOM on worker")])
    finished = events[-1]  # no trial ended: no chart
    assert finished.kind is FINISHED
    assert finished.payload["outcome"] == "failed"
    assert finished.payload["job_error"] == "OOM on worker"


def test_completed_payload_has_the_numbers_and_metadata() -> None:
    events = run(
        [
            state(trial("a")),
            state(trial("a", "completed", accuracy=0.913, latency=12.0, ram=38_400, rom=122_880)),
        ]
    )
    completed = events[-1]
    assert completed.payload == {
        "trial_id": "a",
        "trial_name": "trial-a",
        "accuracy": 0.913,
        "latency_ms": 12.0,
        "ram_bytes": 38_400,
        "rom_bytes": 122_880,
        "over_latency": None,
        "over_ram": None,
        "over_rom": None,
        "unchecked": None,
        "retries": None,
        "is_best": True,  # the first completion counts
    }
    metadata = completed.metadata()
    assert metadata["event_type"] == "eon_trial_completed"
    assert metadata["event_payload"]["project_id"] == "7"
    assert metadata["event_payload"]["tuner_job_id"] == "10"
    assert "over_latency" not in metadata["event_payload"]


def test_finished_payload_names_the_best_trial() -> None:
    polls = [
        state(trial("a"), trial("b")),
        state(
            trial("a", "completed", accuracy=0.80, latency=5),
            trial("b", "completed", accuracy=0.90, latency=50),
            running=False,
        ),
    ]
    finished = run(polls)[-2]
    assert finished.payload["best_trial_id"] == "b"
    assert finished.payload["completed_trials"] == 2
    assert finished.payload["outcome"] == "completed"


def test_snapshot_survives_serialisation_and_keeps_diffing() -> None:
    first, snapshot = diff(None, state(trial("a", "running")), project_id="7")
    restored = Snapshot.model_validate_json(snapshot.model_dump_json())
    assert restored == snapshot
    events, _ = diff(restored, state(trial("a", "completed")), project_id="7")
    assert brief(events) == [(COMPLETED, "a")]


def test_elapsed_time_is_measured_from_the_first_sight() -> None:
    t0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    t1 = datetime(2026, 1, 1, 12, 30, tzinfo=UTC)
    _, snapshot = diff(None, state(trial("a")), project_id="7", now=t0)
    _, snapshot = diff(snapshot, state(trial("a", "running")), project_id="7", now=t1)
    assert snapshot.summary is not None
    assert snapshot.summary.elapsed_s == 1800


def test_an_unseen_end_says_what_was_seen_and_claims_no_count() -> None:
    """Without the old run's own state (`core.handover`), its trials the new document lists
    are told under it, then an end that says how many trials were seen to end, of how many."""
    polls = [
        state(trial("a", "running"), trial("b", "completed", accuracy=0.80), trial("c")),
        state(
            trial("a", "completed", accuracy=0.90),
            trial("b", "completed", accuracy=0.80),
            job=20,
            coordinator=21,
        ),
    ]
    events = run(polls)
    completed, finished = events[1], events[2]
    assert (completed.kind, completed.run_id) == (COMPLETED, "11")
    assert finished.kind is FINISHED and finished.run_id == "11"
    assert finished.payload == {"ended_unseen": True, "trials_seen": 2, "trials_planned": 3}
    assert "eon-bot could not look; 2 of 3 trials seen" in render_event(finished).text


def never_ran() -> OptimizeStateResponse:
    """Edge Impulse's documented example response: the project's tuner never ran."""
    return OptimizeStateResponse.model_validate(
        {
            "success": True,
            "status": {"status": "creating", "numCompletedTrials": 0, "numFailedTrials": 0},
            "tunerJobIsRunning": False,
            "trials": [],
            "workers": [],
        }
    )


def older(*trials: dict[str, object], job: int, running: bool = True) -> OptimizeStateResponse:
    """An older document: the job named `activeTunerJobId`, no coordinator, no `tunerJobId`."""
    doc = state(*trials, running=running).model_dump(by_alias=True, exclude_none=True)
    del doc["tunerJobId"], doc["tunerCoordinatorJobId"]
    return OptimizeStateResponse.model_validate(doc | {"activeTunerJobId": job})


def test_a_project_that_never_ran_reports_nothing_and_never_finishes() -> None:
    assert run([never_ran(), never_ran(), never_ran()]) == []


def test_the_first_run_of_a_project_that_never_ran_starts_with_its_card() -> None:
    events = run(
        [
            never_ran(),
            state(trial("a", "completed", accuracy=0.9), running=True),
            state(trial("a", "completed", accuracy=0.9), running=False, status="completed"),
        ]
    )
    assert brief(events) == [(STARTED, None), (COMPLETED, "a"), (FINISHED, None), (CHART, None)]
    assert all(event.run_id == "11" for event in events)


def test_not_running_ends_only_a_run_with_a_job_that_left_creating() -> None:
    creating = state(running=False, status="creating")
    assert brief(run([creating, creating])) == [(STARTED, None)]
    started = state(running=False, status="running")
    assert brief(run([creating, started])) == [(STARTED, None), (FINISHED, None)]


def test_a_crashed_job_ends_as_failed_even_while_creating() -> None:
    events = run(
        [state(status="creating"), state(running=False, status="creating", job_error="OOM")]
    )
    assert brief(events) == [(STARTED, None), (FINISHED, None)]
    assert events[-1].payload["outcome"] == "failed"


def test_runs_named_by_active_tuner_job_id_are_told_apart() -> None:
    events = run(
        [
            older(trial("a", "running"), job=5),
            older(trial("a", "completed", accuracy=0.9), job=5, running=False),
            older(trial("b", "running"), job=6),
        ]
    )
    assert brief(events) == [
        (STARTED, None),
        (COMPLETED, "a"),
        (FINISHED, None),
        (CHART, None),
        (STARTED, None),
    ]
    assert [e.run_id for e in events] == ["5", "5", "5", "5", "6"]
    assert {e.tuner_job_id for e in events} == {"5", "6"}
    assert all(e.coordinator_job_id is None for e in events)  # Studio: the project's tuner page


@pytest.mark.parametrize(
    ("running", "exceeded", "may_follow"),
    [(True, False, True), (True, True, None), (False, False, None)],
    ids=["job running", "time limit stopped the search", "job over"],
)
def test_a_failure_says_a_retry_may_follow_only_when_the_document_tells(
    running: bool, exceeded: bool, may_follow: bool | None
) -> None:
    events = run(
        [
            state(trial("a", "running")),
            state(trial("a", "failed"), running=running, time_exceeded=exceeded),
        ]
    )
    failure = next(e for e in events if e.kind is FAILED)
    assert failure.payload.get("retry_may_follow") is may_follow


def test_a_completion_after_a_retry_says_how_many() -> None:
    events = run(
        [
            state(trial("a", "running")),
            state(trial("a", "failed")),
            state(trial("a", "running", retries=1)),
            state(trial("a", "completed", retries=1, accuracy=0.9)),
        ]
    )
    assert brief(events) == [(STARTED, None), (FAILED, "a"), (COMPLETED, "a")]
    assert events[-1].payload["retries"] == 1
    assert events[-1].after_failure is True  # delivery edits the failure message


def test_a_completion_says_whether_a_failure_of_its_trial_was_reported() -> None:
    """Even without `retries` in the document: only the reported failure counts."""
    events = run(
        [
            state(trial("a", "running"), trial("b", "running")),
            state(trial("a", "failed"), trial("b", "completed", accuracy=0.8)),
            state(trial("a", "completed", accuracy=0.9), trial("b", "completed", accuracy=0.8)),
        ]
    )
    completed = {e.trial_id: e.after_failure for e in events if e.kind is COMPLETED}
    assert completed == {"b": False, "a": True}
    assert all("after_failure" not in e.metadata()["event_payload"] for e in events)


def test_a_new_runs_snapshot_keeps_only_the_trials_it_lists() -> None:
    """Marks do not pile up from run to run: the next run keeps those it lists again (an
    extended search), not the earlier run's history."""
    first = state(*(trial(str(n), "completed", accuracy=0.5) for n in range(50)))
    _, snapshot = diff(None, first, project_id="7")
    assert len(snapshot.trials) == 50
    extended = state(
        trial("49", "completed", accuracy=0.5), trial("x", "running"), job=20, coordinator=21
    )
    events, snapshot = diff(snapshot, extended, project_id="7")
    assert set(snapshot.trials) == {"49", "x"}
    assert (COMPLETED, "49") not in brief(events), "the listed earlier trial is not news"
    again, _ = diff(snapshot, extended, project_id="7")
    assert again == []


def test_a_stop_from_slack_is_no_failure_and_the_end_counts_the_trials_stopped() -> None:
    """The run stopped from Slack: its trials that show a new failure were cut short by it,
    told as no failure, counted stopped; a failure told before the stop stays a failure."""
    a = trial("a", "completed", accuracy=0.8)
    before = state(a, trial("b", "failed"), trial("c", "running"), trial("d", "running"),
                   trial("e"))  # fmt: skip
    after = state(a, trial("b", "failed"), trial("c", "failed"), trial("d", "failed"),
                  running=False, status="completed")  # fmt: skip
    _, snapshot = diff(None, state(trial("a", "running"), trial("b", "running"), trial("c"),
                                   trial("d"), trial("e")), project_id="7")  # fmt: skip
    told, snapshot = diff(snapshot, before, project_id="7")
    assert brief(told) == [(COMPLETED, "a"), (FAILED, "b")]
    events, stopped = diff(snapshot, after, project_id="7", stopped=True)
    assert brief(events) == [(FINISHED, None), (CHART, None)]
    end = events[0].payload
    assert (end["completed_trials"], end["failed_trials"], end["stopped_trials"]) == (1, 1, 2)
    assert stopped.summary is not None and stopped.summary.counts.stopped == 2
    assert (
        "1 completed · 1 failed · 2 stopped · 0 running · 0 pending" in render_event(events[0]).text
    )
    # Without the stop, the same document tells two failures (what the poller reads first).
    unstopped, _ = diff(snapshot, after, project_id="7")
    assert brief(unstopped)[:2] == [(FAILED, "c"), (FAILED, "d")]
    # A later poll keeps the count, the stop no longer given.
    again, kept = diff(stopped, after, project_id="7")
    assert again == [] and kept.summary is not None and kept.summary.counts.stopped == 2


def test_a_trial_edge_impulse_reports_cancelled_is_stopped_without_a_stop_from_slack() -> None:
    _, snapshot = diff(None, state(trial("a", "running"), trial("b", "running")), project_id="7")
    events, after = diff(
        snapshot,
        state(trial("a", "completed", accuracy=0.9), trial("b", "cancelled"), running=False),
        project_id="7",
    )
    assert brief(events) == [(COMPLETED, "a"), (FINISHED, None), (CHART, None)]
    assert events[1].payload["stopped_trials"] == 1
    assert after.summary is not None and after.summary.counts.stopped == 1


def test_a_channel_watching_mid_run_gets_the_runs_start_with_its_counts() -> None:
    trials = (trial("a", "completed", accuracy=0.9), trial("b", "running"), trial("c"))
    _, snap = diff(None, state(*trials), project_id="7")
    start = started_event(snap)
    assert start is not None and start.kind is EventKind.RUN_STARTED
    assert (start.project_id, start.run_id) == ("7", "11")
    assert start.payload == start.payload | {
        "pending_trials": 1, "running_trials": 1, "completed_trials": 1, "failed_trials": 0,
    }  # fmt: skip
    assert start.payload.get("stopped_trials") is None  # none stopped: not said
    _, later = diff(snap, state(*trials, trial("d")), project_id="7")
    again = started_event(later)
    assert again is not None and again.key == start.key  # a channel never gets it twice
    assert snap.summary is not None
    never = snap.model_copy(update={"summary": snap.summary.model_copy(update={"never_ran": True})})
    assert started_event(never) is None
    assert started_event(snap.model_copy(update={"summary": None})) is None


@pytest.mark.parametrize(
    ("planned", "total", "run_trials", "expected"),
    [(30, 2, 3, 30), (None, 5, 3, 5), (None, 0, 3, 3), (1, 0, 0, 1), (None, 0, 0, 0)],
)
def test_an_unseen_end_says_how_many_trials_the_run_planned(
    planned: int | None, total: int, run_trials: int, expected: int
) -> None:
    _, snap = diff(None, state(trial("a", "completed", accuracy=0.9)), project_id="7")
    assert snap.summary is not None
    counts = snap.summary.counts.model_copy(update={"completed": total, "pending": 0})
    summary = snap.summary.model_copy(update={"planned_trials": planned, "counts": counts})
    ids = tuple(f"t{i}" for i in range(run_trials))
    prev = snap.model_copy(update={"summary": summary, "run_trials": ids})
    figures = unseen_figures(prev, {})
    assert figures == {"ended_unseen": True, "trials_seen": 0, "trials_planned": expected}


def trained(trial_id: str, minutes: int, status: str = "completed") -> dict[str, object]:
    """A trial that trained `minutes` (its first block activity to its completion)."""
    doc = trial(trial_id, status, accuracy=0.8)
    doc["blocks"] = [{"id": 1, "lastActive": "2025-03-03T09:00:00Z"}]
    doc["lastCompletedTraining"] = f"2025-03-03T{9 + minutes // 60:02d}:{minutes % 60:02d}:00Z"
    return doc


def test_an_extended_searchs_training_time_is_its_own() -> None:
    """The earlier run's trials it lists again trained for the earlier run: not counted."""
    earlier = state(trained("a", 50), trained("b", 40), time_exceeded=True)
    extension = [trained("a", 50), trained("b", 40), trained("c", 15)]
    doc = {"job": 20, "coordinator": 21}
    _, snapshot = diff(None, state(trial("a", "running"), trial("b", "running")), project_id="7")
    _, snapshot = diff(snapshot, earlier, project_id="7")
    assert snapshot.summary is not None and snapshot.summary.training_s == 90 * 60
    extended = state(*extension, **doc).model_copy(update={"continuation_job_id": "11"})
    _, snapshot = diff(snapshot, extended, project_id="7")
    assert snapshot.summary is not None and snapshot.summary.training_s == 15 * 60
    again, snapshot = diff(snapshot, extended, project_id="7")
    assert snapshot.summary is not None and snapshot.summary.training_s == 15 * 60
    # First seen as an extension: which trials are the earlier run's is not known.
    _, fresh = diff(None, extended, project_id="7")
    assert fresh.summary is not None and fresh.summary.training_with_earlier
    assert training_words(fresh.summary) == "1h 45m with the earlier run's trials"


T1, T2, T3 = (datetime(2025, 6, 1, h, tzinfo=UTC) for h in (10, 11, 12))


def test_the_end_says_the_outcome_the_best_trial_and_whether_it_can_go_on() -> None:
    _, snap = diff(None, state(trial("a", "running"), trial("b", "running")), project_id="7")
    ended = state(trial("a", "completed", accuracy=0.8), trial("b", "completed", accuracy=0.9),
                  running=False, can_extend=True)  # fmt: skip
    events, _ = diff(snap, ended, project_id="7")
    [end] = [e for e in events if e.kind is EventKind.JOB_FINISHED]
    assert end.payload == end.payload | {
        "outcome": "completed", "can_extend_search": True, "best_trial_id": "b",
        "best_trial_name": "trial-b", "best_accuracy": 0.9, "completed_trials": 2,
    }  # fmt: skip


def test_a_run_is_first_seen_when_it_starts_and_named_in_its_events() -> None:
    named = {"name": "EON Tuner run 4"}
    events, first = diff(None, state(trial("a"), trial("b", "running"), config=named),
                         project_id="7", now=T1)  # fmt: skip
    [start] = events
    assert start.run_name == "EON Tuner run 4"
    assert start.payload == start.payload | {"pending_trials": 1, "running_trials": 1}
    _, same = diff(first, state(trial("a", "running"), trial("b", "running")), project_id="7",
                   now=T2)  # fmt: skip
    assert (first.first_seen_at, same.first_seen_at) == (T1, T1)
    _, new = diff(same, state(trial("c"), job=20, coordinator=21), project_id="7", now=T3)
    assert new.first_seen_at == T3  # a new run: seen first now, not when the last one was


def test_a_document_without_a_job_id_keeps_the_runs_and_a_new_run_drops_it() -> None:
    _, first = diff(None, state(trial("a", "running")), project_id="7")
    doc = state(trial("a", "running")).model_copy(update={"tuner_job_id": None})
    _, same = diff(first, doc, project_id="7")
    assert (same.coordinator_job_id, same.tuner_job_id) == ("11", "10")
    new_doc = state(trial("c"), coordinator=21).model_copy(update={"tuner_job_id": None})
    _, new = diff(first, new_doc, project_id="7")
    assert (new.coordinator_job_id, new.tuner_job_id) == ("21", None)  # not run 11's job


def test_a_runs_stall_clock_carries_over_between_its_polls_not_to_the_next_run() -> None:
    _, first = diff(None, state(trial("a", "running")), project_id="7")
    clock = {"progress": "p1", "progress_at": T1, "stalls": 2, "stalled": True}
    held = first.model_copy(update=clock)
    _, same = diff(held, state(trial("a", "running")), project_id="7")
    assert {k: getattr(same, k) for k in clock} == clock
    _, new = diff(held, state(trial("c"), job=20, coordinator=21), project_id="7")
    assert (new.progress, new.stalls, new.stalled) == (None, 0, False)


def test_a_runs_trials_are_kept_when_a_document_leaves_one_out_and_not_into_the_next_run() -> None:
    _, first = diff(None, state(trial("a", "running"), trial("b", "running")), project_id="7")
    _, same = diff(first, state(trial("b", "running"), trial("c")), project_id="7")
    assert same.run_trials == ("a", "b", "c")  # a trial missing from one answer stays the run's
    _, new = diff(same, state(trial("d"), job=20, coordinator=21), project_id="7")
    assert new.run_trials == ("d",)


def test_the_time_limit_says_whether_the_search_can_go_on() -> None:
    _, first = diff(None, state(trial("a", "running")), project_id="7")
    events, _ = diff(first, state(trial("a", "running"), time_exceeded=True, can_extend=True),
                     project_id="7")  # fmt: skip
    [limit] = [e for e in events if e.kind is EventKind.TIME_LIMIT_EXCEEDED]
    assert limit.payload["can_extend_search"] is True


def test_a_document_without_its_coordinator_keeps_the_runs() -> None:
    _, first = diff(None, state(trial("a", "running")), project_id="7")
    doc = state(trial("a", "running")).model_copy(update={"tuner_coordinator_job_id": None})
    _, same = diff(first, doc, project_id="7")
    assert (same.coordinator_job_id, same.tuner_job_id) == ("11", "10")
    new_doc = state(trial("c"), job=20).model_copy(update={"tuner_coordinator_job_id": None})
    _, new = diff(first, new_doc, project_id="7")
    assert (new.coordinator_job_id, new.tuner_job_id) == (None, "20")  # not run 11's


@pytest.mark.parametrize(
    ("retries", "status", "told"),
    [
        (10**6, "failed", FAILURES_TOLD_AT_ONCE),  # a count gone wrong: its latest attempts
        (10**6, "running", FAILURES_TOLD_AT_ONCE),
        (2, "running", 2),  # retried twice between polls: both told
        (-3, "failed", 1),  # a negative count is none: the failure it shows is told
        (-3, "running", 0),
    ],
    ids=["huge, failed", "huge, running", "two retries", "negative, failed", "negative, running"],
)
def test_a_trials_retries_count_is_told_within_bounds(retries: int, status: str, told: int) -> None:
    events = run([state(trial("a", "running")), state(trial("a", status, retries=retries))])
    failures = [e for e in events if e.kind is FAILED]
    assert len(failures) == told
    if told:  # the latest attempts, each once
        last = max(0, retries) + (status == "failed") - 1
        assert [e.payload["retries"] for e in failures] == list(range(last - told + 1, last + 1))


def test_a_new_run_read_by_its_changes_keeps_the_trials_it_lists_but_did_not_send() -> None:
    """`listed` is the document's every id when `state` holds only the changed trials: a
    trial it lists unchanged keeps its mark and its place in the run, though not sent."""
    _, first = diff(None, state(trial("a", "completed", accuracy=0.8), trial("b", "running")),
                    project_id="7")  # fmt: skip
    changed = state(trial("b", "completed", accuracy=0.9), job=20, coordinator=21)
    _, new = diff(first, changed, project_id="7", listed=["a", "b"])
    assert set(new.trials) == {"a", "b"}
    assert new.run_trials == ("a", "b")


def test_a_summary_read_by_changes_is_given_the_runs_first_sight() -> None:
    _, first = diff(None, state(trial("a", "running")), project_id="7", now=T1)
    given: list[datetime | None] = []

    def summarize(first_seen: datetime | None) -> RunSummary:
        given.append(first_seen)
        return summarize_run("7", state(trial("a", "running")), started_at=first_seen, now=T2)

    diff(first, state(trial("a", "running")), project_id="7", now=T2, summarize=summarize,
         listed=["a"])  # fmt: skip
    assert given == [T1]


def test_what_an_extended_search_inherits_is_kept_and_an_ordinary_run_inherits_nothing() -> None:
    """The earlier run's training, in seconds, is kept once the search is extended; a run
    first seen that extends nothing inherited 0 s (known), one that does an unknown share."""
    _, snapshot = diff(None, state(trial("a", "running")), project_id="7")
    _, snapshot = diff(snapshot, state(trained("a", 50)), project_id="7")
    extended = state(trained("a", 50), trained("c", 15), job=20, coordinator=21)
    _, snapshot = diff(snapshot, extended.model_copy(update={"continuation_job_id": "11"}),
                       project_id="7")  # fmt: skip
    assert snapshot.inherited_training_s == 50 * 60
    _, ordinary = diff(None, state(trained("a", 50)), project_id="7")
    assert ordinary.inherited_training_s == 0.0
    _, unknown = diff(None, extended.model_copy(update={"continuation_job_id": "11"}),
                      project_id="7")  # fmt: skip
    assert unknown.inherited_training_s is None


def test_a_new_run_that_extends_nothing_counts_all_its_trials_training() -> None:
    """Only an extended search leaves out the training of the earlier run's trials; a new
    run that is no extension counts every trial it lists, one of the earlier run's id too."""
    _, snapshot = diff(None, state(trial("a", "running")), project_id="7")
    _, snapshot = diff(snapshot, state(trained("a", 50)), project_id="7")
    _, new = diff(snapshot, state(trained("a", 50), trained("c", 15), job=20, coordinator=21),
                  project_id="7")  # fmt: skip
    assert new.summary is not None and new.summary.training_s == 65 * 60


def test_a_trial_a_stop_cut_short_stays_stopped_when_its_runs_end_goes_unseen() -> None:
    """The run stopped from Slack cut trial b short; its end fell between two polls, and the
    next run lists b again with another failed attempt: still the stop's, told as no failure."""
    _, first = diff(None, state(trial("a", "running"), trial("b", "running")), project_id="7")
    _, stopped = diff(first, state(trial("a", "running"), trial("b", "failed")), project_id="7",
                      stopped=True)  # fmt: skip
    assert stopped.stopped_trials == ("b",)
    nxt = state(trial("a", "completed", accuracy=0.9), trial("b", "failed", retries=1), job=20,
                coordinator=21)  # fmt: skip
    events, new = diff(stopped, nxt, project_id="7")
    assert [(e.kind, e.run_id, e.trial_id) for e in events] == [
        (COMPLETED, "11", "a"), (FINISHED, "11", None), (STARTED, "21", None),
    ]  # fmt: skip
    # the stop was the earlier run's: the new run has stopped nothing
    assert new.stopped_trials == ()
    assert new.summary is not None and new.summary.counts.stopped == 0


def test_the_trials_a_stop_cut_short_are_kept_in_the_order_found() -> None:
    _, first = diff(None, state(trial("a", "running"), trial("b", "running")), project_id="7")
    _, one = diff(first, state(trial("a", "running"), trial("b", "failed")), project_id="7",
                  stopped=True)  # fmt: skip
    _, two = diff(one, state(trial("a", "failed"), trial("b", "failed")), project_id="7",
                  stopped=True)  # fmt: skip
    assert (one.stopped_trials, two.stopped_trials) == (("b",), ("b", "a"))

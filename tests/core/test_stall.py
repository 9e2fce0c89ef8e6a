"""Stall notices as a table: (seconds since start, document) polls in, notices out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.core.diff import diff
from bot.core.events import Event, EventKind, Snapshot
from bot.core.stall import progress_digest, watch_progress
from bot.tuner.models import OptimizeStateResponse
from tests.factories import state, trial

T0 = datetime(2026, 1, 1, tzinfo=UTC)
STALL_AFTER = 60.0
STALLED, RESUMED = EventKind.RUN_STALLED, EventKind.RUN_RESUMED


def run(
    polls: list[tuple[float, OptimizeStateResponse]], snapshot: Snapshot | None = None
) -> tuple[list[Event], Snapshot]:
    events: list[Event] = []
    for seconds, doc in polls:
        now = T0 + timedelta(seconds=seconds)
        _, fresh = diff(snapshot, doc, project_id="7", now=now)
        found, snapshot = watch_progress(
            fresh, progress_digest(doc), now=now, stall_after=STALL_AFTER
        )
        events.extend(found)
    assert snapshot is not None
    return events, snapshot


def kinds(polls: list[tuple[float, OptimizeStateResponse]]) -> list[tuple[EventKind, object]]:
    events, _ = run(polls)
    return [(event.kind, event.payload.get("idle_s")) for event in events]


A = state(trial("a", "running"))
A_EPOCH = OptimizeStateResponse.model_validate(
    {**A.model_dump(by_alias=True), "trials": [{**trial("a", "running"), "currentEpoch": 3}]}
)
B = state(trial("a", "completed", accuracy=0.9), trial("b", "running"))
P = pytest.param
CASES = [
    P([(0, A), (30, A), (59.9, A)], [], id="quiet for less than STALL_AFTER: nothing"),
    P([(0, A), (30, A), (60, A), (90, A), (500, A)], [(STALLED, 60.0)], id="one notice per stall"),
    P(
        [(0, A), (61, A), (70, B), (80, B)],
        [(STALLED, 61.0), (RESUMED, 70.0)],
        id="a trial that moves resumes it once",
    ),
    P(
        [(0, A), (61, A), (62, A_EPOCH)],
        [(STALLED, 61.0), (RESUMED, 62.0)],
        id="a new epoch is progress",
    ),
    P(
        [(0, A), (50, B), (109, B), (110, B)],
        [(STALLED, 60.0)],
        id="the idle time counts from the last progress",
    ),
    P(
        [(0, A), (61, A), (62, B), (122, B), (130, A)],
        [(STALLED, 61.0), (RESUMED, 62.0), (STALLED, 60.0), (RESUMED, 68.0)],
        id="each stall of a run is told",
    ),
    P(
        [(0, state(trial("a"), running=False)), (500, state(trial("a"), running=False))],
        [],
        id="a job that is not running never stalls",
    ),
    P(
        [(0, A), (61, A), (70, state(trial("a", "running"), running=False))],
        [(STALLED, 61.0)],
        id="a stalled job that ends gets its end, not a resume",
    ),
]


@pytest.mark.parametrize(("polls", "expected"), CASES)
def test_stalls(polls: list[tuple[float, OptimizeStateResponse]], expected: list[object]) -> None:
    assert kinds(polls) == expected


def test_each_notice_once_across_a_restart_and_keys_differ_per_stall() -> None:
    events, snapshot = run([(0, A), (61, A)])
    restored = Snapshot.model_validate_json(snapshot.model_dump_json())  # a restart
    later, snapshot = run([(90, A), (100, B), (200, B)], restored)
    keys = [event.key for event in [*events, *later]]
    assert [event.kind for event in [*events, *later]] == [STALLED, RESUMED, STALLED]
    assert len(set(keys)) == 3
    assert all(event.run_id == "11" and event.tuner_job_id == "10" for event in later)


def test_a_new_run_starts_with_a_clean_slate() -> None:
    events, snapshot = run([(0, A), (61, A)])
    assert snapshot.stalled
    later, snapshot = run([(62, state(trial("x", "running"), job=20, coordinator=21))], snapshot)
    assert later == [] and not snapshot.stalled and snapshot.stalls == 0

"""`bot.core.handover`: which runs a poll closes, and closing several in order (a restart that
spans more than one run), each from its own state."""

from __future__ import annotations

import pytest

from bot.core.diff import diff
from bot.core.events import EventKind, Snapshot
from bot.core.handover import Earlier, close, needs_closing, to_close, unseen_summary
from tests.factories import state, trial

STARTED, COMPLETED, FAILED = (
    EventKind.RUN_STARTED,
    EventKind.TRIAL_COMPLETED,
    EventKind.TRIAL_FAILED,
)
LIMIT, FINISHED, CHART = (
    EventKind.TIME_LIMIT_EXCEEDED,
    EventKind.JOB_FINISHED,
    EventKind.RUN_CHART,
)
RUNS = [("11", "10"), ("21", "20"), ("31", "30")]  # oldest first: (coordinator, tuner job)


def first_seen(*trials: dict[str, object]) -> Snapshot:
    return diff(None, state(*trials), project_id="7").snapshot


@pytest.mark.parametrize(
    ("ended", "runs", "expected"),
    [
        pytest.param(False, RUNS, ["11", "21"], id="its own run, then those in between"),
        pytest.param(True, RUNS, ["21"], id="its end told: only those in between"),
        pytest.param(False, None, ["11"], id="no runs list: its own run only"),
        pytest.param(False, RUNS[1:], ["11"], id="the list does not show it: its own run only"),
        pytest.param(False, RUNS[::-1], ["11"], id="the current run before it: its own only"),
    ],
)
def test_which_runs_are_closed(
    ended: bool, runs: list[tuple[str, str]] | None, expected: list[str]
) -> None:
    held = first_seen(trial("a", "running")).model_copy(update={"finished_reported": ended})
    current = state(job=30, coordinator=31)
    assert needs_closing(held, current)
    assert to_close(held, current, runs) == expected


def test_the_same_run_or_a_project_that_never_ran_closes_nothing() -> None:
    held = first_seen(trial("a", "running"))
    assert not needs_closing(held, state(trial("a", "completed")))
    assert not needs_closing(None, state(job=30, coordinator=31))


def test_a_restart_across_three_runs_closes_each_in_order_and_tells_each_trial_once() -> None:
    held = first_seen(trial("a", "running"), trial("b", "running"))
    own_first = state(
        trial("a", "completed", accuracy=0.9),
        trial("b", "failed"),
        running=False,
        time_exceeded=True,
    )
    own_second = state(  # an extension: the first run's trials beside its own
        trial("a", "completed", accuracy=0.9),
        trial("b", "failed"),
        trial("c", "completed", accuracy=0.95),
        job=20,
        coordinator=21,
        running=False,
    )
    closed = close(
        held, [Earlier("11", own_first), Earlier("21", own_second)], project_id="7", now=None
    )
    told = [(e.kind, e.run_id, e.trial_id) for e in closed.events]
    assert told == [
        (COMPLETED, "11", "a"),
        (FAILED, "11", "b"),
        (LIMIT, "11", None),
        (FINISHED, "11", None),
        (CHART, "11", None),
        (STARTED, "21", None),
        (COMPLETED, "21", "c"),
        (FINISHED, "21", None),
        (CHART, "21", None),
    ]
    assert [s.run_id for s in closed.summaries] == ["11", "21"]
    assert all(s.finished for s in closed.summaries)
    assert closed.summaries[0].counts.completed == 1 and closed.summaries[0].counts.failed == 1

    current = state(trial("a", "completed", accuracy=0.9), trial("d"), job=30, coordinator=31)
    events, _ = diff(closed.snapshot, current, project_id="7")
    assert [(e.kind, e.run_id) for e in events] == [(STARTED, "31")]  # the one live card


def test_an_unreadable_run_is_left_to_diff_which_ends_it_unseen() -> None:
    held = first_seen(trial("a", "completed", accuracy=0.9), trial("b", "running"))
    closed = close(held, [Earlier("11", None)], project_id="7", now=None)
    assert closed.events == [] and closed.snapshot == held
    events, _ = diff(held, state(trial("c"), job=20, coordinator=21), project_id="7")
    end = next(e for e in events if e.kind is FINISHED)
    assert end.run_id == "11" and end.payload["ended_unseen"] is True
    card = unseen_summary(held, events)
    assert card is not None and card.ended_unseen and card.finished
    assert (card.counts.running, card.counts.completed) == (0, 1)


def test_an_own_state_read_that_names_another_run_is_skipped() -> None:
    """Asked for run 11's own state, Edge Impulse answered the live run 31's: were it diffed,
    run 31 would start, then end unseen when run 21's own state follows (a live run told
    "finished"). Skipped, run 11 is left to `diff` and run 31 is only started, live."""
    held = first_seen(trial("a", "running"))
    live = state(trial("d", "running"), job=30, coordinator=31)
    own_second = state(trial("c", "completed", accuracy=0.95), job=20, coordinator=21,
                       running=False)  # fmt: skip
    closed = close(held, [Earlier("11", live), Earlier("21", own_second)], project_id="7",
                   now=None)  # fmt: skip
    events, _ = diff(closed.snapshot, live, project_id="7")
    told = [(e.kind, e.run_id) for e in [*closed.events, *events]]
    assert (FINISHED, "31") not in told
    assert told.count((STARTED, "31")) == 1 and told[-1] == (STARTED, "31")
    assert [(s.run_id, s.finished) for s in closed.summaries] == [("21", True)]
    alone = close(held, [Earlier("11", live)], project_id="7", now=None)
    assert alone.events == [] and alone.snapshot == held  # not that run's: `diff` says it

"""`bot.core.handover`: which runs a poll closes, and closing several in order (a restart that
spans more than one run), each from its own state."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.core.diff import diff
from bot.core.events import Event, EventKind, Snapshot
from bot.core.handover import (
    Earlier,
    Wanted,
    close,
    needs_closing,
    read_news,
    to_close,
    unseen_summary,
)
from bot.core.increment import Read
from bot.tuner.models import OptimizeStateResponse
from bot.tuner.piecewise import Pieces, read
from tests.factories import state, trial

T = datetime(2025, 6, 1, 12, tzinfo=UTC)

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
        pytest.param(False, RUNS[:2], ["11"], id="the list does not show the current run"),
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


def test_a_snapshot_without_its_run_or_its_summary_closes_nothing() -> None:
    held = first_seen(trial("a", "running"))
    other = state(job=30, coordinator=31)
    assert not needs_closing(held.model_copy(update={"coordinator_job_id": None}), other)
    assert not needs_closing(held.model_copy(update={"summary": None}), other)


def test_a_run_whose_own_state_still_runs_gives_no_last_card() -> None:
    held = first_seen(trial("a", "running"))
    still = state(trial("a", "completed", accuracy=0.9), trial("b", "running"))
    closed = close(held, [Earlier("11", still)], project_id="7", now=T)
    assert [(e.kind, e.trial_id) for e in closed.events] == [(COMPLETED, "a")]
    assert closed.summaries == []  # not ended: no card to close


def test_the_runs_closed_are_stamped_with_the_polls_time() -> None:
    held = first_seen(trial("a", "running"))
    own_first = state(trial("a", "completed", accuracy=0.9), running=False)
    own_second = state(trial("c", "completed", accuracy=0.95), job=20, coordinator=21,
                       running=False)  # fmt: skip
    closed = close(held, [Earlier("11", own_first), Earlier("21", own_second)], project_id="7",
                   now=T)  # fmt: skip
    assert closed.snapshot.first_seen_at == T  # run 21 was first seen by this poll
    assert [s.started_at for s in closed.summaries][1:] == [T]


def pieces(document: OptimizeStateResponse) -> Pieces:
    return read(document.model_dump_json(by_alias=True).encode())


def test_a_poll_of_the_same_run_is_read_at_once_and_of_another_waits_for_the_runs() -> None:
    held = first_seen(trial("a", "running"))
    same = read_news(held, pieces(state(trial("a", "completed", accuracy=0.9))), None,
                     digest="d1", project_id="7", now=T)  # fmt: skip
    assert isinstance(same, Read) and [e.kind for e in same.events] == [COMPLETED]
    first = read_news(None, pieces(state(trial("a"))), None, digest="d0", project_id="7", now=T)
    assert isinstance(first, Read) and first.snapshot.first_seen_at == T
    current = state(trial("d", "running"), job=30, coordinator=31)
    wanted = read_news(held, pieces(current), None, digest="d2", project_id="7", now=T)
    assert wanted == Wanted(held, pieces(current).envelope)


def test_a_poll_after_the_runs_were_read_tells_them_then_the_new_run() -> None:
    held = first_seen(trial("a", "running"), trial("b"))
    own_first = state(trial("a", "completed", accuracy=0.9), running=False)
    current = state(trial("d", "running"), job=30, coordinator=31)
    news = read_news(held, pieces(current), [Earlier("11", own_first)], digest="d2",
                     project_id="7", now=T)  # fmt: skip
    assert isinstance(news, Read)
    told = [(e.kind, e.run_id, e.trial_id) for e in news.events]
    assert told == [(COMPLETED, "11", "a"), (FINISHED, "11", None), (CHART, "11", None),
                    (STARTED, "31", None)]  # fmt: skip
    assert {e.project_id for e in news.events} == {"7"}
    assert [s.run_id for s in news.closed] == ["11"] and news.closed[0].finished
    assert news.snapshot.run_id == "31" and news.snapshot.first_seen_at == T
    own_second = state(trial("c", "completed", accuracy=0.95), job=20, coordinator=21,
                       running=False)  # fmt: skip
    across = read_news(held, pieces(current), [Earlier("11", own_first), Earlier("21", own_second)],
                       digest="d2", project_id="7", now=T)  # fmt: skip
    assert isinstance(across, Read)
    assert [(s.run_id, s.started_at) for s in across.closed][1:] == [("21", T)]
    unread = read_news(held, pieces(current), [Earlier("11", None)], digest="d2",
                       project_id="7", now=T)  # fmt: skip
    assert isinstance(unread, Read)
    [card] = unread.closed  # ended unseen: its card says so
    assert card.run_id == "11" and card.ended_unseen and not card.running
    assert (card.counts.running, card.counts.pending) == (0, 0)


def test_only_the_snapshots_run_ending_unseen_gives_the_unseen_card() -> None:
    held = first_seen(trial("a", "running"), trial("b"))
    assert held.summary is not None
    told = held.model_copy(update={"summary": held.summary.model_copy(update={"outcome": "x"})})

    def end(run_id: str, kind: EventKind = FINISHED, **payload: object) -> Event:
        return Event(kind=kind, key=f"k{run_id}", project_id="7", run_id=run_id,
                     payload=payload)  # fmt: skip

    assert unseen_summary(held, []) is None
    assert unseen_summary(held, [end("11")]) is None  # an end it saw
    assert unseen_summary(held, [end("21", ended_unseen=True)]) is None  # another run's
    assert unseen_summary(held, [end("11", COMPLETED, ended_unseen=True)]) is None
    card = unseen_summary(told, [end("11", ended_unseen=True)])
    assert card is not None and card.finished and card.ended_unseen
    assert (card.running, card.outcome) == (False, None)
    assert (card.counts.running, card.counts.pending) == (0, 0)

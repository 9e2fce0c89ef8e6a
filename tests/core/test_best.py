"""New bests as a table: polls in, which completions say "new best" out.

The factory's run targets 100 ms latency and no RAM/ROM limit; `latency=150` does not fit.
"""

from __future__ import annotations

import pytest

from bot.core.diff import diff
from bot.core.events import Event, EventKind, Snapshot
from bot.tuner.models import OptimizeStateResponse
from tests.factories import state, trial


def completions(polls: list[OptimizeStateResponse]) -> list[tuple[str | None, bool]]:
    snapshot: Snapshot | None = None
    events: list[Event] = []
    for poll in polls:
        found, snapshot = diff(snapshot, poll, project_id="7")
        events.extend(found)
    return [
        (event.trial_id, event.payload.get("is_best") is True)
        for event in events
        if event.kind is EventKind.TRIAL_COMPLETED
    ]


def t(trial_id: str, accuracy: float | None, latency: float = 10.0, status: str = "completed"):
    return trial(trial_id, status, accuracy=accuracy, latency=latency)


P = pytest.param
CASES = [
    P(
        [state(trial("a")), state(t("a", 0.5))],
        [("a", True)],
        id="the first completion counts, however poor",
    ),
    P(
        [
            state(trial("a"), trial("b")),
            state(t("a", 0.8), trial("b")),
            state(t("a", 0.8), t("b", 0.9)),
        ],
        [("a", True), ("b", True)],
        id="higher accuracy is a new best",
    ),
    P(
        [
            state(trial("a"), trial("b")),
            state(t("a", 0.9), trial("b")),
            state(t("a", 0.9), t("b", 0.8)),
        ],
        [("a", True), ("b", False)],
        id="lower accuracy is not",
    ),
    P(
        [
            state(trial("a"), trial("b")),
            state(t("a", 0.9, 20), trial("b")),
            state(t("a", 0.9, 20), t("b", 0.9, 10)),
        ],
        [("a", True), ("b", True)],
        id="a tie on accuracy goes to the lower latency",
    ),
    P(
        [
            state(trial("a"), trial("b")),
            state(t("a", 0.9, 10), trial("b")),
            state(t("a", 0.9, 10), t("b", 0.9, 10)),
        ],
        [("a", True), ("b", False)],
        id="an exact tie keeps the earlier best",
    ),
    P(
        [
            state(trial("a"), trial("b")),
            state(t("a", 0.7, 50), trial("b")),
            state(t("a", 0.7, 50), t("b", 0.99, 150)),
        ],
        [("a", True), ("b", False)],
        id="a trial over the latency target never beats one that fits",
    ),
    P(
        [
            state(trial("a"), trial("b")),
            state(t("a", 0.99, 150), trial("b")),
            state(t("a", 0.99, 150), t("b", 0.5, 50)),
        ],
        [("a", True), ("b", True)],
        id="the first trial that fits beats any that does not",
    ),
    P(
        [
            state(trial("a"), trial("b"), trial("c")),
            state(t("a", 0.8), t("b", 0.9), t("c", 0.85)),
        ],
        [("a", True), ("b", True), ("c", False)],
        id="several completions in one poll are judged in document order",
    ),
    P(
        [state(t("a", 0.9), trial("b")), state(t("a", 0.9), t("b", 0.8))],
        [("b", False)],
        id="trials completed before the baseline count as earlier",
    ),
    P(
        [
            state(trial("a"), trial("b")),
            state(t("a", None), trial("b")),
            state(t("a", None), t("b", 0.1)),
        ],
        [("a", False), ("b", True)],
        id="a completion without accuracy is never best",
    ),
]


@pytest.mark.parametrize(("polls", "expected"), CASES)
def test_new_bests(polls: list[OptimizeStateResponse], expected: list[tuple[str, bool]]) -> None:
    assert completions(polls) == expected


def test_marks_keep_the_figures_of_ended_trials_in_run_order() -> None:
    _, snapshot = diff(None, state(trial("b"), trial("a", "running")), project_id="7")
    _, snapshot = diff(
        snapshot, state(t("b", 0.8), trial("a", "failed"), trial("c")), project_id="7"
    )
    assert snapshot.run_trials == ("b", "a", "c")
    ended = snapshot.ended_trials()
    assert [(s.id, s.status, s.accuracy) for s in ended] == [
        ("b", "completed", 0.8),
        ("a", "failed", None),
    ]

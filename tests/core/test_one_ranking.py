"""One ranking everywhere: on runs whose most accurate trial does not fit the target, the run's
best, its new-best marks, the card's top trials, `/eon top` and the chart's best agree.

The factory's run targets 100 ms latency and no RAM/ROM limit.
"""

from __future__ import annotations

from typing import Any

import pytest

from bot.core.chart import chart_data
from bot.core.diff import diff
from bot.core.events import EventKind, Snapshot
from bot.slack.listeners.eon_runs import render_top
from bot.slack.render.card import top_text
from tests.factories import state, trial

P = pytest.param
RUNS = [
    P(
        [("slow", 0.95, 150.0), ("fits", 0.90, 50.0), ("small", 0.80, 20.0)],
        ["fits", "small", "slow"],
        ["slow", "fits"],
        id="the most accurate is over the latency target",
    ),
    P(
        [("fits", 0.70, 50.0), ("slow", 0.99, 400.0), ("better", 0.75, 90.0)],
        ["better", "fits", "slow"],
        ["fits", "better"],
        id="a later, more accurate trial over the target is no new best",
    ),
    P(
        [("slow", 0.95, 150.0), ("slower", 0.97, 300.0)],
        ["slower", "slow"],
        ["slow", "slower"],
        id="none fits: the most accurate of those over, flagged",
    ),
    P(
        [("a", 0.9, 40.0), ("b", 0.9, 40.0)],
        ["a", "b"],
        ["a"],
        id="an exact tie keeps the earlier",
    ),
]


def _polls(trials: list[tuple[str, float, float]]) -> list[Any]:
    """The trials completing one by one, in the given order."""
    done: list[dict[str, Any]] = []
    polls = [state(*(trial(name) for name, _, _ in trials))]
    for name, accuracy, latency in trials:
        done.append(trial(name, "completed", accuracy=accuracy, latency=latency, name=name))
        pending = [trial(n) for n, _, _ in trials[len(done) :]]
        polls.append(state(*done, *pending))
    return polls


@pytest.mark.parametrize(("trials", "order", "new_bests"), RUNS)
def test_every_ranking_agrees(
    trials: list[tuple[str, float, float]], order: list[str], new_bests: list[str]
) -> None:
    snapshot: Snapshot | None = None
    marked: list[str] = []
    for poll in _polls(trials):
        events, snapshot = diff(snapshot, poll, project_id="7")
        marked += [
            str(e.trial_id)
            for e in events
            if e.kind is EventKind.TRIAL_COMPLETED and e.payload.get("is_best") is True
        ]
    assert snapshot is not None and snapshot.summary is not None
    summary = snapshot.summary
    assert marked == new_bests, "new-best marks"
    assert summary.best is not None and summary.best.id == order[0], "best so far"
    assert [t.id for t in summary.top] == order, "the card's top trials"
    card_rows = top_text(summary)[0].splitlines()
    assert [row.split()[1].strip("*") for row in card_rows] == order, card_rows
    data = chart_data(snapshot)
    assert data.best is not None and data.best.id == order[0], "the chart's star"
    assert [t.id for t in data.top(25)] == order, "/eon top"
    table = render_top("7", None, data, 25).text.splitlines()
    rows = [line.split()[1] for line in table if line.split()[0].isdigit()]
    assert rows == order, table

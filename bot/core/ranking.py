"""Which completed trials are best (pure): THE one ranking of a run, for its best, its new
bests, the card's top trials, `/eon top` and the chart's star (and, apart, its Pareto front).

A trial that fits the target device comes first, then one over no known limit (a figure
unknown), then one known to be over a limit (`figures.TrialFit.tier`); within a tier, highest
accuracy (or score), ties to lower latency. The best is the first of that order, so the top
list always opens with it and a more accurate trial over the latency target is listed below.
"""

from __future__ import annotations

from collections.abc import Iterable

from bot.core.summary import TrialSummary
from bot.tuner.models import (
    TrialStatus,
)


def _rank(trial: TrialSummary) -> tuple[int, float, float]:
    """Sort key, best first: fit tier, then highest accuracy (or score), then lower latency
    (unknown last). Python's sort is stable, so an exact tie keeps the earlier trial first."""
    latency = trial.latency_ms if trial.latency_ms is not None else float("inf")
    return (trial.fit.tier, -(trial.quality or 0.0), latency)


def ranked(trials: Iterable[TrialSummary]) -> list[TrialSummary]:
    """Completed trials with a known accuracy (or score), best first."""
    return sorted(
        (t for t in trials if t.status == TrialStatus.COMPLETED and t.quality is not None),
        key=_rank,
    )


def best_trial(trials: Iterable[TrialSummary]) -> TrialSummary | None:
    """The first of `ranked`: the best that fits the targets; if none fits, the best one
    (flagged), one over no known limit before one known to be over a limit."""
    scored = ranked(trials)
    return scored[0] if scored else None


def pareto_front(trials: Iterable[TrialSummary]) -> list[TrialSummary]:
    """Completed trials no other beats on both accuracy and latency, fastest first."""
    known = sorted(
        (
            t
            for t in trials
            if t.status == TrialStatus.COMPLETED
            and t.quality is not None
            and t.latency_ms is not None
        ),
        key=lambda t: (t.latency_ms, -(t.quality or 0.0)),
    )
    front: list[TrialSummary] = []
    for trial in known:
        if not front or (trial.quality or 0.0) > (front[-1].quality or 0.0):
            front.append(trial)
    return front

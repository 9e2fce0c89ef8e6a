"""Which completed trials are best (pure): one ranking for the run's best, its top list and
its Pareto front.

Highest accuracy (or score) first, ties to lower latency; the best is the first that fits the
target device, else the first of the least-bad fit tier (`figures.TrialFit.tier`).
"""

from __future__ import annotations

from collections.abc import Iterable

from bot.core.summary import TrialSummary
from bot.tuner.models import (
    TrialStatus,
)


def _rank(trial: TrialSummary) -> tuple[float, float]:
    """Sort key, best first: highest accuracy (or score), ties to lower latency (unknown last)."""
    latency = trial.latency_ms if trial.latency_ms is not None else float("inf")
    return (-(trial.quality or 0.0), latency)


def ranked(trials: Iterable[TrialSummary]) -> list[TrialSummary]:
    """Completed trials with a known accuracy (or score), best first."""
    return sorted(
        (t for t in trials if t.status == TrialStatus.COMPLETED and t.quality is not None),
        key=_rank,
    )


def best_trial(trials: Iterable[TrialSummary]) -> TrialSummary | None:
    """The best completed trial that fits the targets; if none fits, the best one (flagged),
    preferring one over no known limit to one known to be over a limit (`TrialFit.tier`)."""
    return _best_of(ranked(trials))


def _best_of(scored: list[TrialSummary]) -> TrialSummary | None:
    """`scored` is best first: the first of the best tier wins (the first that fits ends it)."""
    best: tuple[int, TrialSummary] | None = None
    for trial in scored:
        tier = trial.fit.tier
        if tier == 0:
            return trial
        if best is None or tier < best[0]:
            best = (tier, trial)
    return best[1] if best else None


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

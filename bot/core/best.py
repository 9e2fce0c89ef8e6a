"""New bests: whether a trial that just completed beats every trial of its run before it (pure).

One ranking decides, the run's (`summary.best_trial`): a trial that fits the target device
beats any that does not, then higher accuracy, then lower latency. An exact tie keeps the
earlier trial, so "🏆 new best" is said only when the best really changed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from bot.core.events import TrialMark
from bot.core.ranking import best_trial
from bot.core.summarize import summarize_trial
from bot.core.summary import TrialSummary
from bot.tuner.models import OptimizeConfig, TunerTrial


def beats(candidate: TrialSummary, incumbent: TrialSummary | None) -> bool:
    """True when `candidate` is the best of the run once it joins `incumbent` (the best of
    the trials before it; None: it is the first completion, which counts)."""
    pool = [candidate] if incumbent is None else [incumbent, candidate]
    return best_trial(pool) is candidate


def best_before(
    trials: Iterable[TunerTrial], marks: Mapping[str, TrialMark], config: OptimizeConfig | None
) -> TrialSummary | None:
    """The best of `trials` whose completion was already reported (or seen at the baseline),
    with their figures as the document shows them now."""
    done = [
        summarize_trial(trial, config)
        for trial in trials
        if (mark := marks.get(trial.id)) is not None and mark.completed_reported
    ]
    return best_trial(done)


def best_listed(
    listed: Iterable[str],
    changed: Iterable[TunerTrial],
    marks: Mapping[str, TrialMark],
    config: OptimizeConfig | None,
) -> TrialSummary | None:
    """`best_before` of a document of which only the `changed` trials were read: the others
    are as their marks' figures show them (`listed` gives the document's order)."""
    fresh = {trial.id: trial for trial in changed}
    done = []
    for trial_id in listed:
        mark = marks.get(trial_id)
        if mark is None or not mark.completed_reported:
            continue
        trial = fresh.get(trial_id)
        figures = summarize_trial(trial, config) if trial is not None else mark.figures
        if figures is not None:
            done.append(figures)
    return best_trial(done)

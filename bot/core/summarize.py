"""A tuner state summed up (pure): each trial's headline numbers and the run's summary,
memoised on the parsed trials so that an unchanged trial is summed up once."""

from __future__ import annotations

from datetime import datetime

from bot.core.figures import (
    fit,
    precision_of,
    trial_accuracy,
    trial_performance,
    trial_score,
)
from bot.core.ranking import pareto_front, ranked
from bot.core.run_state import (
    activity_span,
    count_trials,
    count_workers,
    current_index,
    is_finished,
    never_ran,
    training_time,
)
from bot.core.summary import Counts, RunSummary, TrialSummary
from bot.tuner.models import (
    OptimizeConfig,
    OptimizeStateResponse,
    TunerTrial,
)


def summarize_trial(trial: TunerTrial, config: OptimizeConfig | None) -> TrialSummary:
    """Memoised on the trial per target: an unchanged trial is summed up once per run."""
    device = config.target_device if config else None
    key = (
        "summary",
        precision_of(config),
        config.target_latency if config else None,
        (device.name, device.ram, device.rom) if device else None,
    )
    memo = trial.memo()
    found = memo.get(key)
    if found is None:
        found = memo[key] = _summarize_trial(trial, config)
    assert isinstance(found, TrialSummary)
    return found


def _summarize_trial(trial: TunerTrial, config: OptimizeConfig | None) -> TrialSummary:
    precision = precision_of(config)
    performance = trial_performance(trial, config)
    checked = fit(performance, config)
    accuracy = trial_accuracy(trial, precision)
    score = trial_score(trial, precision) if accuracy is None else None
    return TrialSummary(
        id=trial.id,
        name=trial.display_name,
        status=trial.status,
        retries=trial.retries,
        accuracy=accuracy,
        score=score[1] if score else None,
        score_name=score[0] if score else None,
        latency_ms=performance.latency_ms,
        ram_bytes=performance.ram_bytes,
        rom_bytes=performance.rom_bytes,
        epoch=trial.current_epoch,
        over_latency=checked.over_latency,
        over_ram=checked.over_ram,
        over_rom=checked.over_rom,
        unchecked=checked.unchecked,
    )


TOP_TRIALS = 10


def _whole_minutes(seconds: float | None) -> float | None:
    return None if seconds is None else float(int(seconds // 60) * 60)


def summarize_run(
    project_id: str,
    state: OptimizeStateResponse,
    *,
    started_at: datetime | None = None,
    now: datetime | None = None,
) -> RunSummary:
    """The status of one run.

    Wall time is the span of the document's own timestamps once it has any (so it stops
    growing when the run ends, and clock skew cannot distort it); before that, the time since
    `started_at` (when the bot first saw the run). Training time is `training_time`. Whole
    minutes: the card is edited when something a reader sees changes, not on every poll.
    """
    trials = [summarize_trial(trial, state.config) for trial in state.trials]
    return assemble_run(
        project_id,
        state,
        trials,
        counts=count_trials(state),
        total=len(trials),
        span=activity_span(state),
        training=training_time(state),
        started_at=started_at,
        now=now,
    )


def assemble_run(
    project_id: str,
    state: OptimizeStateResponse,
    trials: list[TrialSummary],
    *,
    counts: Counts,
    total: int,
    span: tuple[datetime | None, datetime | None],
    training: float | None,
    started_at: datetime | None,
    now: datetime | None,
) -> RunSummary:
    """`summarize_run` from its parts: `trials` in document order need only include every trial
    that can be best, top or on the Pareto front (`bot.core.increment` passes those alone);
    `total` counts every listed trial, `span` is the document's `activity_span`, `training`
    its `training_time`."""
    config = state.config
    finished = is_finished(state)
    outcome = None
    if finished:
        failed = bool(state.job_error)
        outcome = "failed" if failed else "completed"
    earliest, latest = span
    start = earliest or started_at
    elapsed: float | None = None
    if earliest is not None and latest is not None:
        elapsed = (latest - earliest).total_seconds()
    elif started_at is not None and now is not None:
        elapsed = max(0.0, (now - started_at).total_seconds())
    completed = ranked(trials)
    return RunSummary(
        project_id=project_id,
        run_id=state.run_id,
        tuner_job_id=state.job_id,
        coordinator_job_id=state.tuner_coordinator_job_id,
        continuation_job_id=state.continuation_job_id,
        never_ran=never_ran(state),
        name=config.name if config else None,
        index=current_index(state),
        status=state.status.status if state.status else None,
        running=state.tuner_job_is_running,
        finished=finished,
        outcome=outcome,
        job_error=state.job_error,
        counts=counts,
        planned_trials=config.tuning_max_trials if config else None,
        workers=count_workers(state),
        best=completed[0] if completed else None,
        pareto=pareto_front(trials),
        top=completed[:TOP_TRIALS],
        trials_total=total,
        precision=precision_of(config),
        target_device=config.target_device.name if config and config.target_device else None,
        target_latency_ms=config.target_latency if config and config.target_latency else None,
        ram_limit_bytes=_limit(config, "ram"),
        rom_limit_bytes=_limit(config, "rom"),
        started_at=start,
        elapsed_s=_whole_minutes(elapsed),
        training_s=_whole_minutes(training),
        max_total_training_time_s=config.max_total_training_time if config else None,
        time_limit_exceeded=bool(state.total_training_time_exceeded),
        can_extend_search=state.can_extend_search,
    )


def _limit(config: OptimizeConfig | None, which: str) -> int | None:
    """The target device's RAM or ROM in bytes; 0 or missing is no limit (`figures.fit`)."""
    device = config.target_device if config else None
    value = getattr(device, which, None) if device is not None else None
    return value if isinstance(value, int) and value > 0 else None

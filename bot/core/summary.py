"""Headline numbers of trials and runs, read from a tuner state (pure: no I/O, no clock).

Where each figure is read, and what "fits the targets" means when one is missing, is
`bot.core.figures` (one precedence, one fit rule). `config.targetDevice.ram`/`rom` are taken as
bytes, `targetLatency` as milliseconds; 0 or missing means "no limit".
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict

from bot.core.figures import (
    TrialFit,
    fit,
    precision_of,
    trial_accuracy,
    trial_performance,
    trial_score,
)
from bot.tuner.models import (
    OptimizeConfig,
    OptimizeStateResponse,
    TrialStatus,
    TunerStatus,
    TunerTrial,
)

STUDIO_TUNER = "https://studio.edgeimpulse.com/studio/{project_id}/tuner"


def studio_page(project_id: str, coordinator_job_id: str | None) -> str:
    """Studio's page of a run (named by its coordinator job), else the project's EON Tuner
    page, which lists its runs; ids are opaque strings, so they are quoted into the path."""
    page = STUDIO_TUNER.format(project_id=quote(project_id, safe=""))
    if coordinator_job_id is None:
        return page
    return f"{page}/{quote(coordinator_job_id, safe='')}"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)


class Counts(_Frozen):
    pending: int = 0
    running: int = 0
    completed: int = 0
    failed: int = 0

    @property
    def total(self) -> int:
        return self.pending + self.running + self.completed + self.failed


class Workers(_Frozen):
    ready: int = 0
    busy: int = 0
    pending: int = 0


class TrialSummary(_Frozen):
    id: str
    name: str
    status: str
    retries: int = 0
    accuracy: float | None = None  # 0..1
    score: float | None = None  # 0..1, only without accuracy (object detection)
    score_name: str | None = None  # "mAP" / "mean F1"
    latency_ms: float | None = None
    ram_bytes: int | None = None
    rom_bytes: int | None = None
    epoch: int | None = None
    over_latency: bool = False
    over_ram: bool = False
    over_rom: bool = False
    unchecked: tuple[str, ...] = ()  # limits set whose figure is unknown: "latency", "RAM", "ROM"

    @property
    def fit(self) -> TrialFit:
        """Its figures against the run's limits (`figures.fit`, the one rule)."""
        return TrialFit(self.over_latency, self.over_ram, self.over_rom, self.unchecked)

    @property
    def fits(self) -> bool:
        """Known to be within every limit the run sets."""
        return self.fit.fits

    @property
    def quality(self) -> float | None:
        """What trials are ranked by: the accuracy, else the score (mAP or mean F1)."""
        return self.accuracy if self.accuracy is not None else self.score

    def numbers(self) -> dict[str, Any]:
        """The known headline numbers, keyed as in the message metadata."""
        values = {
            "accuracy": self.accuracy,
            "score": self.score,
            "score_name": self.score_name if self.score is not None else None,
            "latency_ms": self.latency_ms,
            "ram_bytes": self.ram_bytes,
            "rom_bytes": self.rom_bytes,
        }
        return {key: value for key, value in values.items() if value is not None}


class RunSummary(_Frozen):
    project_id: str
    run_id: str | None
    tuner_job_id: str | None
    coordinator_job_id: str | None = None  # names the run's Studio page
    continuation_job_id: str | None = None
    never_ran: bool = False  # the project's tuner never ran: "no EON Tuner run yet"
    name: str | None = None
    status: str | None  # creating / ready / running / completed / anything new
    running: bool | None
    finished: bool
    outcome: str | None  # "completed" / "failed" once finished
    job_error: str | None = None
    counts: Counts
    planned_trials: int | None = None
    workers: Workers
    best: TrialSummary | None = None
    pareto: list[TrialSummary] = []
    top: list[TrialSummary] = []  # completed trials, best first
    trials_total: int = 0
    precision: str
    target_device: str | None = None
    target_latency_ms: float | None = None
    started_at: datetime | None = None
    elapsed_s: float | None = None  # wall time of the run
    training_s: float | None = None  # training time summed over workers: what the limit counts
    max_total_training_time_s: float | None = None
    time_limit_exceeded: bool = False
    can_extend_search: bool | None = None

    @property
    def progress(self) -> float:
        """Share of the planned trials that have ended (completed or failed), 0..1."""
        planned = max(self.planned_trials or 0, self.counts.total)
        if planned == 0:
            return 1.0 if self.finished else 0.0
        return min(1.0, (self.counts.completed + self.counts.failed) / planned)

    @property
    def studio_url(self) -> str | None:
        return studio_page(self.project_id, self.coordinator_job_id)


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


def tally(statuses: Iterable[str]) -> Counts:
    """Counts of trial statuses (statuses the bot does not know are not counted)."""
    found = Counter(statuses)
    return Counts(
        pending=found[TrialStatus.PENDING],
        running=found[TrialStatus.RUNNING],
        completed=found[TrialStatus.COMPLETED],
        failed=found[TrialStatus.FAILED],
    )


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


def _parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def activity_span(state: OptimizeStateResponse) -> tuple[datetime | None, datetime | None]:
    """The earliest and latest timestamps the document shows (trial epochs, trainings and
    block activity): the run's own clock, free of any skew between it and this machine's."""
    spans = [span for trial in state.trials if (span := trial_span(trial)) is not None]
    if not spans:
        return None, None
    return min(first for first, _ in spans), max(last for _, last in spans)


def span_micros(span: tuple[datetime, datetime]) -> int:
    """A trial's training time in whole microseconds: integers add up the same in any order,
    so a total kept up to date trial by trial (`bot.core.increment`) equals a fresh one."""
    first, last = span
    return (last - first) // timedelta(microseconds=1)


def training_time(state: OptimizeStateResponse) -> float | None:
    """Training time summed over workers, which is what `maxTotalTrainingTime` counts: the sum
    of each trial's span in the document (its first block activity to its latest stamp).
    An attempt that a retry replaced is no longer listed, so this may read a little low.
    None before any trial has a timestamp."""
    spans = [span for trial in state.trials if (span := trial_span(trial)) is not None]
    if not spans:
        return None
    return sum(span_micros(span) for span in spans) / 1e6


def trial_span(trial: TunerTrial) -> tuple[datetime, datetime] | None:
    """The earliest and latest timestamps of one trial (memoised on it)."""
    memo = trial.memo()
    if "span" not in memo:
        stamps = [
            stamp
            for stamp in (
                _parse_time(trial.last_completed_epoch),
                _parse_time(trial.last_completed_training),
                *(_parse_time(block.last_active) for block in trial.blocks),
            )
            if stamp is not None
        ]
        memo["span"] = (min(stamps), max(stamps)) if stamps else None
    span: tuple[datetime, datetime] | None = memo["span"]
    return span


def never_ran(state: OptimizeStateResponse) -> bool:
    """A project whose tuner never ran, as in Edge Impulse's documented example response
    (`status` "creating", `tunerJobIsRunning` false): no job id, no trial, nothing running."""
    return (
        state.run_id is None
        and not state.trials
        and state.tuner_job_is_running is not True
        and not state.job_error
    )


def is_finished(state: OptimizeStateResponse) -> bool:
    """Whether a run that started has stopped: the SDK's criterion (`status.status ==
    completed`); or `tunerJobIsRunning` false for a run with a job id that has left
    `creating`; or a crashed job (`jobError`, not running). Never for `never_ran`."""
    if never_ran(state):
        return False
    status = state.status.status if state.status else None
    if status == TunerStatus.COMPLETED:
        return True
    if state.tuner_job_is_running is not False:
        return False
    if state.job_error:
        return True
    return state.run_id is not None and status != TunerStatus.CREATING


def count_trials(state: OptimizeStateResponse, statuses: Iterable[str] | None = None) -> Counts:
    """The document's own counts if it has them, else a tally of the listed trials' statuses
    (`statuses`, when the trials are not all in `state`)."""
    if state.status is not None and "num_completed_trials" in state.status.model_fields_set:
        s = state.status
        return Counts(
            pending=s.num_pending_trials,
            running=s.num_running_trials,
            completed=s.num_completed_trials,
            failed=s.num_failed_trials,
        )
    return tally(statuses if statuses is not None else (trial.status for trial in state.trials))


def count_workers(state: OptimizeStateResponse) -> Workers:
    if state.status is not None and "num_busy_workers" in state.status.model_fields_set:
        s = state.status
        return Workers(
            ready=s.num_ready_workers, busy=s.num_busy_workers, pending=s.num_pending_workers
        )
    statuses = [worker.status for worker in state.workers]
    return Workers(
        ready=statuses.count("ready"),
        busy=statuses.count("busy"),
        pending=statuses.count("pending"),
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
        status=state.status.status if state.status else None,
        running=state.tuner_job_is_running,
        finished=finished,
        outcome=outcome,
        job_error=state.job_error,
        counts=counts,
        planned_trials=config.tuning_max_trials if config else None,
        workers=count_workers(state),
        best=_best_of(completed),
        pareto=pareto_front(trials),
        top=completed[:TOP_TRIALS],
        trials_total=total,
        precision=precision_of(config),
        target_device=config.target_device.name if config and config.target_device else None,
        target_latency_ms=config.target_latency if config and config.target_latency else None,
        started_at=start,
        elapsed_s=_whole_minutes(elapsed),
        training_s=_whole_minutes(training),
        max_total_training_time_s=config.max_total_training_time if config else None,
        time_limit_exceeded=bool(state.total_training_time_exceeded),
        can_extend_search=state.can_extend_search,
    )

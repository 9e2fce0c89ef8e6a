"""Headline numbers of trials and runs, read from a tuner state (pure: no I/O, no clock).

Where the numbers live follows `shared/design.md`: accuracy at the run's precision from
`trial.metrics.test`, else from the first learn block (where the official SDK reads it);
latency, RAM and ROM from `trial.devicePerformance[precision]` (EON figures, else TFLite), else
from the `onDevicePerformance` entry of the target device. `config.targetDevice.ram`/`rom` are
taken as bytes, `targetLatency` as milliseconds; 0 or missing means "no limit".
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict

from bot.tuner.models import (
    DevicePerformance,
    MemoryUse,
    OnDevicePerformance,
    OptimizeConfig,
    OptimizeStateResponse,
    TrialStatus,
    TunerStatus,
    TunerTrial,
)

STUDIO_URL = "https://studio.edgeimpulse.com/studio/{project_id}/tuner/{run_id}"


def studio_page(project_id: str, run_id: str | None) -> str | None:
    """Studio's page of a run; ids are opaque strings, so they are quoted into the path."""
    if run_id is None:
        return None
    return STUDIO_URL.format(project_id=quote(project_id, safe=""), run_id=quote(run_id, safe=""))


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
    latency_ms: float | None = None
    ram_bytes: int | None = None
    rom_bytes: int | None = None
    epoch: int | None = None
    over_latency: bool = False
    over_ram: bool = False
    over_rom: bool = False

    @property
    def fits(self) -> bool:
        """Within the run's latency target and the target device's RAM and ROM."""
        return not (self.over_latency or self.over_ram or self.over_rom)

    def numbers(self) -> dict[str, float | int]:
        """The known headline numbers, keyed as in the message metadata."""
        values = {
            "accuracy": self.accuracy,
            "latency_ms": self.latency_ms,
            "ram_bytes": self.ram_bytes,
            "rom_bytes": self.rom_bytes,
        }
        return {key: value for key, value in values.items() if value is not None}


class RunSummary(_Frozen):
    project_id: str
    run_id: str | None
    tuner_job_id: str | None
    continuation_job_id: str | None = None
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
    elapsed_s: float | None = None
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
        return studio_page(self.project_id, self.run_id)


def _dig(value: Any, *path: str | int) -> Any:
    """Walk dicts and lists that came as open-ended JSON; None where the path breaks."""
    for step in path:
        if isinstance(step, int):
            if not isinstance(value, list) or len(value) <= step:
                return None
            value = value[step]
        elif isinstance(value, Mapping):
            value = value.get(step)
        else:
            return None
    return value


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _whole(value: Any) -> int | None:
    number = _number(value)
    return None if number is None else int(number)


def trial_accuracy(trial: TunerTrial, precision: str) -> float | None:
    if trial.metrics is not None and trial.metrics.test is not None:
        metrics = trial.metrics.test.at(precision)
        if metrics is not None and metrics.accuracy is not None:
            return metrics.accuracy
    learn_blocks = trial.impulse.learn_blocks if trial.impulse is not None else None
    return _number(_dig(learn_blocks, 0, "metrics", "test", precision, "accuracy"))


def _memory(memory: MemoryUse | None) -> tuple[int | None, int | None]:
    if memory is None:
        return None, None
    return memory.ram_required, memory.rom_required


def _on_device_entries(trial: TunerTrial, precision: str) -> list[OnDevicePerformance]:
    entries: list[OnDevicePerformance] = []
    if trial.metrics is not None:
        for split in (trial.metrics.test, trial.metrics.validation):
            metrics = split.at(precision) if split is not None else None
            if metrics is not None and metrics.on_device_performance:
                entries.extend(metrics.on_device_performance)
    if not entries and trial.impulse is not None:
        raw = _dig(trial.impulse.learn_blocks, 0, "metrics", "test", precision)
        raw_entries = _dig(raw, "onDevicePerformance")
        if isinstance(raw_entries, list):
            for raw_entry in raw_entries:
                if isinstance(raw_entry, Mapping):
                    try:
                        entries.append(OnDevicePerformance.model_validate(raw_entry))
                    except ValueError:
                        continue
    return entries


def trial_performance(
    trial: TunerTrial, config: OptimizeConfig | None
) -> tuple[float | None, int | None, int | None]:
    """(latency ms, RAM bytes, ROM bytes) at the run's precision, each None where unknown."""
    precision = config.precision_or_default if config else "int8"
    entry = (trial.device_performance or {}).get(precision)
    if isinstance(entry, DevicePerformance):
        ram, rom = _memory(entry.eon)
        tflite_ram, tflite_rom = _memory(entry.tflite)
        latency = entry.latency
        ram, rom = ram if ram is not None else tflite_ram, rom if rom is not None else tflite_rom
        if latency is not None or ram is not None or rom is not None:
            return latency, ram, rom
    device = config.target_device.name if config and config.target_device else None
    entries = _on_device_entries(trial, precision)
    chosen = next((e for e in entries if device and e.mcu == device), None)
    chosen = chosen or next((e for e in entries if e.is_default), None)
    if chosen is None:
        return None, None, None
    ram, rom = _memory(chosen.eon)
    if ram is None and rom is None:
        ram, rom = _memory(chosen.tflite)
    return chosen.latency, ram, rom


def summarize_trial(trial: TunerTrial, config: OptimizeConfig | None) -> TrialSummary:
    """Memoised on the trial per target: an unchanged trial is summed up once per run."""
    device = config.target_device if config else None
    key = (
        "summary",
        config.precision_or_default if config else "int8",
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
    precision = config.precision_or_default if config else "int8"
    latency, ram, rom = trial_performance(trial, config)
    target_latency = config.target_latency if config else None
    device = config.target_device if config else None
    return TrialSummary(
        id=trial.id,
        name=trial.display_name,
        status=trial.status,
        retries=trial.retries,
        accuracy=trial_accuracy(trial, precision),
        latency_ms=latency,
        ram_bytes=ram,
        rom_bytes=rom,
        epoch=trial.current_epoch,
        over_latency=bool(target_latency and latency is not None and latency > target_latency),
        over_ram=bool(device and device.ram and ram is not None and ram > device.ram),
        over_rom=bool(device and device.rom and rom is not None and rom > device.rom),
    )


def _rank(trial: TrialSummary) -> tuple[float, float]:
    """Sort key, best first: highest accuracy, ties to lower latency (unknown latency last)."""
    latency = trial.latency_ms if trial.latency_ms is not None else float("inf")
    return (-(trial.accuracy or 0.0), latency)


def ranked(trials: Iterable[TrialSummary]) -> list[TrialSummary]:
    """Completed trials with a known accuracy, best first."""
    return sorted(
        (t for t in trials if t.status == TrialStatus.COMPLETED and t.accuracy is not None),
        key=_rank,
    )


def best_trial(trials: Iterable[TrialSummary]) -> TrialSummary | None:
    """The best completed trial that fits the targets; if none fits, the best one (flagged)."""
    return _best_of(ranked(trials))


def _best_of(scored: list[TrialSummary]) -> TrialSummary | None:
    return next((t for t in scored if t.fits), scored[0] if scored else None)


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
            and t.accuracy is not None
            and t.latency_ms is not None
        ),
        key=lambda t: (t.latency_ms, -(t.accuracy or 0.0)),
    )
    front: list[TrialSummary] = []
    for trial in known:
        if not front or (trial.accuracy or 0.0) > (front[-1].accuracy or 0.0):
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
    spans = [span for trial in state.trials if (span := _trial_span(trial)) is not None]
    if not spans:
        return None, None
    return min(first for first, _ in spans), max(last for _, last in spans)


def _trial_span(trial: TunerTrial) -> tuple[datetime, datetime] | None:
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


def is_finished(state: OptimizeStateResponse) -> bool:
    """The SDK's criterion (`status.status == completed`) or the job no longer running."""
    status = state.status.status if state.status else None
    return status == TunerStatus.COMPLETED or state.tuner_job_is_running is False


def count_trials(state: OptimizeStateResponse) -> Counts:
    if state.status is not None and "num_completed_trials" in state.status.model_fields_set:
        s = state.status
        return Counts(
            pending=s.num_pending_trials,
            running=s.num_running_trials,
            completed=s.num_completed_trials,
            failed=s.num_failed_trials,
        )
    return tally(trial.status for trial in state.trials)


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


def summarize_run(
    project_id: str,
    state: OptimizeStateResponse,
    *,
    started_at: datetime | None = None,
    now: datetime | None = None,
) -> RunSummary:
    """The status of one run.

    Time used is the span of the document's own timestamps once it has any (so it stops
    growing when the run ends, and clock skew cannot distort it); before that, the time since
    `started_at` (when the bot first saw the run). Whole minutes: the card is edited when
    something a reader sees changes, not on every poll.
    """
    config = state.config
    trials = [summarize_trial(trial, config) for trial in state.trials]
    finished = is_finished(state)
    outcome = None
    if finished:
        failed = bool(state.job_error)
        outcome = "failed" if failed else "completed"
    earliest, latest = activity_span(state)
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
        tuner_job_id=state.tuner_job_id,
        continuation_job_id=state.continuation_job_id,
        name=config.name if config else None,
        status=state.status.status if state.status else None,
        running=state.tuner_job_is_running,
        finished=finished,
        outcome=outcome,
        job_error=state.job_error,
        counts=count_trials(state),
        planned_trials=config.tuning_max_trials if config else None,
        workers=count_workers(state),
        best=_best_of(completed),
        pareto=pareto_front(trials),
        top=completed[:TOP_TRIALS],
        trials_total=len(trials),
        precision=config.precision_or_default if config else "int8",
        target_device=config.target_device.name if config and config.target_device else None,
        target_latency_ms=config.target_latency if config and config.target_latency else None,
        started_at=start,
        elapsed_s=None if elapsed is None else float(int(elapsed // 60) * 60),
        max_total_training_time_s=config.max_total_training_time if config else None,
        time_limit_exceeded=bool(state.total_training_time_exceeded),
        can_extend_search=state.can_extend_search,
    )

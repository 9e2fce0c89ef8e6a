"""EON Tuner runs for the simulator: drawn once, then read at any simulated second (pure).

`Simulation(project_id, seed=...)` draws every trial up front (name, size, accuracy, whether it
fails) from a generator seeded by the project id and the seed, and schedules the trials on the
tuner's workers the way the EON Tuner coordinator does. `document(t)` is then a lookup: the
`GET /api/{projectId}/optimize/state` body at simulated second `t`. No clock and no I/O, so the
same arguments give the same bytes, and tests can step through a run second by second.

Timeline in simulated seconds (defaults: 24 trials on 3 workers, 60-100 minutes in all):

- 0-60: the job spins up: `status.status` "creating", workers pending, no trials.
- 60: the initial round is proposed (pending trials, status "ready") and workers take them.
  Each later round is proposed 20 s after every trial of the round before has ended, because a
  Bayesian round needs the results of the previous one.
- A trial runs its DSP block, then training epochs (`currentEpoch`, `progress`, block heartbeats
  every 10 s). About one trial in eight fails: it shows `failed` for 25-75 s, then a worker
  retries it (`retries` 1, straight back to running) and it completes or fails for good.
- Time limit: when the training time spent so far (summed over workers) reaches
  `maxTotalTrainingTime`, the coordinator starts nothing new: `totalTrainingTimeExceeded` and
  `canExtendSearch` turn true, trials still pending are dropped from the list (they never ran;
  an extended search proposes its own), queued retries are cancelled (those trials stay failed),
  running trials finish, and 15 s after the last one the job ends (`status` "completed").
- With `extend`: 3 minutes later the search is extended: a new job (new `tunerJobId` and
  `tunerCoordinatorJobId`, `continuationJobId` = the first coordinator), its own spin-up, the
  earlier trials listed unchanged, new trials in new rounds up to `tuningMaxTrials` in all, and
  a normal end (`canExtendSearch` false).
- With `job_error`: the last run crashes when 60 % of its trials have started (40 % for a
  first run, so before its time limit): running trials fail for good, pending ones are
  dropped, `jobError` says what happened.

The time limit binds after the initial round, so a search of 4 trials or fewer never reaches it
(and then is not extended either). A run's shape grows with `trials`: one worker per 16 trials
(at least 3), a quarter of the trials in the initial round, the rest in 3 rounds.
"""

from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final, NamedTuple

from bot.sandbox.simulator.schedule import (
    SPIN_UP,
    Attempt,
    Coordinator,
    PlannedTrial,
    choose_limit,
    shape,
    split_rounds,
)
from bot.sandbox.simulator.trials import (
    TARGET_MCU,
    TRAINING_CYCLES,
    Kind,
    draw_kind,
    draw_trial,
    trial_document,
)

SIM_EPOCH: Final = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
EXTEND_PAUSE: Final = 180  # first job ended -> the user extends the search
TARGET_LATENCY_MS: Final = 100
TARGET_DEVICE: Final = {"name": TARGET_MCU[0], "ram": 256 * 1024, "rom": 1024 * 1024}


@dataclass(frozen=True, slots=True)
class RunInfo:
    """One tuner job of a simulation; times are simulated seconds since the first started."""

    index: int
    tuner_job_id: int
    coordinator_job_id: int
    continuation_job_id: int | None
    start: int
    ready: int  # spin-up over, first round proposed
    first_start: int  # the first trial starts running
    end: int  # `tunerJobIsRunning` false from here on
    max_total_training_time: int
    time_limit_at: int | None
    crashed_at: int | None  # `job_error`: the coordinator died here
    job_error: str | None
    worker_ids: tuple[str, ...]
    trial_ids: tuple[str, ...]  # the trials this job ran (proposed trials it dropped are not)


def _job_error(running: int | None) -> str:
    if running is None:
        return "Tuner job failed while saving its results: out of memory (exit code 137)."
    return (
        "Tuner coordinator exited unexpectedly (exit code 137: out of memory) with "
        f"{running} trial{'' if running == 1 else 's'} still running; they were marked as failed."
    )


class _Job(NamedTuple):
    played: Coordinator
    coordinator_id: int
    tuner_id: int
    budget: int  # its config's maxTotalTrainingTime


class Simulation:
    """Every document of one project's simulated EON Tuner runs, as a function of time.

    Deterministic per (project_id, seed, trials, extend, job_error, lists_earlier): the run is
    drawn and scheduled here, once. `epoch` is the wall-clock time of simulated second 0, fixed by
    default so that documents are the same bytes on every machine.
    """

    def __init__(
        self,
        project_id: str,
        *,
        seed: int = 1,
        trials: int = 24,
        extend: bool = True,
        job_error: bool = False,
        epoch: datetime = SIM_EPOCH,
        lists_earlier: bool = True,
    ) -> None:
        if trials < 2:
            raise ValueError("a simulated run needs at least 2 trials")
        self.project_id, self.seed, self.trials = project_id, seed, trials
        self.extend, self.job_error, self.epoch = extend, job_error, epoch
        # False: a run's document lists only its own trials, not those of the runs it extends
        # (the other shape a state can take; both are served, so both are tested).
        self.lists_earlier = lists_earlier
        rng = random.Random(f"eon-tuner-sim:{project_id}:{seed}")
        self.kind: Kind = draw_kind(rng)
        self.workers, initial, per_round, rounds = shape(trials)
        self._shape = (initial, per_round, rounds)
        self.next_run_index = rng.randint(2, 9)
        self._used: set[str] = set()
        self._failing = max(0.0, (0.125 * trials - 2) / max(1, trials - 2))
        jobs = [self._first_job(rng)]
        if extend:
            jobs += self._extension(rng, jobs[0])
        self._trials: list[PlannedTrial] = [
            t for job in jobs for t in job.played.trials if t.dropped != t.proposed
        ]
        self._by_id = {t.draft.id: t for t in self._trials}
        self.runs: tuple[RunInfo, ...] = tuple(
            self._run_info(i, job, last=i == len(jobs) - 1, first=jobs[0])
            for i, job in enumerate(jobs)
        )
        self.duration: float = float(self.runs[-1].end)
        self._configs = [self._config(run) for run in self.runs]
        self._final: bytes | None = None

    def _first_job(self, rng: random.Random) -> _Job:
        """The first run: two trials of its initial round fail on purpose (one then completes,
        one fails again), one is too big for the target, and the time limit cuts it short."""
        initial, per_round, _ = self._shape
        special = rng.sample(range(min(self.trials, max(initial, 3))), min(self.trials, 3))
        roles = {special[0]: "retry_ok", special[1]: "twice"}
        drafts = [
            draw_trial(
                rng,
                self.kind,
                self._used,
                failure=roles.get(i, self._failing),
                big=i in special[2:],
            )
            for i in range(self.trials)
        ]
        coordinator = rng.randint(12_000_000, 19_999_999)
        tuner = coordinator + rng.randint(1, 4)
        abort = -(-self.trials * 2 // 5) if self.job_error and not self.extend else None

        def play(limit: int | None, abort_after: int | None) -> Coordinator:
            return Coordinator(
                split_rounds(drafts, initial, per_round), run=0, first_round=0, start=0,
                workers=self.workers, limit=limit, abort_after=abort_after, job_id=tuner + 1,
            ).play()  # fmt: skip

        dry = play(None, None)  # to learn how much training the whole search takes
        limit = choose_limit(dry)
        return _Job(play(limit, abort), coordinator, tuner, limit or _ceil_to(dry.spent * 1.5, 600))

    def _extension(self, rng: random.Random, first: _Job) -> list[_Job]:
        """The extended search, if the first run stopped at its limit with trials to go."""
        done = first.played
        started = sum(1 for t in done.trials if t.attempts)
        if done.stopped_at is None or started >= self.trials:
            return []
        more = [
            draw_trial(rng, self.kind, self._used, failure=self._failing)
            for _ in range(self.trials - started)
        ]
        coordinator = done.job_id + rng.randint(40, 400)
        tuner = coordinator + rng.randint(1, 4)
        abort = -(-len(more) * 3 // 5) if self.job_error and len(more) > 1 else None
        played = Coordinator(
            split_rounds(more, 0, self._shape[1]), run=1,
            first_round=max(t.round for t in done.trials) + 1, start=done.end + EXTEND_PAUSE,
            workers=self.workers, limit=None, abort_after=abort, job_id=tuner + 1,
        ).play()  # fmt: skip
        # Its budget is whatever the extension needs: it is not meant to hit the limit again.
        need = sum(full for d in more for full, _ in d.attempts) + 8 * len(more)
        return [_Job(played, coordinator, tuner, max(first.budget, _ceil_to(need * 1.25, 600)))]

    def _run_info(self, index: int, job: _Job, *, last: bool, first: _Job) -> RunInfo:
        played = job.played
        error = None
        if self.job_error and last:
            error = _job_error(played.aborted[1] if played.aborted else None)
        return RunInfo(
            index=index,
            tuner_job_id=job.tuner_id,
            coordinator_job_id=job.coordinator_id,
            continuation_job_id=first.coordinator_id if index else None,
            start=played.ready - SPIN_UP,
            ready=played.ready,
            first_start=min(
                (t.attempts[0].start for t in played.trials if t.attempts), default=played.end
            ),
            end=played.end,
            max_total_training_time=job.budget,
            time_limit_at=played.stopped_at,
            crashed_at=played.aborted[0] if played.aborted else None,
            job_error=error,
            worker_ids=tuple(f"eon-tuner-{job.tuner_id}-worker-{w}" for w in range(self.workers)),
            trial_ids=tuple(t.draft.id for t in played.trials if t.attempts),
        )

    def _config(self, run: RunInfo) -> dict[str, Any]:
        initial, per_round, rounds = self._shape
        return {
            "name": f"EON Tuner run {self.next_run_index - 1}",
            "targetLatency": TARGET_LATENCY_MS,
            "targetDevice": dict(TARGET_DEVICE),
            "compiler": ["tflite", "eon"],
            "precision": ["int8", "float32"],
            "trainingCycles": TRAINING_CYCLES,
            "tuningMaxTrials": self.trials,
            "tuningWorkers": self.workers,
            "initialTrials": initial,
            "optimizationRounds": rounds,
            "trialsPerOptimizationRound": per_round,
            "tuningAlgorithm": "bayesian",
            "notificationOnCompletion": True,
            "importProjectMetrics": False,
            "importResourceMetrics": False,
            "enableSEM": False,
            "optimizationObjectives": [
                {"objective": "accuracy", "label": "Accuracy", "weight": 0.6},
                {"objective": "latency", "label": "Latency", "weight": 0.4},
            ],
            "rawObjectives": "accuracy:0.6,latency:0.4",
            "optimizationPrecision": "int8",
            "earlyStopping": True,
            "earlyStoppingWindowSize": 3,
            "earlyStoppingImprovementBar": 0.01,
            "MOMF": False,
            "verboseLogging": False,
            "maxTotalTrainingTime": run.max_total_training_time,
            "searchSpaceTemplate": {"identifier": self.kind.template, "classification": True},
            "searchSpaceSource": {"type": "template", "templateTitle": self.kind.title},
        }

    def milestones(self) -> list[float]:
        """Every second at which a trial or the job changes status (not the epoch ticks)."""
        moments = {0, *(m for r in self.runs for m in (r.start, r.ready, r.end))}
        moments.update(r.time_limit_at for r in self.runs if r.time_limit_at is not None)
        for trial in self._trials:
            moments.add(trial.proposed)
            if trial.dropped is not None:
                moments.add(trial.dropped)
            moments.update(
                m for a in trial.attempts for m in (a.start, min(a.dsp_end, a.end), a.end)
            )
        return sorted(float(m) for m in moments)

    def attempts(self, trial_id: str) -> tuple[Attempt, ...]:
        """How a trial was (or will be) run: for tests and demos that aim at one moment."""
        return tuple(self._by_id[trial_id].attempts)

    def document(self, t: float) -> dict[str, Any]:
        """The state document at simulated second `t` (a fresh object, free to mutate)."""
        parsed: dict[str, Any] = json.loads(self.document_bytes(t))
        return parsed

    def document_bytes(self, t: float) -> bytes:
        """The state document at simulated second `t`, as compact JSON."""
        now = math.floor(max(0.0, t))
        if now >= self.runs[-1].end:
            if self._final is None:
                self._final = self._render(self.runs[-1].end)
            return self._final
        return self._render(now)

    def _render(self, now: int) -> bytes:
        run = next(r for r in reversed(self.runs) if r.start <= now)
        counts = dict.fromkeys(("pending", "running", "completed", "failed"), 0)
        busy: set[int] = set()
        parts: list[bytes] = []
        for trial in self._trials:
            state = trial.state(now)
            if state is None or (trial.run != run.index and not self.lists_earlier):
                continue
            status, tries, attempt = state
            counts[status] += 1
            if status == "running" and attempt is not None:
                busy.add(attempt.worker)
            settled = bool(trial.attempts) and now >= trial.attempts[-1].end
            if settled and trial.fragment is not None:
                parts.append(trial.fragment)
                continue
            worker = self.runs[trial.run].worker_ids[attempt.worker] if attempt else None
            doc = trial_document(
                trial.draft, status, tries, attempt, trial.round, worker, now, self._iso
            )
            fragment = json.dumps(doc, separators=(",", ":")).encode()
            if settled:  # completed or failed for good: it never changes again
                trial.fragment = fragment
            parts.append(fragment)
        running = now < run.end
        if now < run.ready:
            workers = [{"workerId": w, "status": "pending"} for w in run.worker_ids]
        elif running:
            workers = [
                {"workerId": w, "status": "busy" if i in busy else "ready"}
                for i, w in enumerate(run.worker_ids)
            ]
        else:
            workers = []  # the job's pods are gone
        exceeded = run.time_limit_at is not None and now >= run.time_limit_at
        head: dict[str, Any] = {
            "success": True,
            "config": self._configs[run.index],
            "status": {
                "numPendingTrials": counts["pending"],
                "numRunningTrials": counts["running"],
                "numCompletedTrials": counts["completed"],
                "numFailedTrials": counts["failed"],
                "numReadyWorkers": sum(w["status"] == "ready" for w in workers),
                "numBusyWorkers": len(busy),
                "numPendingWorkers": sum(w["status"] == "pending" for w in workers),
                "status": _job_status(run, now),
            },
            "tunerJobId": run.tuner_job_id,
            "tunerCoordinatorJobId": run.coordinator_job_id,
            "tuningAlgorithm": "bayesian",
            "tunerJobIsRunning": running,
            "projectDataType": self.kind.data_type,
            "workers": workers,
            "nextRunIndex": self.next_run_index,
            "canExtendSearch": exceeded,
            "isWhitelabel": False,
            "totalTrainingTimeExceeded": exceeded,
        }
        if run.continuation_job_id is not None:
            head["continuationJobId"] = run.continuation_job_id
        if run.job_error is not None and not running:
            head["jobError"] = run.job_error
        opening = json.dumps(head, separators=(",", ":")).encode()
        return opening[:-1] + b',"trials":[' + b",".join(parts) + b"]}"

    def _iso(self, second: int) -> str:
        return (self.epoch + timedelta(seconds=second)).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _job_status(run: RunInfo, now: int) -> str:
    if now >= run.end:
        return "completed"
    if now < run.ready:
        return "creating"
    return "ready" if now < run.first_start else "running"


def _ceil_to(value: float, step: int) -> int:
    return int(-(-value // step) * step)

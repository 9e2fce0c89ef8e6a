"""EON Tuner runs for the simulator: drawn once, then read at any simulated second (pure).

`Simulation(project_id, seed=...)` draws every trial up front (name, size, accuracy, whether it
fails) from a generator seeded by the project id and the seed, and schedules the trials on the
tuner's workers the way the EON Tuner coordinator does. `document(t)` is then a lookup: the
`GET /api/{projectId}/optimize/state` body at simulated second `t`. No clock and no I/O, so the
same arguments give the same bytes, and tests can step through a run second by second.

Timeline in simulated seconds (defaults: 24 trials on 3 workers, about 80-100 minutes in all):

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

The time limit needs a few rounds to bind; with fewer than about 6 trials it may not, and then
there is no extension either.
"""

from __future__ import annotations

import heapq
import json
import math
import random
from collections import deque
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Final, NamedTuple

from .sim_trials import TRAINING_CYCLES, Draft, Kind, draw_kind, draw_trial, trial_document

SIM_EPOCH: Final = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
SPIN_UP: Final = 60  # job created -> workers ready, first round proposed
PICKUP: Final = 2  # a worker starts a queued trial this long after it was handed to it
ROUND_DELAY: Final = 20  # the optimizer proposing the next round
WRAP_UP: Final = 15  # last trial ended -> job reported completed
EXTEND_PAUSE: Final = 180  # first job ended -> the user extends the search
LIMIT_SHARE: Final = 0.6  # the first run's time limit binds at about this share of the work
TARGET_LATENCY_MS: Final = 100
TARGET_DEVICE: Final = {"name": "nordic-nrf52840-dk", "ram": 256 * 1024, "rom": 1024 * 1024}

_END, _RETRY, _ROUND = 0, 1, 2  # event kinds, in the order they are handled at one second


@dataclass(frozen=True, slots=True)
class Attempt:
    """One go at training a trial on one worker; `end` is when it completed or failed."""

    worker: int
    start: int
    dsp_end: int
    end: int
    planned_end: int
    failed: bool
    job_id: int


@dataclass(slots=True, eq=False)
class _Trial:
    draft: Draft
    slot: int  # its place in its job's list of trials
    run: int
    round: int
    proposed: int
    dropped: int | None = None
    attempts: list[Attempt] = field(default_factory=list)
    fragment: bytes | None = None  # its JSON once it never changes again


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


class _Coordinator:
    """Plays one tuner job forward, event by event, as the EON Tuner coordinator would."""

    def __init__(
        self,
        rounds: list[list[Draft]],
        *,
        run: int,
        first_round: int,
        start: int,
        workers: int,
        limit: int | None,
        abort_after: int | None,
        job_id: int,
    ) -> None:
        self.rounds, self.run, self.first_round = rounds, run, first_round
        self.limit, self.abort_after, self.job_id = limit, abort_after, job_id
        self.ready = start + SPIN_UP
        self.events: list[tuple[int, int, int, int]] = [(self.ready, _ROUND, 0, 0)]
        self.seq = 1
        self.idle = list(range(workers))
        self.busy: dict[int, _Trial] = {}
        self.assigned: dict[int, int] = {}  # worker -> when it was handed its trial
        self.queue: deque[_Trial] = deque()
        self.trials: list[_Trial] = []
        self.open = 0  # trials of the current round not ended for good
        self.round_index = 0
        self.spent = 0  # training seconds of ended attempts, summed over workers
        self.first_starts = 0
        self.starts: list[tuple[int, int, int]] = []  # (round, time, spent) at each start
        self.last_end = self.ready
        self.stopped_at: int | None = None
        self.aborted: tuple[int, int] | None = None  # (when, trials running then)

    def spent_at(self, now: int) -> int:
        return self.spent + sum(now - since for since in self.assigned.values())

    def play(self) -> _Coordinator:
        while self.events and self.aborted is None:
            now, kind, _, arg = heapq.heappop(self.events)
            if kind == _END:
                self._ended(now, arg)
            elif self.stopped_at is not None:
                continue
            elif kind == _RETRY:
                self.queue.appendleft(self.trials[arg])
                self._dispatch(now)
            else:
                self._propose(now, arg)
        return self

    @property
    def end(self) -> int:
        moments = [self.last_end, self.stopped_at or 0, self.aborted[0] if self.aborted else 0]
        return max(moments) + WRAP_UP

    def _push(self, when: int, kind: int, arg: int) -> None:
        heapq.heappush(self.events, (when, kind, self.seq, arg))
        self.seq += 1

    def _propose(self, now: int, index: int) -> None:
        for draft in self.rounds[index]:
            trial = _Trial(draft, len(self.trials), self.run, self.first_round + index, now)
            self.trials.append(trial)
            self.queue.append(trial)
        self.open = len(self.rounds[index])
        self.round_index = index
        self._dispatch(now)

    def _dispatch(self, now: int) -> None:
        while self.idle and self.queue:
            if self.limit is not None and self.spent_at(now) >= self.limit:
                self._stop(now)
                return
            trial = self.queue[0]
            if not trial.attempts:
                if self.abort_after is not None and self.first_starts >= self.abort_after:
                    self._abort(now)
                    return
                self.first_starts += 1
            self.queue.popleft()
            self.starts.append((trial.round, now, self.spent_at(now)))
            worker = heapq.heappop(self.idle)
            full, share = trial.draft.attempts[len(trial.attempts)]
            begin = now + PICKUP + worker % 3
            length = full if share is None else max(1, round(full * share))
            dsp_end = begin + max(5, round(full * 0.12))
            trial.attempts.append(
                Attempt(
                    worker,
                    begin,
                    dsp_end,
                    begin + length,
                    begin + full,
                    share is not None,
                    self.job_id,
                )
            )
            self.job_id += 3  # DSP training, DSP testing and learning jobs
            self.busy[worker] = trial
            self.assigned[worker] = now
            self._push(begin + length, _END, worker)

    def _ended(self, now: int, worker: int) -> None:
        trial = self.busy.pop(worker)
        self.spent += now - self.assigned.pop(worker)
        heapq.heappush(self.idle, worker)
        self.last_end = max(self.last_end, now)
        if self.stopped_at is not None:
            return
        if trial.attempts[-1].failed and len(trial.attempts) < len(trial.draft.attempts):
            self._push(now + trial.draft.retry_delay, _RETRY, trial.slot)
        else:
            self.open -= 1
            if self.open == 0 and self.round_index + 1 < len(self.rounds):
                self._push(now + ROUND_DELAY, _ROUND, self.round_index + 1)
        self._dispatch(now)

    def _drop_queue(self, now: int) -> None:
        for trial in self.queue:
            if not trial.attempts:
                trial.dropped = now
        self.queue.clear()

    def _stop(self, now: int) -> None:
        self.stopped_at = now
        self._drop_queue(now)

    def _abort(self, now: int) -> None:
        self.aborted = (now, len(self.busy))
        for trial in self.busy.values():
            cut = trial.attempts[-1]
            trial.attempts[-1] = replace(cut, end=max(cut.start + 1, now), failed=True)
            self.last_end = max(self.last_end, trial.attempts[-1].end)
        self.busy.clear()
        self._drop_queue(now)


def _shape(trials: int) -> tuple[int, int, int, int]:
    """(workers, initial trials, trials per round, optimization rounds) for a search size."""
    workers = max(3, -(-trials // 16))
    initial = max(1, -(-trials // 4))
    per_round = max(1, -(-(trials - initial) // 3))
    return workers, initial, per_round, -(-(trials - initial) // per_round)


def _split(drafts: list[Draft], first: int, size: int) -> list[list[Draft]]:
    rounds = [drafts[:first]] if first else []
    rounds += [drafts[i : i + size] for i in range(first, len(drafts), size)]
    return [r for r in rounds if r]


def _choose_limit(dry: _Coordinator) -> int | None:
    """A `maxTotalTrainingTime` that stops the run at about LIMIT_SHARE of its work, never
    inside the initial round (whose retries the default run relies on); None if none fits."""
    later = [(when, spent) for rnd, when, spent in dry.starts if rnd > 0]
    if len(later) < 2:
        return None
    floor = later[0][1] + 1
    target = next((spent for _, spent in later if spent >= LIMIT_SHARE * dry.spent), later[-1][1])
    target = max(target, floor)
    rounded = target // 60 * 60
    return rounded if rounded >= floor else target


def _job_error(running: int | None) -> str:
    if running is None:
        return "Tuner job failed while saving its results: out of memory (exit code 137)."
    return (
        "Tuner coordinator exited unexpectedly (exit code 137: out of memory) with "
        f"{running} trial{'' if running == 1 else 's'} still running; they were marked as failed."
    )


class _Job(NamedTuple):
    played: _Coordinator
    coordinator_id: int
    tuner_id: int
    budget: int  # its config's maxTotalTrainingTime


class Simulation:
    """Every document of one project's simulated EON Tuner runs, as a function of time."""

    def __init__(
        self,
        project_id: str,
        *,
        seed: int = 1,
        trials: int = 24,
        extend: bool = True,
        job_error: bool = False,
        epoch: datetime = SIM_EPOCH,
    ) -> None:
        if trials < 2:
            raise ValueError("a simulated run needs at least 2 trials")
        self.project_id, self.seed, self.trials = project_id, seed, trials
        self.extend, self.job_error, self.epoch = extend, job_error, epoch
        rng = random.Random(f"eon-tuner-sim:{project_id}:{seed}")
        self.kind: Kind = draw_kind(rng)
        self.workers, initial, per_round, rounds = _shape(trials)
        self._shape = (initial, per_round, rounds)
        self.next_run_index = rng.randint(2, 9)
        self._used: set[str] = set()
        self._failing = max(0.0, (0.125 * trials - 2) / max(1, trials - 2))
        jobs = [self._first_job(rng)]
        if extend:
            jobs += self._extension(rng, jobs[0])
        self._trials: list[_Trial] = [
            t for job in jobs for t in job.played.trials if t.dropped != t.proposed
        ]
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

        def play(limit: int | None, abort_after: int | None) -> _Coordinator:
            return _Coordinator(
                _split(drafts, initial, per_round), run=0, first_round=0, start=0,
                workers=self.workers, limit=limit, abort_after=abort_after, job_id=tuner + 1,
            ).play()  # fmt: skip

        dry = play(None, None)  # to learn how much training the whole search takes
        limit = _choose_limit(dry)
        return _Job(play(limit, abort), coordinator, tuner, limit or ceil_to(dry.spent * 1.5, 600))

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
        played = _Coordinator(
            _split(more, 0, self._shape[1]), run=1,
            first_round=max(t.round for t in done.trials) + 1, start=done.end + EXTEND_PAUSE,
            workers=self.workers, limit=None, abort_after=abort, job_id=tuner + 1,
        ).play()  # fmt: skip
        # Its budget is whatever the extension needs: it is not meant to hit the limit again.
        need = sum(full for d in more for full, _ in d.attempts) + 8 * len(more)
        return [_Job(played, coordinator, tuner, max(first.budget, ceil_to(need * 1.25, 600)))]

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
            moments.update(m for a in trial.attempts for m in (a.start, a.dsp_end, a.end))
        return sorted(float(m) for m in moments)

    def attempts(self, trial_id: str) -> tuple[Attempt, ...]:
        """How a trial was (or will be) run: for tests and demos that aim at one moment."""
        return next(tuple(t.attempts) for t in self._trials if t.draft.id == trial_id)

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
            state = _state(trial, now)
            if state is None:
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
                "numBusyWorkers": len(busy) if running else 0,
                "numPendingWorkers": sum(w["status"] == "pending" for w in workers),
                "status": "creating"
                if now < run.ready
                else "ready"
                if now < run.first_start and running
                else "running"
                if running
                else "completed",
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


def ceil_to(value: float, step: int) -> int:
    return int(-(-value // step) * step)


def _state(trial: _Trial, now: int) -> tuple[str, int, Attempt | None] | None:
    """(status, retries, current or last attempt) of a trial at `now`; None if not listed."""
    if now < trial.proposed or (trial.dropped is not None and now >= trial.dropped):
        return None
    attempts = trial.attempts
    if not attempts or now < attempts[0].start:
        return "pending", 0, None
    index = len(attempts) - 1
    while attempts[index].start > now:
        index -= 1
    attempt = attempts[index]
    if now < attempt.end:
        return "running", index, attempt
    return ("failed" if attempt.failed else "completed"), index, attempt

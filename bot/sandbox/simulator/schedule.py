"""How the EON Tuner coordinator runs one job's trials on its workers (pure planning).

`Coordinator` plays a job forward event by event: rounds proposed, trials handed to free
workers, attempts ending (completed or failed), failed trials retried after a pause. It keeps
the training time spent (summed over workers) and stops starting trials once that reaches the
job's limit; it can also crash on purpose. What it leaves behind, `PlannedTrial`s with their
`Attempt`s, is all `bot.sandbox.simulator.simulation` needs to render any moment of the run. See
`bot.sandbox.simulator.simulation` for the timeline this produces.
"""

from __future__ import annotations

import heapq
from collections import deque
from dataclasses import dataclass, field, replace
from typing import Final

from bot.sandbox.simulator.trials import Draft

SPIN_UP: Final = 60  # job created -> workers ready, first round proposed
PICKUP: Final = 2  # a worker starts a queued trial this long after it was handed to it
ROUND_DELAY: Final = 20  # the optimizer proposing the next round
WRAP_UP: Final = 15  # last trial ended -> job reported completed
LIMIT_SHARE: Final = 0.6  # the first run's time limit binds at about this share of the work

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
class PlannedTrial:
    """A trial as its job planned it: when it was proposed, dropped, and each attempt."""

    draft: Draft
    slot: int  # its place in its job's list of trials
    run: int
    round: int
    proposed: int
    dropped: int | None = None
    attempts: list[Attempt] = field(default_factory=list)
    fragment: bytes | None = None  # its JSON once it never changes again

    def state(self, now: int) -> tuple[str, int, Attempt | None] | None:
        """(status, retries, current or last attempt) at `now`; None if not listed."""
        if now < self.proposed or (self.dropped is not None and now >= self.dropped):
            return None
        attempts = self.attempts
        if not attempts or now < attempts[0].start:
            return "pending", 0, None
        index = len(attempts) - 1
        while attempts[index].start > now:
            index -= 1
        attempt = attempts[index]
        if now < attempt.end:
            return "running", index, attempt
        return ("failed" if attempt.failed else "completed"), index, attempt


class Coordinator:
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
        self.busy: dict[int, PlannedTrial] = {}
        self.assigned: dict[int, int] = {}  # worker -> when it was handed its trial
        self.queue: deque[PlannedTrial] = deque()
        self.trials: list[PlannedTrial] = []
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

    def play(self) -> Coordinator:
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
            trial = PlannedTrial(draft, len(self.trials), self.run, self.first_round + index, now)
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
        """The coordinator dies: running attempts fail now, ones not started yet never do."""
        cut = [trial for trial in self.busy.values() if trial.attempts[-1].start < now]
        self.aborted = (now, len(cut))
        for trial in self.busy.values():
            if trial in cut:
                trial.attempts[-1] = replace(trial.attempts[-1], end=now, failed=True)
            else:
                trial.attempts.pop()
                if not trial.attempts:
                    trial.dropped = now
        self.last_end = max(self.last_end, now)
        self.busy.clear()
        self._drop_queue(now)


def shape(trials: int) -> tuple[int, int, int, int]:
    """(workers, initial trials, trials per round, optimization rounds) for a search size."""
    workers = max(3, -(-trials // 16))
    initial = max(min(trials, 3), -(-trials // 4))
    per_round = max(1, -(-(trials - initial) // 3))
    return workers, initial, per_round, -(-(trials - initial) // per_round)


def split_rounds(drafts: list[Draft], first: int, size: int) -> list[list[Draft]]:
    rounds = [drafts[:first]] if first else []
    rounds += [drafts[i : i + size] for i in range(first, len(drafts), size)]
    return [r for r in rounds if r]


def choose_limit(dry: Coordinator) -> int | None:
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

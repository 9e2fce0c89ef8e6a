"""How a batch is told: ten channels, each watching one simulated run through an outage.

Each channel follows its own run (seeds 1-10, 24 trials) milestone by milestone through the
pure diff, except for an outage from a quarter to a half of the first run's milestones: the
first poll after it sees everything that happened meanwhile at once. For each channel it prints
the batch's completions as told and as they completed, whether "🏆 new best" fell on exactly the
trials that were the best when they completed (the e2e harness's `new_bests`, read from the
documents alone), and how many failures a retry hid from every poll and how many of them
were told. Pure and quick (a few seconds):

    python bench/batches.py
"""

from __future__ import annotations

import sys
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # `tests.e2e.harness`

from bot.core.diff import diff  # noqa: E402
from bot.core.events import Event, EventKind, Snapshot  # noqa: E402
from bot.sandbox.simulator.simulation import SIM_EPOCH, Simulation  # noqa: E402
from bot.tuner.models import OptimizeStateResponse  # noqa: E402
from tests.e2e.harness import new_bests  # noqa: E402

PROJECT = "1"
SEEDS = range(1, 11)


def follow(simulation: Simulation, times: list[float]) -> list[list[Event]]:
    snapshot: Snapshot | None = None
    polls = []
    for t in times:
        state = OptimizeStateResponse.model_validate_json(simulation.document_bytes(t))
        now = SIM_EPOCH + timedelta(seconds=t)
        events, snapshot = diff(snapshot, state, project_id=PROJECT, now=now)
        polls.append(events)
    return polls


def channel(seed: int) -> tuple[str, bool, bool]:
    simulation = Simulation(PROJECT, seed=seed, trials=24)
    first = simulation.runs[0]
    times = [t for t in simulation.milestones() if t <= first.end]
    before, after = times[len(times) // 4], times[len(times) // 2]
    polls = follow(simulation, [t for t in times if t <= before or t >= after])
    batch = polls[[t for t in times if t <= before or t >= after].index(after)]
    done = {e.trial_id for e in batch if e.kind is EventKind.TRIAL_COMPLETED}
    ends = {
        trial_id: attempt.end
        for trial_id in done
        for attempt in simulation.attempts(str(trial_id))
        if not attempt.failed
    }
    told = [e.trial_id for e in batch if e.kind is EventKind.TRIAL_COMPLETED]
    in_time = sorted(told, key=lambda trial_id: ends[str(trial_id)])
    job = str(first.tuner_job_id)
    truth = {trial_id for run_job, trial_id in new_bests(simulation) if run_job == job}
    crowned = {
        e.trial_id
        for poll in polls
        for e in poll
        if e.kind is EventKind.TRIAL_COMPLETED and e.payload.get("is_best")
    }
    hidden = 0  # failed attempts retried within the outage
    for trial_id in first.trial_ids:
        attempts = simulation.attempts(trial_id)
        for index, attempt in enumerate(attempts[:-1]):
            retried = attempts[index + 1].start
            hidden += attempt.failed and before < attempt.end and retried <= after
    failed = sum(1 for e in batch if e.kind is EventKind.TRIAL_FAILED and e.payload.get("retried"))
    line = (
        f"seed {seed:2}: outage t={before:g}-{after:g} s, {len(told)} completions; "
        f"told {'in' if told == in_time else 'OUT OF'} completion order; "
        f"new bests {'right' if crowned == truth else 'WRONG'} "
        f"({len(crowned)} told, {len(truth)} true); "
        f"failures retried in the outage: {hidden}, told as retried: {failed}"
    )
    return line, told == in_time, crowned == truth


def main() -> None:
    results = [channel(seed) for seed in SEEDS]
    for line, _, _ in results:
        print(line)
    ordered = sum(ok for _, ok, _ in results)
    bests = sum(ok for _, _, ok in results)
    print(f"in completion order: {ordered} of {len(results)} channels")
    print(f"new bests right: {bests} of {len(results)} channels")


if __name__ == "__main__":
    main()

"""Stalls (pure): a running job whose document shows no progress for `STALL_AFTER` seconds gets
one `eon_run_stalled`; one `eon_run_resumed` follows when it moves again.

Progress is what moves while a job works: a trial's status, retries or epoch, or the trial
counts (`progress_digest`). Everything else (timestamps of idle workers, the document's own
order) is not progress. The stall state lives in the snapshot and each notice's event key
carries the stall's number, so each is told once per stall, also across restarts. A job that
ends while stalled gets its end, not a resume.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import NamedTuple

from bot.core.events import Event, EventKind, RunRef, Snapshot
from bot.core.run_state import count_trials
from bot.core.summary import Counts
from bot.tuner.models import OptimizeStateResponse, TunerTrial


class StallStep(NamedTuple):
    events: list[Event]
    snapshot: Snapshot


def trial_progress(trial: TunerTrial) -> int:
    """One trial's term of `progress_digest`: what of it counts as progress, hashed."""
    text = f"{trial.id}\0{trial.status}\0{trial.retries}\0{trial.current_epoch}"
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest())


def progress_of(counts: Counts, terms: Iterable[int]) -> str:
    """The digest of the trial counts and the trials' `trial_progress` terms. The terms are
    added (modulo 2**64), so the document's order is not progress, and a poll that read only
    the trials that changed can replace their terms (`bot.core.increment`)."""
    total = sum(terms) % 2**64
    text = f"{counts.pending},{counts.running},{counts.completed},{counts.failed}:{total}"
    return hashlib.blake2b(text.encode(), digest_size=12).hexdigest()


def progress_digest(state: OptimizeStateResponse) -> str:
    """A short digest of everything whose change counts as progress."""
    return progress_of(count_trials(state), (trial_progress(t) for t in state.trials))


def stall_due(snapshot: Snapshot, stall_after: float) -> datetime | None:
    """When the snapshot's run is owed a stall notice if nothing moves before, or None: what a
    poll that skips an unchanged document still has to look at."""
    if not working(snapshot) or snapshot.stalled or snapshot.progress_at is None:
        return None
    return snapshot.progress_at + timedelta(seconds=stall_after)


def working(snapshot: Snapshot) -> bool:
    """Whether the snapshot's run has a job at work: owed stall checks, and polled whole every
    interval (`bot.service.tiers`)."""
    summary = snapshot.summary
    if summary is None or summary.finished:
        return False
    return summary.running is True or summary.status == "running"


def watch_progress(
    snapshot: Snapshot, digest: str, *, now: datetime, stall_after: float
) -> StallStep:
    """The stall notices `snapshot`'s run is owed at `now`, given the digest of the document
    just read, and the snapshot to keep."""
    if not working(snapshot):
        calm = snapshot.model_copy(
            update={"progress": digest, "progress_at": now, "stalled": False}
        )
        return StallStep([], calm)
    run = RunRef.of(snapshot)
    since = snapshot.progress_at
    if since is None or snapshot.progress != digest:
        events: list[Event] = []
        if snapshot.stalled and since is not None:
            idle = round((now - since).total_seconds(), 1)
            events.append(run.event(EventKind.RUN_RESUMED, snapshot.stalls, idle_s=idle))
        moved = snapshot.model_copy(
            update={"progress": digest, "progress_at": now, "stalled": False}
        )
        return StallStep(events, moved)
    idle = (now - since).total_seconds()
    if snapshot.stalled or idle < stall_after:
        return StallStep([], snapshot)
    number = snapshot.stalls + 1
    stalled = run.event(EventKind.RUN_STALLED, number, idle_s=round(idle, 1))
    return StallStep([stalled], snapshot.model_copy(update={"stalls": number, "stalled": True}))

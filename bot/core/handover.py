"""Closing runs that ended while the bot could not look (pure).

When the run in the project's state is not the run the snapshot holds, the state alone cannot
say what the snapshot's run did since the last poll: Edge Impulse's state shows the newest
run, with the earlier run's trials beside its own or not at all. Each run stays readable by its
coordinator job (`bot.tuner.runs`), so the poller reads the runs list and the own state of
each run to close, and `close` diffs the snapshot against those states in order, as if it had
polled each one at its end: each trial told once, under the run whose own state lists it
first; the time limit if hit; the end with its true counts, best trial and chart. Runs the
list shows between the snapshot's and the current one (a restart that spans several) are
told whole, each with its card. Only then is the current state diffed, and it starts the only
live card.

A trial carries no run id of its own (the official `TunerTrial` has none), so a trial belongs
to the earliest run whose own state lists it: a later run that lists it again (an extended
search) finds its mark and does not tell it again.

A run whose own state cannot be read is left to `diff`, which tells what the new state shows
of its trials and an end that says what was seen (`diff.unseen_figures`); `unseen_summary` is
what its card then shows. `read_after` puts it all together for the poller.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import NamedTuple

from bot.core.diff import diff, is_new_run
from bot.core.events import Event, EventKind, Snapshot
from bot.core.increment import Read, read_changes
from bot.core.summary import RunSummary
from bot.tuner.models import OptimizeStateResponse
from bot.tuner.piecewise import Pieces

RunIds = tuple[str, str | None]  # (coordinator job id, tuner job id) of one run


class Earlier(NamedTuple):
    """A run to close and its own state (None: it could not be read)."""

    coordinator_job_id: str
    state: OptimizeStateResponse | None


class Wanted(NamedTuple):
    """A read that waits for the own states of the runs to close (`bot.tuner.runs`)."""

    previous: Snapshot
    current: OptimizeStateResponse


class Closed(NamedTuple):
    events: list[Event]
    snapshot: Snapshot
    summaries: list[RunSummary]  # the closed runs' last summaries, for their cards


def needs_closing(previous: Snapshot | None, current: OptimizeStateResponse) -> bool:
    """Whether the current state shows another run than the snapshot's, one that ran: the
    only time the poller reads the runs list and earlier runs' own states."""
    if previous is None or previous.coordinator_job_id is None or previous.summary is None:
        return False
    return not previous.summary.never_ran and is_new_run(previous, current)


def to_close(
    previous: Snapshot, current: OptimizeStateResponse, runs: Sequence[RunIds] | None
) -> list[str]:
    """Coordinator job ids of the runs to close, oldest first: the snapshot's run unless its
    end was told, then every run `runs` (the list, oldest first) shows between it and the
    current one. Without the list, or when it shows neither, only the snapshot's run."""
    mine = previous.coordinator_job_id
    assert mine is not None
    closing = [] if previous.finished_reported else [mine]
    ids = [coordinator for coordinator, _ in runs or ()]
    now = current.tuner_coordinator_job_id
    if mine not in ids or now not in ids or ids.index(now) < ids.index(mine):
        return closing
    return closing + ids[ids.index(mine) + 1 : ids.index(now)]


def close(
    previous: Snapshot, earlier: Sequence[Earlier], *, project_id: str, now: datetime | None
) -> Closed:
    """The events owed by the runs in `earlier` (oldest first) and the snapshot after them."""
    snapshot, events, summaries = previous, list[Event](), list[RunSummary]()
    for run in earlier:
        if run.state is None or run.state.tuner_coordinator_job_id != run.coordinator_job_id:
            continue  # not readable (or not that run's): `diff` says what was seen
        found, after = diff(snapshot, run.state, project_id=project_id, now=now)
        events.extend(found)
        snapshot = after
        if after.finished_reported and after.summary is not None:
            summaries.append(after.summary)
    return Closed(events, snapshot, summaries)


def read_news(
    previous: Snapshot | None,
    pieces: Pieces,
    earlier: Sequence[Earlier] | None,
    *,
    digest: str,
    project_id: str,
    now: datetime | None,
    stopped: bool = False,
) -> Read | Wanted:
    """What the poller's reader makes of a changed document: `read_changes`, unless it shows
    another run than the snapshot's; then `Wanted` until the runs to close were read
    (`earlier`), and `read_after` once they were. `stopped`: the document's run was stopped
    from Slack (`diff`)."""
    if previous is None or not needs_closing(previous, pieces.envelope):
        return read_changes(
            previous, pieces, digest=digest, project_id=project_id, now=now, stopped=stopped
        )
    if earlier is None:
        return Wanted(previous, pieces.envelope)
    return read_after(previous, earlier, pieces, digest=digest, now=now, stopped=stopped)


def read_after(
    previous: Snapshot,
    earlier: Sequence[Earlier],
    pieces: Pieces,
    *,
    digest: str,
    now: datetime | None,
    stopped: bool = False,
) -> Read:
    """`read_changes` of the current document once the runs in `earlier` are closed: their
    events first, and the last summaries of every run that ended meanwhile."""
    project_id = previous.project_id
    closed = close(previous, earlier, project_id=project_id, now=now)
    read = read_changes(
        closed.snapshot, pieces, digest=digest, project_id=project_id, now=now, stopped=stopped
    )
    events = [*closed.events, *read.events]
    unseen = unseen_summary(previous, events)
    summaries = [*closed.summaries, *([unseen] if unseen is not None else [])]
    return read._replace(events=events, closed=tuple(summaries))


def unseen_summary(previous: Snapshot, events: Sequence[Event]) -> RunSummary | None:
    """The card of the snapshot's run, if `events` end it unseen: finished, nothing running,
    the counts of completions and failures as last seen."""
    summary = previous.summary
    end = next(
        (
            e
            for e in events
            if e.kind is EventKind.JOB_FINISHED
            and e.run_id == previous.run_id
            and e.payload.get("ended_unseen")
        ),
        None,
    )
    if summary is None or end is None:
        return None
    return summary.model_copy(
        update={
            "finished": True,
            "running": False,
            "outcome": None,
            "ended_unseen": True,
            "counts": summary.counts.model_copy(update={"running": 0, "pending": 0}),
        }
    )

"""One stall, one resume: progress is a function of the document, whichever way a poll read it.

A poll reads a document in one of four ways (`bot.service.poller`): not at all (the same bytes as
last time, no stall due), a check of an unchanged document (`read_unchanged`: the stall
clock is due, or the first poll after a start or a watch), only the trials that changed
(`read_changes` with the last listing), or the whole document (no listing: a restart from an
older snapshot, a failed poll before). Restarts put the snapshot through its JSON, as the
store keeps it. For any sequence of documents and polls, the progress digest of every read
must be `progress_digest` of the whole document, and the stall notices must be exactly those
an oracle gives that computes progress from each whole document: an unchanged document never
counts as movement.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.core.diff import diff
from bot.core.events import Event, EventKind, Snapshot
from bot.core.increment import read_changes, read_unchanged
from bot.core.stall import progress_digest, stall_due, watch_progress
from bot.sandbox.simulator.simulation import SIM_EPOCH, Simulation
from bot.tuner import piecewise
from bot.tuner.models import OptimizeStateResponse
from bot.tuner.piecewise import body_digest

PROJECT = "7"
STALL_AFTER = 60.0
SIMULATION = Simulation(PROJECT, seed=3, trials=12)
MOMENTS = [t for t in SIMULATION.milestones() if t < SIMULATION.runs[0].end]
WAYS = ("look", "whole", "restart")  # how the poll after a wait finds what it kept


def oracle(polls: list[tuple[float, bytes]]) -> list[str]:
    """The stall notices, progress taken from each whole document (keys: kind and number)."""
    snapshot: Snapshot | None = None
    told: list[str] = []
    for seconds, body in polls:
        now = SIM_EPOCH + timedelta(seconds=seconds)
        state = OptimizeStateResponse.model_validate_json(body)
        _, fresh = diff(snapshot, state, project_id=PROJECT, now=now)
        found, snapshot = watch_progress(
            fresh, progress_digest(state), now=now, stall_after=STALL_AFTER
        )
        told += [e.key for e in found]
    return told


def poller(polls: list[tuple[float, bytes, str]]) -> list[str]:
    """What the poller tells for the same polls, each read the way it names."""
    kept: Snapshot | None = None
    last: tuple[str, object] | None = None  # the digest stored last, and its stall time
    told: list[str] = []
    for seconds, body, way in polls:
        now = SIM_EPOCH + timedelta(seconds=seconds)
        digest = body_digest(body)
        due = last is not None and last[1] is not None and now >= last[1]  # type: ignore[operator]
        if way == "look" and last is not None and last[0] == digest and not due:
            continue  # the same bytes, no stall due: not read at all
        if way == "restart" and kept is not None:
            kept = Snapshot.model_validate_json(kept.model_dump_json())
        if way == "whole" and kept is not None:
            kept = kept.model_copy(update={"listing": None})
        read = read_unchanged(kept, digest) or read_changes(
            kept, piecewise.read(body), digest=digest, project_id=PROJECT, now=now
        )
        assert read.progress == progress_digest(OptimizeStateResponse.model_validate_json(body))
        found: list[Event]
        found, kept = watch_progress(read.snapshot, read.progress, now=now, stall_after=STALL_AFTER)
        last = (digest, stall_due(kept, STALL_AFTER))
        told += [e.key for e in found]
    return told


@st.composite
def polls(draw: st.DrawFn) -> list[tuple[float, bytes, str]]:
    """Moments of the run, each polled a few times (an unchanged document) at rising times,
    each poll read some way."""
    start = draw(st.integers(0, len(MOMENTS) - 8))
    picked = sorted(draw(st.sets(st.sampled_from(MOMENTS[start:]), min_size=1, max_size=6)))
    seconds = 0.0
    found = []
    for moment in picked:
        body = SIMULATION.document_bytes(moment)
        for _ in range(draw(st.integers(1, 5))):
            seconds += draw(st.sampled_from([1.0, 20.0, 45.0, 61.0, 130.0]))
            found.append((seconds, body, draw(st.sampled_from(WAYS))))
    return found


@pytest.mark.slow
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(polls())
def test_progress_is_the_documents_whichever_way_it_was_read(
    sequence: list[tuple[float, bytes, str]],
) -> None:
    told = poller(sequence)
    assert told == oracle([(seconds, body) for seconds, body, _ in sequence])
    stalls = [key for key in told if EventKind.RUN_STALLED in key]
    resumes = [key for key in told if EventKind.RUN_RESUMED in key]
    assert len(resumes) <= len(stalls) <= len(resumes) + 1


def test_an_unchanged_document_held_twice_stall_after_stalls_once_and_resumes_once() -> None:
    """The case of the issue: a document that does not move for 2 x STALL_AFTER, looked at
    every few seconds, each look a check, a whole read or a restart; then it moves."""
    held, moved = (SIMULATION.document_bytes(t) for t in MOMENTS[6:8])
    ways = [WAYS[i % 3] for i in range(45)]
    sequence = [(3.0 * i, held, way) for i, way in enumerate(ways)] + [(136.0, moved, "look")]
    told = poller(sequence)
    assert [key.split(":")[3] for key in told] == [EventKind.RUN_STALLED, EventKind.RUN_RESUMED]

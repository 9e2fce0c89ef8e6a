"""Histories, not examples: a model of one run beside the diff, polls placed anywhere.

A hypothesis state machine plays a run trial by trial (start, complete, fail, retry, stop) on a
clock, and polls it at any moment, each poll read the way the poller may read it (only the
trials that changed, the whole document, or after a restart from the stored JSON). Between
two polls any number of things may happen, as after an outage of Edge Impulse, of the
database or of the bot. The model keeps its own history and its own "new best" (accuracy
alone: no trial has a latency, RAM or ROM), so at every poll the notices must equal the
model's: each event of the history once, completions in the order they completed
(`lastCompletedTraining`; a trial the document gives no time to comes after, in the
document's order), "new best" by that order, a failure told once even if a retry came
before the poll (the trial's or, for some trials, only a block's `retries` went up), one
trial's failures before its completion. A stop (from Slack: the trials it cuts short end
`failed`, and the poll is read again as the stop's, as the poller's reader does once the store
says so; or as Edge Impulse reports, `cancelled`) tells no failure for those trials, and the
run's end counts them stopped, not failed.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from bot.core.events import Event, EventKind, Snapshot
from bot.core.increment import read_changes, read_unchanged
from bot.tuner import piecewise
from bot.tuner.piecewise import body_digest

PROJECT = "5"
EPOCH = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
WAYS = ("changes", "whole", "restart")


def iso(t: int) -> str:
    return (EPOCH + timedelta(seconds=t)).strftime("%Y-%m-%dT%H:%M:%S.000Z")


@dataclass
class Trial:
    """One trial of the model, and how its document shows it."""

    id: str
    position: int
    timed: bool  # its document gives `lastCompletedTraining`
    block_retries: bool  # only its blocks count retries (the trial's `retries` stays 0)
    status: str = "pending"
    cut: bool = False  # its last attempt was ended by the stop
    retries: int = 0
    since: int = 0  # when the current attempt started, or ended once it did
    accuracy: float | None = None

    def document(self) -> dict[str, Any]:
        block: dict[str, Any] = {"id": 3, "type": "learn", "status": self.status}
        block["retries"] = self.retries
        if self.status != "pending":
            block["lastActive"] = iso(self.since)
        doc: dict[str, Any] = {
            "id": self.id,
            "name": f"trial-{self.id}",
            "status": self.status,
            "retries": 0 if self.block_retries else self.retries,
            "blocks": [block],
        }
        if self.status == "completed":
            doc["metrics"] = {"test": {"int8": {"accuracy": self.accuracy}}}
            if self.timed:
                doc["lastCompletedTraining"] = iso(self.since)
        return doc


@dataclass(frozen=True)
class Happened:
    """One event of the history: a failed attempt or a completion, when and where."""

    completed: bool
    trial: str
    attempt: int
    at: int
    position: int


@dataclass
class Told:
    kind: EventKind
    trial: str
    attempt: int
    is_best: bool
    retried: bool


def told(event: Event) -> Told:
    assert event.trial_id is not None
    p = event.payload
    attempt = int(p.get("retries") or 0)
    return Told(
        event.kind, event.trial_id, attempt, p.get("is_best") is True, bool(p.get("retried"))
    )


@dataclass
class Model:
    trials: list[Trial] = field(default_factory=list)
    clock: int = 0
    history: list[Happened] = field(default_factory=list)  # since the last poll
    best: float | None = None  # the best accuracy told (or seen at the baseline)
    stopped: str | None = None  # "slack": stopped from Slack; "ei": Edge Impulse says cancelled
    end_told: bool = False


class BatchMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.model = Model()
        self.kept: Snapshot | None = None
        self.polls = 0

    @initialize(
        shapes=st.lists(st.tuples(st.booleans(), st.booleans()), min_size=1, max_size=7),
    )
    def listed(self, shapes: list[tuple[bool, bool]]) -> None:
        """The run's trials: whether each is timed, whether only its blocks count retries
        (most timed: that is what Edge Impulse sends)."""
        for i, (untimed, block_only) in enumerate(shapes):
            timed = not (untimed and i % 3 == 0)
            self.model.trials.append(Trial(f"t{i}", i, timed, block_only and i % 2 == 1))

    def _some(self, data: st.DataObject, status: str) -> Trial | None:
        if self.model.stopped is not None:
            return None  # a stopped run does nothing more
        found = [t for t in self.model.trials if t.status == status]
        return data.draw(st.sampled_from(found)) if found else None

    @rule(seconds=st.integers(1, 600))
    def wait(self, seconds: int) -> None:
        self.model.clock += seconds

    @rule(data=st.data())
    def start(self, data: st.DataObject) -> None:
        trial = self._some(data, "pending")
        if trial is not None:
            trial.status, trial.since = "running", self.model.clock

    @rule(data=st.data(), accuracy=st.sampled_from([0.5, 0.6, 0.7, 0.7, 0.8, 0.9]))
    def complete(self, data: st.DataObject, accuracy: float) -> None:
        trial = self._some(data, "running")
        if trial is not None:
            self.model.clock += 1  # nothing else happens in the same second
            trial.status, trial.since, trial.accuracy = "completed", self.model.clock, accuracy
            self._happened(trial, completed=True)

    @rule(data=st.data())
    def fail(self, data: st.DataObject) -> None:
        trial = self._some(data, "running")
        if trial is not None:
            self.model.clock += 1
            trial.status, trial.since = "failed", self.model.clock
            self._happened(trial, completed=False)

    @rule(data=st.data(), pending=st.booleans())
    def retry(self, data: st.DataObject, pending: bool) -> None:
        trial = self._some(data, "failed")
        if trial is not None:
            self.model.clock += 1
            trial.retries += 1
            trial.status, trial.since = ("pending" if pending else "running"), self.model.clock

    @rule(how=st.sampled_from(["slack", "ei"]))
    def stop(self, how: str) -> None:
        """The run is stopped: from Slack (its running trials end `failed`, as a cancel leaves
        them) or as Edge Impulse reports (`cancelled`). Neither is a failure."""
        if self.model.stopped is not None:
            return
        self.model.clock += 1
        self.model.stopped = how
        for trial in self.model.trials:
            if trial.status == "running":
                trial.status = "failed" if how == "slack" else "cancelled"
                trial.cut, trial.since = True, self.model.clock

    def _happened(self, trial: Trial, *, completed: bool) -> None:
        if self.polls:  # before the first poll is history, not news
            event = Happened(completed, trial.id, trial.retries, trial.since, trial.position)
            self.model.history.append(event)

    def document(self) -> bytes:
        doc = {
            "success": True,
            "tunerJobId": 10,
            "tunerCoordinatorJobId": 11,
            "tunerJobIsRunning": self.model.stopped is None,
            "config": {"targetDevice": {"name": "cortex-m4f-80mhz"}},
            "trials": [trial.document() for trial in self.model.trials],
        }
        return json.dumps(doc).encode()

    @rule(way=st.sampled_from(WAYS))
    def poll(self, way: str) -> None:
        body = self.document()
        kept = self.kept
        if way == "restart" and kept is not None:
            kept = Snapshot.model_validate_json(kept.model_dump_json())
        if way == "whole" and kept is not None:
            kept = kept.model_copy(update={"listing": None})
        digest = body_digest(body)
        now = EPOCH + timedelta(seconds=self.model.clock)
        read = read_unchanged(kept, digest) or read_changes(
            kept, piecewise.read(body), digest=digest, project_id=PROJECT, now=now
        )
        failed = any(e.kind is EventKind.TRIAL_FAILED for e in read.events)
        if failed and self.model.stopped == "slack":  # as the poller's reader asks the store
            read = read_changes(
                kept, piecewise.read(body), digest=digest, project_id=PROJECT, now=now,
                stopped=True,
            )  # fmt: skip
        self.kept = read.snapshot
        if self.polls == 0:
            assert [e.kind for e in read.events] == [EventKind.RUN_STARTED]
            done = [t.accuracy for t in self.model.trials if t.status == "completed"]
            self.model.best = max((a for a in done if a is not None), default=None)
            self.model.end_told = self.model.stopped is not None  # history too
        else:
            if self.model.stopped == "slack":
                self.seen_with_the_stop()
            trials = [e for e in read.events if e.trial_id is not None]
            self.check([told(e) for e in trials])
            self.check_end([e for e in read.events if e.trial_id is None])
        self.model.history = []
        self.polls += 1

    def check(self, found: list[Told]) -> None:
        """The poll's notices against the model's history since the last poll."""
        model = self.model
        history = model.history
        assert all(t.kind in (EventKind.TRIAL_COMPLETED, EventKind.TRIAL_FAILED) for t in found)
        # Each event once: the same failed attempts and completions, nothing else.
        said = Counter((t.kind is EventKind.TRIAL_COMPLETED, t.trial, t.attempt) for t in found)
        owed = Counter((h.completed, h.trial, h.attempt) for h in history)
        assert said == owed
        # One trial's own events in its order: failures by attempt, then its completion.
        for trial in model.trials:
            own = [
                (t.kind is EventKind.TRIAL_COMPLETED, t.attempt)
                for t in found
                if t.trial == trial.id
            ]
            assert own == sorted(own)
        # As it happened: what the document dates (completions, the failures it still shows)
        # in that order; what it does not date after it, in the document's order.
        by_id = {trial.id: trial for trial in model.trials}

        def visible(h: Happened) -> bool:
            trial = by_id[h.trial]
            return trial.status == "failed" and trial.retries == h.attempt or h.completed

        def when(h: Happened) -> tuple[bool, int, int]:
            dated = not h.completed or by_id[h.trial].timed
            return (not dated, h.at if dated else 0, h.position)

        expected = sorted((h for h in history if visible(h)), key=when)
        keys = {(h.completed, h.trial, h.attempt) for h in expected}
        in_order = [
            (t.kind is EventKind.TRIAL_COMPLETED, t.trial, t.attempt)
            for t in found
            if (t.kind is EventKind.TRIAL_COMPLETED, t.trial, t.attempt) in keys
        ]
        assert in_order == [(h.completed, h.trial, h.attempt) for h in expected]
        # A failure the poll did not see is told as retried, the one it sees as not.
        for t in found:
            if t.kind is EventKind.TRIAL_FAILED:
                trial = by_id[t.trial]
                assert t.retried == (trial.status != "failed" or trial.retries != t.attempt)
        # New best, judged in completion order against everything told before.
        for h in (h for h in expected if h.completed):
            accuracy = by_id[h.trial].accuracy
            assert accuracy is not None
            is_best = model.best is None or accuracy > model.best
            [news] = [
                t for t in found if t.trial == h.trial and t.kind is EventKind.TRIAL_COMPLETED
            ]
            assert news.is_best == is_best, (h, model.best)
            if is_best:
                model.best = accuracy

    def seen_with_the_stop(self) -> None:
        """A failure first seen with a stop from Slack is the stop's: a cancel leaves the
        trials it cuts short `failed`, and nothing in the document tells them apart from one
        that failed a moment before."""
        by_id = {trial.id: trial for trial in self.model.trials}
        kept = []
        for h in self.model.history:
            trial = by_id[h.trial]
            if not h.completed and trial.status == "failed" and trial.retries == h.attempt:
                trial.cut = True
            else:
                kept.append(h)
        self.model.history = kept

    def check_end(self, found: list[Event]) -> None:
        """A stopped run's end, once: its cut trials stopped, not among the failed."""
        model = self.model
        ends = [e for e in found if e.kind is EventKind.JOB_FINISHED]
        if model.stopped is None or model.end_told:
            assert ends == []
            return
        [end] = ends
        model.end_told = True
        cut = sum(t.cut for t in model.trials)
        failed = sum(t.status == "failed" and not t.cut for t in model.trials)
        assert end.payload.get("stopped_trials") == (cut or None)
        assert end.payload["failed_trials"] == failed

    @invariant()
    def snapshot_round_trips(self) -> None:
        if self.kept is not None:
            assert Snapshot.model_validate_json(self.kept.model_dump_json()) == self.kept


BatchMachine.TestCase.settings = settings(
    max_examples=300,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestBatch = BatchMachine.TestCase

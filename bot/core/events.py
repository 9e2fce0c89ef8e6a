"""What the bot reports (events) and what it remembers between polls (snapshots): plain values."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, NamedTuple

from pydantic import BaseModel, ConfigDict

from bot.core.summary import RunSummary, TrialSummary


class EventKind(StrEnum):
    """Also the Slack message metadata `event_type` of each notification."""

    RUN_STARTED = "eon_run_started"
    TRIAL_COMPLETED = "eon_trial_completed"
    TRIAL_FAILED = "eon_trial_failed"
    TIME_LIMIT_EXCEEDED = "eon_time_limit_exceeded"
    JOB_FINISHED = "eon_job_finished"
    API_UNREACHABLE = "eon_api_unreachable"
    API_RECOVERED = "eon_api_recovered"
    RUN_STALLED = "eon_run_stalled"
    RUN_RESUMED = "eon_run_resumed"
    RUN_CHART = "eon_run_chart"
    """The run in one picture: a PNG uploaded into the card's thread (a file, so no metadata)."""
    ACTION_TAKEN = "eon_action_taken"
    """A run stopped, a search extended or a trial used from Slack: the audit line."""
    ACTION_OUTCOME = "eon_action_outcome"
    """How the job an action started ended."""
    THRESHOLD_MET = "eon_threshold_met"
    """A trial met every condition of a channel's alert (`/eon alert`, `core.alerts`): told to
    that channel alone, once per alert and run."""
    DIGEST = "eon_digest"
    """A channel's daily digest (`/eon digest`, `core.digest`): the last 24 h of what it
    watches, once per channel and day."""


class Event(BaseModel):
    """One thing that happened, with the metadata payload Slack messages carry.

    `key` is unique per (project, run, trial, kind, occurrence): the store posts each key at
    most once per channel, also across restarts.
    """

    model_config = ConfigDict(frozen=True)

    kind: EventKind
    key: str
    project_id: str
    run_id: str | None = None
    tuner_job_id: str | None = None
    coordinator_job_id: str | None = None  # names the run's Studio page
    run_name: str | None = None
    """The run's one name in messages (`core.run_name`); None in rows queued before it was."""
    project_name: str | None = None
    """Edge Impulse's name of the project (`bot.service.names`); None while it is not known."""
    trial_id: str | None = None
    payload: dict[str, Any] = {}
    after_failure: bool | None = None
    """Of a completion: whether a failure of the trial was reported before, so delivery looks
    for its messages to edit. None: not known (a row queued before this was recorded)."""
    quiet: bool = False
    """Of a completion queued for a channel that is not told completions (`failures` mode,
    `core.routing.told_as`): no message, only the trial's failure messages edited."""

    def metadata(self) -> dict[str, Any]:
        """Slack message metadata: `event_payload` always names the project and the job."""
        payload = {"project_id": self.project_id, "tuner_job_id": self.tuner_job_id}
        payload.update(self.payload)
        return {
            "event_type": self.kind.value,
            "event_payload": {k: v for k, v in payload.items() if v is not None},
        }


class TrialMark(BaseModel):
    """What was last seen of one trial, and what has been reported of it. `figures` are kept
    once the trial ended (completed or failed): the chart and `/eon top` are drawn from them."""

    model_config = ConfigDict(frozen=True)

    status: str
    retries: int = 0
    completed_reported: bool = False
    failures_reported: int = 0
    figures: TrialSummary | None = None


class Listing(BaseModel):
    """What a poll needs to know of the last document to read the next one cheaply: its bytes'
    digest (equal: nothing to do), the fingerprint of each listed trial's text (equal: not
    read again), of the run's configuration, which trials hold the earliest and latest
    timestamps of the document (the run's time span), each trial's training time in
    microseconds (their sum is the run's) and each trial's progress term (`bot.core.stall`).
    See `bot.core.increment`."""

    model_config = ConfigDict(frozen=True)

    digest: str
    config: str = ""
    fingerprints: dict[str, str] = {}
    earliest: tuple[datetime, str] | None = None
    latest: tuple[datetime, str] | None = None
    training: dict[str, int] = {}
    progress: dict[str, int] = {}


class Snapshot(BaseModel):
    """What the store keeps of a project between polls: enough to diff, and the latest summary
    (which `/eon status` and the run card show) — never the whole document."""

    model_config = ConfigDict(frozen=True)

    project_id: str
    coordinator_job_id: str | None = None
    tuner_job_id: str | None = None
    first_seen_at: datetime | None = None
    trials: dict[str, TrialMark] = {}
    time_limit_reported: bool = False
    finished_reported: bool = False
    summary: RunSummary | None = None
    run_trials: tuple[str, ...] = ()
    """The run's trial ids in the order its documents list them (marks may outlive a run)."""
    progress: str | None = None
    """A digest of what moves while a job works (trial statuses, epochs, counts)."""
    progress_at: datetime | None = None
    """When `progress` last changed, by the bot's clock."""
    stalls: int = 0
    """Stall notices given in this run; the next one's event key counts on from here."""
    stalled: bool = False
    """A stall notice was given and the job has not moved since."""
    listing: Listing | None = None
    stopped_trials: tuple[str, ...] = ()
    """The run's trials a stop cut short (`bot.core.batch.cut_short`): counted as stopped, not
    as failed. Kept here rather than in each mark, so a run never stopped pays nothing."""
    inherited_training_s: float | None = 0.0
    """Of an extended search: the training of the earlier run's trials it lists again (not
    its own; None: not known, its first look was at the extension). `bot.core.diff`."""

    @property
    def run_id(self) -> str | None:
        return self.coordinator_job_id or self.tuner_job_id

    def ended_trials(self) -> list[TrialSummary]:
        """The run's completed and failed trials with their figures, in document order."""
        found = (self.trials.get(trial_id) for trial_id in self.run_trials)
        return [mark.figures for mark in found if mark is not None and mark.figures is not None]


class RunRef(NamedTuple):
    """Names one run of a project, and makes its events with their keys."""

    project_id: str
    coordinator_job_id: str | None
    tuner_job_id: str | None
    name: str | None = None
    """The run's one name (`core.run_name`), carried by its events; not part of their keys."""
    project_name: str | None = None
    """The project's name (`bot.service.names`), carried by its events likewise."""

    @classmethod
    def of(cls, snapshot: Snapshot) -> RunRef:
        summary = snapshot.summary
        name = summary.display_name if summary is not None else None
        project = summary.project_name if summary is not None else None
        ids = (snapshot.project_id, snapshot.coordinator_job_id, snapshot.tuner_job_id)
        return cls(*ids, name, project)

    def event(self, kind: EventKind, *parts: object, **payload: Any) -> Event:
        """`parts` tell occurrences apart in the key (a trial id, a failure's number)."""
        trial_id = payload.get("trial_id")
        key = ":".join(
            str(part)
            for part in (self.project_id, self.coordinator_job_id, self.tuner_job_id, kind, *parts)
        )
        return Event(
            kind=kind,
            key=key,
            project_id=self.project_id,
            run_id=self.coordinator_job_id or self.tuner_job_id,
            run_name=self.name,
            project_name=self.project_name,
            tuner_job_id=self.tuner_job_id,
            coordinator_job_id=self.coordinator_job_id,
            trial_id=trial_id,
            payload=payload,
        )

"""What the bot reports (events) and what it remembers between polls (snapshots): plain values."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict

from bot.core.summary import RunSummary


class EventKind(StrEnum):
    """Also the Slack message metadata `event_type` of each notification."""

    RUN_STARTED = "eon_run_started"
    TRIAL_COMPLETED = "eon_trial_completed"
    TRIAL_FAILED = "eon_trial_failed"
    TIME_LIMIT_EXCEEDED = "eon_time_limit_exceeded"
    JOB_FINISHED = "eon_job_finished"
    API_UNREACHABLE = "eon_api_unreachable"
    API_RECOVERED = "eon_api_recovered"


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
    trial_id: str | None = None
    payload: dict[str, Any] = {}

    def metadata(self) -> dict[str, Any]:
        """Slack message metadata: `event_payload` always names the project and the job."""
        payload = {"project_id": self.project_id, "tuner_job_id": self.tuner_job_id}
        payload.update(self.payload)
        return {
            "event_type": self.kind.value,
            "event_payload": {k: v for k, v in payload.items() if v is not None},
        }


class TrialMark(BaseModel):
    """What was last seen of one trial, and what has been reported of it."""

    model_config = ConfigDict(frozen=True)

    status: str
    retries: int = 0
    completed_reported: bool = False
    failures_reported: int = 0


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

    @property
    def run_id(self) -> str | None:
        return self.coordinator_job_id or self.tuner_job_id

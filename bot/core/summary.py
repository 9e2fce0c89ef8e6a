"""Headline numbers of trials and runs, read from a tuner state (pure: no I/O, no clock).

Where each figure is read, and what "fits the targets" means when one is missing, is
`bot.core.figures` (one precedence, one fit rule). `config.targetDevice.ram`/`rom` are taken as
bytes, `targetLatency` as milliseconds; 0 or missing means "no limit".

The values (`TrialSummary`, `RunSummary`, counts) live here; they are computed in
`summarize`, ranked in `ranking`, and read off the whole state in `run_state`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict

from bot.core.figures import (
    TrialFit,
)
from bot.core.run_name import project_label, run_name

STUDIO_TUNER = "https://studio.edgeimpulse.com/studio/{project_id}/tuner"


def studio_page(project_id: str, coordinator_job_id: str | None) -> str:
    """Studio's page of a run (named by its coordinator job), else the project's EON Tuner
    page, which lists its runs; ids are opaque strings, so they are quoted into the path."""
    page = STUDIO_TUNER.format(project_id=quote(project_id, safe=""))
    if coordinator_job_id is None:
        return page
    return f"{page}/{quote(coordinator_job_id, safe='')}"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)


class Counts(_Frozen):
    pending: int = 0
    running: int = 0
    completed: int = 0
    failed: int = 0
    stopped: int = 0
    """Trials a stop cut short (Edge Impulse counts them failed); not among `failed`."""

    @property
    def total(self) -> int:
        return self.pending + self.running + self.completed + self.failed + self.stopped


class Workers(_Frozen):
    ready: int = 0
    busy: int = 0
    pending: int = 0


class TrialSummary(_Frozen):
    id: str
    name: str
    status: str
    retries: int = 0
    accuracy: float | None = None  # 0..1
    score: float | None = None  # 0..1, only without accuracy (object detection)
    score_name: str | None = None  # "mAP" / "mean F1"
    latency_ms: float | None = None
    ram_bytes: int | None = None
    rom_bytes: int | None = None
    epoch: int | None = None
    over_latency: bool = False
    over_ram: bool = False
    over_rom: bool = False
    unchecked: tuple[str, ...] = ()  # limits set whose figure is unknown: "latency", "RAM", "ROM"

    @property
    def fit(self) -> TrialFit:
        """Its figures against the run's limits (`figures.fit`, the one rule)."""
        return TrialFit(self.over_latency, self.over_ram, self.over_rom, self.unchecked)

    @property
    def fits(self) -> bool:
        """Known to be within every limit the run sets."""
        return self.fit.fits

    @property
    def quality(self) -> float | None:
        """What trials are ranked by: the accuracy, else the score (mAP or mean F1)."""
        return self.accuracy if self.accuracy is not None else self.score

    def numbers(self) -> dict[str, Any]:
        """The known headline numbers, keyed as in the message metadata."""
        values = {
            "accuracy": self.accuracy,
            "score": self.score,
            "score_name": self.score_name if self.score is not None else None,
            "latency_ms": self.latency_ms,
            "ram_bytes": self.ram_bytes,
            "rom_bytes": self.rom_bytes,
        }
        return {key: value for key, value in values.items() if value is not None}


class RunSummary(_Frozen):
    project_id: str
    run_id: str | None
    tuner_job_id: str | None
    coordinator_job_id: str | None = None  # names the run's Studio page
    continuation_job_id: str | None = None
    never_ran: bool = False  # the project's tuner never ran: "no EON Tuner run yet"
    name: str | None = None  # Studio's name of the run (`config.name`)
    index: int | None = None  # the run's number, when it has no name (`core.run_name`)
    project_name: str | None = None  # Edge Impulse's name of the project (`bot.service.names`)
    status: str | None  # creating / ready / running / completed / anything new
    running: bool | None
    finished: bool
    outcome: str | None  # "completed" / "failed" once finished
    job_error: str | None = None
    counts: Counts
    planned_trials: int | None = None
    workers: Workers
    best: TrialSummary | None = None
    pareto: list[TrialSummary] = []
    top: list[TrialSummary] = []  # completed trials, best first
    trials_total: int = 0
    precision: str
    target_device: str | None = None
    target_latency_ms: float | None = None
    ram_limit_bytes: int | None = None  # the target device's, as the fit rule reads it
    rom_limit_bytes: int | None = None
    started_at: datetime | None = None
    elapsed_s: float | None = None  # wall time of the run
    training_s: float | None = None  # training time summed over workers: what the limit counts
    training_with_earlier: bool = False
    """An extended search's `training_s` that counts the earlier run's trials too (which they
    were is not known): no limit of this search is claimed for it."""
    max_total_training_time_s: float | None = None
    time_limit_exceeded: bool = False
    can_extend_search: bool | None = None
    ended_unseen: bool = False  # ended while eon-bot could not look: counts as last seen

    @property
    def progress(self) -> float:
        """Share of the planned trials that have ended (completed, failed or stopped), 0..1."""
        planned = max(self.planned_trials or 0, self.counts.total)
        if planned == 0:
            return 1.0 if self.finished else 0.0
        c = self.counts
        return min(1.0, (c.completed + c.failed + c.stopped) / planned)

    @property
    def studio_url(self) -> str | None:
        return studio_page(self.project_id, self.coordinator_job_id)

    @property
    def display_name(self) -> str:
        """The run's one name in every message (`core.run_name`)."""
        return run_name(self.name, self.run_id, self.continuation_job_id, self.index)

    @property
    def project_label(self) -> str:
        """ "Keyword spotting (project 1)", or "project 1" (`core.run_name`)."""
        return project_label(self.project_id, self.project_name)

"""What the run's chart shows, as a value (pure): the run's ended trials and its target.

The chart is drawn from this (`bot.slack.plot`), not from a live document: the end-of-run
chart's data travels in its `eon_run_chart` event, so a retried upload draws the same picture
whatever the project did since, and `/eon chart` draws it from the stored snapshot.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from bot.core.events import Event, EventKind, RunRef, Snapshot
from bot.core.ranking import best_trial, pareto_front, ranked
from bot.core.summary import RunSummary, TrialSummary
from bot.tuner.models import TrialStatus

XAxis = Literal["latency", "ram", "order"]
LOG_SPREAD = 5.0
"""The slowest trial's latency over the median's beyond which the chart's latency axis is log."""


class ChartData(BaseModel):
    model_config = ConfigDict(frozen=True)

    project_id: str
    project_name: str | None = None  # carried by the event, not in its payload
    run_id: str | None = None
    title: str | None = None
    target_latency_ms: float | None = None
    ram_limit_bytes: int | None = None
    rom_limit_bytes: int | None = None
    trials: list[TrialSummary] = []  # completed and failed, in the run's order

    @property
    def completed(self) -> list[TrialSummary]:
        """Completed trials with an accuracy (or, without one, a score): the chart's points."""
        return [
            t for t in self.trials if t.status == TrialStatus.COMPLETED and t.quality is not None
        ]

    @property
    def y_label(self) -> str:
        """ "accuracy"; the score's name (mAP, mean F1) when no point has an accuracy."""
        points = self.completed
        if all(t.accuracy is not None for t in points):
            return "accuracy"
        if any(t.accuracy is not None for t in points):
            return "accuracy or score"
        names = {t.score_name for t in points if t.score_name}
        return names.pop() if len(names) == 1 else "score"

    @property
    def failed(self) -> list[TrialSummary]:
        return [t for t in self.trials if t.status == TrialStatus.FAILED]

    @property
    def best(self) -> TrialSummary | None:
        return best_trial(self.trials)

    @property
    def x_axis(self) -> XAxis:
        """Latency where any completed trial has it, else RAM, else the trials' order."""
        points = self.completed
        if any(t.latency_ms is not None for t in points):
            return "latency"
        if any(t.ram_bytes is not None for t in points):
            return "ram"
        return "order"

    @property
    def pareto(self) -> list[TrialSummary]:
        """The accuracy/latency front, fastest first (empty without latency figures)."""
        return pareto_front(self.trials)

    @property
    def log_latency(self) -> bool:
        """Latency on a log axis when one slow trial would squash the rest: the slowest is
        over `LOG_SPREAD` times the median (a linear axis then keeps most points in a sliver)."""
        known = sorted(t.latency_ms for t in self.completed if t.latency_ms and t.latency_ms > 0)
        if self.x_axis != "latency" or len(known) < 3:
            return False
        return known[-1] > LOG_SPREAD * known[len(known) // 2]

    def top(self, n: int) -> list[TrialSummary]:
        """The `n` best completed trials, in the run's one ranking (as the card's top trials)."""
        return ranked(self.trials)[:n]


def chart_data(snapshot: Snapshot, summary: RunSummary | None = None) -> ChartData:
    """The chart of the snapshot's run, as its marks and summary tell it."""
    summary = summary or snapshot.summary
    return ChartData(
        project_id=snapshot.project_id,
        project_name=summary.project_name if summary else None,
        run_id=snapshot.run_id,
        title=summary.display_name if summary else None,
        target_latency_ms=summary.target_latency_ms if summary else None,
        ram_limit_bytes=summary.ram_limit_bytes if summary else None,
        rom_limit_bytes=summary.rom_limit_bytes if summary else None,
        trials=snapshot.ended_trials(),
    )


def chart_event(run: RunRef, data: ChartData, *parts: object, on_demand: bool = False) -> Event:
    """The event whose delivery uploads the chart; it carries the data to draw."""
    payload: dict[str, Any] = data.model_dump(mode="json", exclude_defaults=True)
    payload.pop("project_id", None)
    payload.pop("project_name", None)
    return run.event(EventKind.RUN_CHART, *parts, on_demand=on_demand or None, chart=payload)


def chart_of(event: Event) -> ChartData:
    """The data an `eon_run_chart` event carries."""
    raw = event.payload.get("chart")
    fields = raw if isinstance(raw, dict) else {}
    ids = {"project_id": event.project_id, "project_name": event.project_name}
    return ChartData.model_validate({**fields, **ids})

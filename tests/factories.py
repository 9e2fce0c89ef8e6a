"""Small hand-made tuner states for the pure tests: only the fields a test is about."""

from __future__ import annotations

from typing import Any

from bot.tuner.models import OptimizeStateResponse


def trial(
    trial_id: str,
    status: str = "pending",
    *,
    retries: int = 0,
    accuracy: float | None = None,
    latency: float | None = None,
    ram: int | None = None,
    rom: int | None = None,
    name: str | None = None,
) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "id": trial_id,
        "name": name or f"trial-{trial_id}",
        "status": status,
        "retries": retries,
        "blocks": [],
        "impulse": {},
    }
    if accuracy is not None:
        doc["metrics"] = {"test": {"int8": {"accuracy": accuracy}}}
    if latency is not None or ram is not None or rom is not None:
        doc["devicePerformance"] = {
            "int8": {"latency": latency, "eon": {"ramRequired": ram, "romRequired": rom}}
        }
    return doc


def state(
    *trials: dict[str, Any],
    job: int = 10,
    coordinator: int = 11,
    running: bool = True,
    status: str | None = None,
    time_exceeded: bool = False,
    job_error: str | None = None,
    can_extend: bool = False,
    config: dict[str, Any] | None = None,
) -> OptimizeStateResponse:
    doc: dict[str, Any] = {
        "success": True,
        "tunerJobId": job,
        "tunerCoordinatorJobId": coordinator,
        "tunerJobIsRunning": running,
        "totalTrainingTimeExceeded": time_exceeded,
        "canExtendSearch": can_extend,
        "config": {"targetDevice": {"name": "cortex-m4f-80mhz"}, "targetLatency": 100}
        | (config or {}),
        "trials": list(trials),
        "workers": [],
    }
    if status is not None:
        doc["status"] = {"status": status}
    if job_error is not None:
        doc["jobError"] = job_error
    return OptimizeStateResponse.model_validate(doc)
